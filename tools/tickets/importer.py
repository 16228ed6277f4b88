"""Import tickets from JSONL or CSV: bad rows reported by line, re-import adds nothing."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator
from sqlmodel import Session, func, select

from agent.clock import utcnow
from tools.tickets.attachments import AttachmentError, Image, check_count, check_image
from tools.tickets.gist import describe_errors
from tools.tickets.tables import Channel, Ticket, TicketAttachment

TicketId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
MAX_BODY_CHARS = 200_000


class TicketRow(BaseModel):
    """One ticket as a file holds it; attachments are image paths relative to the file."""

    model_config = ConfigDict(extra="forbid")

    id: TicketId
    channel: Channel = "email"
    customer_email: Email
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS)]
    received_at: datetime | None = None
    attachments: list[str] = []

    @field_validator("attachments", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """CSV cells hold attachment paths separated by ';'."""
        if isinstance(value, str):
            return [p.strip() for p in value.split(";") if p.strip()]
        return value


@dataclass
class ImportReport:
    """What an import did: rows added, rows already there, and each bad row's reason."""

    added: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) for each record; a row that cannot be parsed comes as its reason."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        line = reader.line_num + 1
        for record in reader:
            if None in record:
                yield line, "more cells than the header has columns"
            else:
                yield line, {k: v for k, v in record.items() if v not in (None, "")}
            line = reader.line_num + 1
        return
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON: {exc.msg} (column {exc.colno})"
            continue
        yield number, value if isinstance(value, dict) else "not a JSON object"


def fingerprint(row: TicketRow) -> str:
    """What makes two rows the same ticket (id, email, subject, body)."""
    parts = [row.id, row.customer_email, row.subject, row.body]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _images(row: TicketRow, base: Path) -> list[Image]:
    images = []
    for name in row.attachments:
        candidate = (base / name).resolve()
        if not candidate.is_file():
            raise AttachmentError(f"attachment {name}: no such file")
        images.append(check_image(name, candidate.read_bytes()))
    check_count(images)
    return images


def add_ticket(session: Session, row: TicketRow, images: list[Image], seq: int) -> Ticket:
    """Insert one ticket and its images (no commit)."""
    ticket = Ticket(
        id=row.id,
        seq=seq,
        channel=row.channel,
        customer_email=row.customer_email,
        subject=row.subject,
        body=row.body,
        received_at=row.received_at or utcnow(),
    )
    session.add(ticket)
    for position, image in enumerate(images):
        session.add(
            TicketAttachment(
                ticket_id=row.id,
                position=position,
                filename=image.filename,
                media_type=image.media_type,
                size=len(image.data),
                data=image.data,
            )
        )
    return ticket


def import_tickets(session: Session, path: Path) -> ImportReport:
    """Import a JSONL or CSV file into the inbox (no commit): idempotent per ticket id."""
    report = ImportReport()
    seen: dict[str, int] = {}
    seq = int(session.exec(select(func.coalesce(func.max(Ticket.seq), 0))).one())
    for line, raw in read_rows(path):
        if isinstance(raw, str):
            report.errors.append((line, raw))
            continue
        try:
            row = TicketRow.model_validate(raw)
            images = _images(row, path.parent)
        except ValidationError as exc:
            report.errors.append((line, describe_errors(exc)))
            continue
        except AttachmentError as exc:
            report.errors.append((line, str(exc)))
            continue
        if row.id in seen:
            report.errors.append(
                (line, f"ticket {row.id} appears again (first on line {seen[row.id]})")
            )
            continue
        seen[row.id] = line
        existing = session.get(Ticket, row.id)
        if existing is None:
            seq += 1
            add_ticket(session, row, images, seq)
            report.added += 1
        elif fingerprint(row) == fingerprint(_as_row(existing)):
            report.unchanged += 1
        else:
            report.errors.append(
                (line, f"ticket {row.id} exists with different content; not changed")
            )
    return report


def _as_row(ticket: Ticket) -> TicketRow:
    return TicketRow(
        id=ticket.id,
        customer_email=ticket.customer_email,
        subject=ticket.subject,
        body=ticket.body,
    )
