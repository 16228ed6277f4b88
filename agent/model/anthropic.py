"""AnthropicModel: the ModelClient that streams every call through the official SDK."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
from loguru import logger
from sqlalchemy.engine import Engine

from agent.config import Settings, require_api_key
from agent.logs import redact
from agent.model.breaker import breaker_for
from agent.model.client import (
    AssistantMessage,
    CallEnded,
    ModelError,
    ModelErrorKind,
    ModelRequest,
    ModelResponse,
    StreamReset,
    TextCallback,
)
from agent.model.providers import SdkClient, limited_http_client, make_client
from agent.model.ratelimit import RateLimiter, limiter_for, retry_after_seconds
from agent.model.retry import RetryPolicy, RetryRunner

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
    """ModelClient backed by the SDK: streaming, our retries, breaker, limiter, typed failures."""

    def __init__(
        self,
        settings: Settings,
        api_key: str | None = None,
        client: SdkClient | None = None,
        on_text: TextCallback | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.on_text = on_text
        if client is None:
            key = api_key
            if key is None and settings.provider == "anthropic":
                key = require_api_key()
            http = limited_http_client(settings, self.limiter)
            client = make_client(settings, http, api_key=key)
        else:
            client = client.with_options(max_retries=0)
        self._client = client
        self._secret = api_key or getattr(client, "api_key", None) or ""
        policy = RetryPolicy(
            max_retries=settings.max_retries,
            deadline=settings.deadline,
            retry_after_cap=settings.retry_after_cap,
            base_delay=settings.retry_base_delay,
        )
        breaker = breaker_for(
            settings.breaker_name(),
            threshold=settings.breaker_failures,
            cooldown=settings.breaker_cooldown,
            engine=engine,
        )
        self.runner = RetryRunner(policy, breaker)
        self.cache_stats = CacheStats()
        self._cached_prefixes: dict[str, float] = {}

    def limiter(self, model: str) -> RateLimiter:
        """The process-wide limiter of one model, seeded from the configured limits."""
        return limiter_for(
            model,
            requests_per_minute=self.settings.requests_per_minute,
            input_tokens_per_minute=self.settings.input_tokens_per_minute,
            output_tokens_per_minute=self.settings.output_tokens_per_minute,
            retry_after_cap=self.settings.retry_after_cap,
        )

    def respond(self, request: ModelRequest) -> ModelResponse:
        """Stream one Messages API call (retried as the policy says); raise ModelError."""
        kwargs = request.api_kwargs()
        if self.settings.cache:
            kwargs = with_cache_control(kwargs)
        started = time.perf_counter()
        response = self.runner.call(lambda retry: self._attempt(kwargs, retry))
        response.latency_ms = (time.perf_counter() - started) * 1000
        self.limiter(request.model).pay_output(response.message.usage.output_tokens)
        if self.settings.cache:
            self._check_cache(kwargs, response.message)
        if self.on_text is not None:
            self.on_text(CallEnded())
        return response

    def count_tokens(self, request: ModelRequest) -> int | None:
        """Input tokens of a request by the API's count_tokens endpoint; None if unavailable."""
        kwargs = request.api_kwargs()
        kwargs.pop("max_tokens", None)
        try:
            return int(self._client.messages.count_tokens(**kwargs).input_tokens)
        except (anthropic.APIError, httpx2.HTTPError, AttributeError, TypeError) as exc:
            logger.debug("count_tokens unavailable, estimating instead: {}", type(exc).__name__)
            return None

    def _attempt(self, kwargs: dict[str, Any], retry: int) -> ModelResponse:
        """One HTTP attempt; any failure becomes a typed ModelError, shown text is withdrawn."""
        shown: list[str] = []
        request_id: str | None = None
        try:
            with self._client.messages.stream(**kwargs) as stream:
                request_id = stream.request_id
                saw_stop = False
                for event in stream:
                    if event.type == "text" and self.on_text is not None:
                        shown.append(event.text)
                        self.on_text(event.text)
                    elif event.type == "message_stop":
                        saw_stop = True
                if not saw_stop:
                    raise ModelError(
                        f"stream ended before message_stop (request_id {request_id})",
                        kind="stream_cut",
                    )
                final = stream.get_final_message()
        except Exception as exc:
            if shown and self.on_text is not None:
                self.on_text(StreamReset(discarded="".join(shown)))
            error = to_model_error(exc, request_id)
            error.args = (self._redact(str(error)),)
            if error is not exc:
                raise error from exc
            raise
        message = to_assistant_message(final)
        return ModelResponse(message=message, request_id=request_id, retries=retry)

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

    def _redact(self, text: str) -> str:
        """No key, no fragment of one (servers echo partial keys), no URL password."""
        return redact(text.replace(self._secret, "[REDACTED]") if self._secret else text)


STATUS_KINDS: dict[int, ModelErrorKind] = {
    401: "auth",
    403: "permission",
    404: "not_found",
    408: "timeout",
    409: "server_error",  # a lock timeout on the API's side: transient
    413: "too_large",
    429: "rate_limited",
    529: "overloaded",
}
TYPE_KINDS: dict[str, ModelErrorKind] = {
    "rate_limit_error": "rate_limited",
    "overloaded_error": "overloaded",
    "api_error": "server_error",
    "authentication_error": "auth",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "too_large",
    "timeout_error": "timeout",
}


def error_kind(exc: anthropic.APIError) -> ModelErrorKind:
    """The ModelError kind for an SDK exception (status code first, then the error type)."""
    if isinstance(exc, anthropic.APITimeoutError):
        return "timeout"
    if isinstance(exc, anthropic.APIConnectionError):
        return "connection"
    if not isinstance(exc, anthropic.APIStatusError):
        return "server_error"
    status, error_type = exc.status_code, exc.type or ""
    message = (exc.api_message or exc.message).lower()
    if status in STATUS_KINDS:
        return STATUS_KINDS[status]
    if status >= 500:
        return "server_error"
    if status >= 400:
        if any(hint in message for hint in CONTEXT_WINDOW_HINTS):
            return "context_window_exceeded"
        return "bad_request"
    return TYPE_KINDS.get(error_type, "server_error")  # an `error` event inside a 200 stream


def to_model_error(exc: BaseException, request_id: str | None = None) -> ModelError:
    """Any failure of one attempt as a typed ModelError (retryable or not)."""
    if isinstance(exc, ModelError):
        return exc
    where = f" (request_id {request_id})" if request_id else ""
    if isinstance(exc, anthropic.APIStatusError):
        kind = error_kind(exc)
        detail = exc.api_message or exc.message
        should = exc.response.headers.get("x-should-retry")
        retryable = {"true": True, "false": False}.get(str(should))
        return ModelError(
            f"Anthropic API {kind}: {exc.status_code} {exc.type or 'error'}: {detail}"
            f" (request_id {exc.request_id})",
            kind=kind,
            retry_after=retry_after_seconds(exc.response.headers),
            retryable=retryable,
        )
    if (
        isinstance(exc, anthropic.APIConnectionError)
        and not isinstance(exc, anthropic.APITimeoutError)
        and request_id is not None
    ):  # the response had begun (it named its request): the SDK wraps a cut stream so
        return ModelError(f"stream broke off{where}: {exc.message}", kind="stream_cut")
    if isinstance(exc, anthropic.APIError):
        return ModelError(f"Anthropic API {error_kind(exc)}: {exc.message}", kind=error_kind(exc))
    if isinstance(exc, httpx2.TimeoutException):
        return ModelError(f"stream stalled: no data within the read timeout{where}", kind="timeout")
    if isinstance(exc, httpx2.TransportError):
        return ModelError(f"stream broke off{where}: {exc}", kind="stream_cut")
    # Malformed stream data (bad tool-input JSON, a delta for a block never started, a
    # data line that is not JSON) is the server's fault and usually does not repeat.
    return ModelError(
        f"malformed stream data{where}: {type(exc).__name__}: {str(exc)[:200]}",
        kind="server_error",
    )


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
