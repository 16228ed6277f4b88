"""`support-agent chat` and `support-agent resume`: talk to Claude for real, continue later."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import DEFAULT_DOMAIN, DbOption, DomainOption, db_flag, fail

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.engine import Engine

    from agent.cli.chat_screen import ChatScreen
    from agent.cli.live import LiveReply
    from agent.domain import Domain
    from agent.gate.approvals import Approver, Supervisor
    from agent.loop import Agent, RunResult
    from agent.model.client import ModelClient, TextCallback

FINISHED = ("done", "handed_off")
"""Conversation statuses with nothing left to resume."""


def _domain(spec: str) -> Domain:
    from agent.domain import load_domain

    try:
        return load_domain(spec)
    except ValueError as exc:
        fail(str(exc))


def _require_data(domain: Domain, engine: Engine) -> None:
    """Refuse to talk on an empty store: every lookup would fail, for a confusing reason."""
    from sqlmodel import Session

    from agent.store.engine import redacted_url

    with Session(engine) as session:
        empty = not any(domain.snapshot(session).values())
    if empty:
        where = redacted_url(str(engine.url))
        fail(
            f"the store {where} holds no {domain.name} data, so every lookup would fail: "
            f"run `support-agent db init --db {where}` for demo data "
            "(or `support-agent db import-retail FILE`)"
        )


def live_agent(
    db: str | None,
    domain: str,
    approver_for: Callable[[Engine], Approver],
    wrap: Callable[[ModelClient, Engine], ModelClient] | None = None,
    on_text: TextCallback | None = None,
    *,
    require_data: bool = True,
) -> Agent:
    """An agent on an existing store, talking to the real API (key from the env), or exit 2."""
    from agent.cli.common import open_store, settings_for
    from agent.config import MissingApiKey, require_api_key
    from agent.model.anthropic import AnthropicModel
    from agent.runtime import build_agent

    settings = settings_for(db)
    try:  # Bedrock and Vertex authenticate through their own clients
        key = require_api_key() if settings.provider == "anthropic" else None
    except MissingApiKey as exc:
        fail(str(exc))
    dom = _domain(domain)  # before the engine, so the domain's tables are known
    engine = open_store(db, "write")
    if require_data:
        _require_data(dom, engine)
    model: ModelClient = AnthropicModel(settings, api_key=key, on_text=on_text, engine=engine)
    if wrap is not None:
        model = wrap(model, engine)
    return build_agent(dom, settings, engine, model, approver=approver_for(engine))


def _terminal_supervisor(name: str, db: str | None) -> Supervisor:
    """The supervisor at this terminal: must be the OS user, with roles from the roster."""
    import getpass

    from agent.cli.common import settings_for
    from agent.gate.approvals import supervisor_from_roster

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


def chat(
    db: DbOption = None,
    domain: DomainOption = DEFAULT_DOMAIN,
    conversation: Annotated[
        str | None,
        typer.Option(
            help="Continue this conversation (its history is shown first).", show_default=False
        ),
    ] = None,
    supervisor: Annotated[
        str | None,
        typer.Option(
            help="Approve at this terminal as NAME (else: the approval queue).", show_default=False
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tool calls, gate decisions and results.")
    ] = False,
    customer: Annotated[
        str | None,
        typer.Option(
            help="A customer id your channel already verified (no lookup needed).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Talk to Claude as a customer (needs ANTHROPIC_API_KEY and a store with data)."""
    import uuid

    from rich.console import Console
    from rich.text import Text

    from agent.cli.chat_screen import ChatScreen, ObservedModel, show_history
    from agent.cli.live import LiveReply
    from agent.gate.approvals import ConsoleApprover, QueueApprover
    from agent.logs import configure_logging
    from agent.store.engine import redacted_url
    from agent.text import printable

    console = Console()
    cid = conversation or f"chat-{uuid.uuid4().hex[:8]}"
    screens: list[ChatScreen] = []

    at_terminal = _terminal_supervisor(supervisor, db) if supervisor else None

    def approver_for(engine: Engine) -> Approver:
        queue = QueueApprover(engine)
        if at_terminal is None:
            return queue
        show = lambda text: console.print(Text(printable(text)), highlight=False)  # noqa: E731
        return ConsoleApprover(at_terminal, console.input, show, fallback=queue)

    def wrap(model: ModelClient, engine: Engine) -> ModelClient:
        screens.append(ChatScreen(console, engine, cid, verbose))
        return ObservedModel(model, screens[0].model_call)

    live = LiveReply(console)  # withdraws the text of a retried stream; separates calls
    agent = live_agent(db, domain, approver_for, wrap, on_text=live)
    screen = screens[0]
    configure_logging(sink=screen.log)
    console.print(
        f"[dim]conversation {cid} on {redacted_url(str(agent.engine.url))}; "
        "an empty line or Ctrl-D ends[/]",
        highlight=False,
    )
    if conversation:
        screen.shown = show_history(console, agent.engine, cid)
        if not screen.shown:
            console.print(f"[dim]{cid} has no history yet: starting it[/]", highlight=False)
    try:
        _talk(console, screen, agent, cid, live, customer, db)
    except KeyboardInterrupt:
        screen.end_line()
        console.print(
            f"interrupted; conversation {cid} is paused, continue with "
            f"`support-agent chat --conversation {cid}{db_flag(db)}`",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None


def _talk(
    console: Console,
    screen: ChatScreen,
    agent: Agent,
    cid: str,
    live: LiveReply,
    customer: str | None = None,
    db: str | None = None,
) -> None:
    from rich.text import Text

    from agent.store.lease import ConversationBusy

    answer: str | None = None  # the structured [y/N] answer to a confirmation, if any
    while True:
        if answer is not None:
            text, answer = answer, None
        else:
            try:
                text = console.input("[bold cyan]you>[/] ").strip()
            except EOFError:
                console.print()  # Ctrl-D: the shell prompt must not land after "you>"
                text = ""
        if not text:
            console.print(
                Text(
                    f"bye; continue later with "
                    f"`support-agent chat --conversation {cid}{db_flag(db)}`",
                    style="dim",
                ),
                highlight=False,
                soft_wrap=True,
            )
            return
        try:
            result = agent.run(cid, text, customer_id=customer)
        except ConversationBusy as exc:
            fail(str(exc))
        live.end_turn()
        screen.end_line()
        screen.show_new_events()
        if result.reason in ("api_unavailable", "customer_limit"):
            console.print(Text(result.reply.rsplit("\n\n", 1)[-1]))  # the loop's own words
        if result.status == "paused" and result.reason == "confirmation":
            answer = _ask_confirmation(console, result.awaiting)
            if answer is None:
                answer = ""  # Ctrl-D at the question: end like an empty line
            continue
        _say_status(console, result)


def _ask_confirmation(console: Console, summaries: list[str]) -> str | None:
    """The structured answer to a pending confirmation: "yes" only for an explicit y."""
    from rich.text import Text

    from agent.text import printable

    summary = summaries[0] if summaries else "the action above"
    prompt = Text.assemble(("Please confirm: ", "yellow"), printable(summary), " [y/N] ")
    try:
        reply = console.input(prompt).strip().lower()
    except EOFError:
        return None
    return "yes" if reply in {"y", "yes"} else "no"


def _say_status(console: Console, result: RunResult) -> None:
    from rich.text import Text

    if result.status == "paused" and result.reason == "confirmation":
        for line in result.awaiting:
            console.print(
                Text.assemble(("Please confirm: ", "yellow"), line, " Reply 'yes' to go ahead.")
            )
    elif result.status == "paused":
        for line in result.awaiting:
            console.print(
                Text.assemble(("Waiting for a supervisor's approval", "magenta"), f" ({line}).")
            )
    elif result.status != "done":
        console.print(Text(f"({result.status}: {result.reason})", style="dim"))


def resume(
    conversation_id: Annotated[
        str | None, typer.Argument(help="The paused conversation's id.", show_default=False)
    ] = None,
    db: DbOption = None,
    domain: DomainOption = DEFAULT_DOMAIN,
    all_paused: Annotated[
        bool,
        typer.Option("--all-paused", help="Resume every conversation paused for api_unavailable."),
    ] = False,
) -> None:
    """Continue a paused conversation after approvals were decided (needs ANTHROPIC_API_KEY)."""
    from rich.console import Console
    from sqlmodel import Session

    from agent.cli.render import print_events
    from agent.gate.approvals import QueueApprover
    from agent.store.engine import redacted_url
    from agent.store.lease import ConversationBusy
    from agent.store.tables import Conversation
    from agent.transcript.events import load

    agent = live_agent(db, domain, QueueApprover, require_data=False)
    engine, console = agent.engine, Console()
    if all_paused:
        from agent.cli.common import settings_for
        from agent.cli.paused import resume_all_paused

        raise typer.Exit(resume_all_paused(agent, settings_for(db).breaker_name(), console))
    if conversation_id is None:
        fail("give a conversation id, or --all-paused")
    with Session(engine) as session:
        row = session.get(Conversation, conversation_id)
        status = row.status if row is not None else None
        before = len(load(session, conversation_id))
    if status is None or before == 0:
        fail(f"no conversation {conversation_id!r} in {redacted_url(str(engine.url))}")
    if status in FINISHED:
        console.print(
            f"conversation {conversation_id} is {status}: nothing to resume", highlight=False
        )
        return
    try:
        result = agent.resume(conversation_id)
    except ConversationBusy as exc:
        fail(str(exc))
    with Session(engine) as session:
        print_events(console, load(session, conversation_id)[before:])
    console.print(f"status: {result.status} {result.reason}", highlight=False)
