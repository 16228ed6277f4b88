"""A tiny domain for engine tests: a key-value table, one read and one write tool."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from agent.registry import Tool, ToolContext, ToolError, ToolOutput, ToolRegistry


class ToyValue(SQLModel, table=True):
    """A named integer."""

    name: str = SQLField(primary_key=True)
    value: int = 0
    writes: int = 0


class LookupInput(BaseModel):
    name: str = Field(min_length=1, description="key")


class SetInput(BaseModel):
    name: str = Field(min_length=1)
    value: int = Field(ge=0, le=1000)


class LoginInput(BaseModel):
    who: str


def lookup(ctx: ToolContext, args: LookupInput) -> Any:
    row = ctx.session.get(ToyValue, args.name)
    if row is None:
        raise ToolError(f"no value named {args.name!r}")
    return {"name": row.name, "value": row.value}


def set_value(ctx: ToolContext, args: SetInput) -> Any:
    row = ctx.session.get(ToyValue, args.name)
    if row is None:
        raise ToolError(f"no value named {args.name!r}")
    row.value = args.value
    row.writes += 1
    ctx.session.add(row)
    return {"name": row.name, "value": row.value}


def login(ctx: ToolContext, args: LoginInput) -> ToolOutput:
    return ToolOutput(content=args.who, identifies_customer=args.who)


def handoff(ctx: ToolContext, args: LookupInput) -> ToolOutput:
    return ToolOutput(content="transferred", ends_conversation=True)


TOOLS = [
    Tool("lookup", "Look up a value.", LookupInput, "read", lookup),
    Tool(
        "set_value",
        "Set a value.",
        SetInput,
        "write",
        set_value,
        summarize=lambda a, _session: f"set {a.name} to {a.value}",
    ),
    Tool("login", "Identify the customer.", LoginInput, "read", login),
    Tool("handoff", "Hand off to a human.", LookupInput, "read", handoff),
]


def registry() -> ToolRegistry:
    return ToolRegistry.of(TOOLS, facts=lambda ctx, tool, args: {"customer": ctx.customer_id})


@dataclass
class ToyDecision:
    verdict: Literal["allow", "confirm", "approve", "deny"]
    rules: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    role: str | None = None

    @property
    def deciding_reasons(self) -> list[str]:
        return self.reasons


@dataclass
class ToyPolicy:
    """Writes need confirmation; values above `approve_above` need a team lead; 13 is denied."""

    approve_above: int = 500

    def evaluate(
        self, tool: str, effect: str, input: dict[str, Any], facts: dict[str, Any]
    ) -> ToyDecision:
        if effect == "read":
            return ToyDecision("allow")
        if input.get("value") == 13:
            return ToyDecision("deny", ["no-13"], ["13 is unlucky"])
        if input.get("value", 0) > self.approve_above:
            return ToyDecision("approve", ["big"], ["big values need a lead"], "team-lead")
        return ToyDecision("confirm", ["writes-confirm"], ["customer confirms writes"])
