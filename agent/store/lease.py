"""A per-conversation lease so that only one worker drives a conversation at a time.

The execution ledger already guarantees that a write runs at most once; the lease
keeps two workers from also calling the model twice for the same turn.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from agent.clock import utcnow
from agent.store.tables import Conversation


class ConversationBusy(Exception):
    """Another worker holds the conversation's lease."""


@dataclass
class Lease:
    """Acquire, renew and release the lease on one conversation."""

    engine: Engine
    ttl: float = 60.0
    wait: float = 30.0
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    def try_acquire(self, cid: str) -> bool:
        """Take (or renew) the lease if it is free, expired or already ours."""
        now = utcnow()
        stmt = (
            update(Conversation)
            .where(col(Conversation.id) == cid)
            .where(
                or_(
                    col(Conversation.lease_owner).is_(None),
                    col(Conversation.lease_expires) < now,
                    col(Conversation.lease_owner) == self.owner,
                )
            )
            .values(lease_owner=self.owner, lease_expires=now + timedelta(seconds=self.ttl))
        )
        with Session(self.engine) as session, session.begin():
            return session.connection().execute(stmt).rowcount == 1

    def acquire(self, cid: str) -> None:
        """Wait up to `wait` seconds for the lease; ConversationBusy if it stays taken."""
        deadline = time.monotonic() + self.wait
        while not self.try_acquire(cid):
            if time.monotonic() >= deadline:
                raise ConversationBusy(f"conversation {cid} is being handled by another worker")
            time.sleep(0.05)

    def release(self, cid: str) -> None:
        """Give the lease up (only if we hold it)."""
        stmt = (
            update(Conversation)
            .where(col(Conversation.id) == cid)
            .where(col(Conversation.lease_owner) == self.owner)
            .values(lease_owner=None, lease_expires=None)
        )
        with Session(self.engine) as session, session.begin():
            session.connection().execute(stmt)
