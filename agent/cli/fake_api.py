"""`support-agent fake-api`: the fake Messages API as a command, for trying everything offline.

    support-agent fake-api --port 8765 &
    ANTHROPIC_BASE_URL=http://127.0.0.1:8765 ANTHROPIC_API_KEY=anything support-agent chat

Without a script it answers with a simple deterministic behaviour read from the
request's tool schemas (agent/testing/fake_responder.py); the prompt cache is
emulated; `--faults` injects failures into the first requests.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.text import Text

from agent.cli.common import fail
from agent.testing.fake_limits import ServerRateLimit
from agent.testing.fake_responder import respond
from agent.testing.fake_server import FakeMessagesAPI, Fault, Reply, text_reply, tool_reply
from agent.testing.prompt_cache import PromptCache
from agent.testing.wire import overloaded, rate_limited, server_error

FAULT_HELP = "Comma list of 429, 529, 500, error, cut, stall, malformed; `529x3` repeats."
STALL_SECONDS = 90.0  # longer than any sensible read timeout: the client must give up


def fault_items(spec: str) -> list[Reply | Fault]:
    """The queue items for a --faults spec, in order."""
    items: list[Reply | Fault] = []
    for raw in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, times = raw.rpartition("x")
        if not (sep and times.isdigit()):
            name, times = raw, "1"
        items.extend([_fault(name)] * int(times))
    return items


def _fault(name: str) -> Reply | Fault:
    broken = "This reply breaks off half way through and is retried."
    match name:
        case "429":
            return rate_limited(retry_after_ms=200)
        case "529":
            return overloaded(retry_after_ms=200)
        case "500":
            return server_error(500, retry_after_ms=200)
        case "error":
            return text_reply(broken, stream_error=overloaded(), stream_error_after=5)
        case "cut":
            return text_reply(broken, cut_after_events=5)
        case "stall":
            return text_reply(broken, stall_after_events=4, stall_seconds=STALL_SECONDS)
        case "malformed":
            return text_reply(broken, malformed="non_json")
    raise ValueError(f"--faults: unknown fault {name!r} ({FAULT_HELP})")


def script_items(path: Path) -> list[Reply | Fault]:
    """Replies from a YAML/JSON list: {text: …}, {tool: name, input: {…}}, {fault: 529}."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of replies")
    return [_scripted(item, f"{path} item {n + 1}") for n, item in enumerate(data)]


def _scripted(item: Any, where: str) -> Reply | Fault:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a mapping")
    if "fault" in item:
        return _fault(str(item["fault"]))
    if "tool" in item:
        return tool_reply(str(item["tool"]), dict(item.get("input") or {}), text=item.get("text"))
    if "text" in item:
        return text_reply(str(item["text"]))
    raise ValueError(f"{where}: needs text, tool or fault")


def build_fake(
    script: Path | None = None, faults: str = "", requests_per_minute: float | None = None
) -> FakeMessagesAPI:
    """The fake API the command serves: faults first, then the script, then the responder."""
    items = fault_items(faults) + (script_items(script) if script else [])
    limit = ServerRateLimit(requests_per_minute) if requests_per_minute else None
    return FakeMessagesAPI(items, prompt_cache=PromptCache(), rate_limit=limit, responder=respond)


def fake_api(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free one).")] = 8765,
    script: Annotated[Path | None, typer.Option(help="YAML list of replies.")] = None,
    faults: Annotated[str, typer.Option(help=FAULT_HELP)] = "",
    rpm: Annotated[float | None, typer.Option(help="Enforce this many requests/min.")] = None,
    stop_after: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Serve the fake Messages API on 127.0.0.1 until Ctrl-C (no key, no network)."""
    try:
        api = build_fake(script, faults, rpm)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        fail(str(exc))
    try:
        api.start(port=port)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc}")
    console = Console()
    console.print(Text(f"fake Messages API on {api.base_url}"), highlight=False)
    console.print(
        Text(
            f"try: ANTHROPIC_BASE_URL={api.base_url} ANTHROPIC_API_KEY=anything support-agent chat"
        )
    )
    console.file.flush()  # a script waiting for the URL reads it now, not at exit
    stopped = threading.Event()
    try:
        stopped.wait(stop_after)
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
