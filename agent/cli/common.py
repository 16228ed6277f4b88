"""What every `support-agent` subcommand shares: errors, settings, options, opening the store.

Imports here stay light (typer only): every command module imports this one, and
`support-agent --help` must not pay for pydantic, SQLAlchemy or the domain.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from agent.config import Settings

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database: a SQLite path or URL (default: $SUPPORT_AGENT_DB, else the user's store).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (one object per line) instead of a table.")
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also show model requests, usage and event numbers.")
]
DomainOption = Annotated[str, typer.Option("--domain", help="Domain as module:ATTR.")]
DEFAULT_DOMAIN = "tools.retail:DOMAIN"  # agent.domain.DEFAULT_DOMAIN, without importing it
GLOBAL_OVERRIDES: dict[str, object] = {}
GLOBAL_CONFIG: list[Path] = []
StoreUse = Literal["read", "write", "create"]
"""read: look only; write: change an existing store; create: make one if there is none."""


def command_group(help: str) -> typer.Typer:
    """A command group with the project's conventions: plain, fast help; no pretty tracebacks."""
    # Plain click help: rich help imports markdown-it (~0.3 s) and shows <bool> for flags.
    return typer.Typer(
        help=help, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False
    )


def db_flag(db: str | None) -> str:
    """` --db DB` for a command a hint suggests, when this one was given --db (else "")."""
    import shlex

    from agent.store.engine import redacted_url

    return f" --db {shlex.quote(redacted_url(db))}" if db else ""


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear message on stderr (untrusted text is never markup), no traceback."""
    from rich.console import Console
    from rich.text import Text

    from agent.text import printable

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    err.print(Text.assemble(("error:", "red"), " ", printable(message)))
    raise typer.Exit(code)


def settings_for(db: str | None = None) -> Settings:
    """Settings: defaults < config file < environment < global flags < --db."""
    from agent.config import ConfigError, Settings

    overrides = dict(GLOBAL_OVERRIDES)
    if db:
        overrides["db_url"] = db
    try:
        return Settings.load(overrides, GLOBAL_CONFIG[0] if GLOBAL_CONFIG else None)
    except ConfigError as exc:
        fail(str(exc))


def store_url(db: str | None, use: StoreUse) -> str:
    """The checked URL of the store a command uses; exits 2 naming the path when unusable."""
    from agent.store.engine import DatabaseUrlError, check_url, default_url, sqlite_path

    url = settings_for(db).db_url or default_url(create_dir=use == "create")
    try:
        url = check_url(url)
    except DatabaseUrlError as exc:
        fail(str(exc))
    path = sqlite_path(url)
    if path is not None and use != "create" and not path.is_file():
        fail(f"no database at {path}: create it with `support-agent db init --db {path}`")
    if path is not None and not path.parent.is_dir():
        fail(f"cannot create {path}: the directory {path.parent} does not exist")
    return url


def open_store(db: str | None, use: StoreUse = "read") -> Engine:
    """An engine on the command's store; read-only commands never create a database."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from agent.store.engine import make_engine, redacted_url

    url = store_url(db, use)
    try:
        engine = make_engine(url, create=use != "read")
        known = inspect(engine).has_table("conversation")
    except SQLAlchemyError as exc:
        fail(f"cannot open the database {redacted_url(url)}: {database_problem(exc)}")
    if not known:
        fail(
            f"{redacted_url(url)} is not a support-agent database (it has no conversations "
            "table): create one with `support-agent db init`"
        )
    return engine


def database_problem(exc: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's boilerplate."""
    detail = str(getattr(exc, "orig", None) or exc)
    return detail.strip().splitlines()[0] if detail.strip() else type(exc).__name__
