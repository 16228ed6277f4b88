"""The root command group: global flags anywhere on the line, the domain's `db` group on demand.

Start-up time matters (`support-agent --help` should feel instant), so the domain (which
imports its tables, tools and SQLModel) is only imported when its group is actually run.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

# Typer >= 0.26 vendors click as typer._click; click types are spelled Any here so the
# code works with either.
Command = Any
Context = Any

DOMAIN_GROUP = "db"
DOMAIN_GROUP_HELP = "Create, seed, import and export the domain's store (demo data, JSON)."
GLOBAL_VALUE_OPTIONS = ("--model", "--max-tokens", "--config")
"""Global options that take a value; they may also be given after the subcommand."""


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options given after the subcommand to the front, so both orders work."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_VALUE_OPTIONS and "=" in arg:
            front.append(arg)
        elif arg in GLOBAL_VALUE_OPTIONS and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


class RootGroup(TyperGroup):
    """`support-agent` itself: hoists global flags and mounts the domain's group lazily."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        """Accept `run x.yaml --model M` as well as `--model M run x.yaml`."""
        if args and args[-1] in GLOBAL_VALUE_OPTIONS:
            raise typer.BadParameter(f"{args[-1]} needs a value", ctx=ctx)
        return super().parse_args(ctx, hoist_global_options(args))

    def list_commands(self, ctx: Context) -> list[str]:
        """Every command, the lazy ones listed without importing their modules."""
        from agent.cli.lazy import lazy_commands

        names = super().list_commands(ctx)
        extra = [n for n in (DOMAIN_GROUP, *lazy_commands()) if n not in names]
        return sorted([*names, *extra])

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        """A placeholder for a lazy command until it is run (help lists it cheaply)."""
        from agent.cli.lazy import lazy_commands, placeholder

        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name == DOMAIN_GROUP:
            return TyperGroup(name=DOMAIN_GROUP, help=DOMAIN_GROUP_HELP)
        if command is None and cmd_name in lazy_commands():
            return placeholder(cmd_name)
        return command

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        """Import a lazy command's module (or the domain's commands) only when it runs."""
        from agent.cli.lazy import lazy_commands, load

        name = args[0] if args else None
        if name == DOMAIN_GROUP and DOMAIN_GROUP not in self.commands:
            self.add_command(domain_group(), DOMAIN_GROUP)
        elif name is not None and name in lazy_commands() and name not in self.commands:
            self.add_command(load(name), name)
        return super().resolve_command(ctx, args)


def domain_group() -> Command:
    """The default domain's command group as a click command, or exit 2 with the reason."""
    from agent.cli.common import fail
    from agent.domain import DEFAULT_DOMAIN, load_domain

    try:
        domain = load_domain(DEFAULT_DOMAIN)
    except ValueError as exc:
        fail(str(exc))
    if domain.cli is None:
        fail(f"the domain {domain.name!r} has no `{DOMAIN_GROUP}` commands")
    return typer.main.get_group(domain.cli)  # a subgroup: no completion options of its own
