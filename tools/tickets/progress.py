"""Triage progress: a rich progress bar on a terminal, plain log lines everywhere else."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Literal, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from agent.model.client import Usage
from agent.model.usage import total_tokens

Outcome = Literal["triaged", "failed", "retry"]


@dataclass
class Tally:
    """Running totals of one triage run."""

    total: int = 0
    triaged: int = 0
    failed: int = 0
    retry: int = 0  # left for the next run (transient API errors, expired batch requests)
    usage: Usage = field(default_factory=Usage)
    dollars: Decimal = Decimal(0)
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: Outcome, usage: Usage, dollars: Decimal | None) -> None:
        """Count one ticket's outcome and what it cost."""
        with self._lock:
            match outcome:
                case "triaged":
                    self.triaged += 1
                case "failed":
                    self.failed += 1
                case "retry":
                    self.retry += 1
            self.usage = self.usage + usage
            self.dollars += dollars or Decimal(0)

    @property
    def done(self) -> int:
        """Tickets finished either way."""
        return self.triaged + self.failed + self.retry


class Reporter(Protocol):
    """Where a triage run reports: one call per ticket, plus free-form notes."""

    tally: Tally

    def ticket(
        self, ticket_id: str, outcome: Outcome, detail: str, usage: Usage, dollars: Decimal | None
    ) -> None:
        """One ticket finished."""
        ...

    def note(self, text: str) -> None:
        """Something worth telling the operator (batch submitted, polling, resumed)."""
        ...


@dataclass
class LogReporter:
    """One plain line per ticket (for logs, pipes and CI)."""

    tally: Tally
    console: Console = field(default_factory=lambda: Console(markup=False, highlight=False))

    def ticket(
        self, ticket_id: str, outcome: Outcome, detail: str, usage: Usage, dollars: Decimal | None
    ) -> None:
        """Print `outcome ID detail [n/total] tokens $`."""
        self.tally.add(outcome, usage, dollars)
        t = self.tally
        cost = "$?" if dollars is None else f"${dollars:.6f}"
        self.console.print(
            f"{outcome} {ticket_id} {detail} [{t.done}/{t.total}] "
            f"{total_tokens(usage)} tokens {cost}",
            soft_wrap=True,
        )

    def note(self, text: str) -> None:
        """Print the note as is."""
        self.console.print(text, soft_wrap=True)


class BarReporter:
    """A live bar: done, failed, tokens, dollars, ETA."""

    def __init__(self, tally: Tally, console: Console) -> None:
        self.tally = tally
        self.console = console
        self.progress = Progress(
            TextColumn("triage"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("failed {task.fields[failed]}"),
            TextColumn("{task.fields[tokens]} tokens"),
            TextColumn("${task.fields[dollars]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task: TaskID = self.progress.add_task(
            "triage", total=tally.total, failed=0, tokens=0, dollars="0.00"
        )

    def __enter__(self) -> BarReporter:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def ticket(
        self, ticket_id: str, outcome: Outcome, detail: str, usage: Usage, dollars: Decimal | None
    ) -> None:
        """Advance the bar; failures are also printed above it."""
        self.tally.add(outcome, usage, dollars)
        t = self.tally
        self.progress.update(
            self.task,
            completed=t.done,
            failed=t.failed,
            tokens=total_tokens(t.usage),
            dollars=f"{t.dollars:.4f}",
        )
        if outcome == "failed":
            self.progress.console.print(f"[red]failed[/] {escape(ticket_id)}: {escape(detail)}")

    def note(self, text: str) -> None:
        """Print above the bar (escaped: notes may quote server messages)."""
        self.progress.console.print(escape(text))

    def set_total(self, total: int) -> None:
        """The number of tickets this run handles."""
        self.progress.update(self.task, total=total)


def is_terminal() -> bool:
    """Whether stdout is a terminal (then the bar, else log lines)."""
    return sys.stdout.isatty()
