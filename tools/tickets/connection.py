"""Where triage sends its requests: Claude with a key, or the fake API when asked, and says which.

Also the one adapter to the engine's shared client-side rate limiter, so that a
new limiter implementation changes two functions here and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2

from agent.config import API_KEY_ENV, Settings
from agent.model.ratelimit import RateLimiter, estimate_input_tokens
from agent.testing.fake_batches import FakeBatches, ForcedToolResponder
from agent.testing.fake_server import FakeMessagesAPI
from agent.testing.prompt_cache import PromptCache

OFFLINE_KEY = "offline-no-key"  # what the SDK sends to a fake server; never a real key


class NoRoute(Exception):
    """No API key and no fake server asked for: triage refuses rather than pretend."""


ARRIVAL_MARGIN = 0.25  # seconds: a request reaches the server a little after it left the limiter


def make_limiter(settings: Settings, window: float = 60.0) -> RateLimiter:
    """The shared client-side limiter for requests and input tokens per window.

    The server counts a request when it arrives, the limiter when it leaves; with
    the window a little longer than the server's, a request that left later but
    arrived sooner than the one whose slot it takes is not answered 429. These are
    the limits until the first answer: then the API's headers tell the limiter its
    rates and how much of them may leave at once (`learn_rate_limit`).
    """
    per_minute = 60.0 / (window + ARRIVAL_MARGIN)  # the limits are per `window` seconds
    requests, tokens = settings.requests_per_minute, settings.input_tokens_per_minute
    return RateLimiter(
        requests * per_minute if requests is not None else None,
        tokens * per_minute if tokens is not None else None,
    )  # until the first answer only one request goes out (learn_rate_limit ends that wait)


def wait_for_rate_limit(limiter: RateLimiter, params: dict[str, Any]) -> float:
    """Block until this request fits under the shared limit; the seconds waited."""
    return limiter.acquire(estimate_input_tokens(params))


def learn_rate_limit(limiter: RateLimiter, response: httpx2.Response) -> None:
    """Let the limiter adopt the limits and budget the API reported with this response."""
    limiter.learn(response.headers, response.status_code)


@dataclass(frozen=True)
class Route:
    """The SDK client to use and a sentence saying honestly what it talks to."""

    client: anthropic.Anthropic
    description: str
    offline: bool


def sdk_client(settings: Settings, api_key: str, base_url: str | None) -> anthropic.Anthropic:
    """An SDK client built as AnthropicModel builds one (key given, never from a setting)."""
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url,
        max_retries=settings.max_retries,
        timeout=settings.timeout,
    )


@contextmanager
def open_route(settings: Settings, *, offline: bool) -> Iterator[Route]:
    """The route for this run: in-process fake server (--offline), ANTHROPIC_BASE_URL, or Claude."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if offline:
        server = FakeMessagesAPI(
            responder=ForcedToolResponder(), batches=FakeBatches(), prompt_cache=PromptCache()
        ).start()
        try:
            client = sdk_client(settings, OFFLINE_KEY, server.base_url)
            yield Route(
                client,
                f"offline: the fake API started in this process at {server.base_url}; gists "
                "are deterministic and built from the ticket text, not written by Claude",
                offline=True,
            )
        finally:
            client.close()
            server.stop()
        return
    if not key and not settings.base_url:
        raise NoRoute(
            f"{API_KEY_ENV} is not set: export it to triage with Claude, or pass --offline "
            "(or set ANTHROPIC_BASE_URL) to use the fake API"
        )
    if not key:
        description = (
            f"no {API_KEY_ENV}: talking to the server at {settings.base_url} "
            "(a fake or proxy), not to Claude"
        )
    elif settings.base_url:
        description = f"using the API at {settings.base_url} with ANTHROPIC_API_KEY"
    else:
        description = "using Claude through the Anthropic API"
    client = sdk_client(settings, key or OFFLINE_KEY, settings.base_url)
    try:
        yield Route(client, description, offline=not key)
    finally:
        client.close()
