"""Rate limits as the fake Messages API enforces them: token buckets and their headers.

Like the real API, the limit is a token bucket per resource (requests and input
tokens per minute), each response reports `anthropic-ratelimit-*` headers, and a
request that does not fit gets a 429 with `retry-after`. `burst_seconds` is how
much of the rate a bucket holds, so a short burst passes and a flood does not.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class _Bucket:
    per_minute: float
    capacity: float
    level: float
    updated: float

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.per_minute / 60)
        self.updated = now

    def seconds_until(self, amount: float) -> float:
        missing = min(amount, self.capacity) - self.level
        return max(0.0, missing / (self.per_minute / 60))


@dataclass
class ServerRateLimit:
    """Requests and input tokens per minute, enforced as token buckets."""

    requests_per_minute: float
    input_tokens_per_minute: float | None = None
    burst_seconds: float = 1.0
    accepted: int = 0
    rejected: int = 0
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        now = time.monotonic()
        for name, limit in (
            ("requests", self.requests_per_minute),
            ("input-tokens", self.input_tokens_per_minute),
        ):
            if limit is not None:
                capacity = max(1.0, limit / 60 * self.burst_seconds)
                self._buckets[name] = _Bucket(limit, capacity, capacity, now)

    def admit(self, input_tokens: int) -> tuple[float | None, dict[str, str]]:
        """Take the request's share, or return how long to wait; plus the headers to send."""
        amounts = {"requests": 1.0, "input-tokens": float(input_tokens)}
        with self._lock:
            now = time.monotonic()
            for bucket in self._buckets.values():
                bucket.refill(now)
            wait = max(b.seconds_until(amounts[n]) for n, b in self._buckets.items())
            if wait <= 0:
                for name, bucket in self._buckets.items():
                    bucket.level -= min(amounts[name], bucket.capacity)
                self.accepted += 1
            else:
                self.rejected += 1
            headers = self._headers()
        if wait > 0:
            headers["retry-after"] = str(max(1, math.ceil(wait)))
            headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
            return wait, headers
        return None, headers

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, bucket in self._buckets.items():
            refill = (bucket.capacity - bucket.level) / (bucket.per_minute / 60)
            reset = datetime.now(UTC) + timedelta(seconds=max(0.0, refill))
            headers[f"anthropic-ratelimit-{name}-limit"] = str(int(bucket.per_minute))
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, int(bucket.level)))
            headers[f"anthropic-ratelimit-{name}-reset"] = reset.isoformat(timespec="seconds")
        return headers
