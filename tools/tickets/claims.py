"""Who triages which ticket: claims by live processes, results stored at most once.

A triage process claims a ticket before it asks for the gist and stores the gist
only if it still holds the claim and the ticket is still untriaged, in one
conditional UPDATE. A process that was killed leaves claims whose owner is no
longer alive (same host) or that are older than CLAIM_TTL (other hosts); any later
run takes those over. So a ticket is never stored twice and never stays lost.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.clock import utcnow
from agent.model.client import Usage
from tools.tickets.gist import Gist
from tools.tickets.tables import Ticket, TriageMode

CLAIM_TTL = timedelta(minutes=15)
TRIAGEABLE = ("new",)


def new_owner() -> str:
    """This process's claim name: host, pid and a nonce (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool | None:
    """True/False for an owner on this host (its pid exists or not); None for other hosts."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_owners(engine: Engine) -> list[str]:
    """Claim owners that are gone: dead processes on this host, or claims older than CLAIM_TTL."""
    cutoff = utcnow() - CLAIM_TTL
    with Session(engine) as session:
        rows = session.exec(
            select(Ticket.claimed_by, Ticket.updated_at).where(col(Ticket.claimed_by).is_not(None))
        ).all()
    stale = set()
    for owner, updated in rows:
        assert owner is not None
        alive = owner_alive(owner)
        if alive is False or (alive is None and updated.replace(tzinfo=cutoff.tzinfo) < cutoff):
            stale.add(owner)
    return sorted(stale)


def candidates(engine: Engine, ids: list[str] | None = None) -> list[str]:
    """New tickets not waiting in a batch (only these ids, if given), oldest first."""
    query = select(Ticket.id).where(col(Ticket.status) == "new", col(Ticket.batch_key).is_(None))
    if ids is not None:
        query = query.where(col(Ticket.id).in_(ids))
    with Session(engine) as session:
        return list(session.exec(query.order_by(col(Ticket.seq), col(Ticket.id))).all())


def reopen_failed(engine: Engine, ids: list[str] | None = None) -> int:
    """Put failed tickets (all, or these) back to new so that this run tries them again."""
    statement = update(Ticket).where(col(Ticket.status) == "failed")
    if ids is not None:
        statement = statement.where(col(Ticket.id).in_(ids))
    values = {"status": "new", "failure": None, "correction": None, "updated_at": utcnow()}
    with Session(engine) as session, session.begin():
        return int(session.execute(statement.values(**values)).rowcount)  # type: ignore[attr-defined]


def claim(engine: Engine, owner: str, ticket_id: str, stale: list[str]) -> bool:
    """Take a ticket unless a live process holds it or it is already triaged."""
    free = or_(col(Ticket.claimed_by).is_(None), col(Ticket.claimed_by).in_(stale))
    statement = (
        update(Ticket)
        .where(col(Ticket.id) == ticket_id, col(Ticket.status).in_(TRIAGEABLE), free)
        .where(col(Ticket.batch_key).is_(None))
        .values(claimed_by=owner, updated_at=utcnow())
    )
    with Session(engine) as session, session.begin():
        return session.execute(statement).rowcount == 1  # type: ignore[attr-defined, no-any-return]


def release(engine: Engine, owner: str, ticket_ids: list[str] | None = None) -> int:
    """Give back claims (all of this owner's, or some) without changing the tickets."""
    statement = update(Ticket).where(col(Ticket.claimed_by) == owner)
    if ticket_ids is not None:
        statement = statement.where(col(Ticket.id).in_(ticket_ids))
    with Session(engine) as session, session.begin():
        result = session.execute(statement.values(claimed_by=None))
        return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Billed:
    """What a gist cost: tokens over all attempts and dollars at the mode's price."""

    model: str
    mode: TriageMode
    usage: Usage
    dollars: Decimal | None


def _bill_values(billed: Billed) -> dict[str, object]:
    dollars = billed.dollars
    return {
        "model": billed.model,
        "triage_mode": billed.mode,
        "input_tokens": billed.usage.input_tokens,
        "output_tokens": billed.usage.output_tokens,
        "cache_creation_input_tokens": billed.usage.cache_creation_input_tokens,
        "cache_read_input_tokens": billed.usage.cache_read_input_tokens,
        "cost_microdollars": None if dollars is None else int(dollars * 1_000_000),
        "updated_at": utcnow(),
    }


def _guard(ticket_id: str, owner: str | None, batch_key: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        col(Ticket.id) == ticket_id,
        col(Ticket.status).in_(TRIAGEABLE),
    ]
    if batch_key is not None:
        conditions.append(col(Ticket.batch_key) == batch_key)
    else:
        conditions.append(col(Ticket.claimed_by) == owner)
    return conditions


def store_gist(
    engine: Engine,
    ticket_id: str,
    gist: Gist,
    billed: Billed,
    *,
    owner: str | None = None,
    batch_key: str | None = None,
) -> bool:
    """Store a valid gist if this claim (or batch) still holds the untriaged ticket."""
    values = {
        **_bill_values(billed),
        "status": "triaged",
        "gist": gist.text(),
        "category": gist.category,
        "urgency": gist.urgency,
        "next_step": gist.next_step,
        "failure": None,
        "claimed_by": None,
        "batch_key": None,
        "correction": None,
        "triaged_at": utcnow(),
    }
    statement = update(Ticket).where(*_guard(ticket_id, owner, batch_key)).values(**values)
    with Session(engine) as session, session.begin():
        return session.execute(statement).rowcount == 1  # type: ignore[attr-defined, no-any-return]


def store_failure(
    engine: Engine,
    ticket_id: str,
    reason: str,
    billed: Billed | None,
    *,
    owner: str | None = None,
    batch_key: str | None = None,
) -> bool:
    """Mark the ticket failed with the reason (no gist is stored)."""
    values: dict[str, object] = {
        "status": "failed",
        "failure": reason[:2000],
        "claimed_by": None,
        "batch_key": None,
        "correction": None,
        "updated_at": utcnow(),
    }
    if billed is not None:
        values.update(_bill_values(billed))
    statement = update(Ticket).where(*_guard(ticket_id, owner, batch_key)).values(**values)
    with Session(engine) as session, session.begin():
        return session.execute(statement).rowcount == 1  # type: ignore[attr-defined, no-any-return]
