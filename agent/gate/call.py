"""The gate's typed seams: what one gate step produced (ToolUse is parsed in agent.model)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from sqlmodel import Session

from agent.registry import Effect
from agent.transcript.events import AnyEvent, Verdict


@dataclass(frozen=True)
class Resolved:
    """The tool_use block now has a result (the tool ran, or its earlier result was replayed)."""


@dataclass(frozen=True)
class Refused:
    """The block got an is_error result without running anything; the model reads why."""

    reason: str


@dataclass(frozen=True)
class Paused:
    """Waiting for the customer's confirmation or a supervisor's approval."""

    kind: Literal["confirmation", "approval"]
    summary: str
    request_id: str | None = None


@dataclass(frozen=True)
class Decided:
    """A decision was recorded and nothing ran yet: take the call through the gate again.

    A supervisor decided just now, or inside the write's transaction the verdict
    became stricter than the one the customer or supervisor cleared.
    """

    reason: str


@dataclass(frozen=True)
class Stop:
    """The turn must end (e.g. the invalid-input budget is spent)."""

    reason: str


Outcome = Resolved | Refused | Paused | Decided | Stop

# Runs inside the commit transaction of a step; returns the events it adds and the outcome.
Execution = Callable[[Session], tuple[list[AnyEvent], Outcome]]


@dataclass
class Step:
    """What one gate step produced: events to commit, and possibly a tool to run with them."""

    outcome: Outcome
    events: list[AnyEvent] = field(default_factory=list)
    execute: Execution | None = None


class PolicyDecision(Protocol):
    """What the gate needs from a policy decision."""

    @property
    def verdict(self) -> Verdict:
        """allow, confirm, approve or deny."""
        ...

    @property
    def rules(self) -> list[str]:
        """Ids of the matched rules, strictest first."""
        ...

    @property
    def reasons(self) -> list[str]:
        """Reasons of the matched rules, aligned with `rules`."""
        ...

    @property
    def role(self) -> str | None:
        """The role that must approve (verdict approve)."""
        ...

    @property
    def deciding_reasons(self) -> list[str]:
        """Reasons of the rules whose verdict won."""
        ...


@runtime_checkable
class ReadsFacts(Protocol):
    """A policy that can say which facts its rules for a call may read."""

    def reads_fact(self, tool: str, effect: Effect, fact: str) -> bool:
        """False only if no rule that applies to such a call could read the fact."""
        ...


class PolicyEvaluator(Protocol):
    """Anything that turns (tool, effect, input, facts) into a decision."""

    def evaluate(
        self, tool: str, effect: Effect, input: dict[str, Any], facts: dict[str, Any]
    ) -> PolicyDecision:
        """The verdict for one call; must never raise."""
        ...
