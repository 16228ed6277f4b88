"""ScriptedModel: serves assistant replies from a script (scenarios, tests, demos)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from agent.model.client import AssistantMessage, Block, ModelRequest, ModelResponse, Usage


class ScriptError(Exception):
    """The script ran out or the conversation did not go the way the script expected."""


class ScriptStep(BaseModel):
    """One scripted reply, with optional expectations on the request it answers."""

    content: list[Block]
    stop_reason: str = "end_turn"
    usage: Usage = Field(default_factory=lambda: Usage(input_tokens=100, output_tokens=20))
    expect_in_request: list[str] = Field(default_factory=list)


def flatten(blocks: list[Block]) -> str:
    """The readable text of content blocks: text, tool results, tool inputs as JSON."""
    parts = []
    for block in blocks:
        match block.get("type"):
            case "text":
                parts.append(str(block.get("text", "")))
            case "tool_result":
                content = block.get("content", "")
                parts.append(content if isinstance(content, str) else json.dumps(content))
            case "tool_use":
                parts.append(json.dumps(block.get("input"), sort_keys=True))
            case _:
                parts.append(json.dumps(block, sort_keys=True))
    return "\n".join(parts)


@dataclass
class ScriptedModel:
    """A ModelClient that replays scripted steps in order and checks what it was sent."""

    steps: list[ScriptStep]
    name: str = "script"
    position: int = 0
    requests: list[ModelRequest] = field(default_factory=list)

    def respond(self, request: ModelRequest) -> ModelResponse:
        """The next scripted reply; a clear ScriptError naming the step when out or mismatched."""
        self.requests.append(request)
        if self.position >= len(self.steps):
            raise ScriptError(
                f"{self.name}: the model was called {self.position + 1} times but the script "
                f"has only {len(self.steps)} replies"
            )
        step = self.steps[self.position]
        self.position += 1
        last = flatten(request.messages[-1].content) if request.messages else ""
        for needle in step.expect_in_request:
            if needle not in last:
                raise ScriptError(
                    f"{self.name}: reply {self.position} expected the last message to contain "
                    f"{needle!r}, got {last[:300]}"
                )
        message = AssistantMessage(
            id=f"msg_scripted_{self.position:03d}",
            model="scripted",
            content=step.content,
            stop_reason=step.stop_reason,
            usage=step.usage,
        )
        return ModelResponse(message=message, request_id=f"req_scripted_{self.position:03d}")
