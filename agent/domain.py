"""A Domain bundles what the engine needs from a business: tools, prompt, data.

The engine never imports a domain package; it loads one by name ("pkg.module:ATTR"),
so `agent` stays free of retail knowledge.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from agent.registry import ToolRegistry

DEFAULT_DOMAIN = "tools.retail:DOMAIN"


@dataclass(frozen=True)
class Domain:
    """Tools, system prompt, policy file and data hooks of one business domain."""

    name: str
    registry: ToolRegistry
    system_prompt: str
    policy_path: Path
    seed_demo: Callable[[Session, int], None]
    import_file: Callable[[Session, Path], None]
    snapshot: Callable[[Session], dict[str, Any]]
    cli: Any = None  # a typer.Typer mounted under the domain's name, e.g. `db`
    # More top-level commands (tickets, triage) are entry points in the group
    # "support_agent.commands" of the package's pyproject.toml, mounted lazily.


def load_domain(spec: str = DEFAULT_DOMAIN) -> Domain:
    """Import "package.module:ATTRIBUTE" and return the Domain it names."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import domain module {module_name!r}: {exc}") from exc
    domain = getattr(module, attr or "DOMAIN", None)
    if not isinstance(domain, Domain):
        raise ValueError(f"{spec!r} does not name a Domain")
    return domain
