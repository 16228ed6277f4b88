"""Policy problems and rule mismatches said in words, not in validator jargon."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any

from jsonschema.exceptions import ValidationError

PathParts = tuple[str | int, ...]

_BOUNDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "more than",
    "exclusiveMaximum": "less than",
    "minLength": "a length of at least",
    "maxLength": "a length of at most",
    "minItems": "at least this many items:",
    "maxItems": "at most this many items:",
}
_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def value(data: object) -> str:
    """A value as the policy file would spell it (JSON: true, null, "text")."""
    return clip(json.dumps(data, sort_keys=True, default=str), 80)


def _types(spec: object) -> str:
    names = spec if isinstance(spec, list) else [spec]
    return " or ".join(_TYPE_WORDS.get(str(n), str(n)) for n in names)


def _negated(schema: object) -> str:
    """What a `not` subschema forbids, in words."""
    if isinstance(schema, dict) and len(schema) == 1:
        ((key, spec),) = schema.items()
        if key == "const":
            return f"anything but {value(spec)}"
        if key == "enum" and isinstance(spec, list):
            return "anything but " + ", ".join(value(v) for v in spec)
        if key == "required" and isinstance(spec, list):
            return "no " + ", ".join(str(k) for k in spec)
    if schema is True or schema == {}:
        return "that it is absent"
    return f"a value that does not match {value(schema)}"


def in_words(error: ValidationError) -> str:
    """Why a document does not match a rule's condition, e.g. 'facts.refund_total is 20, …'."""
    where = dotted(tuple(error.absolute_path)) or "the call"
    got = value(error.instance)
    spec: Any = error.validator_value
    match error.validator:
        case "const":
            return f"{where} is {got}, the rule needs {value(spec)}"
        case "enum":
            return f"{where} is {got}, the rule needs one of " + ", ".join(value(v) for v in spec)
        case "not":
            return f"{where} is {got}, the rule needs {_negated(spec)}"
        case "required":
            missing = [
                k for k in spec if isinstance(error.instance, dict) and k not in error.instance
            ]
            return f"{where} has no {', '.join(missing) or 'required key'}"
        case "type":
            return f"{where} is {got}, the rule needs {_types(spec)}"
        case bound if bound in _BOUNDS:
            return f"{where} is {got}, the rule needs {_BOUNDS[bound]} {value(spec)}"
        case "pattern":
            return f"{where} is {got}, which does not match the pattern {value(spec)}"
        case "anyOf" | "oneOf":
            return f"{where} is {got}, which matches none of the rule's alternatives"
        case "allOf":
            return f"{where} is {got}, which misses one of the rule's conditions"
        case "additionalProperties" | "unevaluatedProperties":
            return f"{where} has keys the rule does not allow"
        case "contains":
            return f"{where} holds no item the rule looks for"
        case "uniqueItems":
            return f"{where} repeats an item"
        case "multipleOf":
            return f"{where} is {got}, the rule needs a multiple of {value(spec)}"
        case None if error.schema is False:
            return f"{where} is present, the rule needs it absent"
    return f"{where}: {error.message}"


def dotted(parts: PathParts) -> str:
    """A path as the file spells it: rules[2].when.properties."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def suggest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def clip(text: str, limit: int = 240) -> str:
    """The text, cut with an ellipsis past `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
