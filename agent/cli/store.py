"""`support-agent transcript …` and `support-agent approvals …`: the store, from the shell."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.cli.common import DbOption, fail, settings_for
from agent.cli.render import print_events
from agent.gate.approvals import ApprovalRow, QueueApprover, Supervisor, supervisor_from_roster
from agent.store.engine import make_engine
from agent.store.tables import Conversation
from agent.text import printable
from agent.transcript.events import export_lines, load
from agent.transcript.redact import redact_transcript

transcript_app = typer.Typer(
    help="Show or export a conversation's transcript.", no_args_is_help=True
)
approvals_app = typer.Typer(help="The supervisor approval queue.", no_args_is_help=True)
console = Console()


def _engine(db: str | None) -> Engine:
    return make_engine(settings_for(db).db_url)


def _queue(db: str | None) -> QueueApprover:
    return QueueApprover(_engine(db))


@transcript_app.command("show")
def show(
    conversation_id: str,
    db: DbOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Print a conversation readably."""
    engine = _engine(db)
    with Session(engine) as session:
        events = load(session, conversation_id)
    if not events:
        fail(f"no conversation {conversation_id!r}")
    print_events(console, events, verbose=verbose)


@transcript_app.command("export")
def export(
    conversation_id: str,
    db: DbOption = None,
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
    redact: Annotated[
        bool, typer.Option("--redact", help="Mask customer emails, names, addresses, payment ids.")
    ] = False,
) -> None:
    """Write the transcript as JSONL: a header with format_version, then one event per line."""
    engine = _engine(db)
    with Session(engine) as session:
        events = load(session, conversation_id)
        conversation = session.get(Conversation, conversation_id)
        meta = dict(conversation.meta) if conversation else {}
    if not events:
        fail(f"no conversation {conversation_id!r}")
    if redact:
        events, meta = redact_transcript(events, meta)
    text = "\n".join(export_lines(events, meta)) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(Text(f"wrote {len(events)} events to {output}"))


def _row_table(rows: list[ApprovalRow]) -> Table:
    table = Table("request", "status", "conversation", "tool", "role", "expires")
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        req = row.request
        cells = (
            row.request_id,
            row.status,
            row.conversation_id,
            req.get("tool", ""),
            req.get("role", ""),
            str(req.get("expires_at", ""))[:16],
        )
        table.add_row(*(Text(printable(str(cell))) for cell in cells))  # never markup
    return table


@approvals_app.command("list")
def list_requests(
    db: DbOption = None,
    status: Annotated[str | None, typer.Option(help="pending, approved, …")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List approval requests, oldest first."""
    rows = _queue(db).list(status)
    if as_json:
        for row in rows:
            typer.echo(
                json.dumps(
                    {
                        "request_id": row.request_id,
                        "status": row.status,
                        "conversation_id": row.conversation_id,
                        **row.request,
                    },
                    default=str,
                    sort_keys=True,
                )
            )
        return
    console.print(_row_table(rows))


@approvals_app.command("show")
def show_request(request_id: str, db: DbOption = None) -> None:
    """Show one request: tool, arguments, facts, reasons and any decision."""
    rows = [r for r in _queue(db).list() if r.request_id == request_id]
    if not rows:
        fail(f"no approval request {request_id!r}")
    console.print_json(
        json.dumps(
            {"status": rows[0].status, "request": rows[0].request, "decision": rows[0].decision},
            default=str,
        ),
        ensure_ascii=True,  # bidirectional and control characters shown as \u escapes
    )


def current_supervisor(db: str | None) -> Supervisor:
    """The operating-system user, with the roles the [approvers] roster gives them; or exit 2."""
    try:
        return supervisor_from_roster(getpass.getuser(), settings_for(db).approvers)
    except (PermissionError, OSError, KeyError) as exc:  # getuser raises OSError/KeyError
        fail(str(exc))


def _decide(request_id: str, db: str | None, approved: bool, reason: str) -> None:
    supervisor = current_supervisor(db)
    try:
        row = _queue(db).record(request_id, approved=approved, supervisor=supervisor, reason=reason)
    except (LookupError, ValueError, PermissionError) as exc:
        fail(str(exc))
    role = (row.decision or {}).get("role", "")
    console.print(
        Text(
            f"{row.request_id}: {row.status} by {supervisor.name} ({role}); "
            f"run `support-agent resume {row.conversation_id}` to continue"
        )
    )


@approvals_app.command("approve")
def approve(
    request_id: str,
    db: DbOption = None,
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """Approve a pending request as yourself (the OS user, roles from [approvers] in config)."""
    _decide(request_id, db, True, reason)


@approvals_app.command("deny")
def deny(
    request_id: str,
    reason: Annotated[str, typer.Option("--reason")],
    db: DbOption = None,
) -> None:
    """Deny a pending request as yourself, with a reason the model will be told."""
    _decide(request_id, db, False, reason)
