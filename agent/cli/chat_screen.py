"""What a chat looks like in the terminal: streamed replies, logs and events that never collide.

Streamed text leaves the cursor mid-line; anything else printed (a log warning, a tool
call with -v, the next model call's text) first ends that line, so nothing is glued.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.text import Text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.cli.render import print_events
from agent.model.client import ModelClient, ModelRequest, ModelResponse
from agent.transcript.events import load


@dataclass
class ChatScreen:
    """The chat's output: streamed text, events since last shown, and log lines."""

    console: Console
    engine: Engine
    cid: str
    verbose: bool = False
    shown: int = 0  # events of this conversation already on screen (or in its history)
    mid_line: bool = False
    call_text: bool = False  # the current model call has printed text
    err: Any = field(default_factory=lambda: sys.stderr)

    def text(self, delta: str) -> None:
        """Print a streamed text delta of the reply as it arrives."""
        if not delta:
            return
        self.console.print(Text(delta), end="")
        self.mid_line = not delta.endswith("\n")
        self.call_text = True

    def end_line(self) -> None:
        """Finish a line left open by streamed text."""
        if self.mid_line:
            self.console.print()
            self.mid_line = False

    def model_call(self) -> None:
        """A new model call starts: end the last one's text, show events so far (-v)."""
        self.end_line()
        self.call_text = False
        self.show_new_events()

    def show_new_events(self) -> None:
        """Tool calls, gate decisions and results since the last look (only with -v)."""
        with Session(self.engine) as session:
            events = load(session, self.cid, after=self.shown)
        if events:
            self.shown = events[-1].seq
        if self.verbose:
            self.end_line()
            print_events(self.console, events, verbose=True)

    def log(self, message: Any) -> None:
        """A loguru sink: a log line on stderr, never in the middle of a streamed sentence."""
        self.end_line()
        self.err.write(str(message))
        self.err.flush()


@dataclass
class ObservedModel:
    """A ModelClient that tells the screen when each call starts (to separate their text)."""

    inner: ModelClient
    on_call: Callable[[], None]

    def respond(self, request: ModelRequest) -> ModelResponse:
        """Announce the call, then let the real model answer."""
        self.on_call()
        return self.inner.respond(request)


def show_history(console: Console, engine: Engine, cid: str) -> int:
    """Print a conversation's history so far; returns the last event's seq (0 if none)."""
    with Session(engine) as session:
        events = load(session, cid)
    if not events:
        return 0
    console.print(Text(f"── history of {cid} ({len(events)} events) ──", style="dim"))
    print_events(console, events)
    console.print(Text("── end of history ──", style="dim"))
    return events[-1].seq
