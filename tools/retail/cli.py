"""The `db` command group: create, seed, import and export the retail store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from agent.cli.common import open_store
from agent.store.engine import redacted_url
from agent.text import printable
from tools.retail.demo import seed_demo
from tools.retail.tables import RetailOrder, RetailProduct, RetailUser
from tools.retail.transfer import export_retail, import_retail
from tools.tickets.demo import seed_inbox

db = typer.Typer(
    name="db",
    help="Create, seed, import and export the retail store.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
out = Console(soft_wrap=True, highlight=False, markup=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL or SQLite path (default: $SUPPORT_AGENT_DB or the user data directory).",
    ),
]


def _fail(message: str) -> typer.Exit:
    err.print(Text.assemble(("error:", "red"), " ", printable(message)), highlight=False)
    return typer.Exit(code=2)


def _database_error(exc: SQLAlchemyError) -> typer.Exit:
    detail = str(exc.args[0]) if exc.args else type(exc).__name__
    return _fail(f"database error: {detail.splitlines()[0]}")


def _counts(session: Session) -> tuple[int, int, int]:
    def count(table: type[RetailUser] | type[RetailProduct] | type[RetailOrder]) -> int:
        return int(session.exec(select(func.count()).select_from(table)).one())

    return count(RetailProduct), count(RetailUser), count(RetailOrder)


def _describe(counts: tuple[int, int, int]) -> str:
    products, users, orders = counts
    return f"{products} products, {users} users, {orders} orders"


@db.command()
def init(
    url: DbOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the demo data.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace existing retail data.")] = False,
) -> None:
    """Create the tables and fill the store with demo data."""
    engine = open_store(url, "create")
    try:
        with Session(engine) as session:
            if any(_counts(session)) and not force:
                raise _fail("the database already has retail data; use --force to replace it")
            seed_demo(session, seed)
            tickets = seed_inbox(session, seed)
            session.commit()
            counts = _counts(session)
    except SQLAlchemyError as exc:
        raise _database_error(exc) from None
    out.print(
        f"Demo store (seed {seed}) in {redacted_url(str(engine.url))}: {_describe(counts)}, "
        f"{tickets} tickets in the inbox"
    )


@db.command("import-retail")
def import_command(
    file: Annotated[Path, typer.Argument(help="A retail JSON file {products, users, orders}.")],
    url: DbOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace retail data the store already holds.")
    ] = False,
) -> None:
    """Load a retail JSON file into the store (an empty one unless --force)."""
    if not file.is_file():
        raise _fail(f"no such file: {file}")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"{file} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise _fail(f"{file} must hold a JSON object with products, users and orders")
    engine = open_store(url, "create")
    try:
        with Session(engine) as session:
            if any(_counts(session)) and not force:
                held = _describe(_counts(session))
                raise _fail(
                    f"the store already holds retail data ({held}); "
                    "pass --force to replace it with the file's"
                )
            import_retail(session, raw)
            session.commit()
            counts = _counts(session)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        problem = f"{where}: {first['msg']} ({exc.error_count()} problem(s))"
        raise _fail(f"{file} is not a retail document: {problem}") from None
    except ValueError as exc:
        raise _fail(f"{file}: {exc}") from None
    except SQLAlchemyError as exc:
        raise _database_error(exc) from None
    out.print(Text(f"Imported {file}: {_describe(counts)}"), highlight=False)


@db.command("export-retail")
def export_command(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")
    ] = None,
    url: DbOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing -o file.")] = False,
) -> None:
    """Write the retail data as JSON."""
    if output is not None and output.exists() and not force:
        raise _fail(f"{output} exists; pass --force to overwrite it")
    engine = open_store(url, "read")
    try:
        with Session(engine) as session:
            document = export_retail(session)
    except SQLAlchemyError as exc:
        raise _database_error(exc) from None
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
    counts = (len(document["products"]), len(document["users"]), len(document["orders"]))
    out.print(Text(f"Exported to {output}: {_describe(counts)}"), highlight=False)
