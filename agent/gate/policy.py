"""Policies as data: load a YAML rule file (fail closed), decide on tool calls (never raise).

Semantics, file format and the retail rules are described in policies/README.md.
"""

from __future__ import annotations

import difflib
import importlib.resources
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, assert_never

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from agent.registry import Effect
from agent.transcript.events import Verdict
from agent.yaml_load import BoundedInputError, load_yaml, read_text_bounded

PathParts = tuple[str | int, ...]

_SUBSCHEMA = frozenset({
    "additionalProperties", "propertyNames", "if", "then", "else", "not", "items", "contains",
    "unevaluatedItems", "unevaluatedProperties", "contentSchema",
})  # fmt: skip
_SUBSCHEMA_LISTS = frozenset({"prefixItems", "allOf", "anyOf", "oneOf"})
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
_VALUE_KEYWORDS = frozenset({
    "$ref", "$comment", "type", "const", "enum", "multipleOf", "maximum", "exclusiveMaximum",
    "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties", "required",
    "dependentRequired", "title", "description", "default", "deprecated", "readOnly",
    "writeOnly", "examples", "format", "contentEncoding", "contentMediaType",
})  # fmt: skip
_KEYWORDS = _SUBSCHEMA | _SUBSCHEMA_LISTS | _SUBSCHEMA_MAPS | _VALUE_KEYWORDS
_UNSUPPORTED = frozenset({"$id", "$schema", "$anchor", "$dynamicRef", "$dynamicAnchor"})


def strictness(verdict: Verdict) -> int:
    """How strict a verdict is: allow 0 < confirm 1 < approve 2 < deny 3."""
    match verdict:
        case "allow":
            return 0
        case "confirm":
            return 1
        case "approve":
            return 2
        case "deny":
            return 3
        case _:
            assert_never(verdict)


class PolicyError(Exception):
    """A policy file is unreadable or invalid; the message names the file, rule and field."""

    def __init__(
        self, source: str, problem: str, *, rule: str | None = None, field: str | None = None
    ) -> None:
        self.source = source
        self.problem = problem
        self.rule = rule
        self.field = field
        where = " ".join(part for part in (rule, f"field {field!r}" if field else None) if part)
        super().__init__(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")


@dataclass(frozen=True)
class RuleCheck:
    """Whether one rule matched a call, and why (or why not)."""

    rule_id: str
    verdict: Verdict
    matched: bool
    why: str


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one call.

    `rules` and `reasons` are aligned and list the matched rules strictest first (file
    order within a verdict). `role` is the role of the first approve rule in file order
    when the verdict is approve; one approval by that role suffices. `defaulted` is True
    when no rule matched and the effect's default applied.
    """

    verdict: Verdict
    rules: list[str]
    reasons: list[str]
    role: str | None
    explain: list[RuleCheck]
    defaulted: bool = False

    @property
    def deciding_reasons(self) -> list[str]:
        """Reasons of the rules whose verdict won (what the model or approver is told)."""
        winners = {c.rule_id for c in self.explain if c.matched and c.verdict == self.verdict}
        if not winners:  # a default or an evaluation error: no rule list to align with
            return self.reasons
        chosen = [r for rid, r in zip(self.rules, self.reasons, strict=True) if rid in winners]
        return chosen or self.reasons


@dataclass(frozen=True)
class Rule:
    """One validated rule; `condition` is its `when`, compiled once at load."""

    id: str
    index: int
    tools: tuple[str, ...]
    effects: tuple[Effect, ...] | None
    verdict: Verdict
    reason: str
    role: str | None = None
    when: dict[str, Any] | bool | None = None
    condition: Draft202012Validator | None = field(default=None, repr=False, compare=False)

    def check(self, tool: str, effect: Effect, document: dict[str, Any]) -> RuleCheck:
        """Does this rule match the call? May raise if the condition cannot be evaluated."""
        if "*" not in self.tools and tool not in self.tools:
            return RuleCheck(self.id, self.verdict, False, "tool not listed")
        if self.effects is not None and effect not in self.effects:
            listed = ", ".join(self.effects)
            return RuleCheck(self.id, self.verdict, False, f"effect {effect} not in [{listed}]")
        if self.condition is None:
            return RuleCheck(self.id, self.verdict, True, "no condition")
        error = best_match(self.condition.iter_errors(document))
        if error is None:
            return RuleCheck(self.id, self.verdict, True, "when matched")
        where = _dotted(tuple(error.absolute_path)) or "(document)"
        return RuleCheck(self.id, self.verdict, False, _clip(f"when: {where}: {error.message}"))


@dataclass(frozen=True)
class Policy:
    """A validated policy: rules in file order, approver roles, defaults per effect."""

    source: str
    rules: tuple[Rule, ...]
    roles: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    default_read: Verdict = "allow"
    default_write: Verdict = "confirm"

    def __post_init__(self) -> None:
        """Refuse defaults that would allow a write, or approve without a role."""
        if self.default_write == "allow" or "approve" in (self.default_read, self.default_write):
            raise ValueError("defaults: writes cannot default to allow; approve needs a rule")

    def default_for(self, effect: Effect) -> Verdict:
        """The verdict when no rule matches a call with this effect."""
        match effect:
            case "read":
                return self.default_read
            case "write":
                return self.default_write
            case _:
                assert_never(effect)

    def evaluate(
        self, tool: str, effect: Effect, input: dict[str, Any], facts: dict[str, Any]
    ) -> Decision:
        """Decide on one call; never raises (an evaluation error denies)."""
        try:
            return self._evaluate(tool, effect, input, facts)
        except Exception as exc:  # fail closed, whatever went wrong
            reason = f"policy evaluation error: {type(exc).__name__}"
            return Decision("deny", [], [reason], None, [])

    def _evaluate(
        self, tool: str, effect: Effect, input: dict[str, Any], facts: dict[str, Any]
    ) -> Decision:
        document = {"tool": tool, "input": input, "facts": facts}
        checks: list[RuleCheck] = []
        matched: list[Rule] = []
        failed: Rule | None = None
        for rule in self.rules:
            try:
                check = rule.check(tool, effect, document)
            except Exception as exc:
                check = RuleCheck(rule.id, rule.verdict, False, _clip(f"error: {exc!r}"))
                failed = failed or rule
            checks.append(check)
            if check.matched:
                matched.append(rule)
        if failed is not None:
            reason = f"policy evaluation error in rule {failed.id}"
            return Decision("deny", [failed.id], [reason], None, checks)
        if not matched:
            verdict = self.default_for(effect)
            reason = f"no rule matched; a {effect} defaults to {verdict}"
            return Decision(verdict, [], [reason], None, checks, defaulted=True)
        ordered = sorted(matched, key=lambda r: (-strictness(r.verdict), r.index))
        verdict = ordered[0].verdict
        role = ordered[0].role if verdict == "approve" else None
        return Decision(verdict, [r.id for r in ordered], [r.reason for r in ordered], role, checks)

    def check_tools(self, effects: Mapping[str, Effect]) -> None:
        """Raise PolicyError if a rule names an unknown tool or one its `effects` exclude."""
        for rule in self.rules:
            label = f"rule {rule.id!r} (rules[{rule.index}])"
            for i, name in enumerate(rule.tools):
                if name == "*":
                    continue
                if name not in effects:
                    problem = f"unknown tool {name!r}" + _suggest(name, effects)
                    raise PolicyError(self.source, problem, rule=label, field=f"tools[{i}]")
                if rule.effects is not None and effects[name] not in rule.effects:
                    problem = f"{name} is a {effects[name]} tool, which `effects` exclude"
                    raise PolicyError(self.source, problem, rule=label, field=f"tools[{i}]")


def load_policy(path: str | Path) -> Policy:
    """Read, parse and validate a policy file; raises PolicyError on any problem."""
    source = str(path)
    try:
        text = read_text_bounded(Path(path))
    except (OSError, UnicodeDecodeError, BoundedInputError) as exc:
        raise PolicyError(source, f"cannot read the file: {exc}") from exc
    return loads_policy(text, source)


def loads_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate policy YAML text; `source` names it in errors."""
    try:
        data = load_yaml(text, source, _StrictLoader)  # a SafeLoader subclass
    except BoundedInputError as exc:
        raise PolicyError(source, str(exc).removeprefix(f"{source}: ")) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise PolicyError(source, f"{at}invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(source, f"invalid YAML: {exc}") from exc
    return parse_policy(data, source)


def parse_policy(data: object, source: str = "<policy>") -> Policy:
    """Validate already-parsed policy data (e.g. from YAML) and build the Policy."""
    errors = sorted(_file_validator().iter_errors(data), key=lambda e: _order(e.absolute_path))
    if errors:
        raise _schema_problem(source, data, errors[0], len(errors) - 1)
    assert isinstance(data, dict)  # the schema says so
    roles = tuple(data.get("roles", ()))
    rules: list[Rule] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(data["rules"]):
        label = _rule_label(data, index)
        if raw["id"] in first_index:
            problem = f"duplicate id (also used by rules[{first_index[raw['id']]}])"
            raise PolicyError(source, problem, rule=label, field="id")
        first_index[raw["id"]] = index
        if "role" in raw and raw["role"] not in roles:
            problem = f"role {raw['role']!r} is not declared in `roles` {list(roles)}"
            raise PolicyError(source, problem, rule=label, field="role")
        rules.append(_build_rule(source, label, index, raw))
    defaults = data.get("defaults", {})
    return Policy(
        source=source,
        rules=tuple(rules),
        roles=roles,
        settings=dict(data.get("settings", {})),
        default_read=defaults.get("read", "allow"),
        default_write=defaults.get("write", "confirm"),
    )


def _build_rule(source: str, label: str, index: int, raw: dict[str, Any]) -> Rule:
    when = raw.get("when")
    condition = None if when is None else _compile_when(source, label, when)
    effects = raw.get("effects")
    return Rule(
        id=raw["id"],
        index=index,
        tools=tuple(raw["tools"]),
        effects=tuple(effects) if effects is not None else None,
        verdict=raw["verdict"],
        reason=raw["reason"],
        role=raw.get("role"),
        when=when,
        condition=condition,
    )


def _compile_when(source: str, label: str, when: dict[str, Any] | bool) -> Draft202012Validator:
    """Check a rule's `when` (plain JSON, a valid schema, no ignored keywords) and compile it."""
    if not _is_plain_json(when):
        problem = "not plain JSON: keys must be text, and no dates or other YAML-only values"
        raise PolicyError(source, problem, rule=label, field="when")
    try:
        Draft202012Validator.check_schema(when)
    except SchemaError as exc:
        where = _dotted(("when", *exc.absolute_path))
        raise PolicyError(source, _clip(exc.message), rule=label, field=where) from exc
    for path, problem in _when_problems(when, ("when",), when):
        raise PolicyError(source, problem, rule=label, field=_dotted(path))
    return Draft202012Validator(when)


def _when_problems(
    schema: object, path: PathParts, root: dict[str, Any] | bool
) -> Iterator[tuple[PathParts, str]]:
    """Keywords that Draft 2020-12 would silently ignore (typos), and refs that cannot resolve."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        here = (*path, key)
        if key in _UNSUPPORTED:
            yield here, f"{key} is not supported in a rule condition"
        elif key not in _KEYWORDS:
            yield here, f"unknown JSON Schema keyword {key!r}" + _suggest(key, _KEYWORDS)
        elif key == "$ref" and not _resolves(value, root):
            yield here, f"$ref {value!r} does not resolve within this condition"
        elif key in _SUBSCHEMA:
            yield from _when_problems(value, here, root)
        elif key in _SUBSCHEMA_LISTS:
            for i, sub in enumerate(value):
                yield from _when_problems(sub, (*here, i), root)
        elif key in _SUBSCHEMA_MAPS:
            for name, sub in value.items():
                yield from _when_problems(sub, (*here, name), root)


def _is_plain_json(value: object) -> bool:
    try:
        return bool(json.loads(json.dumps(value)) == value)
    except (TypeError, ValueError):
        return False


def _resolves(ref: str, root: dict[str, Any] | bool) -> bool:
    resource = DRAFT202012.create_resource(root)
    try:
        Registry().with_resource("urn:when", resource).resolver("urn:when").lookup(ref)
    except Unresolvable:
        return False
    return True


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"duplicate key {key!r}", key_node.start_mark,
                )  # fmt: skip
            seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@cache
def _file_validator() -> Draft202012Validator:
    text = importlib.resources.files("policies").joinpath("schema.json").read_text("utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _schema_problem(source: str, data: object, error: ValidationError, more: int) -> PolicyError:
    path = list(error.absolute_path)
    rule = None
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        rule = _rule_label(data, path[1])
        path = path[2:]
    key = _offending_key(error)
    if key is not None:
        path.append(key)
    if error.validator == "not" and key == "role":
        problem = "role is only allowed with verdict approve"
    else:
        problem = _clip(error.message)
    if more:
        problem += f" (and {more} more problem{'s' if more > 1 else ''})"
    return PolicyError(source, problem, rule=rule, field=_dotted(tuple(path)) or None)


def _offending_key(error: ValidationError) -> str | None:
    """For errors about a whole mapping (missing or extra keys), the key at fault."""
    instance, schema = error.instance, error.schema
    if not isinstance(instance, dict) or not isinstance(schema, dict):
        return None
    if error.validator == "required":
        missing = [k for k in schema.get("required", []) if k not in instance]
        return str(missing[0]) if missing else None
    if error.validator == "not" and "required" in schema.get("not", {}):
        present = [k for k in schema["not"]["required"] if k in instance]
        return str(present[0]) if present else None
    if error.validator == "additionalProperties":
        extra = [k for k in instance if k not in schema.get("properties", {})]
        return str(extra[0]) if extra else None
    return None


def _rule_label(data: object, index: int) -> str:
    rules = data.get("rules") if isinstance(data, dict) else None
    raw = rules[index] if isinstance(rules, list) and index < len(rules) else None
    rule_id = raw.get("id") if isinstance(raw, dict) else None
    return f"rule {rule_id!r} (rules[{index}])" if isinstance(rule_id, str) else f"rules[{index}]"


def _dotted(parts: PathParts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _order(parts: Any) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in parts)


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _clip(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
