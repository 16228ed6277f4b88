"""Import: good rows kept, bad rows reported with their line, a re-import adds nothing."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sqlmodel import Session, select

from agent.store.engine import make_engine
from tools.tickets.attachments import (
    MAX_IMAGES_PER_REQUEST,
    AttachmentError,
    check_count,
    check_image,
    sniff_media_type,
)
from tools.tickets.demo import screenshot
from tools.tickets.importer import import_tickets
from tools.tickets.tables import Ticket, TicketAttachment

from .conftest import invoke


def row(tid: str, **extra: object) -> dict[str, object]:
    return {
        "id": tid,
        "customer_email": "a@example.com",
        "subject": "Late",
        "body": "Where?",
        **extra,
    }


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_bad_rows_are_reported_by_line_and_good_rows_kept(tmp_path):
    (tmp_path / "shot.png").write_bytes(screenshot(random.Random(1)))
    (tmp_path / "fake.png").write_bytes(b"not an image at all")
    lines = [
        json.dumps(row("T-1", attachments=["shot.png"])),
        "{not json",
        json.dumps(row("T-2", customer_email="nobody")),
        "",
        json.dumps(row("T-3", channel="fax")),
        json.dumps(row("T-4", attachments=["fake.png"])),
        json.dumps(row("T-1")),
        json.dumps(["a list"]),
        json.dumps(row("T-5", subject="")),
        json.dumps(row("T-6")),
    ]
    engine = make_engine(f"sqlite:///{tmp_path / 'i.db'}")
    with Session(engine) as session:
        report = import_tickets(session, write_jsonl(tmp_path / "t.jsonl", lines))
        session.commit()
    errors = dict(report.errors)
    assert report.added == 2
    assert sorted(errors) == [2, 3, 5, 6, 7, 8, 9]  # line 4 is blank, not an error
    assert "not valid JSON" in errors[2]
    assert "customer_email" in errors[3]
    assert "channel" in errors[5]
    assert "not a PNG, JPEG, GIF or WebP" in errors[6]
    assert "appears again (first on line 1)" in errors[7]
    assert "not a JSON object" in errors[8]
    assert "subject" in errors[9]
    with Session(engine) as session:
        ids = session.exec(select(Ticket.id)).all()
        shots = session.exec(select(TicketAttachment)).all()
    assert sorted(ids) == ["T-1", "T-6"]
    assert [(s.ticket_id, s.media_type) for s in shots] == [("T-1", "image/png")]


def test_reimporting_the_same_file_adds_nothing_and_a_changed_row_is_reported(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [json.dumps(row("T-1")), json.dumps(row("T-2"))])
    engine = make_engine(f"sqlite:///{tmp_path / 'i.db'}")
    for _ in range(2):
        with Session(engine) as session:
            report = import_tickets(session, path)
            session.commit()
    assert (report.added, report.unchanged, report.errors) == (0, 2, [])
    write_jsonl(path, [json.dumps(row("T-1", body="Something new"))])
    with Session(engine) as session:
        report = import_tickets(session, path)
    assert report.errors == [(1, "ticket T-1 exists with different content; not changed")]
    with Session(engine) as session:
        assert len(session.exec(select(Ticket)).all()) == 2


def test_csv_with_a_multiline_body_reports_the_line_a_record_starts_on(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "id,customer_email,subject,body,channel\n"
        'T-1,a@example.com,Late,"line one\nline two",chat\n'
        "T-2,broken,Late,Where?,email\n"
        "T-3,c@example.com,Hi,There,web,extra\n"
        "T-4,d@example.com,Hi,There,phone\n",
        encoding="utf-8",
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'i.db'}")
    with Session(engine) as session:
        report = import_tickets(session, path)
        session.commit()
        first = session.get(Ticket, "T-1")
        assert first is not None and first.body == "line one\nline two" and first.channel == "chat"
    assert report.added == 2
    assert [line for line, _ in report.errors] == [4, 5]
    assert "more cells than the header" in report.errors[1][1]


def test_image_checks_type_from_bytes_size_and_count():
    png = screenshot(random.Random(2))
    assert sniff_media_type(png) == "image/png"
    assert sniff_media_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_media_type(b"GIF89a....") == "image/gif"
    assert sniff_media_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    with pytest.raises(AttachmentError, match="not a PNG"):
        check_image("x.png", b"<svg/>")
    with pytest.raises(AttachmentError, match="over the 5242880 byte limit"):
        check_image("big.png", png[:8] + b"\x00" * (5 * 1024 * 1024))
    images = [check_image(f"{n}.png", png) for n in range(MAX_IMAGES_PER_REQUEST + 1)]
    check_count(images[:-1])
    with pytest.raises(AttachmentError, match="at most 20"):
        check_count(images)


def test_the_import_command_prints_file_and_line_and_fails_on_bad_rows(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    path = write_jsonl(tmp_path / "t.jsonl", [json.dumps(row("T-1")), "[oops"])
    result = invoke("tickets", "import", path, "--db", db)
    assert result.exit_code == 1, result.output
    assert f"{path}:2: not valid JSON" in result.output
    assert "1 added, 0 already there, 1 rejected" in result.output
    again = invoke("tickets", "import", path, "--db", db)
    assert "0 added, 1 already there, 1 rejected" in again.output
