"""`support-agent transcript …` and `support-agent approvals …`: the store, from the shell."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import (
    DbOption,
    JsonOption,
    VerboseOption,
    command_group,
    db_flag,
    fail,
    settings_for,
)

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.engine import Engine

    from agent.gate.approvals import ApprovalRow, QueueApprover, Supervisor

transcript_app = command_group("Show or export a conversation's transcript.")
approvals_app = command_group("The supervisor approval queue.")
APPROVAL_STATUSES = (
    "pending",
    "approved",
    "denied",
    "expired",
)  # agent.gate.approvals.ApprovalStatus


def _console() -> Console:
    from rich.console import Console

    return Console()


def _engine(db: str | None, use: str = "read") -> Engine:
    from agent.cli.common import open_store

    return open_store(db, "write" if use == "write" else "read")


def _queue(db: str | None, use: str = "read") -> QueueApprover:
    from agent.gate.approvals import QueueApprover

    return QueueApprover(_engine(db, use))


@transcript_app.command("show")
def show(
    conversation_id: Annotated[
        str, typer.Argument(help="The conversation's id.", show_default=False)
    ],
    db: DbOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Print a conversation readably (the same as `conversations show`)."""
    from agent.cli.conversations import show as show_conversation

    show_conversation(conversation_id, db, verbose=verbose, as_json=False)


@transcript_app.command("export")
def export(
    conversation_id: Annotated[
        str, typer.Argument(help="The conversation's id.", show_default=False)
    ],
    db: DbOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write to this file (else stdout).", show_default=False
        ),
    ] = None,
    redact: Annotated[
        bool, typer.Option("--redact", help="Mask customer emails, names, addresses, payment ids.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing -o file.")] = False,
) -> None:
    """Write the transcript as JSONL: a header with format_version, then one event per line."""
    from sqlmodel import Session

    if output is not None and output.exists() and not force:
        fail(f"{output} exists; pass --force to overwrite it")
    engine = _engine(db)
    with Session(engine) as session:
        from agent.store.tables import Conversation
        from agent.transcript.events import load

        events = load(session, conversation_id)
        conversation = session.get(Conversation, conversation_id)
        meta = dict(conversation.meta) if conversation else {}
    if not events:
        fail(f"no conversation {conversation_id!r}")
    if redact:
        from agent.transcript.redact import redact_transcript

        events, meta = redact_transcript(events, meta)
    from agent.transcript.events import export_lines

    text = "\n".join(export_lines(events, meta)) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        _console().print(f"wrote {len(events)} events to {output}", highlight=False)


def _expires(row: ApprovalRow) -> str:
    """Time left to decide, e.g. 'in 23h'; '-' once decided."""
    from datetime import UTC

    from agent.clock import utcnow

    if row.status != "pending":
        return "-"
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    minutes = int((expires - utcnow()).total_seconds() // 60)
    if minutes < 60:
        return f"in {max(minutes, 0)}m"
    return f"in {minutes // 60}h" if minutes < 48 * 60 else f"in {minutes // 1440}d"


def _payout(row: ApprovalRow) -> str:
    """What the call would pay the customer (the domain names the fact), or '-'."""
    total = row.request.get("payout")
    return f"${total:,.2f}" if isinstance(total, int | float) and total else "-"


def _print_rows(console: Console, rows: list[ApprovalRow]) -> None:
    """Two lines a request: whole ids in aligned columns, then what it is (cut to the width)."""
    from rich.text import Text

    header = ("request", "status", "payout", "expires", "conversation")
    table = [
        (row.request_id, row.status, _payout(row), _expires(row), row.conversation_id)
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *table]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)).rstrip()

    console.print(Text(line(header), style="bold"), soft_wrap=True)
    room = max(20, console.width - 2)
    for cells, row in zip(table, rows, strict=True):
        console.print(Text(line(cells)), soft_wrap=True)
        req = row.request
        what = f"{req.get('tool', '?')} ({req.get('role', '?')}): " + " ".join(
            str(req.get("summary", "")).split()
        )
        console.print(
            Text("  " + (what if len(what) <= room else what[: room - 1] + "…"), style="dim"),
            soft_wrap=True,
        )


@approvals_app.command("list")
def list_requests(
    db: DbOption = None,
    status: Annotated[
        str,
        typer.Option(help=f"Only this status: {', '.join(APPROVAL_STATUSES)}, or all."),
    ] = "pending",
    as_json: JsonOption = False,
) -> None:
    """List approval requests, oldest first (pending ones unless --status says otherwise)."""
    if status not in (*APPROVAL_STATUSES, "all"):
        fail(f"--status {status!r} is not one of: {', '.join(APPROVAL_STATUSES)}, all")
    rows = _queue(db).list(None if status == "all" else status)
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
    console = _console()
    if not rows:
        console.print(
            f"no {'' if status == 'all' else status + ' '}approval requests", highlight=False
        )
        return
    _print_rows(console, rows)


@approvals_app.command("show")
def show_request(
    request_id: Annotated[
        str, typer.Argument(help="The request's id (apr_…).", show_default=False)
    ],
    db: DbOption = None,
) -> None:
    """Show one request: tool, arguments, facts, reasons and any decision."""
    rows = [r for r in _queue(db).list() if r.request_id == request_id]
    if not rows:
        fail(f"no approval request {request_id!r}")
    _console().print_json(
        json.dumps(
            {"status": rows[0].status, "request": rows[0].request, "decision": rows[0].decision},
            default=str,
        ),
        ensure_ascii=True,  # bidirectional and control characters shown as \u escapes
    )


def current_supervisor(db: str | None) -> Supervisor:
    """The operating-system user, with the roles the [approvers] roster gives them; or exit 2."""
    from agent.gate.approvals import supervisor_from_roster

    try:
        return supervisor_from_roster(getpass.getuser(), settings_for(db).approvers)
    except (PermissionError, OSError, KeyError) as exc:  # getuser raises OSError/KeyError
        fail(str(exc))


def _decide(request_id: str, db: str | None, approved: bool, reason: str) -> None:
    supervisor = current_supervisor(db)
    try:
        row = _queue(db, "write").record(
            request_id, approved=approved, supervisor=supervisor, reason=reason
        )
    except (LookupError, ValueError, PermissionError) as exc:
        fail(str(exc))
    role = (row.decision or {}).get("role", "")
    from rich.text import Text

    _console().print(
        Text(
            f"{row.request_id}: {row.status} by {supervisor.name} ({role}); "
            f"run `support-agent resume {row.conversation_id}{db_flag(db)}` to continue"
        ),
        soft_wrap=True,  # a command to copy: never broken inside a path
    )


@approvals_app.command("approve")
def approve(
    request_id: Annotated[
        str, typer.Argument(help="The request's id (apr_…).", show_default=False)
    ],
    db: DbOption = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the transcript).")] = "",
) -> None:
    """Approve a pending request as yourself (the OS user, roles from [approvers] in config)."""
    _decide(request_id, db, True, reason)


@approvals_app.command("deny")
def deny(
    request_id: Annotated[
        str, typer.Argument(help="The request's id (apr_…).", show_default=False)
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why; the model is told.")],
    db: DbOption = None,
) -> None:
    """Deny a pending request as yourself, with a reason the model will be told."""
    _decide(request_id, db, False, reason)
