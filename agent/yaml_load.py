"""Bounded reading of configuration-like files: size, alias expansion and nesting are capped.

One helper for scenarios, policies and the config file: a small file whose aliases
expand to millions of values (a "billion laughs" bomb) or that nests thousands deep is
refused quickly with an error naming the file, before anything walks the expanded tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 2_000_000  # far above any real scenario, policy or config file
MAX_VALUES = 200_000  # values after expanding aliases
MAX_DEPTH = 100  # nesting of mappings and sequences


class BoundedInputError(ValueError):
    """A file is too large, expands too far, or nests too deep; the message names it."""


def read_text_bounded(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The file's UTF-8 text; BoundedInputError when it is larger than `max_bytes`."""
    with Path(path).open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BoundedInputError(f"{path}: larger than {max_bytes} bytes")
    return data.decode("utf-8")


def _check_shape(root: yaml.Node, source: str, max_values: int, max_depth: int) -> None:
    """Count the values the node graph expands to (aliases counted every time) and its depth."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            depths[key] = 1 + max((depths[id(c)] for c in children), default=0)
            if sizes[key] > max_values:
                raise BoundedInputError(
                    f"{source}: expands to more than {max_values} values (YAML aliases?)"
                )
            if depths[key] > max_depth:
                raise BoundedInputError(f"{source}: nested more than {max_depth} levels deep")
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise BoundedInputError(f"{source}: a YAML alias refers to itself")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def load_yaml(
    text: str,
    source: str,
    loader: type[yaml.SafeLoader] = yaml.SafeLoader,
    *,
    max_bytes: int = MAX_BYTES,
    max_values: int = MAX_VALUES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parse one YAML document safely within the bounds; yaml.YAMLError for bad syntax."""
    if len(text) > max_bytes:
        raise BoundedInputError(f"{source}: larger than {max_bytes} bytes")
    parser = loader(text)
    try:
        root = parser.get_single_node()
        if root is None:
            return None
        _check_shape(root, source, max_values, max_depth)
        return parser.construct_document(root)
    except RecursionError:
        raise BoundedInputError(f"{source}: nested too deeply") from None
    finally:
        parser.dispose()
