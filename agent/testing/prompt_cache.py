"""Prompt-cache accounting for the fake Messages API, modelled on the real API's rules.

The cacheable prefix is tools, then system, then messages, in that order; a
`cache_control` breakpoint caches everything up to and including its block. A
request reads the longest previously written prefix that ends at one of its
breakpoints, and writes the prefix up to its last breakpoint when that is at least
`min_tokens` long. Tokens are estimated at four characters each.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass, field
from typing import Any


def estimate_tokens(value: Any) -> int:
    """A rough token count: four characters of compact JSON per token."""
    return math.ceil(len(json.dumps(value, sort_keys=True, separators=(",", ":"))) / 4)


def segments(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's blocks in cache order: each tool, each system block, each message block."""
    parts: list[dict[str, Any]] = [dict(t) for t in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str) and system:
        parts.append({"type": "text", "text": system})
    elif isinstance(system, list):
        parts.extend(dict(b) for b in system)
    for message in body.get("messages") or []:
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        parts.extend({"role": message.get("role"), **b} for b in blocks or [])
    return parts


@dataclass(frozen=True)
class CacheUsage:
    """How a request's input tokens split between fresh, cache write and cache read."""

    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


@dataclass
class PromptCache:
    """The prefixes written so far (keyed by hash), shared by all requests to one server."""

    min_tokens: int = 1024
    _written: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def account(self, body: dict[str, Any]) -> CacheUsage:
        """Split this request's input tokens and remember what it wrote."""
        parts = segments(body)
        sizes = [estimate_tokens(_clean(p)) for p in parts]
        keys = _prefix_keys(parts)
        breakpoints = [i for i, p in enumerate(parts) if "cache_control" in p]
        total = sum(sizes)
        with self._lock:
            read = 0
            for i in breakpoints:  # like the API: look back up to LOOKBACK blocks
                for j in range(i, max(-1, i - LOOKBACK), -1):
                    if keys[j] in self._written:
                        read = max(read, self._written[keys[j]])
                        break
            written = 0
            if breakpoints:
                last = breakpoints[-1]
                prefix = sum(sizes[: last + 1])
                if prefix >= self.min_tokens and keys[last] not in self._written:
                    written = prefix - read
                for i in breakpoints:
                    size = sum(sizes[: i + 1])
                    if size >= self.min_tokens:
                        self._written.setdefault(keys[i], size)
        return CacheUsage(total - read - written, written, read)


LOOKBACK = 20


def _clean(part: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in part.items() if k != "cache_control"}


def _prefix_keys(parts: list[dict[str, Any]]) -> list[str]:
    """A hash of every prefix, chained so that all of them cost one pass."""
    keys, running = [], hashlib.sha256()
    for part in parts:
        running.update(json.dumps(_clean(part), sort_keys=True).encode())
        keys.append(running.copy().hexdigest())
    return keys
