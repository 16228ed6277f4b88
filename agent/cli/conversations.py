"""`support-agent conversations list|show`: find stored conversations (like `llm logs`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from agent.cli.common import DbOption, JsonOption, VerboseOption, command_group, fail

if TYPE_CHECKING:
    from agent.transcript.listing import ConversationSummary

app = command_group("Find stored conversations and show their transcripts.")

ConversationStatus = Literal["open", "done", "paused", "failed", "handed_off"]
STATUSES: tuple[ConversationStatus, ...] = ("open", "done", "paused", "failed", "handed_off")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_AGE = re.compile(r"^(\d+)\s*([mhdw])$")


def parse_since(text: str, now: datetime) -> datetime:
    """'30m', '2h', '7d', '1w' ago, or an ISO date/time (UTC unless it says otherwise)."""
    from datetime import UTC

    match = _AGE.match(text.strip().lower())
    if match:
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give an age like 30m, 2h, 7d, 1w or a date like 2026-01-31"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


@app.command("list")
def list_command(
    db: DbOption = None,
    status: Annotated[
        str | None,
        typer.Option(help=f"Only this status: {', '.join(STATUSES)}.", show_default=False),
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option(
            help="Only conversations with this authenticated customer id.", show_default=False
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only those started since: an age (30m, 2h, 7d) or a date.", show_default=False
        ),
    ] = None,
    count: Annotated[
        int, typer.Option("-n", "--count", help="How many, newest first (0: all).")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """List stored conversations, newest first: id, status, customer, last activity."""
    import json

    from agent.cli.common import open_store
    from agent.clock import utcnow
    from agent.transcript.listing import list_conversations

    if status is not None and status not in STATUSES:
        fail(f"--status {status!r} is not one of: {', '.join(STATUSES)}")
    if count < 0:
        fail("-n must be 0 (all) or more")
    try:
        start = parse_since(since, utcnow()) if since else None
    except ValueError as exc:
        fail(str(exc))
    engine = open_store(db, "read")
    rows = list_conversations(
        engine, status=status, customer=customer, since=start, limit=count or None
    )
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row.as_json(), sort_keys=True))
        return
    _print_table(rows)


def _print_table(rows: list[ConversationSummary]) -> None:
    """Aligned columns; ids are never cut, the first message gets the width that is left."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if not rows:
        console.print("no conversations match")
        return
    table = [
        (row.id, row.status, row.customer_id or "-", f"{row.updated_at:%m-%d %H:%M}")
        for row in rows
    ]
    header = ("id", "status", "customer", "last (UTC)")
    widths = [max(len(cells[i]) for cells in [header, *table]) for i in range(len(header))]
    room = console.width - sum(widths) - 2 * len(widths)
    show_message = room >= 12  # too narrow: leave the message out rather than wrap ids

    def line(cells: tuple[str, ...], message: str) -> Text:
        text = "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True))
        if show_message:
            flat = " ".join(message.split())
            text += "  " + (flat if len(flat) <= room else flat[: room - 1] + "…")
        return Text(text.rstrip())

    console.print(line(header, "first message"), style="bold", soft_wrap=True)
    for cells, row in zip(table, rows, strict=True):
        console.print(line(cells, row.first_message), soft_wrap=True)


@app.command("show")
def show(
    conversation_id: Annotated[
        str, typer.Argument(help="The conversation's id.", show_default=False)
    ],
    db: DbOption = None,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show one conversation's transcript (--json: one event per line)."""
    from rich.console import Console
    from sqlmodel import Session

    from agent.cli.common import open_store
    from agent.cli.render import print_events
    from agent.store.engine import redacted_url
    from agent.transcript.events import export_lines, load

    engine = open_store(db, "read")
    with Session(engine) as session:
        events = load(session, conversation_id)
    if not events:
        fail(
            f"no conversation {conversation_id!r} in {redacted_url(str(engine.url))}; "
            "`support-agent conversations list` shows the stored ones"
        )
    if as_json:
        for line in export_lines(events)[1:]:  # the first line is the export header
            typer.echo(line)
        return
    print_events(Console(), events, verbose=verbose)
