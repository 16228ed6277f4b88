"""Scenarios: scripted conversations as YAML, validated, run and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field

from agent.transcript.events import (
    GateDecided,
    StoredEvent,
    ToolCalled,
    ToolResulted,
    ValidationFailed,
)
from agent.yaml_load import BoundedInputError, load_yaml, read_text_bounded


class ScenarioError(Exception):
    """The scenario file cannot be used; the message names the file and the field."""


class Reply(BaseModel):
    """One scripted model reply."""

    say: str | None = None
    tool: str | None = None
    input: Any = None
    id: str | None = None
    blocks: list[dict[str, Any]] | None = None
    stop_reason: str | None = None
    expect_in_request: list[str] = Field(default_factory=list)

    def content(self, default_id: str) -> list[dict[str, Any]]:
        """The reply's content blocks."""
        if self.blocks is not None:
            return self.blocks
        blocks: list[dict[str, Any]] = [{"type": "text", "text": self.say}] if self.say else []
        if self.tool:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": self.id or default_id,
                    "name": self.tool,
                    "input": {} if self.input is None else self.input,
                }
            )
        return blocks

    def stop(self) -> str:
        """The stop reason: explicit, else tool_use when calling a tool, else end_turn."""
        if self.stop_reason:
            return self.stop_reason
        has_tool = self.tool or any(b.get("type") == "tool_use" for b in self.blocks or [])
        return "tool_use" if has_tool else "end_turn"


class Decision(BaseModel):
    """A supervisor decision written in a scenario."""

    approved: bool
    by: str
    role: str
    reason: str = ""
    args_hash: str | None = None


class Turn(BaseModel):
    """One step of the conversation: the customer speaks, a supervisor decides, or a resume."""

    customer: str | None = None
    supervisor: Decision | None = None
    advance_hours: float = 0
    resume: bool = False
    model: list[Reply] = Field(default_factory=list)
    expect_status: str | None = None
    expect_reply_contains: list[str] = Field(default_factory=list)


class DecisionExpectation(BaseModel):
    """A gate decision expected in order."""

    tool: str
    verdict: str


class Expect(BaseModel):
    """What must hold after the last turn."""

    status: str | None = None
    tools_called: list[str] | None = None
    executed: list[str] | None = None
    not_executed: list[str] = Field(default_factory=list)
    decisions: list[DecisionExpectation] | None = None
    validation_errors: int | None = None
    db: dict[str, Any] | None = None
    reply_contains: list[str] = Field(default_factory=list)


class Scenario(BaseModel):
    """A whole scenario file, after schema validation."""

    name: str
    description: str = ""
    data: dict[str, Any] = Field(default_factory=lambda: {"demo_seed": 0})
    policy: str | None = None
    approver: str = "scripted"
    approvals: list[Decision] = Field(default_factory=list)
    turns: list[Turn]
    expect: Expect = Field(default_factory=Expect)
    path: Path | None = None

    def resolve(self, relative: str) -> Path:
        """A path written in the scenario, relative to the scenario file."""
        base = self.path.parent if self.path else Path.cwd()
        return (base / relative).resolve()


@cache
def scenario_schema() -> dict[str, Any]:
    """The shipped JSON Schema for scenario files."""
    text = resources.files("agent").joinpath("schemas/scenario.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; ScenarioError names the file and the field."""
    try:
        raw = load_yaml(read_text_bounded(path), str(path))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text: {exc.reason}") from exc
    except BoundedInputError as exc:
        raise ScenarioError(str(exc)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    errors = sorted(
        Draft202012Validator(scenario_schema()).iter_errors(raw),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        first = errors[0]
        raise ScenarioError(f"{path}: field {_where(first.absolute_path)}: {first.message}")
    scenario = Scenario.model_validate(raw)
    scenario.path = path
    return scenario


@dataclass
class Clock:
    """A clock scenarios can move forward (approval expiry)."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        from agent.clock import utcnow

        return utcnow() + self.offset


@dataclass
class Outcome:
    """What a scenario run produced and which expectations failed."""

    events: list[StoredEvent]
    snapshot: dict[str, Any]
    conversation_id: str = ""
    statuses: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def subset_diff(expected: Any, actual: Any, where: str = "db") -> list[str]:
    """Differences where `actual` does not contain `expected` (dicts compared by subset)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {json.dumps(actual, default=str)}"]
        diffs: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                diffs.append(f"{where}.{key}: missing")
            else:
                diffs += subset_diff(value, actual[key], f"{where}.{key}")
        return diffs
    if expected != actual:
        return [
            f"{where}: expected {json.dumps(expected, default=str)}, "
            f"got {json.dumps(actual, default=str)}"
        ]
    return []


def _listed(label: str, expected: list[Any] | None, actual: list[Any]) -> list[str]:
    if expected is None or expected == actual:
        return []
    return [f"{label}:\n    expected {expected}\n    actual   {actual}"]


def check(expect: Expect, outcome: Outcome) -> list[str]:
    """Compare the run with the expectations; one readable line (or block) per mismatch."""
    events = [e.event for e in outcome.events]
    called = [e.name for e in events if isinstance(e, ToolCalled)]
    executed = [e.name for e in events if isinstance(e, ToolResulted) and e.executed]
    decisions: dict[str, GateDecided] = {}
    for e in events:
        if isinstance(e, GateDecided):
            decisions[e.tool_use_id] = e
    failures = _listed("tools called", expect.tools_called, called)
    failures += _listed("tools executed", expect.executed, executed)
    failures += _listed(
        "gate decisions",
        [f"{d.tool}:{d.verdict}" for d in expect.decisions]
        if expect.decisions is not None
        else None,
        [f"{d.name}:{d.verdict}" for d in decisions.values()],
    )
    failures += [
        f"{name} must not have executed, but it did"
        for name in expect.not_executed
        if name in executed
    ]
    invalid = sum(isinstance(e, ValidationFailed) for e in events)
    if expect.validation_errors is not None and invalid != expect.validation_errors:
        failures.append(f"validation errors: expected {expect.validation_errors}, got {invalid}")
    if expect.status and outcome.statuses and outcome.statuses[-1] != expect.status:
        failures.append(f"final status: expected {expect.status}, got {outcome.statuses[-1]}")
    final = outcome.replies[-1] if outcome.replies else ""
    failures += [
        f"final reply does not contain {word!r}: {final!r}"
        for word in expect.reply_contains
        if word.lower() not in final.lower()
    ]
    if expect.db is not None:
        failures += subset_diff(expect.db, outcome.snapshot)
    return failures
