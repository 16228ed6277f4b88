"""The model's text as it streams, on a terminal: withdrawn when a stream is retried.

Each model call's text lives in a rich `Live` region until the call ends, so a
`StreamReset` (the stream broke and is being retried) clears what was shown and
the customer never reads a fragment or the same words twice. Off a terminal (a pipe,
a log) each call's text is printed once, when the call ends. Consecutive calls are
separated by a blank line. The text is a rich `Text`: never read as markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.text import Text

from agent.model.client import CallEnded, LiveText, StreamReset


@dataclass
class LiveReply:
    """A TextCallback that prints streamed text and honours reset and call-ended signals."""

    console: Console
    _live: Live | None = None
    _text: str = ""
    _separate: bool = False
    resets: int = field(default=0)

    def __call__(self, signal: LiveText) -> None:
        """Show a chunk, withdraw the current call's text, or close the call."""
        if isinstance(signal, StreamReset):
            self.resets += 1
            self._text = ""
            if self._live is not None:
                self._live.update(Text(""), refresh=True)
        elif isinstance(signal, CallEnded):
            self._close()
        else:
            self._show(signal)

    def _show(self, chunk: str) -> None:
        self._text += chunk
        if not self.console.is_terminal:
            return  # printed whole when the call ends
        if self._live is None:
            if self._separate:
                self.console.print()
            self._live = Live(Text(""), console=self.console, auto_refresh=False)
            self._live.start()
        self._live.update(Text(self._text), refresh=True)

    def _close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif self._text:
            if self._separate:
                self.console.print()
            self.console.print(Text(self._text))
        self._separate = self._separate or bool(self._text)
        self._text = ""

    def end_turn(self) -> None:
        """The customer's turn is over: the next text starts without a separator."""
        self._close()
        self._separate = False
