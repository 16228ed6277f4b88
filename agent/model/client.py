"""Typed request/response values exchanged with a model client.

Content blocks stay as the API's JSON objects so that thinking, redacted_thinking,
server and unknown blocks go back to the API exactly as they came.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.bounds import bounded

Block = dict[str, Any]
Role = Literal["user", "assistant"]


class ModelError(Exception):
    """The model call failed in a way the run reports (after the SDK's own retries)."""

    def __init__(self, message: str, *, kind: str = "api_error") -> None:
        super().__init__(message)
        self.kind = kind


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
