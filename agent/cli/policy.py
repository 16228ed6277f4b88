"""`support-agent policy`: check a policy file, or explain its decision on one call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent.gate.policy import Policy, PolicyError, load_policy
from agent.registry import Effect
from agent.text import printable

app = typer.Typer(
    help="Check policy files and explain their decisions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

FileArg = Annotated[Path, typer.Argument(help="The policy file (YAML).", show_default=False)]
VERDICT_STYLE = {"allow": "green", "confirm": "yellow", "approve": "magenta", "deny": "bold red"}


def _fail(message: str) -> typer.Exit:
    """Print a one-line error to stderr; the caller raises the returned Exit (code 2)."""
    Console(stderr=True, soft_wrap=True).print(Text(printable(f"error: {message}"), style="red"))
    return typer.Exit(code=2)


def _load(file: Path) -> Policy:
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
    domain: Annotated[
        str | None,
        typer.Option(help="Also check tool names and effects against a domain, e.g. tools.retail"),
    ] = None,
) -> None:
    """Validate a policy file: prints "ok: N rules", or the problem and exit code 2."""
    policy = _load(file)
    if domain is not None:
        from agent.domain import load_domain

        try:
            registry = load_domain(domain).registry
            policy.check_tools({name: tool.effect for name, tool in registry.tools.items()})
        except (PolicyError, ValueError) as exc:
            raise _fail(str(exc)) from None
    count = len(policy.rules)
    Console(soft_wrap=True).print(f"[green]ok[/green]: {count} rule{'s' if count != 1 else ''}")


@app.command()
def explain(
    file: FileArg,
    tool: Annotated[str, typer.Option(help="The tool name.")],
    input: Annotated[str, typer.Option("--input", help="The tool input, a JSON object.")] = "{}",
    facts: Annotated[str, typer.Option(help="The domain facts, a JSON object.")] = "{}",
    effect: Annotated[Effect, typer.Option(help="The tool's effect.")] = "write",
) -> None:
    """Show the verdict on one call and, for every rule, whether it matched and why."""
    policy = _load(file)
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
