"""AnthropicModel: the ModelClient that streams every call through the official SDK."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
from loguru import logger

from agent.config import Settings, require_api_key
from agent.logs import redact
from agent.model.client import AssistantMessage, ModelError, ModelRequest, ModelResponse
from agent.model.ratelimit import RateLimiter, estimate_input_tokens

TextCallback = Callable[[str], None]
EPHEMERAL: dict[str, str] = {"type": "ephemeral"}
CACHEABLE_BLOCKS = frozenset({"text", "tool_result", "tool_use", "image", "document"})
CACHE_TTL = 300.0  # seconds an ephemeral cache entry lives
CONTEXT_WINDOW_HINTS = ("prompt is too long", "context window", "context_window", "too many tokens")
USAGE_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class AnthropicModel:
    """ModelClient backed by `anthropic.Anthropic`, streaming, with typed failures."""

    def __init__(
        self,
        settings: Settings,
        api_key: str | None = None,
        client: anthropic.Anthropic | None = None,
        on_text: TextCallback | None = None,
    ) -> None:
        self.settings = settings
        self.on_text = on_text
        if client is None:
            key = api_key if api_key is not None else require_api_key()
            client = anthropic.Anthropic(
                api_key=key,
                base_url=settings.base_url,
                max_retries=settings.max_retries,
                timeout=settings.timeout,
            )
        self._client = client
        self._secret = api_key or client.api_key or ""
        self.limiter = RateLimiter(settings.requests_per_minute, settings.input_tokens_per_minute)
        self.cache_stats = CacheStats()
        self._cached_prefixes: dict[str, float] = {}

    def respond(self, request: ModelRequest) -> ModelResponse:
        """Stream one Messages API call and return the complete message, or raise ModelError."""
        kwargs = request.api_kwargs()
        if self.settings.cache:
            kwargs = with_cache_control(kwargs)
        self.limiter.acquire(estimate_input_tokens(kwargs))
        started = time.perf_counter()
        try:
            with self._client.messages.stream(**kwargs) as stream:
                request_id = stream.request_id
                retries = retries_taken(stream.response)
                saw_stop = False
                for event in stream:
                    if event.type == "text" and self.on_text is not None:
                        self.on_text(event.text)
                    elif event.type == "message_stop":
                        saw_stop = True
                if not saw_stop:
                    raise ModelError(
                        f"stream ended before message_stop (request_id {request_id})",
                        kind="stream_cut",
                    )
                final = stream.get_final_message()
        except anthropic.APIError as exc:
            raise self._model_error(exc) from exc
        except httpx2.TimeoutException as exc:
            raise ModelError(f"timed out while reading the stream: {exc}", kind="timeout") from exc
        except httpx2.TransportError as exc:
            raise ModelError(
                f"stream broke off: {self._redact(str(exc))}", kind="stream_cut"
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        message = to_assistant_message(final)
        if self.settings.cache:
            self._check_cache(kwargs, message)
        return ModelResponse(
            message=message,
            request_id=request_id,
            latency_ms=latency_ms,
            retries=retries,
        )

    def _check_cache(self, kwargs: dict[str, Any], message: AssistantMessage) -> None:
        """Verify caching: a repeated system+tools prefix within 5 minutes must be read."""
        key = prefix_key(kwargs)
        now = time.monotonic()
        sent_before = now - self._cached_prefixes.get(key, -CACHE_TTL) < CACHE_TTL
        self._cached_prefixes[key] = now
        usage = message.usage
        self.cache_stats.reads += usage.cache_read_input_tokens > 0
        self.cache_stats.writes += usage.cache_creation_input_tokens > 0
        if sent_before and usage.cache_read_input_tokens == 0:
            self.cache_stats.misses += 1
            logger.warning(
                "prompt cache miss: the same system prompt and tools were sent within 5 minutes "
                "but nothing was read from the cache (prefix shorter than the model's minimum "
                "cacheable length, or caching unsupported for {})",
                kwargs.get("model"),
            )

    def close(self) -> None:
        """Release the SDK client's connections."""
        self._client.close()

    def _model_error(self, exc: anthropic.APIError) -> ModelError:
        kind = error_kind(exc)
        if isinstance(exc, anthropic.APIStatusError):
            detail = exc.api_message or exc.message
            what = f"{exc.status_code} {exc.type or 'error'}: {detail}"
            retries = retries_taken(exc.response)
            extra = f" (request_id {exc.request_id}, after {retries} retries)"
        else:
            what, extra = exc.message, f" (after {self._client.max_retries} retries)"
        return ModelError(self._redact(f"Anthropic API {kind}: {what}{extra}"), kind=kind)

    def _redact(self, text: str) -> str:
        """No key, no fragment of one (servers echo partial keys), no URL password."""
        return redact(text.replace(self._secret, "[REDACTED]") if self._secret else text)


def error_kind(exc: anthropic.APIError) -> str:
    """The ModelError kind for an SDK exception (status code first, then the error type)."""
    if isinstance(exc, anthropic.APITimeoutError):
        return "timeout"
    if isinstance(exc, anthropic.APIConnectionError):
        return "connection"
    if not isinstance(exc, anthropic.APIStatusError):
        return "api_error"
    status, error_type = exc.status_code, exc.type
    message = (exc.api_message or exc.message).lower()
    if status == 429 or error_type == "rate_limit_error":
        return "rate_limited"
    if status == 529 or error_type == "overloaded_error":
        return "overloaded"
    if status in (401, 403) or error_type in ("authentication_error", "permission_error"):
        return "auth"
    if status >= 500 or error_type == "api_error":
        return "server_error"
    if status == 400 and any(hint in message for hint in CONTEXT_WINDOW_HINTS):
        return "context_window_exceeded"
    if 400 <= status < 500:
        return "bad_request"
    return "api_error"


def retries_taken(response: httpx2.Response) -> int:
    """How many retries the SDK made, from the `x-stainless-retry-count` header it sent."""
    raw = response.request.headers.get("x-stainless-retry-count", "0")
    return int(raw) if raw.isdigit() else 0


def with_cache_control(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Cache breakpoints on the last tool, the system prompt and the newest message (a copy).

    The first two cache what every call shares; the last lets each turn read the
    conversation so far from the cache (the API looks back up to 20 blocks).
    """
    result = dict(kwargs)
    system = result.get("system")
    if isinstance(system, str) and system:
        result["system"] = [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
    tools = result.get("tools")
    if tools:
        result["tools"] = [*tools[:-1], {**tools[-1], "cache_control": EPHEMERAL}]
    messages = result.get("messages")
    if messages and isinstance(messages[-1].get("content"), list) and messages[-1]["content"]:
        last = messages[-1]
        block = last["content"][-1]
        if block.get("type") in CACHEABLE_BLOCKS:
            content = [*last["content"][:-1], {**block, "cache_control": EPHEMERAL}]
            result["messages"] = [*messages[:-1], {**last, "content": content}]
    return result


def prefix_key(kwargs: dict[str, Any]) -> str:
    """A hash of the cached prefix every call shares: tools and system prompt."""
    prefix = {"tools": kwargs.get("tools"), "system": kwargs.get("system")}
    return hashlib.sha256(json.dumps(prefix, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class CacheStats:
    """How the prompt cache behaved: responses that read it, wrote it, or should have read it."""

    reads: int = 0
    writes: int = 0
    misses: int = 0


def to_assistant_message(message: anthropic.BaseModel) -> AssistantMessage:
    """Keep every field the API sent, exactly (thinking signatures, unknown block types)."""
    # to_dict() is exclude_unset: fields the API never sent (e.g. `caller: null`
    # on tool_use, `text: null` on unknown blocks) must not go back to the API.
    data = message.to_dict(mode="json", warnings=False)
    usage = data.get("usage")
    if isinstance(usage, dict):
        data["usage"] = {k: v for k, v in usage.items() if not (k in USAGE_COUNTS and v is None)}
    return AssistantMessage.model_validate(data)
