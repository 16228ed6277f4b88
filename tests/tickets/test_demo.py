"""The demo inbox: deterministic, tied to the demo store's customers and orders, varied."""

from __future__ import annotations

import struct
import zlib

from sqlmodel import Session, col, select

from agent.store.engine import make_engine
from tools.retail.tables import RetailOrder, RetailUser
from tools.tickets.demo import DEMO_TICKETS, _customers, demo_rows
from tools.tickets.tables import Ticket, TicketAttachment

from .conftest import invoke


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines of a PNG (checks every chunk's CRC)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, width, height, idat = 8, 0, 0, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF
        if kind == b"IHDR":
            width, height = struct.unpack(">II", payload[:8])
        elif kind == b"IDAT":
            idat += payload
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_db_init_fills_a_deterministic_inbox_tied_to_the_demo_store(tmp_path):
    urls = [f"sqlite:///{tmp_path / f'{n}.db'}" for n in range(2)]
    for url in urls:
        result = invoke("db", "init", "--db", url, "--seed", "3")
        assert result.exit_code == 0, result.output
        assert f"{DEMO_TICKETS} tickets in the inbox" in result.output
    inboxes = []
    for url in urls:
        engine = make_engine(url)
        with Session(engine) as session:
            tickets = session.exec(select(Ticket).order_by(col(Ticket.id))).all()
            inboxes.append(
                [(t.id, t.customer_email, t.subject, t.body, t.received_at) for t in tickets]
            )
            emails = set(session.exec(select(RetailUser.email)).all())
            orders = set(session.exec(select(RetailOrder.order_id)).all())
            shots = session.exec(select(TicketAttachment)).all()
        engine.dispose()
    assert inboxes[0] == inboxes[1]
    assert len(inboxes[0]) == DEMO_TICKETS
    known = [row for row in inboxes[0] if row[1] in emails]
    assert len(known) > 0.9 * DEMO_TICKETS  # a few strangers write in too
    mentioned = {
        word.strip(".,!?") for row in known for word in row[3].split() if word.startswith("#W")
    }
    assert mentioned and mentioned <= orders
    words = sorted(len(row[3].split()) for row in inboxes[0])
    assert words[0] < 15 and words[-1] > 1500  # one line to thousands of words
    assert 5 <= len(shots) <= 40
    for shot in shots:
        width, height, raw = decode_png(shot.data)
        assert shot.media_type == "image/png" and shot.size == len(shot.data)
        assert len(raw) == height * (1 + 3 * width)


def test_another_seed_gives_another_inbox(inbox):
    with Session(inbox) as session:
        customers = _customers(session)
    first = [r.body for r, _ in demo_rows(customers, 0, 30)]
    assert first == [r.body for r, _ in demo_rows(customers, 0, 30)]
    assert first != [r.body for r, _ in demo_rows(customers, 1, 30)]
