"""Readable rendering of transcript events for the terminal (rich)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from agent.transcript.events import (
    ApprovalDecided,
    ApprovalRequested,
    ConfirmationDeclined,
    ConfirmationGiven,
    ConfirmationRequested,
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


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def event_line(ev: object, verbose: bool = False) -> str | None:  # noqa: C901 - one arm per type
    """One rich-markup line for an event, or None when it is not worth showing."""
    match ev:
        case UserMessage(text=text):
            return f"[bold cyan]customer[/]  {escape(text)}"
        case ModelRequested():
            if not verbose:
                return None
            return f"[dim]request   {ev.model}, {ev.message_count} messages[/]"
        case ModelResponded(message=message):
            parts = [escape(message.text())] if message.text() else []
            for block in message.content:
                if block.get("type") not in ("text", "tool_use"):
                    parts.append(f"[dim]<{escape(str(block.get('type')))} block>[/]")
            usage = message.usage
            tail = (
                (
                    f" [dim]({usage.input_tokens} in / {usage.output_tokens} out, "
                    f"stop {message.stop_reason})[/]"
                )
                if verbose
                else ""
            )
            return f"[bold green]assistant[/] {' '.join(parts)}{tail}" if parts or tail else None
        case ToolCalled(name=name):
            return f"[blue]tool call[/] {name} {escape(_short(ev.input))}"
        case ValidationFailed(errors=errors):
            fields = ", ".join(f"{e.field}: {e.problem}" for e in errors)
            return f"[red]invalid[/]   {ev.name}: {escape(fields)}"
        case GateDecided(verdict=verdict):
            style = VERDICT_STYLE[verdict]
            rules = ", ".join(ev.rules) or "default"
            return f"[{style}]gate      {verdict}[/] {ev.name} [dim]({escape(rules)})[/]"
        case ConfirmationRequested(summary=summary):
            return f"[yellow]confirm?[/]  {escape(summary)}"
        case ConfirmationGiven():
            return "[yellow]confirmed[/] by the customer"
        case ConfirmationDeclined():
            return "[yellow]declined[/]  by the customer"
        case ApprovalRequested():
            return f"[magenta]approval?[/] {ev.request_id} needs {ev.role}: {escape(ev.summary)}"
        case ApprovalDecided():
            word = "approved" if ev.approved else "refused"
            return (
                f"[magenta]{word:<9}[/] {ev.request_id} by {escape(ev.by)} ({ev.role})"
                f" {escape(ev.reason)}"
            )
        case ToolResulted():
            style = "red" if ev.is_error else "blue"
            return f"[{style}]result[/]    {ev.name}: {escape(_short(ev.content))}"
        case ErrorOccurred():
            return f"[bold red]error[/]     {ev.kind}: {escape(ev.message)}"
        case RunFinished():
            reason = f" ({escape(ev.reason)})" if ev.reason else ""
            return f"[dim]── {ev.status}{reason}[/]"
    return None


def print_events(console: Console, events: list[StoredEvent], verbose: bool = False) -> None:
    """Print the events that are worth showing, one line each."""
    for stored in events:
        line = event_line(stored.event, verbose)
        if line is not None:
            prefix = f"[dim]{stored.seq:>4}[/] " if verbose else ""
            console.print(prefix + line, highlight=False)
