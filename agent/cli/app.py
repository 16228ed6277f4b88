"""The `support-agent` command: run scenarios, chat, resume, inspect transcripts and approvals."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from loguru import logger
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.cli import store as cli_store
from agent.cli.common import GLOBAL_CONFIG, GLOBAL_OVERRIDES, DbOption, fail, settings_for
from agent.cli.policy import app as policy_app
from agent.cli.render import print_events
from agent.cli.replay import register as register_replay
from agent.config import MissingApiKey, require_api_key
from agent.domain import DEFAULT_DOMAIN, Domain, load_domain
from agent.gate.approvals import Approver
from agent.gate.policy_file import PolicyError
from agent.logs import configure_logging
from agent.loop import Agent
from agent.replay.scenario import ScenarioError, load_scenario
from agent.store.engine import make_engine, redacted_url
from agent.store.lease import ConversationBusy
from agent.transcript.events import load

app = typer.Typer(
    help="A tool-using support agent with guarded actions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(policy_app, name="policy")
app.add_typer(cli_store.transcript_app, name="transcript")
app.add_typer(cli_store.approvals_app, name="approvals")
register_replay(app)
console = Console()

DomainOption = Annotated[str, typer.Option("--domain", help="Domain as module:ATTR.")]


@app.callback()
def global_options(
    model: Annotated[str | None, typer.Option(help="Model id (else config/env).")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="max_tokens per reply.")] = None,
    config: Annotated[Path | None, typer.Option(help="Config file (TOML).")] = None,
) -> None:
    """Options that apply to every command: model, max_tokens, config file."""
    GLOBAL_OVERRIDES.update({"model": model, "max_tokens": max_tokens})
    GLOBAL_CONFIG[:] = [config] if config else []


def domain_for(spec: str) -> Domain:
    """Load the domain or exit with a clear error."""
    try:
        return load_domain(spec)
    except ValueError as exc:
        fail(str(exc))


@app.command()
def run(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    db: DbOption = None,
    domain: DomainOption = DEFAULT_DOMAIN,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a scripted scenario offline: exit 0 if all expectations hold, 1 if not, 2 if invalid."""
    from agent.replay.scenario_run import run_scenario

    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as exc:
        fail(str(exc))
    settings = settings_for()
    console.rule(f"scenario {scenario.name}")
    if scenario.description:
        console.print(f"[dim]{scenario.description.strip()}[/]")
    try:
        outcome = run_scenario(
            scenario,
            domain_for(domain),
            settings,
            db_url=db,
            printer=lambda evs: print_events(console, evs, verbose),
        )
    except (ScenarioError, PolicyError) as exc:
        fail(str(exc))
    if outcome.failures:
        console.print(f"[bold red]FAILED[/] {len(outcome.failures)} expectation(s):")
        for failure in outcome.failures:
            console.print(f"  [red]-[/] {failure}", highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold green]PASSED[/] {scenario.name}")


def live_agent(
    db: str | None,
    domain: str,
    approver_for: Callable[[Engine], Approver],
    on_text: Callable[[str], None] | None = None,
) -> Agent:
    """An agent talking to the real API (key from the environment only), or exit 2."""
    from agent.model.anthropic import AnthropicModel
    from agent.runtime import build_agent

    try:
        key = require_api_key()
    except MissingApiKey as exc:
        fail(str(exc))
    settings = settings_for(db)
    dom = domain_for(domain)  # before the engine, so the domain's tables get created
    engine = make_engine(settings.db_url)
    model = AnthropicModel(settings, api_key=key, on_text=on_text)
    return build_agent(dom, settings, engine, model, approver=approver_for(engine))


@app.command()
def chat(
    db: DbOption = None,
    domain: DomainOption = DEFAULT_DOMAIN,
    conversation: Annotated[str | None, typer.Option(help="Continue this conversation.")] = None,
    supervisor: Annotated[
        str | None, typer.Option(help="Approve at this terminal as NAME (else: the queue).")
    ] = None,
    supervisor_role: Annotated[
        str, typer.Option(help="The role --supervisor holds.")
    ] = "team-lead",
) -> None:
    """Talk to Claude as a customer (needs ANTHROPIC_API_KEY)."""
    from agent.gate.approvals import ConsoleApprover, QueueApprover

    def approver_for(engine: Engine) -> Approver:
        if supervisor:
            return ConsoleApprover(supervisor, supervisor_role, console.input, console.print)
        return QueueApprover(engine)

    agent = live_agent(
        db, domain, approver_for, on_text=lambda t: console.print(t, end="", highlight=False)
    )
    engine = agent.engine
    cid = conversation or f"chat-{uuid.uuid4().hex[:8]}"
    console.print(
        f"[dim]conversation {cid} on {redacted_url(str(engine.url))}; empty line or Ctrl-D ends[/]"
    )
    while True:
        try:
            text = console.input("[bold cyan]you>[/] ").strip()
        except EOFError:
            break
        if not text:
            break
        result = agent.run(cid, text)
        console.print()
        if result.status == "paused" and result.reason == "confirmation":
            for line in result.awaiting:
                console.print(f"[yellow]Please confirm:[/] {line} Reply 'yes' to go ahead.")
        elif result.status == "paused":
            for line in result.awaiting:
                console.print(f"[magenta]Waiting for a supervisor's approval[/] ({line}).")
        elif result.status != "done":
            console.print(f"[dim]({result.status}: {result.reason})[/]")


@app.command()
def resume(
    conversation_id: str,
    db: DbOption = None,
    domain: DomainOption = DEFAULT_DOMAIN,
) -> None:
    """Continue a paused conversation after approvals were decided (needs ANTHROPIC_API_KEY)."""
    from agent.gate.approvals import QueueApprover

    agent = live_agent(db, domain, QueueApprover)
    engine = agent.engine
    with Session(engine) as session:
        before = len(load(session, conversation_id))
    if before == 0:
        fail(f"no conversation {conversation_id!r} in {redacted_url(str(engine.url))}")
    try:
        result = agent.resume(conversation_id)
    except ConversationBusy as exc:
        fail(str(exc))
    with Session(engine) as session:
        print_events(console, load(session, conversation_id)[before:])
    console.print(f"status: {result.status} {result.reason}")


def _mount_domain_cli() -> None:
    try:
        domain = load_domain(DEFAULT_DOMAIN)
    except ValueError:
        return
    if domain.cli is not None:
        app.add_typer(domain.cli, name="db")


def main() -> None:
    """Console-script entry point."""
    configure_logging()
    _mount_domain_cli()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # last resort: one line, details only in the debug log
        logger.opt(exception=exc).debug("unhandled error")
        Console(stderr=True).print(f"[red]error:[/] {type(exc).__name__}: {exc}")
        sys.exit(2)
