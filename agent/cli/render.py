"""Readable rendering of transcript events for the terminal (rich).

Every string that came from the model, the customer, a tool or a file is untrusted: it
goes into a rich `Text` as plain text (never parsed as markup) after `printable()` has
removed control and bidirectional characters, so `[/x]` or `[black on black]` print as
written and rendering stays linear in the length of the text.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from agent.text import printable
from agent.transcript.events import (
    ApprovalDecided,
    ApprovalRequested,
    ConfirmationDeclined,
    ConfirmationGiven,
    ConfirmationRequested,
    ConfirmationUnclear,
    ErrorOccurred,
    GateDecided,
    ModelRequested,
    ModelResponded,
    RunFinished,
    StoredEvent,
    ToolCalled,
    ToolResulted,
    UserMessage,
    ValidationFailed,
)

VERDICT_STYLE = {"allow": "green", "confirm": "yellow", "approve": "magenta", "deny": "red"}
SHOWN_CHARS = 4000  # longer texts are cut when shown (the transcript keeps them whole)


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def _plain(value: Any, limit: int = SHOWN_CHARS) -> str:
    """Untrusted text as shown: cut to `limit`, no control or bidirectional characters."""
    return printable(_short(value if isinstance(value, str) else str(value), limit))


def _line(label: str, style: str, *parts: str | tuple[str, str]) -> Text:
    """A labelled line; plain `str` parts are untrusted text, never markup."""
    line = Text.assemble((f"{label:<9}", style), " ")
    for part in parts:
        if isinstance(part, tuple):
            line.append(_plain(part[0]), style=part[1])
        else:
            line.append(_plain(part))
    return line


def _response(ev: ModelResponded, verbose: bool) -> Text | None:
    message = ev.message
    parts: list[str | tuple[str, str]] = [message.text()] if message.text() else []
    for block in message.content:
        if block.get("type") not in ("text", "tool_use"):
            parts.append((f" <{block.get('type')} block>", "dim"))
    if verbose:
        usage = message.usage
        parts.append(
            (
                f" ({usage.input_tokens} in / {usage.output_tokens} out, "
                f"stop {message.stop_reason})",
                "dim",
            )
        )
    return _line("assistant", "bold green", *parts) if parts else None


def event_line(ev: object, verbose: bool = False) -> Text | None:  # noqa: C901 - one arm per type
    """One line for an event, or None when it is not worth showing."""
    match ev:
        case UserMessage(text=text):
            return _line("customer", "bold cyan", text)
        case ModelRequested():
            if not verbose:
                return None
            return _line("request", "dim", (f"{ev.model}, {ev.message_count} messages", "dim"))
        case ModelResponded():
            return _response(ev, verbose)
        case ToolCalled(name=name):
            return _line("tool call", "blue", f"{name} ", _short(ev.input))
        case ValidationFailed(errors=errors):
            fields = ", ".join(f"{e.field}: {e.problem}" for e in errors)
            return _line("invalid", "red", f"{ev.name}: {fields}")
        case GateDecided(verdict=verdict):
            rules = ", ".join(ev.rules) or "default"
            return _line("gate", VERDICT_STYLE[verdict], (f"{verdict} ", VERDICT_STYLE[verdict]),
                         f"{ev.name} ", (f"({rules})", "dim"))  # fmt: skip
        case ConfirmationRequested(summary=summary):
            return _line("confirm?", "yellow", summary)
        case ConfirmationGiven():
            return _line("confirmed", "yellow", "by the customer")
        case ConfirmationDeclined():
            return _line("declined", "yellow", "by the customer")
        case ConfirmationUnclear():
            return _line("unclear", "yellow", "answer; the customer is asked again")
        case ApprovalRequested():
            return _line("approval?", "magenta", f"{ev.request_id} needs {ev.role}: {ev.summary}")
        case ApprovalDecided():
            word = "approved" if ev.approved else "refused"
            return _line(word, "magenta", f"{ev.request_id} by {ev.by} ({ev.role}) {ev.reason}")
        case ToolResulted():
            return _line("result", "red" if ev.is_error else "blue", f"{ev.name}: ",
                         _short(ev.content))  # fmt: skip
        case ErrorOccurred():
            return _line("error", "bold red", f"{ev.kind}: {ev.message}")
        case RunFinished():
            reason = f" ({ev.reason})" if ev.reason else ""
            return _line("──", "dim", (f"{ev.status}{_plain(reason)}", "dim"))
    return None


def print_events(console: Console, events: list[StoredEvent], verbose: bool = False) -> None:
    """Print the events that are worth showing, one line each."""
    for stored in events:
        line = event_line(stored.event, verbose)
        if line is not None:
            prefix = Text(f"{stored.seq:>4} ", style="dim") if verbose else Text()
            console.print(prefix + line, highlight=False)
