"""The `support-agent` command: run scenarios, chat, resume, inspect transcripts and approvals."""

from __future__ import annotations

import getpass
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from loguru import logger
from rich.console import Console
from rich.text import Text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.cli import store as cli_store
from agent.cli.common import GLOBAL_CONFIG, GLOBAL_OVERRIDES, DbOption, fail, settings_for
from agent.cli.policy import app as policy_app
from agent.cli.render import print_events
from agent.cli.replay import register as register_replay
from agent.config import MissingApiKey, require_api_key
from agent.domain import DEFAULT_DOMAIN, Domain, load_domain
from agent.gate.approvals import Approver, Supervisor, supervisor_from_roster
from agent.gate.policy import PolicyError
from agent.logs import configure_logging, redact
from agent.loop import Agent
from agent.replay.scenario import ScenarioError, load_scenario
from agent.store.engine import make_engine, redacted_url
from agent.store.lease import ConversationBusy
from agent.text import printable
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
    policy: Annotated[
        Path | None,
        typer.Option(
            help="Policy file (else SUPPORT_AGENT_POLICY/config, the scenario's, the domain's)."
        ),
    ] = None,
) -> None:
    """Run a scripted scenario offline: exit 0 if all expectations hold, 1 if not, 2 if invalid."""
    from agent.replay.scenario_run import run_scenario
    from agent.replay.scratch import NotScratch

    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as exc:
        fail(str(exc))
    settings = settings_for()
    console.rule(Text(printable(f"scenario {scenario.name}")))
    if scenario.description:
        console.print(Text(printable(scenario.description.strip()), style="dim"))
    try:
        outcome = run_scenario(
            scenario,
            domain_for(domain),
            settings,
            db_url=db,
            printer=lambda evs: print_events(console, evs, verbose),
            policy=policy,
        )
    except (ScenarioError, PolicyError, NotScratch) as exc:
        fail(str(exc))
    if outcome.failures:
        console.print(f"[bold red]FAILED[/] {len(outcome.failures)} expectation(s):")
        for failure in outcome.failures:
            console.print(Text.assemble("  ", ("-", "red"), " ", printable(failure)))
        raise typer.Exit(1)
    console.print(Text.assemble(("PASSED", "bold green"), " ", printable(scenario.name)))


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


def _ask_confirmation(summaries: list[str]) -> str | None:
    """The structured answer to a pending confirmation: "yes" only for an explicit y."""
    summary = summaries[0] if summaries else "the action above"
    prompt = Text.assemble(("Please confirm: ", "yellow"), printable(summary), " [y/N] ")
    try:
        answer = console.input(prompt).strip().lower()
    except EOFError:
        return None
    return "yes" if answer in {"y", "yes"} else "no"


@app.command()
def chat(
    db: DbOption = None,
    domain: DomainOption = DEFAULT_DOMAIN,
    conversation: Annotated[str | None, typer.Option(help="Continue this conversation.")] = None,
    supervisor: Annotated[
        str | None,
        typer.Option(
            help="Approve at this terminal as NAME: your OS user, roles from [approvers]."
        ),
    ] = None,
) -> None:
    """Talk to Claude as a customer (needs ANTHROPIC_API_KEY)."""
    from agent.gate.approvals import ConsoleApprover, QueueApprover

    console_supervisor = _terminal_supervisor(supervisor, db) if supervisor else None

    def approver_for(engine: Engine) -> Approver:
        queue = QueueApprover(engine)
        if console_supervisor is None:
            return queue
        return ConsoleApprover(console_supervisor, console.input, _show_plain, fallback=queue)

    agent = live_agent(db, domain, approver_for, on_text=_show_plain_inline)
    engine = agent.engine
    cid = conversation or f"chat-{uuid.uuid4().hex[:8]}"
    console.print(
        Text(f"conversation {cid} on {redacted_url(str(engine.url))}; empty line or Ctrl-D ends"),
        style="dim",
    )
    text: str | None = None
    while True:
        if text is None:
            try:
                text = console.input(Text("you> ", style="bold cyan")).strip()
            except EOFError:
                break
            if not text:
                break
        result = agent.run(cid, text)
        text = None
        console.print()
        if result.status == "paused" and result.reason == "confirmation":
            text = _ask_confirmation(result.awaiting)  # answered next round, bound to this ask
            if text is None:
                break
        elif result.status == "paused":
            for line in result.awaiting:
                console.print(
                    Text.assemble(("Waiting for a supervisor's approval", "magenta"), f" ({line}).")
                )
        elif result.status != "done":
            console.print(Text(f"({result.status}: {printable(result.reason)})", style="dim"))


def _show_plain(text: str) -> None:
    console.print(Text(printable(text)), highlight=False)


def _show_plain_inline(text: str) -> None:
    console.print(Text(printable(text)), end="", highlight=False)


def _terminal_supervisor(name: str, db: str | None) -> Supervisor:
    """The supervisor at this terminal: must be the OS user, with roles from the roster."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError) as exc:
        fail(f"cannot tell who is at this terminal: {exc}")
    if name != user:
        fail(f"--supervisor must be you ({user!r}), not {name!r}: approvers are not typed in")
    try:
        return supervisor_from_roster(name, settings_for(db).approvers)
    except PermissionError as exc:
        fail(str(exc))


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
    console.print(Text(printable(f"status: {result.status} {result.reason}")))


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
        detail = printable(f"{type(exc).__name__}: {redact(str(exc))}")
        Console(stderr=True).print(Text.assemble(("error:", "red"), " ", detail), highlight=False)
        sys.exit(2)
