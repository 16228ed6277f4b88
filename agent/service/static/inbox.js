// Live updates without a reload: poll the server-rendered (escaped) HTML of a region and
// swap it in when it changed, unless the supervisor is typing in it.
(function () {
  "use strict";
  const live = document.getElementById("live");
  function busy(region) {
    const active = document.activeElement;
    if (active && region.contains(active) && active.tagName === "INPUT") return true;
    return Array.from(region.querySelectorAll("input[type=text]")).some((i) => i.value !== "");
  }
  function watch(region) {
    const every = parseInt(region.dataset.pollMs || "3000", 10);
    async function poll() {
      try {
        const response = await fetch(region.dataset.src, { credentials: "same-origin" });
        if (response.status === 401) { window.location.assign("/inbox/login"); return; }
        if (!response.ok) return;
        const doc = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = doc.getElementById(region.id) || doc.body;
        if (fresh.innerHTML.trim() === region.innerHTML.trim()) return;
        if (busy(region)) {
          if (live) live.textContent = "There are updates; they appear when you finish typing.";
          return;
        }
        region.replaceChildren(...Array.from(fresh.childNodes));
        if (live) live.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
      } catch (e) {
        if (live) live.textContent = "Live updates paused: the server is not answering.";
      } finally {
        window.setTimeout(poll, every);
      }
    }
    window.setTimeout(poll, every);
  }
  document.querySelectorAll("[data-src]").forEach(watch);
})();
