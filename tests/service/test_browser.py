"""The inbox in a real headless Chromium (Debian's package, driven by Playwright).

Sign in with the keyboard, see a pending $600 refund, approve it, watch a worker resume
the conversation and the customer's reply appear; a supervisor without the role does
not see it; a <script> in a customer message is shown as text. Screenshots are kept
under the test's tmp dir.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.engine import Engine

from agent.service.app import create_app
from agent.service.runtime import ServiceContext
from agent.worker.jobs import standard_handlers
from agent.worker.runner import Worker
from tests.service.conftest import Tokens, make_tokens, shop_agent, shop_engine

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    url: str
    engine: Engine
    tokens: Tokens
    shots: Path


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    engine = shop_engine(f"sqlite:///{tmp_path / 'inbox.db'}")
    tokens = make_tokens(engine)
    ctx = ServiceContext(engine, lambda: shop_agent(engine), inbox_poll_seconds=0.5)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    worker = Worker(engine, standard_handlers(engine, lambda: shop_agent(engine)), poll_seconds=0.1)
    working = threading.Thread(target=worker.run, daemon=True)
    working.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    yield Live(f"http://127.0.0.1:{port}", engine, tokens, shots)
    server.should_exit = True
    worker.stopping.set()
    serving.join(timeout=10)
    working.join(timeout=10)
    engine.dispose()


def waiting_refund(live: Live, text: str) -> str:
    """A conversation whose $600 refund waits for a team lead; its request id."""
    import httpx

    app = {"Authorization": f"Bearer {live.tokens.app}"}
    with httpx.Client(base_url=live.url, headers=app, timeout=30) as http:
        cid = http.post("/v1/conversations", json={"customer_id": "cus_mia"}).json()["id"]
        http.post(f"/v1/conversations/{cid}/messages", json={"text": text})
        run = http.post(f"/v1/conversations/{cid}/messages", json={"text": "yes"}).json()
    assert run["status"] == "paused" and run["reason"] == "approval", run
    return str(run["awaiting"][0])


def sign_in(page, live: Live, token: str) -> None:
    page.goto(f"{live.url}/inbox")
    page.get_by_label("API token").fill(token)
    page.keyboard.press("Enter")  # keyboard only
    page.wait_for_url(f"{live.url}/inbox")


def test_supervisor_approves_a_600_refund_and_watches_the_reply(live: Live) -> None:
    script = "<script>window.pwned = 1</script>"
    rid = waiting_refund(live, f"{script} please refund $600 on order #1001")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        lead = browser.new_page()
        sign_in(lead, live, live.tokens.lead)
        card = lead.locator(f"#req-{rid}")
        playwright_sync.expect(card).to_contain_text("Refund $600.00 on order #1001 to the card")
        playwright_sync.expect(card).to_contain_text("$600.00")
        playwright_sync.expect(card).to_contain_text("Refunds over $500 need a team lead.")
        card.get_by_text("Conversation so far").press("Enter")  # <details> opens by keyboard
        playwright_sync.expect(card.locator(".transcript")).to_contain_text(script)
        assert lead.evaluate("window.pwned") is None  # shown as text, never run
        lead.screenshot(path=str(live.shots / "1-pending.png"), full_page=True)

        clerk = browser.new_page()
        sign_in(clerk, live, live.tokens.clerk)
        playwright_sync.expect(clerk.locator("main")).to_contain_text("Nothing waits for you")
        assert rid not in clerk.content()
        clerk.goto(f"{live.url}/inbox/requests/{rid}")
        playwright_sync.expect(clerk.locator("main")).to_contain_text("no approval request")
        clerk.screenshot(path=str(live.shots / "2-other-role.png"), full_page=True)

        second = waiting_refund(live, "refund $700 on order #1001")  # arrives while watching
        playwright_sync.expect(lead.locator(f"#req-{second}")).to_be_visible(timeout=15_000)

        approve = card.get_by_role("button", name="Approve Refund $600.00")
        approve.focus()
        lead.keyboard.press("Enter")
        playwright_sync.expect(lead.get_by_role("status").first).to_contain_text(f"{rid} approved")
        lead.goto(f"{live.url}/inbox/requests/{rid}")
        playwright_sync.expect(lead.locator("#status")).to_have_text("approved")
        reply = lead.locator(".transcript .agent").last
        playwright_sync.expect(reply).to_contain_text("Your refund is on its way", timeout=20_000)
        lead.screenshot(path=str(live.shots / "3-resumed.png"), full_page=True)
        browser.close()
    assert sorted(p.name for p in live.shots.iterdir()) == [
        "1-pending.png",
        "2-other-role.png",
        "3-resumed.png",
    ]
