"""`support-agent serve`, `worker` and `users`: the HTTP service, the job workers, API tokens."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import Engine

from agent.cli.common import DbOption, command_group, fail, settings_for
from agent.config import MissingApiKey, Settings, require_api_key
from agent.domain import DEFAULT_DOMAIN, Domain, load_domain
from agent.loop import Agent
from agent.store.engine import make_engine, redacted_url

console = Console()
users_app = command_group("API tokens for the service: apps, supervisors, admins.")
DomainOption = Annotated[str, typer.Option("--domain", help="Domain as module:ATTR.")]


def _domain(spec: str) -> Domain:
    try:
        return load_domain(spec)
    except ValueError as exc:
        fail(str(exc))


def _agent_factory(settings: Settings, engine: Engine, domain: Domain) -> Callable[[], Agent]:
    """Agents talking to the Messages API (key from the environment only)."""
    from agent.model.anthropic import AnthropicModel
    from agent.service.runtime import service_agent

    try:
        key = require_api_key()
    except MissingApiKey as exc:
        fail(str(exc))
    return lambda: service_agent(domain, settings, engine, AnthropicModel(settings, api_key=key))


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    db: DbOption = None,
    domain: DomainOption = DEFAULT_DOMAIN,
    secure_cookies: Annotated[
        bool, typer.Option(help="Mark inbox cookies Secure (serve behind HTTPS).")
    ] = False,
) -> None:
    """Run the HTTP API and the approval inbox (needs ANTHROPIC_API_KEY)."""
    import uvicorn

    from agent.service.app import create_app
    from agent.service.runtime import ServiceContext

    settings = settings_for(db)
    dom = _domain(domain)  # before the engine, so the domain's tables get created
    engine = make_engine(settings.db_url)
    ctx = ServiceContext(
        engine=engine,
        make_agent=_agent_factory(settings, engine, dom),
        webhook_urls=settings.webhook_urls,
        secure_cookies=secure_cookies,
    )
    console.print(f"[dim]serving on http://{host}:{port} with {redacted_url(str(engine.url))}[/]")
    uvicorn.run(create_app(ctx), host=host, port=port, timeout_keep_alive=5, log_level="info")


def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once (PostgreSQL).")] = 1,
    db: DbOption = None,
    domain: DomainOption = DEFAULT_DOMAIN,
    lease_seconds: Annotated[
        float, typer.Option(min=1, help="Job lease; renewed by a heartbeat.")
    ] = 30.0,
) -> None:
    """Resume approved and confirmed conversations and deliver webhooks until SIGTERM."""
    from agent.service import runtime as _service_tables  # noqa: F401 - users table, for roster
    from agent.worker.jobs import WaitingDecisions, standard_handlers
    from agent.worker.runner import Worker
    from agent.worker.webhooks import SECRET_ENV

    settings = settings_for(db)
    dom = _domain(domain)
    engine = make_engine(settings.db_url)
    if engine.dialect.name == "sqlite" and concurrency > 1:
        fail("SQLite runs one job at a time: use --concurrency 1, or PostgreSQL for more")
    secret = os.environ.get(SECRET_ENV, "").strip() or None
    if settings.webhook_urls and secret is None:
        fail(f"webhook_urls are configured but {SECRET_ENV} is not set: webhooks must be signed")
    handlers = standard_handlers(
        engine,
        _agent_factory(settings, engine, dom),
        webhook_urls=settings.webhook_urls,
        webhook_secret=secret,
    )
    runner = Worker(
        engine,
        handlers,
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        sources=[WaitingDecisions()],
    )
    runner.stop_on_signals()
    console.print(
        f"[dim]worker {escape(runner.owner)} on {redacted_url(str(engine.url))}: "
        f"{', '.join(handlers)}; SIGTERM finishes the current job and stops[/]"
    )
    runner.run()


@users_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="The person's or application's name.")],
    role: Annotated[list[str] | None, typer.Option("--role", help="A role (repeatable).")] = None,
    kind: Annotated[str, typer.Option(help="app, supervisor or admin.")] = "supervisor",
    db: DbOption = None,
) -> None:
    """Create a caller and print its token once (only its hash is stored)."""
    from agent.service.users import CALLER_KINDS, UserError
    from agent.service.users import add_user as add

    if kind not in CALLER_KINDS:
        fail(f"unknown kind {kind!r} (one of {', '.join(CALLER_KINDS)})")
    engine = make_engine(settings_for(db).db_url)
    try:
        token = add(engine, name, kind, role or [])
    except UserError as exc:
        fail(str(exc))
    Console(stderr=True).print(
        f"[dim]{escape(name)} ({kind}); this token is shown once, keep it secret:[/]"
    )
    typer.echo(token)


@users_app.command("list")
def list_users(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every user with kind, roles and whether revoked (never a token)."""
    from agent.service.users import describe
    from agent.service.users import list_users as listed

    users = [describe(u) for u in listed(make_engine(settings_for(db).db_url))]
    if as_json:
        for user in users:
            typer.echo(json.dumps(user, sort_keys=True))
        return
    table = Table("name", "kind", "roles", "created", "revoked")
    for user in users:
        table.add_row(
            escape(user["name"]),
            user["kind"],
            escape(", ".join(user["roles"])),
            user["created_at"][:19],
            "yes" if user["revoked"] else "",
        )
    console.print(table)


@users_app.command("revoke")
def revoke_user(
    name: Annotated[str, typer.Argument(help="Whose token to revoke.")], db: DbOption = None
) -> None:
    """Revoke a user's token and inbox sessions at once."""
    from agent.service.users import UserError
    from agent.service.users import revoke_user as revoke

    try:
        revoke(make_engine(settings_for(db).db_url), name)
    except UserError as exc:
        fail(str(exc))
    console.print(f"revoked {escape(name)}")


def register(app: typer.Typer) -> None:
    """Add serve, worker and users to the main command."""
    app.command()(serve)
    app.command()(worker)
    app.add_typer(users_app, name="users")
