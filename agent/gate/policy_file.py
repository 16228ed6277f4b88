"""Policy files: read YAML, validate it against the schema and the rules' conditions.

Every problem of a bad file is reported (file, rule, field, what is wrong), never just the
first: an author fixes the file in one pass. Evaluation lives in agent.gate.policy.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from agent.gate.policy import Policy, Rule
from agent.gate.policy_words import PathParts, clip, dotted, suggest
from agent.registry import Effect
from agent.yaml_load import BoundedInputError, load_yaml, read_text_bounded

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
# Where the specification leaves room (regular expression dialects, formats, float
# division, equality of mixed numbers, reference resolution), only the reference
# implementation (jsonschema) decides a condition.
_REFERENCE_ONLY = frozenset({
    "pattern", "patternProperties", "format", "multipleOf", "uniqueItems", "$ref",
    "contentEncoding", "contentMediaType", "contentSchema",
})  # fmt: skip


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong with a policy file: where (rule, field) and what."""

    problem: str
    rule: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = " ".join(
            p for p in (self.rule, f"field {self.field!r}" if self.field else None) if p
        )
        return f"{where}: {self.problem}" if where else self.problem


class PolicyError(Exception):
    """A policy file is unreadable or invalid; names the file and every rule and field at fault."""

    def __init__(
        self,
        source: str,
        problem: str | list[PolicyProblem],
        *,
        rule: str | None = None,
        field: str | None = None,
    ) -> None:
        problems = problem if isinstance(problem, list) else [PolicyProblem(problem, rule, field)]
        assert problems, "a PolicyError names at least one problem"
        self.source = source
        self.problems = problems
        self.problem, self.rule, self.field = (
            problems[0].problem,
            problems[0].rule,
            problems[0].field,
        )
        if len(problems) == 1:
            super().__init__(f"{source}: {problems[0]}")
        else:
            listed = "".join(f"\n  - {p}" for p in problems)
            super().__init__(f"{source}: {len(problems)} problems:{listed}")


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
        data = load_yaml(text, source, _StrictLoader)  # a SafeLoader subclass, bounded
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
    problems = [_schema_problem(data, error) for error in errors]
    broken = {e.absolute_path[1] for e in errors if list(e.absolute_path)[:1] == ["rules"]
              and len(e.absolute_path) > 1}  # fmt: skip
    raw_rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(raw_rules, list):
        raise PolicyError(source, _unique(problems))
    declared = data.get("roles", ())
    roles = tuple(r for r in declared if isinstance(r, str)) if isinstance(declared, list) else ()
    rules: list[Rule] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            first_index.setdefault(raw["id"], index)
    for index, raw in enumerate(raw_rules):
        if index in broken:
            continue  # its schema problems are already listed
        label = _rule_label(data, index)
        if first_index[raw["id"]] != index:
            problem = f"duplicate id (also used by rules[{first_index[raw['id']]}])"
            problems.append(PolicyProblem(problem, label, "id"))
        if "role" in raw and raw["role"] not in roles:
            problem = f"role {raw['role']!r} is not declared in `roles` {list(roles)}"
            problems.append(PolicyProblem(problem, label, "role"))
        when = raw.get("when")
        when_problems = [] if when is None else _when_check(label, when)
        problems += when_problems
        if not when_problems:
            rules.append(_build_rule(index, raw))
    if problems:
        raise PolicyError(source, _unique(problems))
    defaults = data.get("defaults", {})
    return Policy(
        source=source,
        rules=tuple(rules),
        roles=roles,
        settings=dict(data.get("settings", {})),
        default_read=defaults.get("read", "allow"),
        default_write=defaults.get("write", "confirm"),
    )


def check_tools(policy: Policy, effects: Mapping[str, Effect]) -> None:
    """Raise PolicyError listing every rule that names an unknown tool or an excluded effect."""
    problems: list[PolicyProblem] = []
    for rule in policy.rules:
        label = f"rule {rule.id!r} (rules[{rule.index}])"
        for i, name in enumerate(rule.tools):
            if name == "*":
                continue
            if name not in effects:
                problem = f"unknown tool {name!r}" + suggest(name, effects)
                problems.append(PolicyProblem(problem, label, f"tools[{i}]"))
            elif rule.effects is not None and effects[name] not in rule.effects:
                problem = f"{name} is a {effects[name]} tool, which `effects` exclude"
                problems.append(PolicyProblem(problem, label, f"tools[{i}]"))
    if problems:
        raise PolicyError(policy.source, problems)


def _unique(problems: list[PolicyProblem]) -> list[PolicyProblem]:
    return list(dict.fromkeys(problems))


def _build_rule(index: int, raw: dict[str, Any]) -> Rule:
    when = raw.get("when")
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
        condition=None if when is None else Draft202012Validator(when),
        fast=None if when is None else fast_condition(when),
    )


def fast_condition(when: dict[str, Any] | bool) -> Callable[[Any], bool] | None:
    """The condition compiled by jsonschema-rs, unless it uses a keyword in _REFERENCE_ONLY.

    Both implement Draft 2020-12 and pass its test suite; deciding with the compiled one
    is two orders of magnitude faster. A property test holds the two to the same answers.
    """
    if _keywords(when) & _REFERENCE_ONLY:
        return None
    try:
        return jsonschema_rs.Draft202012Validator(when).is_valid
    except ValueError:  # it refuses a schema the reference accepts: the reference decides
        return None


def _keywords(schema: object) -> set[str]:
    """Every keyword used anywhere in a (checked) condition."""
    if not isinstance(schema, dict):
        return set()
    found = set(schema)
    for key, value in schema.items():
        for _, sub in _subschemas(key, value, ()):
            found |= _keywords(sub)
    return found


def _when_check(label: str, when: dict[str, Any] | bool) -> list[PolicyProblem]:
    """Problems of a rule's `when`: plain JSON, a valid schema, no silently ignored keywords."""
    if not _is_plain_json(when):
        problem = "not plain JSON: keys must be text, and no dates or other YAML-only values"
        return [PolicyProblem(problem, label, "when")]
    try:
        Draft202012Validator.check_schema(when)
    except SchemaError as exc:
        return [PolicyProblem(clip(exc.message), label, dotted(("when", *exc.absolute_path)))]
    return [
        PolicyProblem(problem, label, dotted(path))
        for path, problem in _when_problems(when, ("when",), when)
    ]


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
            yield here, f"unknown JSON Schema keyword {key!r}" + suggest(key, _KEYWORDS)
        elif key == "$ref" and not _resolves(value, root):
            yield here, f"$ref {value!r} does not resolve within this condition"
        else:
            for where, sub in _subschemas(key, value, here):
                yield from _when_problems(sub, where, root)


def _subschemas(key: str, value: Any, here: PathParts) -> Iterator[tuple[PathParts, Any]]:
    """The subschemas one keyword holds (none for a value keyword), with their paths."""
    if key in _SUBSCHEMA:
        yield here, value
    elif key in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(value):
            yield (*here, i), sub
    elif key in _SUBSCHEMA_MAPS:
        for name, sub in value.items():
            yield (*here, name), sub


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


def _schema_problem(data: object, error: ValidationError) -> PolicyProblem:
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
        problem = clip(error.message)
    return PolicyProblem(problem, rule, dotted(tuple(path)) or None)


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


def _order(parts: Any) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in parts)
