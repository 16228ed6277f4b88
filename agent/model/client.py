"""Typed request/response values exchanged with a model client.

Content blocks stay as the API's JSON objects so that thinking, redacted_thinking,
server and unknown blocks go back to the API exactly as they came.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.bounds import bounded

Block = dict[str, Any]
Role = Literal["user", "assistant"]
ModelErrorKind = Literal[
    "rate_limited",
    "overloaded",
    "server_error",
    "connection",
    "timeout",
    "stream_cut",
    "bad_request",
    "auth",
    "permission",
    "not_found",
    "too_large",
    "context_window_exceeded",
    "budget",
    "api_unavailable",
]
RETRYABLE_KINDS: frozenset[ModelErrorKind] = frozenset(
    {"rate_limited", "overloaded", "server_error", "connection", "timeout", "stream_cut"}
)
"""Transient failures: retried by the retry policy, and the API counts as unavailable
when they outlast it (the conversation pauses instead of failing)."""


def as_kind(raw: str) -> ModelErrorKind:
    """A recorded kind read back as a ModelErrorKind (unknown and legacy kinds: server_error)."""
    for kind in get_args(ModelErrorKind):
        if kind == raw:
            return cast(ModelErrorKind, kind)
    return "server_error"


class ModelError(Exception):
    """A model call failed after our retries; `kind` says how, `retry_after` what the API asked."""

    def __init__(
        self,
        message: str,
        *,
        kind: ModelErrorKind = "server_error",
        retry_after: float | None = None,
        retries: int = 0,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ModelErrorKind = kind
        self.retry_after = retry_after
        self.retries = retries
        self.retryable = kind in RETRYABLE_KINDS if retryable is None else retryable

    @property
    def api_unavailable(self) -> bool:
        """The API did not answer usefully (breaker open, or transient faults outlasted retries)."""
        return self.kind == "api_unavailable" or self.kind in RETRYABLE_KINDS


@dataclass(frozen=True)
class StreamReset:
    """Live-text signal: the stream is retried; discard the `discarded` text shown so far."""

    discarded: str


@dataclass(frozen=True)
class CallEnded:
    """Live-text signal: one model call finished (the next call's text starts a new paragraph)."""


LiveText = str | StreamReset | CallEnded
TextCallback = Callable[[LiveText], None]


class Usage(BaseModel):
    """Token counts as the API reports them."""

    model_config = ConfigDict(extra="allow")

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
        )


class ChatMessage(BaseModel):
    """One entry of the `messages` list."""

    role: Role
    content: list[Block]


@dataclass(frozen=True)
class ToolUse:
    """One `tool_use` block of a model reply, parsed at the edge."""

    id: str
    name: str
    input: Any

    @classmethod
    def of(cls, block: Block) -> ToolUse:
        """Parse a wire block; a missing id or name becomes an empty string the gate refuses."""
        return cls(
            id=str(block.get("id", "")), name=str(block.get("name", "")), input=block.get("input")
        )


class ModelRequest(BaseModel):
    """Everything one Messages API call needs."""

    model: str
    max_tokens: int
    system: str
    messages: list[ChatMessage]
    tools: list[dict[str, Any]] = Field(default_factory=list)

    def api_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `client.messages.create/stream`."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": self.system,
            "messages": [m.model_dump() for m in self.messages],
        }
        if self.tools:
            kwargs["tools"] = self.tools
        return kwargs


class AssistantMessage(BaseModel):
    """The model's reply as the API returned it."""

    model_config = ConfigDict(extra="allow")

    id: str = ""
    model: str = ""
    role: Literal["assistant"] = "assistant"
    content: list[Block] = Field(default_factory=list)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Usage = Field(default_factory=Usage)

    @field_validator("content", mode="before")
    @classmethod
    def _bound_tool_inputs(cls, content: Any) -> Any:
        """A tool_use input too deep or too large to record becomes a stand-in the gate refuses."""
        if not isinstance(content, list):
            return content
        return [
            {**block, "input": bounded(block.get("input"))}
            if isinstance(block, dict) and block.get("type") == "tool_use"
            else block
            for block in content
        ]

    def blocks_of(self, block_type: str) -> list[Block]:
        """Content blocks of one type, in order."""
        return [b for b in self.content if b.get("type") == block_type]

    def text(self) -> str:
        """All text blocks joined."""
        return "".join(str(b.get("text", "")) for b in self.blocks_of("text"))


class ModelResponse(BaseModel):
    """One completed model call: the message plus what the transport knows."""

    message: AssistantMessage
    request_id: str | None = None
    latency_ms: float = 0.0
    retries: int = 0


class ModelClient(Protocol):
    """Anything that can answer a ModelRequest: the real API, a script, a transcript."""

    def respond(self, request: ModelRequest) -> ModelResponse:
        """Return the model's complete reply or raise ModelError."""
        ...
