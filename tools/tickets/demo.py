"""A deterministic demo inbox: 400 tickets from the demo store's customers about their orders."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from tools.retail.tables import RetailOrder, RetailUser
from tools.tickets.attachments import Color, Image, check_image, png_bytes
from tools.tickets.demo_text import DAYS, DISCLAIMER, PADDING, REQUESTS, THREAD_LINES
from tools.tickets.importer import TicketRow, add_ticket
from tools.tickets.tables import CHANNELS, Ticket, TicketAttachment

DEMO_TICKETS = 400
DEMO_DAY = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)  # fixed, so every seed gives the same inbox
SCREENSHOT_EVERY = 40  # one ticket in 40 carries screenshots
STRANGERS = 0.05  # share of tickets from addresses that are not customers


@dataclass(frozen=True)
class _Customer:
    email: str
    orders: list[tuple[str, list[str]]]  # order id, item names


def _customers(session: Session) -> list[_Customer]:
    users = session.exec(select(RetailUser).order_by(col(RetailUser.seq))).all()
    orders = session.exec(select(RetailOrder).order_by(col(RetailOrder.seq))).all()
    by_user: dict[str, list[tuple[str, list[str]]]] = {}
    for order in orders:
        names = [item.name for item in order.get_items()]
        by_user.setdefault(order.user_id, []).append((order.order_id, names))
    return [_Customer(u.email, by_user.get(u.user_id, [])) for u in users]


def _received(rng: random.Random) -> datetime:
    burst = rng.random() < 0.3  # the 2 pm burst
    minutes = 7 * 60 + rng.randint(0, 59) if burst else rng.randint(0, 15 * 60)
    return DEMO_DAY + timedelta(minutes=minutes, seconds=rng.randint(0, 59))


def _thread(rng: random.Random, words: int, fill: dict[str, str]) -> str:
    """A pasted reply chain of about `words` words."""
    lines: list[str] = []
    count = 0
    while count < words:
        line = rng.choice(THREAD_LINES).format(day=rng.choice(DAYS), **fill)
        if rng.random() < 0.08:
            line = DISCLAIMER
        lines.append(line)
        count += len(line.split())
    return "\n".join(lines)


def _body(rng: random.Random, opening: str, fill: dict[str, str]) -> str:
    shape = rng.random()
    if shape < 0.05:
        return opening  # one line
    sentences = [opening, *rng.sample(PADDING, k=rng.randint(1, 6))]
    body = " ".join(sentences)
    if shape > 0.97:
        body += "\n\n" + _thread(rng, rng.randint(1500, 4000), fill)
    elif shape > 0.85:
        body += "\n\n" + _thread(rng, rng.randint(200, 600), fill)
    return body + "\n\n" + rng.choice(["Thanks", "Regards", "Best", "--", "Sent from my phone"])


def screenshot(rng: random.Random, width: int = 96, height: int = 64) -> bytes:
    """A small PNG that looks like an error dialog: a title bar, a red banner, text bars."""
    background: Color = (236, 236, 236)
    title: Color = (rng.randint(20, 80), rng.randint(60, 120), rng.randint(140, 200))
    banner: Color = (200, rng.randint(30, 60), rng.randint(30, 60))
    text: Color = (60, 60, 60)
    bars = sorted(rng.sample(range(30, height - 4, 6), k=3))
    rows: list[list[Color]] = []
    for y in range(height):
        row: list[Color] = []
        for x in range(width):
            if y < 10:
                row.append(title)
            elif 14 <= y < 24 and 6 <= x < width - 6:
                row.append(banner)
            elif any(b <= y < b + 3 for b in bars) and 6 <= x < width - rng.randint(10, 30):
                row.append(text)
            else:
                row.append(background)
        rows.append(row)
    return png_bytes(width, height, rows)


def demo_rows(
    customers: list[_Customer], seed: int, count: int
) -> list[tuple[TicketRow, list[Image]]]:
    """The demo tickets for a seed: rows plus their generated screenshots."""
    rng = random.Random(f"tickets:{seed}")
    kinds = list(REQUESTS)
    rows: list[tuple[TicketRow, list[Image]]] = []
    for index in range(count):
        kind = kinds[index % len(kinds)] if index < len(kinds) else rng.choice(kinds)
        customer = rng.choice(customers) if customers else None
        email = customer.email if customer else "someone@example.com"
        if customer is None or rng.random() < STRANGERS:
            email = f"visitor{rng.randint(100, 999)}@example.net"
        order_id, items = ("(no order number)", ["item"])
        if customer and customer.orders:
            order_id, items = rng.choice(customer.orders)
        fill = {"order": order_id, "item": rng.choice(items), "name": email.split("@")[0]}
        subject, opening = rng.choice(REQUESTS[kind])
        images: list[Image] = []
        if index % SCREENSHOT_EVERY == 7:
            images = [
                check_image(f"screenshot-{n + 1}.png", screenshot(rng))
                for n in range(rng.randint(1, 2))
            ]
        row = TicketRow(
            id=f"T-{index + 1:05d}",
            channel=rng.choice(CHANNELS),
            customer_email=email,
            subject=subject.format(**fill),
            body=_body(rng, opening.format(**fill), fill),
            received_at=_received(rng),
        )
        rows.append((row, images))
    return rows


def seed_inbox(session: Session, seed: int, count: int = DEMO_TICKETS) -> int:
    """Replace the inbox with the demo tickets for `seed` (flushes; the caller commits)."""
    session.exec(delete(TicketAttachment))
    session.exec(delete(Ticket))
    rows = demo_rows(_customers(session), seed, count)
    rows.sort(key=lambda pair: (pair[0].received_at or DEMO_DAY, pair[0].id))
    for seq, (row, images) in enumerate(rows, start=1):
        add_ticket(session, row, images, seq)
    session.flush()
    return len(rows)
