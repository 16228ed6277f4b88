"""`support-agent tickets import|list|show|answer` and `support-agent triage`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.cli.common import DbOption, command_group, fail, settings_for
from agent.store.engine import make_engine
from tools.tickets.importer import import_tickets
from tools.tickets.tables import TICKET_STATUSES, Ticket, TicketAttachment

tickets_app = command_group("The support inbox: import, list, show, answer.")
out = Console(soft_wrap=True, highlight=False, markup=False)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str | None) -> str:
    """Untrusted text for a terminal: control characters (escape sequences) removed."""
    return CONTROL.sub("", text or "")


def open_engine(db: str | None) -> Engine:
    """The store named by --db / settings, with the inbox tables."""
    return make_engine(settings_for(db).db_url)


@tickets_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv file of tickets.")],
    db: DbOption = None,
) -> None:
    """Import tickets; bad rows reported by line, good rows kept; re-import adds nothing."""
    if not file.is_file():
        fail(f"no such file: {file}")
    engine = open_engine(db)
    try:
        with Session(engine) as session:
            report = import_tickets(session, file)
            session.commit()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    for line, reason in report.errors:
        out.print(f"{file}:{line}: {clean(reason)}")
    out.print(
        f"Imported {file}: {report.added} added, {report.unchanged} already there, "
        f"{len(report.errors)} rejected"
    )
    if report.errors:
        raise typer.Exit(1)


def ticket_json(
    ticket: Ticket, attachments: list[TicketAttachment] | None = None
) -> dict[str, Any]:
    """The ticket as JSON (no attachment bytes)."""
    data = ticket.model_dump(mode="json", exclude={"claimed_by", "correction"})
    data["gist"] = ticket.gist_lines()
    cost = ticket.cost_microdollars
    data["cost_dollars"] = None if cost is None else cost / 1_000_000
    if attachments is not None:
        data["attachments"] = [
            {"filename": a.filename, "media_type": a.media_type, "size": a.size}
            for a in attachments
        ]
    return data


@tickets_app.command("list")
def list_command(
    status: Annotated[
        str | None, typer.Option(help=f"One of: {', '.join(TICKET_STATUSES)}.")
    ] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many (0: all).")] = 0,
    db: DbOption = None,
) -> None:
    """List tickets, oldest first, with their gist's first line."""
    if status is not None and status not in TICKET_STATUSES:
        fail(f"unknown status {status!r}; use one of {', '.join(TICKET_STATUSES)}")
    query = select(Ticket).order_by(col(Ticket.seq), col(Ticket.id))
    if status is not None:
        query = query.where(Ticket.status == status)
    if category is not None:
        query = query.where(Ticket.category == category)
    if limit > 0:
        query = query.limit(limit)
    with Session(open_engine(db)) as session:
        rows = list(session.exec(query).all())
    if as_json:
        for ticket in rows:
            typer.echo(json.dumps(ticket_json(ticket), ensure_ascii=False))
        return
    table = Table("id", "status", "category", "urgency", "from", "subject / gist")
    for ticket in rows:
        first = ticket.gist_lines()[0] if ticket.gist else ticket.subject
        table.add_row(
            *(
                Text(clean(v))
                for v in (
                    ticket.id,
                    ticket.status,
                    ticket.category or "",
                    ticket.urgency or "",
                    ticket.customer_email,
                    first,
                )
            )
        )
    Console(soft_wrap=False, highlight=False).print(table)
    out.print(f"{len(rows)} ticket(s)")


@tickets_app.command("show")
def show_command(
    ticket_id: Annotated[str, typer.Argument(help="The ticket id.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
    db: DbOption = None,
) -> None:
    """Show one ticket: gist, triage, cost, body and attachments."""
    with Session(open_engine(db)) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            fail(f"no ticket {ticket_id!r}")
        attachments = list(
            session.exec(
                select(TicketAttachment)
                .where(TicketAttachment.ticket_id == ticket_id)
                .order_by(col(TicketAttachment.position))
            ).all()
        )
    if as_json:
        typer.echo(json.dumps(ticket_json(ticket, attachments), ensure_ascii=False, indent=2))
        return
    lines = [
        f"{ticket.id}  [{ticket.status}]  via {ticket.channel}  from {ticket.customer_email}",
        f"received {ticket.received_at:%Y-%m-%d %H:%M}  subject: {ticket.subject}",
    ]
    if ticket.gist:
        lines += ["", "gist:", *(f"  {line}" for line in ticket.gist_lines())]
        lines.append(f"category {ticket.category}, urgency {ticket.urgency}")
        lines.append(f"next step: {ticket.next_step}")
    if ticket.failure:
        lines.append(f"failed: {ticket.failure}")
    if ticket.model:
        dollars = (
            "?" if ticket.cost_microdollars is None else f"{ticket.cost_microdollars / 1e6:.6f}"
        )
        lines.append(
            f"{ticket.model} ({ticket.triage_mode}): {ticket.input_tokens} in, "
            f"{ticket.output_tokens} out, {ticket.cache_read_input_tokens} cache read, ${dollars}"
        )
    if ticket.conversation_id:
        lines.append(f"conversation: {ticket.conversation_id}")
    for a in attachments:
        lines.append(f"attachment: {a.filename} ({a.media_type}, {a.size} bytes)")
    lines += ["", ticket.body]
    for line in lines:
        out.print(clean(line))


@tickets_app.command("answer")
def answer_command(
    ticket_id: Annotated[str, typer.Argument(help="The ticket to answer.")],
    db: DbOption = None,
    conversation: Annotated[str | None, typer.Option(help="Conversation id to use.")] = None,
    done: Annotated[bool, typer.Option("--done", help="Mark the ticket done at the end.")] = False,
) -> None:
    """Open a guarded conversation seeded with the ticket; the customer is the ticket's email."""
    from tools.tickets.answer import answer_ticket

    answer_ticket(ticket_id, db, conversation, Console(highlight=False), done=done)
