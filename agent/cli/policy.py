"""`support-agent policy`: check a policy file, or explain its decision on one call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from agent.cli.common import DEFAULT_DOMAIN, command_group
from agent.text import printable

if TYPE_CHECKING:  # imported when a command runs: `--help` stays fast
    from agent.gate.policy import Policy
    from agent.registry import Effect, ToolRegistry

app = command_group("Check policy files and explain their decisions.")

FileArg = Annotated[Path, typer.Argument(help="The policy file (YAML).", show_default=False)]
VERDICT_STYLE = {"allow": "green", "confirm": "yellow", "approve": "magenta", "deny": "bold red"}


DomainOption = Annotated[
    str,
    typer.Option(help="Check tool names and effects against this domain (module:ATTR)."),
]
NoDomainOption = Annotated[
    bool, typer.Option("--no-domain", help="Check the file alone, without a domain's tools.")
]


def _fail(message: str) -> typer.Exit:
    """Print the error (every problem, one per line) to stderr; the caller raises the Exit (2)."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, soft_wrap=True).print(Text(printable(f"error: {message}"), style="red"))
    return typer.Exit(code=2)


def _registry(spec: str) -> ToolRegistry:
    from agent.domain import load_domain

    try:
        return load_domain(spec).registry
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _load(file: Path) -> Policy:
    from agent.gate.policy_file import PolicyError, load_policy

    try:
        return load_policy(file)
    except PolicyError as exc:
        raise _fail(str(exc)) from None


def _json_object(option: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _fail(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


@app.command()
def check(
    file: FileArg,
    domain: DomainOption = DEFAULT_DOMAIN,
    no_domain: NoDomainOption = False,
) -> None:
    """Validate a policy file against its schema and the domain's tools; every problem is listed."""
    from agent.gate.policy_file import PolicyError, check_tools

    policy = _load(file)
    if not no_domain:
        registry = _registry(domain)
        try:
            check_tools(policy, {name: tool.effect for name, tool in registry.tools.items()})
        except PolicyError as exc:
            raise _fail(str(exc)) from None
    from rich.console import Console

    count = len(policy.rules)
    Console(soft_wrap=True).print(f"[green]ok[/green]: {count} rule{'s' if count != 1 else ''}")


@app.command()
def explain(
    file: FileArg,
    tool: Annotated[str, typer.Option(help="The tool name (its effect comes from the domain).")],
    input: Annotated[str, typer.Option("--input", help="The tool input, a JSON object.")] = "{}",
    facts: Annotated[str, typer.Option(help="The domain facts, a JSON object.")] = "{}",
    domain: DomainOption = DEFAULT_DOMAIN,
    effect: Annotated[
        str | None,
        typer.Option(
            help="read or write: explain a tool the domain does not have.", show_default=False
        ),
    ] = None,
) -> None:
    """Show the verdict on one call and, for every rule, whether it matched and why."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    policy = _load(file)
    effect = _effect(tool, domain, effect)
    decision = policy.evaluate(tool, effect, _json_object("--input", input),
                               _json_object("--facts", facts))  # fmt: skip
    out = Console()
    style = VERDICT_STYLE[decision.verdict]
    out.print(Text.assemble("verdict: ", (decision.verdict, style)), highlight=False)
    out.print(Text(printable(f"role: {decision.role or '-'}")), highlight=False)
    for reason in decision.reasons:
        out.print(Text(printable(f"reason: {reason}")))
    table = Table(title=Text(printable(f"{tool} ({effect}) against {file}")))
    table.add_column("rule")
    table.add_column("verdict")
    table.add_column("matched")
    table.add_column("why")
    for check in decision.explain:
        mark = Text("yes", style="green") if check.matched else Text("no", style="dim")
        table.add_row(
            Text(printable(check.rule_id)), Text(check.verdict), mark, Text(printable(check.why))
        )
    out.print(table)


def _effect(tool: str, domain: str, given: str | None) -> Effect:
    """The tool's declared effect; --effect only for a tool the domain does not know."""
    if given is not None and given not in ("read", "write"):
        raise _fail(f"--effect {given!r} is not one of: read, write")
    tools = _registry(domain).tools
    if tool in tools:
        declared = tools[tool].effect
        if given is not None and given != declared:
            raise _fail(f"{tool} is a {declared} tool in {domain}; --effect {given} contradicts it")
        return declared
    if given is None:
        from agent.gate.policy_words import suggest

        raise _fail(
            f"unknown tool {tool!r} in {domain}{suggest(tool, tools)}; "
            "pass --effect read|write to explain a tool the domain does not have"
        )
    return cast("Effect", given)
