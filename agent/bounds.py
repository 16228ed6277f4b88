"""Limits on untrusted JSON from the model: nesting, size, string length, control characters.

Checked iteratively (never by recursion), so a hostile value cannot crash the checker.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 32  # no tool input needs more; serialisers give up far deeper
MAX_VALUES = 10_000
MAX_STRING = 10_000  # characters in any one string of a tool input
REJECTED_KEY = "__input_rejected__"  # stands in for an input too large to keep

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0/C1 except tab, newline, CR


def shape_problem(
    value: Any, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES
) -> str | None:
    """Why a JSON-like value is too deep or too large to keep, or None when it is fine."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    count = 0
    while stack:
        item, depth = stack.pop()
        count += 1
        if depth > max_depth:
            return f"nested more than {max_depth} levels deep"
        if count > max_values:
            return f"more than {max_values} values"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
    return None


def bounded(value: Any) -> Any:
    """The value itself, or a small stand-in naming the problem when it is too deep or large."""
    problem = shape_problem(value)
    return value if problem is None else {REJECTED_KEY: f"the input was {problem}"}


def string_problems(value: Any, max_string: int = MAX_STRING) -> list[tuple[str, str]]:
    """(path, problem) for every string holding control characters or longer than max_string."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in item.items())
            stack.extend((k, f"{path}.{k} (key)" if path else f"{k} (key)") for k in item)
        elif isinstance(item, list | tuple):
            stack.extend((v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(item))
        elif isinstance(item, str):
            if len(item) > max_string:
                found.append((path or "(input)", f"longer than {max_string} characters"))
            elif _CONTROL.search(item):
                found.append((path or "(input)", "contains control characters (e.g. NUL)"))
    return sorted(found)
