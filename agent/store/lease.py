"""A per-conversation lease with a fencing check, so only one worker drives a conversation.

The execution ledger already guarantees that a write runs at most once; the lease
keeps two workers from also calling the model twice for the same turn. Every append
of the holder re-asserts the lease inside its own transaction (`fence`), so a worker
whose lease was taken over cannot append another event: it gets LeaseLost and stops.
While a long model call runs, a heartbeat thread keeps the lease alive.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import bindparam, or_, update
from sqlalchemy.engine import Connection, Engine

from agent.clock import utcnow
from agent.store.tables import Conversation

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
_row = CONVERSATIONS.c
# Built once: every append fences, so building the statement each time cost more than
# running it. Parameters: cid, owner, now, expires.
_TAKE = (
    update(CONVERSATIONS)
    .where(_row.id == bindparam("cid"))
    .where(
        or_(
            _row.lease_owner.is_(None),
            _row.lease_expires < bindparam("now"),
            _row.lease_owner == bindparam("owner"),
        )
    )
    .values(lease_owner=bindparam("owner"), lease_expires=bindparam("expires"))
)
_FENCE = (
    update(CONVERSATIONS)
    .where(_row.id == bindparam("cid"), _row.lease_owner == bindparam("owner"))
    .values(lease_expires=bindparam("expires"))
)
_RELEASE = (
    update(CONVERSATIONS)
    .where(_row.id == bindparam("cid"), _row.lease_owner == bindparam("owner"))
    .values(lease_owner=None, lease_expires=None)
)


class ConversationBusy(Exception):
    """Another worker holds the conversation's lease."""


class LeaseLost(Exception):
    """This worker's lease was taken over; whatever it was about to append is refused."""


@dataclass
class Lease:
    """Acquire, renew, fence and release the lease on conversations for one owner."""

    engine: Engine
    ttl: float = 60.0
    wait: float = 30.0
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    _expires: dict[str, float] = field(default_factory=dict, repr=False)

    def take(self, conn: Connection, cid: str) -> bool:
        """Inside the caller's transaction: take the lease if free, expired or ours."""
        now = utcnow()
        expires = now + timedelta(seconds=self.ttl)
        params = {"cid": cid, "owner": self.owner, "now": now, "expires": expires}
        taken = conn.execute(_TAKE, params).rowcount == 1
        if taken:
            self._expires[cid] = time.monotonic() + self.ttl
        return taken

    def try_acquire(self, cid: str) -> bool:
        """Take (or renew) the lease if it is free, expired or already ours."""
        with self.engine.begin() as conn:
            return self.take(conn, cid)

    def acquire(self, cid: str) -> None:
        """Wait up to `wait` seconds for the lease; ConversationBusy if it stays taken."""
        deadline = time.monotonic() + self.wait
        while not self.try_acquire(cid):
            if time.monotonic() >= deadline:
                raise ConversationBusy(f"conversation {cid} is being handled by another worker")
            time.sleep(0.05)

    def renew_if_due(self, cid: str) -> None:
        """Renew only when less than half the lease is left (a commit each renewal)."""
        if self._expires.get(cid, 0.0) - time.monotonic() < self.ttl / 2 and not self.try_acquire(
            cid
        ):
            raise LeaseLost(f"lost the lease on conversation {cid}")

    def fence(self, conn: Connection, cid: str) -> None:
        """Inside an append's transaction: still ours (renewed), or LeaseLost and roll back."""
        expires = utcnow() + timedelta(seconds=self.ttl)
        params = {"cid": cid, "owner": self.owner, "expires": expires}
        if conn.execute(_FENCE, params).rowcount != 1:
            self._expires.pop(cid, None)
            raise LeaseLost(f"lost the lease on conversation {cid}; nothing was appended")
        self._expires[cid] = time.monotonic() + self.ttl

    def release_in(self, conn: Connection, cid: str) -> None:
        """Give the lease up inside the caller's transaction (with the final event)."""
        conn.execute(_RELEASE, {"cid": cid, "owner": self.owner})
        self._expires.pop(cid, None)

    def release(self, cid: str) -> None:
        """Give the lease up (only if we hold it)."""
        with self.engine.begin() as conn:
            self.release_in(conn, cid)

    @contextmanager
    def kept_alive(self, cid: str) -> Iterator[None]:
        """Renew the lease in the background while a long call (the model) runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.ttl / 3):
                try:
                    if not self.try_acquire(cid):
                        return  # taken over: the next fence refuses this worker's append
                except Exception:
                    continue

        thread = threading.Thread(target=beat, name=f"lease-{cid}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
