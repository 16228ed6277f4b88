"""Commands whose modules import heavy libraries load only when they run.

`support-agent --help` lists them from this table; the command's module (SQLAlchemy,
FastAPI, the fake server, the domain) is imported when the command itself is resolved.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
from pathlib import Path

import typer
from typer._click import Command
from typer.core import TyperGroup

LAZY: dict[str, tuple[str, str]] = {
    "config": ("agent.cli.config:app", "Inspect the configuration (effective values, sources)."),
    "usage": ("agent.cli.usage:usage", "Tokens, dollars, errors and latency from the store."),
    "fake-api": ("agent.cli.fake_api:fake_api", "Run the fake Messages API on 127.0.0.1."),
    "serve": ("agent.cli.service:serve", "Run the HTTP service and the approval inbox."),
    "worker": ("agent.cli.service:worker", "Take work from the database queue."),
    "users": ("agent.cli.service:users_app", "Service users and their API tokens."),
}
"""name -> ("module:attribute", help): a typer app (a group) or a command function."""


COMMANDS_GROUP = "support_agent.commands"
"""Entry-point group where installed domains name their top-level commands (e.g. tickets)."""


def lazy_commands() -> dict[str, tuple[str, str]]:
    """The table above plus the commands installed domains declare as entry points.

    An entry point's help is "" here: reading it from source is left to the listing
    that shows it (`command_help`), so resolving a command pays nothing for it.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    found = dict(LAZY)
    try:  # this distribution's own entry points: scanning every installed one costs ~0.1 s
        points = [
            p for p in distribution("support-agent").entry_points if p.group == COMMANDS_GROUP
        ]
    except PackageNotFoundError:
        points = []
    for point in points:
        found.setdefault(point.name, (point.value, ""))
    return found


def command_help(name: str) -> str:
    """The one-line help `--help` lists for a lazily registered command."""
    spec, told = lazy_commands()[name]
    module, _, attr = spec.partition(":")
    return told or declared_help(module, attr) or f"The {name} commands ({module})."


@functools.lru_cache(maxsize=32)
def declared_help(module: str, attr: str) -> str | None:
    """The help an entry point's command declares, read from its source, not imported.

    A command function's docstring, or the first argument of the call that builds a
    typer app (`command_group("…")`, `typer.Typer(help="…")`); the first line of it.
    None when the source cannot be read that way (the caller falls back to a generic line).
    """
    top, _, rest = module.partition(".")
    try:  # find_spec of a submodule would import its packages; the top one's is only found
        spec = importlib.util.find_spec(top)
        roots = list(spec.submodule_search_locations or []) if spec is not None else []
        tail = Path(*rest.split(".")).with_suffix(".py") if rest else None
        source = next((Path(r) / tail for r in roots if tail and (Path(r) / tail).is_file()), None)
        tree = ast.parse(source.read_text()) if source is not None else None
    except (ImportError, OSError, SyntaxError, ValueError):
        return None
    for node in tree.body if tree is not None else []:
        text: object = None
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            text = ast.get_docstring(node)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == attr for t in targets):
                call = node.value
                given = [*call.args[:1], *(k.value for k in call.keywords if k.arg == "help")]
                text = next((a.value for a in given if isinstance(a, ast.Constant)), None)
        if isinstance(text, str) and text.strip():
            return text.strip().splitlines()[0]
    return None


def load(name: str) -> Command:
    """The click command for a lazily registered name."""
    spec, _ = lazy_commands()[name]
    module, _, attr = spec.partition(":")
    target = getattr(importlib.import_module(module), attr)
    if isinstance(target, typer.Typer):
        return typer.main.get_group(target)
    # A single command, built as the other commands are: plain help (no <bool> metavars),
    # no completion options of its own (the root's cover it).
    holder = typer.Typer(
        add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False
    )
    holder.command(name)(target)
    return typer.main.get_command(holder)


def placeholder(name: str) -> Command:
    """A cheap stand-in that `--help` can list without importing the command's module."""
    return TyperGroup(name=name, help=command_help(name))
