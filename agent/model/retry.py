"""The one retry policy for model calls: backoff with jitter inside a total deadline.

The SDK's own retries are switched off (max_retries=0) so that every retry is ours:
counted, logged, limited by the deadline, and visible to the circuit breaker.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from loguru import logger

from agent.model.breaker import CircuitBreaker
from agent.model.client import ModelError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a model call is retried."""

    max_retries: int = 8
    deadline: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = 30.0

    def delay(self, retry: int, retry_after: float | None, jitter: float) -> float:
        """Seconds before retry number `retry` (1-based): the API's ask, else backoff."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.retry_after_cap)
        backoff = min(self.base_delay * 2.0 ** (retry - 1), self.max_delay)
        return backoff * (0.5 + jitter / 2)  # "equal jitter": never less than half


@dataclass
class RetryRunner:
    """Runs one model call under a RetryPolicy and a CircuitBreaker."""

    policy: RetryPolicy
    breaker: CircuitBreaker
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = field(default=random.random)

    def call(self, attempt: Callable[[int], T], on_retry: Callable[[], None] | None = None) -> T:
        """Call `attempt(retry_number)` until it succeeds, fails for good or the deadline passes."""
        started = self.clock()
        retry = 0
        while True:
            self.breaker.check()
            try:
                result = attempt(retry)
            except ModelError as exc:
                exc.retries = retry
                wait = self._next_wait(exc, retry, started)
                if wait is None:  # the call's outcome: what the breaker counts
                    self.breaker.record(exc.kind)
                    exc.args = (f"{exc} (after {retry} retries)",)
                    logger.warning("model call failed ({}): {}", exc.kind, exc)
                    raise
                retry += 1
                logger.info(
                    "model call failed ({}); retry {} of {} in {:.2f}s: {}",
                    exc.kind,
                    retry,
                    self.policy.max_retries,
                    wait,
                    exc,
                )
                if on_retry is not None:
                    on_retry()
                self.sleep(wait)
                continue
            self.breaker.record(None)
            return result

    def _next_wait(self, exc: ModelError, retry: int, started: float) -> float | None:
        """Seconds to wait before the next attempt, or None when it must not be retried."""
        if not exc.retryable or retry >= self.policy.max_retries:
            return None
        wait = self.policy.delay(retry + 1, exc.retry_after, self.jitter())
        if self.clock() + wait - started > self.policy.deadline:
            return None
        return wait
