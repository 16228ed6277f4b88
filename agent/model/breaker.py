"""A circuit breaker for the model API: after N consecutive failures, fail fast for a cool-down.

One breaker per process and API endpoint (`breaker_for`); when given a database engine it
also publishes its opening and closing there, so workers sharing one database stop
calling a dead API together and `resume --all-paused` knows when the API is back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from loguru import logger
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.clock import utcnow
from agent.model.client import ModelError, ModelErrorKind
from agent.store.tables import BreakerRow

BreakerState = Literal["closed", "open", "half_open"]
OUTAGE_KINDS: frozenset[ModelErrorKind] = frozenset(
    {"overloaded", "server_error", "connection", "timeout", "stream_cut"}
)
"""Failures that say the API is down; a 429 says we are too fast, a 4xx that it is up."""


@dataclass
class CircuitBreaker:
    """Opens after `threshold` consecutive failed calls; half-open after `cooldown`.

    A call counts once, when its retries are spent: a storm one call rides out is no
    outage. Every attempt checks first, so calls already retrying stop when it opens.
    """

    name: str = "anthropic"
    threshold: int = 5
    cooldown: float = 30.0
    engine: Engine | None = None
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = "closed"
    failures: int = 0
    opened_at: float = 0.0
    _probing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self) -> None:
        """Raise ModelError(api_unavailable) while open; lets one probe through when half-open."""
        self._adopt_shared()
        with self._lock:
            if self.state == "open" and self.clock() - self.opened_at >= self.cooldown:
                self._set("half_open", "cool-down over")
            if self.state == "closed":
                return
            if self.state == "half_open" and not self._probing:
                self._probing = True
                return
            left = max(0.0, self.cooldown - (self.clock() - self.opened_at))
        raise ModelError(
            f"the model API is unavailable (circuit breaker {self.name} open, "
            f"next try in {left:.1f}s after {self.failures} consecutive failures)",
            kind="api_unavailable",
            retryable=False,
        )

    def record(self, kind: ModelErrorKind | None) -> None:
        """Count one attempt's outcome: an outage kind, or None for an answer from the API."""
        if kind == "rate_limited" or kind == "api_unavailable":
            with self._lock:
                self._probing = False
            return
        with self._lock:
            self._probing = False
            if kind not in OUTAGE_KINDS:
                self.failures = 0
                if self.state != "closed":
                    self._set("closed", "the API answered")
                return
            self.failures += 1
            if self.state == "half_open" or self.failures >= self.threshold:
                self.opened_at = self.clock()
                self._set("open", f"{self.failures} consecutive failures, last {kind}")

    def is_open(self) -> bool:
        """Whether calls fail fast right now (here or, with an engine, in another process)."""
        self._adopt_shared()
        with self._lock:
            return self.state == "open" and self.clock() - self.opened_at < self.cooldown

    def _set(self, state: BreakerState, why: str) -> None:
        if state == self.state:
            return
        self.state = state
        log = logger.warning if state == "open" else logger.info
        log("circuit breaker {} is now {} ({})", self.name, state, why)
        if self.engine is not None and state != "half_open":
            until = utcnow() + timedelta(seconds=self.cooldown) if state == "open" else None
            publish(self.engine, self.name, state, until, why)

    def _adopt_shared(self) -> None:
        """Open here too when another process opened the shared breaker."""
        if self.engine is None:
            return
        row = shared_state(self.engine, self.name)
        if row is None or row.state != "open" or row.open_until is None:
            return
        left = (_aware(row.open_until) - utcnow()).total_seconds()
        with self._lock:
            if left > 0 and self.state == "closed":
                self.state = "open"
                self.opened_at = self.clock() - (self.cooldown - left)
                logger.warning("circuit breaker {} opened by another process", self.name)


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def publish(engine: Engine, name: str, state: str, until: datetime | None, why: str) -> None:
    """Write the breaker's state for other processes."""
    with Session(engine) as session, session.begin():
        row = session.get(BreakerRow, name) or BreakerRow(name=name)
        row.state, row.open_until, row.reason, row.updated_at = state, until, why, utcnow()
        session.add(row)


def shared_state(engine: Engine, name: str) -> BreakerRow | None:
    """The breaker row other processes published, if any."""
    with Session(engine) as session:
        row = session.get(BreakerRow, name)
        if row is not None:
            session.expunge(row)
        return row


def api_available(engine: Engine, name: str = "anthropic") -> bool:
    """False while a shared breaker says the API is down."""
    row = shared_state(engine, name)
    if row is None or row.state != "open" or row.open_until is None:
        return True
    return _aware(row.open_until) <= utcnow()


_BREAKERS: dict[str, CircuitBreaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker_for(
    name: str, *, threshold: int, cooldown: float, engine: Engine | None = None
) -> CircuitBreaker:
    """The process's breaker for one API endpoint (created on first use)."""
    with _BREAKERS_LOCK:
        breaker = _BREAKERS.get(name)
        if breaker is None:
            breaker = CircuitBreaker(name, threshold, cooldown, engine)
            _BREAKERS[name] = breaker
        elif engine is not None and breaker.engine is None:
            breaker.engine = engine
        return breaker


def reset_breakers() -> None:
    """Forget every breaker of this process (tests, and a fresh start after reconfiguration)."""
    with _BREAKERS_LOCK:
        _BREAKERS.clear()
