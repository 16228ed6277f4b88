"""Client-side rate limiting: stay under requests and input tokens per minute."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def estimate_input_tokens(kwargs: dict[str, Any]) -> int:
    """A rough input size (four characters per token) of a Messages API request."""
    parts = {k: kwargs.get(k) for k in ("system", "tools", "messages")}
    return math.ceil(len(json.dumps(parts, default=str)) / 4)


@dataclass
class RateLimiter:
    """A sliding one-minute window over requests and input tokens; acquire() waits as needed."""

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _sent: deque[tuple[float, int]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, tokens: int) -> float:
        """Block until a request of `tokens` input tokens fits; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                while self._sent and now - self._sent[0][0] >= self.window:
                    self._sent.popleft()
                if self._fits(tokens):
                    self._sent.append((now, tokens))
                    return waited
                pause = self.window - (now - self._sent[0][0])
            self.sleep(pause)
            waited += pause

    def _fits(self, tokens: int) -> bool:
        if not self._sent:
            return True  # an oversized request still goes out alone rather than never
        if self.requests_per_minute is not None and len(self._sent) >= self.requests_per_minute:
            return False
        used = sum(t for _, t in self._sent)
        limit = self.input_tokens_per_minute
        return limit is None or used + tokens <= limit
