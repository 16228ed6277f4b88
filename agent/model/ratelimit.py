"""Client-side rate limiting: token buckets per model, shared by every thread of a process.

Each HTTP attempt (retries included) takes one request and its estimated input tokens
from the model's buckets before it goes out (`LimitedTransport`); output tokens are
paid when the reply's usage is known. Limits start from configuration and are learned
from the API's `anthropic-ratelimit-*` headers; a `retry-after` stops everyone sending
until it has passed.

The API's limiter is a token bucket that refills continuously; how much of a minute's
budget it lets out at once is not documented (the docs warn that 60 requests a minute
may be enforced as one a second). So a bucket starts holding one second of its rate and
grows to what the server shows it holds: `remaining` (plus the request just counted) is
a level the server's bucket reached, hence a lower bound of its capacity. The `reset`
header (when the server's bucket will be full again) is not used for this: it is given
to the second and in the server's clock. A 429 means the server holds less than the
bucket thought: it shrinks by half and never grows past that again, so a wrong guess
costs a few 429s, never a storm.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
from loguru import logger

Resource = Literal["requests", "input-tokens", "output-tokens"]
RESOURCES: tuple[Resource, ...] = ("requests", "input-tokens", "output-tokens")
BURST_SECONDS = 1.0
"""A bucket holds this many seconds of its rate until the server shows it holds more."""
ARRIVAL_SLACK = 0.25
"""Seconds of its rate (at least one unit) a bucket grown from the headers keeps below what
the server showed: the server counts a request when it arrives, the bucket when it leaves,
and requests do not always arrive in the order they left."""


def estimate_input_tokens(kwargs: dict[str, Any]) -> int:
    """A rough input size (four characters per token) of a Messages API request."""
    parts = {k: kwargs.get(k) for k in ("system", "tools", "messages")}
    return math.ceil(len(json.dumps(parts, default=str)) / 4)


@dataclass
class TokenBucket:
    """`rate` units per second accrue up to `capacity`; the level may go negative (debt)."""

    rate: float
    capacity: float
    level: float
    updated: float
    ceiling: float = math.inf
    """The most `widen` may grow the bucket to: lowered by every 429 (`narrow`)."""

    @classmethod
    def per_minute(cls, limit: float, now: float) -> TokenBucket:
        """A bucket for a per-minute limit holding `BURST_SECONDS` of it, starting full."""
        capacity = cls.floor_for(limit / 60)
        return cls(limit / 60, capacity, capacity, now)

    @staticmethod
    def floor_for(rate: float) -> float:
        """The capacity a bucket starts with and never shrinks below."""
        return max(1.0, rate * BURST_SECONDS)

    def widen(self, shown: float, now: float) -> None:
        """Grow towards `shown` units, a level the server's bucket reached (up to `ceiling`).

        The bucket stays `ARRIVAL_SLACK` below it; the units it did not know about were
        there all along, so the level grows too.
        """
        target = min(shown - max(1.0, self.rate * ARRIVAL_SLACK), self.ceiling)
        if target > self.capacity:
            self.refill(now)
            self.level += target - self.capacity
            self.capacity = target

    def narrow(self) -> None:
        """The server refused what this bucket let through: hold half as much from now on.

        A bucket at its floor guessed nothing: the 429 is someone else's use or a race.
        """
        floor = self.floor_for(self.rate)
        if self.capacity <= floor:
            return
        self.ceiling = self.capacity = max(floor, self.capacity / 2)
        self.level = min(self.level, self.capacity)

    def refill(self, now: float) -> None:
        """Accrue what the time since the last refill earned."""
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` (at most a full bucket) is available; 0 if it is now."""
        need = min(amount, self.capacity) - self.level
        return 0.0 if need <= 0 else need / self.rate


@dataclass
class RateLimiter:
    """Requests, input-token and output-token buckets of one model; `acquire` blocks as needed."""

    requests_per_minute: float | None = None
    input_tokens_per_minute: float | None = None
    output_tokens_per_minute: float | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    retry_after_cap: float = math.inf
    """A 429's `retry-after` holds every caller this long at most (the retry policy's cap)."""
    blocked_until: float = 0.0
    waited: float = 0.0
    acquired: int = 0
    probe_wait: float = 2.0
    """With no limits known yet, the first request goes alone and the others wait this long
    at most for its response headers (a burst of threads would otherwise all hit a 429)."""
    _buckets: dict[Resource, TokenBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _answered: threading.Event = field(default_factory=threading.Event)
    _probing: bool = False

    def __post_init__(self) -> None:
        now = self.clock()
        limits = (
            self.requests_per_minute,
            self.input_tokens_per_minute,
            self.output_tokens_per_minute,
        )
        for resource, limit in zip(RESOURCES, limits, strict=True):
            if limit is not None:
                self._buckets[resource] = TokenBucket.per_minute(limit, now)

    def acquire(self, tokens: int) -> float:
        """Take one request and `tokens` input tokens, waiting until they fit; seconds waited."""
        waited = self._await_first_answer()
        while True:
            with self._lock:
                now = self.clock()
                pause = self._pause(now, tokens)
                if pause <= 0:
                    self._take("requests", 1)
                    self._take("input-tokens", tokens)
                    self.acquired += 1
                    self.waited += waited
                    return waited
            self.sleep(pause)
            waited += pause

    def _await_first_answer(self) -> float:
        with self._lock:
            if self._buckets or self._answered.is_set() or not self._probing:
                self._probing = True
                return 0.0
        started = self.clock()
        self._answered.wait(self.probe_wait)
        return self.clock() - started

    def _pause(self, now: float, tokens: int) -> float:
        pause = self.blocked_until - now
        for resource, amount in (("requests", 1), ("input-tokens", tokens), ("output-tokens", 1)):
            bucket = self._buckets.get(resource)  # type: ignore[call-overload]
            if bucket is not None:
                bucket.refill(now)
                pause = max(pause, bucket.wait_for(amount))
        return pause

    def _take(self, resource: Resource, amount: float) -> None:
        bucket = self._buckets.get(resource)
        if bucket is not None:
            bucket.level -= amount

    def pay_output(self, tokens: int) -> None:
        """Charge the output tokens a reply used (known only when it has been read)."""
        with self._lock:
            self._take("output-tokens", tokens)

    def learn(self, headers: httpx2.Headers, status: int) -> None:
        """Adopt the limits and remaining budget the API reports; honour retry-after on 429."""
        self._answered.set()
        with self._lock:
            now = self.clock()
            for resource in RESOURCES:
                self._learn_one(resource, headers, status, now)
            if status == 429:
                for bucket in self._buckets.values():
                    bucket.narrow()
                retry_after = retry_after_seconds(headers)
                if retry_after is not None:
                    retry_after = min(retry_after, self.retry_after_cap)
                    self.blocked_until = max(self.blocked_until, now + retry_after)
                    logger.info("rate limited: every caller waits {:.2f}s", retry_after)

    def _learn_one(
        self, resource: Resource, headers: httpx2.Headers, status: int, now: float
    ) -> None:
        limit = _number(headers.get(f"anthropic-ratelimit-{resource}-limit"))
        remaining = _number(headers.get(f"anthropic-ratelimit-{resource}-remaining"))
        if limit is None or limit <= 0:
            return
        bucket = self._buckets.get(resource)
        if bucket is None or not math.isclose(bucket.rate, limit / 60):
            if bucket is None:
                logger.info("learned rate limit {} = {:g}/min from the API", resource, limit)
            fresh = TokenBucket.per_minute(limit, now)
            if bucket is not None:
                fresh.level = min(fresh.capacity, bucket.level)
            self._buckets[resource] = bucket = fresh
        if remaining is not None:
            bucket.refill(now)
            counted = 1 if resource == "requests" and status != 429 else 0
            bucket.widen(remaining + counted, now)
            bucket.level = min(bucket.level, remaining)

    def limits(self) -> dict[Resource, float]:
        """The per-minute limits in force now."""
        with self._lock:
            return {r: b.rate * 60 for r, b in self._buckets.items()}

    def bursts(self) -> dict[Resource, float]:
        """How much of each limit may leave at once now (the buckets' capacities)."""
        with self._lock:
            return {r: b.capacity for r, b in self._buckets.items()}


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def retry_after_seconds(headers: httpx2.Headers) -> float | None:
    """The wait a response asks for: `retry-after-ms`, else `retry-after` in seconds."""
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None and ms >= 0:
        return ms / 1000
    seconds = _number(headers.get("retry-after"))
    return seconds if seconds is not None and seconds >= 0 else None


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(model: str, **limits: float | None) -> RateLimiter:
    """The process's limiter for a model (created with `limits` on first use)."""
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(model)
        if limiter is None:
            limiter = _LIMITERS[model] = RateLimiter(**limits)  # type: ignore[arg-type]
        return limiter


def reset_limiters() -> None:
    """Forget every limiter of this process (tests, and a fresh start after reconfiguration)."""
    with _LIMITERS_LOCK:
        _LIMITERS.clear()


MODEL_IN_PATH = re.compile(r"/models?/([^/:]+)")


def model_of(path: str, body: Any) -> str:
    """The model a request is for: the body's `model`, else the Bedrock/Vertex URL path's."""
    if isinstance(body, dict) and body.get("model"):
        return str(body["model"])
    found = MODEL_IN_PATH.search(path)
    return found.group(1) if found else path


class LimitedTransport(httpx2.BaseTransport):
    """An httpx transport that passes every Messages API attempt through the model's limiter."""

    def __init__(self, inner: httpx2.BaseTransport, limiter: Callable[[str], RateLimiter]) -> None:
        self.inner = inner
        self.limiter = limiter

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Wait for the buckets, send, then learn from the response headers."""
        if request.method != "POST" or "count_tokens" in request.url.path:
            return self.inner.handle_request(request)
        try:
            body = json.loads(request.content or b"{}")
        except (ValueError, httpx2.RequestNotRead):
            body = {}
        limiter = self.limiter(model_of(request.url.path, body))
        waited = limiter.acquire(estimate_input_tokens(body if isinstance(body, dict) else {}))
        if waited > 0:
            logger.debug("rate limiter held a request for {:.2f}s", waited)
        response = self.inner.handle_request(request)
        limiter.learn(response.headers, response.status_code)
        return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()
