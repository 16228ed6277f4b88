"""Tools and the registry: Pydantic input models, API tool schemas, validation."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from agent.bounds import MAX_DEPTH, MAX_STRING, MAX_VALUES, REJECTED_KEY, string_problems
from agent.digest import json_sha256
from agent.text import printable

Effect = Literal["read", "write"]


class ToolError(Exception):
    """A domain refusal: the message goes back to the model as an is_error tool result."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool may see: the database session (owned by the gate) and who the customer is."""

    session: Session
    conversation_id: str
    customer_id: str | None
    # What the customer wrote in this conversation: a lookup may authenticate only
    # with identifiers found here (or a verified id from the channel).
    customer_said: tuple[str, ...] = ()
    # While facts are computed for a decision: which facts the policy may read for this
    # call (None: any). A domain may skip the others, and reports them as null.
    wanted: Callable[[str], bool] | None = None

    def wants(self, fact: str) -> bool:
        """Whether the policy may read this fact for the call being decided."""
        return self.wanted is None or self.wanted(fact)


@dataclass(frozen=True)
class ToolOutput:
    """A tool's result plus what it tells the engine about the conversation."""

    content: Any
    identifies_customer: str | None = None
    ends_conversation: bool = False


ToolFunction = Callable[[ToolContext, Any], Any]
Summarizer = Callable[[Any, Session | None], str]
FactsFunction = Callable[[ToolContext, "Tool", BaseModel], dict[str, Any]]
# Raises ToolError when the call could not run now (status, balance, method...).
Precheck = Callable[[ToolContext, Any], None]
# How much money (in the domain's minor unit) this call would move to the customer.
RefundFunction = Callable[[ToolContext, Any], int]


@dataclass(frozen=True)
class Tool:
    """One tool: what the model sees (name, description, schema) and what runs (fn)."""

    name: str
    description: str
    input_model: type[BaseModel]
    effect: Effect
    fn: ToolFunction
    summarize: Summarizer | None = None
    # What the policy needs to know, declared here so the facts code reads fields, not
    # lists of tool names: the call looks at or changes a customer's account; the
    # order status it requires; how much it would pay out to the customer.
    touches_account: bool = False
    needs_order_status: str | None = None
    refund: RefundFunction | None = None
    precheck: Precheck | None = None

    def api_schema(self) -> dict[str, Any]:
        """The entry for the Messages API `tools` list."""
        schema = self.input_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return {"name": self.name, "description": self.description, "input_schema": schema}

    def describe(self, args: BaseModel, session: Session | None = None) -> str:
        """A plain-language summary of this exact call, shown to the customer or approver.

        With a session the domain can state amounts (refund totals, price differences).
        """
        if self.summarize is not None:
            return printable(self.summarize(args, session))
        rendered = ", ".join(f"{k}={v!r}" for k, v in args.model_dump().items())
        return printable(f"{self.name}({rendered})")


class FieldProblem(BaseModel):
    """One invalid field: where, what is wrong, what was expected."""

    field: str
    problem: str
    expected: str
    got: Any = None


def _expected(error_type: str, ctx: dict[str, Any] | None) -> str:
    ctx = ctx or {}
    if "expected" in ctx:
        return str(ctx["expected"])
    if error_type == "missing":
        return "a value (this field is required)"
    if error_type == "extra_forbidden":
        return "no such field; remove it"
    if error_type.endswith("_type"):
        return error_type.removesuffix("_type").replace("_", " ")
    if "pattern" in ctx:
        return f"text matching {ctx['pattern']}"
    return ", ".join(f"{k} {v}" for k, v in ctx.items()) or error_type


def field_problems(error: ValidationError) -> list[FieldProblem]:
    """Turn a Pydantic ValidationError into problems the model can act on."""
    problems = []
    for err in error.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(input)"
        got = err.get("input") if err["type"] != "missing" else None
        problems.append(
            FieldProblem(
                field=loc,
                problem=err["msg"],
                expected=_expected(err["type"], err.get("ctx")),
                got=got if isinstance(got, str | int | float | bool | None) else repr(got)[:200],
            )
        )
    return problems


def args_hash(tool_name: str, args: dict[str, Any]) -> str:
    """The hash a confirmation or approval is bound to: tool name plus canonical arguments."""
    return json_sha256({"tool": tool_name, "input": args})


@dataclass
class ToolRegistry:
    """The tools one agent may use, plus the domain's facts function for the gate."""

    tools: dict[str, Tool] = field(default_factory=dict)
    facts: FactsFunction | None = None
    payout_fact: str | None = None  # the fact holding the dollars a call pays the customer
    _api_tools: list[dict[str, Any]] | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        tools: Iterable[Tool],
        facts: FactsFunction | None = None,
        payout_fact: str | None = None,
    ) -> ToolRegistry:
        """Build a registry, refusing duplicate names."""
        registry = cls(facts=facts, payout_fact=payout_fact)
        for tool in tools:
            registry.add(tool)
        return registry

    def add(self, tool: Tool) -> None:
        """Register one tool."""
        if tool.name in self.tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self.tools[tool.name] = tool
        self._api_tools = None

    def get(self, name: str) -> Tool | None:
        """The tool with this name, or None."""
        return self.tools.get(name)

    def api_tools(self) -> list[dict[str, Any]]:
        """The `tools` list for the Messages API, in registration order."""
        if self._api_tools is None:  # schemas are built once, not on every model call
            self._api_tools = [tool.api_schema() for tool in self.tools.values()]
        return self._api_tools

    def validate(self, tool: Tool, raw: Any) -> BaseModel | list[FieldProblem]:
        """Validate raw model input: the parsed model, or the list of problems."""
        if not isinstance(raw, dict):
            return [
                FieldProblem(
                    field="(input)",
                    problem="input must be a JSON object",
                    expected="object",
                    got=repr(raw)[:200],
                )
            ]
        if REJECTED_KEY in raw:
            return [
                FieldProblem(
                    field="(input)",
                    problem=str(raw[REJECTED_KEY]),
                    expected=f"a flat object (at most {MAX_DEPTH} levels, {MAX_VALUES} values)",
                )
            ]
        if strings := string_problems(raw):
            return [
                FieldProblem(
                    field=path,
                    problem=problem,
                    expected=f"plain text of at most {MAX_STRING} characters",
                )
                for path, problem in strings
            ]
        try:
            return tool.input_model.model_validate(raw)
        except ValidationError as exc:
            return field_problems(exc)

    def facts_for(self, ctx: ToolContext, tool: Tool, args: BaseModel) -> dict[str, Any]:
        """The domain facts for one call (empty when the domain defines none)."""
        if self.facts is None:
            return {}
        return self.facts(ctx, tool, args)
