"""A per-conversation lease with a fencing check, so only one worker drives a conversation.

The execution ledger already guarantees that a write runs at most once; the lease
keeps two workers from also calling the model twice for the same turn. Every append
of the holder checks the lease inside its own transaction, so a worker whose lease was
taken over cannot append another event: it gets LeaseLost and stops. While more than
half its time is left the events' insert itself checks it (ConversationLog); after
that the append's `fence` also renews it.
While a long model call runs, one heartbeat thread per Lease keeps the leases of every
conversation in such a call alive (a set it sweeps; no thread is started per call).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, update
from sqlalchemy.engine import Connection, Engine

from agent.clock import utcnow
from agent.store.direct import Direct
from agent.store.tables import Conversation

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
_row = CONVERSATIONS.c
# Built once: every append fences, so building the statement each time cost more than
# running it. Parameters: cid, owner, now, expires.
_TAKE = Direct.of(
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
_FENCE = Direct.of(
    update(CONVERSATIONS)
    .where(_row.id == bindparam("cid"), _row.lease_owner == bindparam("owner"))
    .values(lease_expires=bindparam("expires"))
)

_RELEASED = (
    update(CONVERSATIONS)
    .where(_row.id == bindparam("cid"), _row.lease_owner == bindparam("owner"))
    .values(lease_owner=None, lease_expires=None)
)
_RELEASE = Direct.of(_RELEASED)
_RELEASE_WITH_STATUS = Direct.of(_RELEASED.values(status=bindparam("status")))


class ConversationBusy(Exception):
    """Another worker holds the conversation's lease."""


class LeaseLost(Exception):
    """This worker's lease was taken over; whatever it was about to append is refused."""

    @classmethod
    def on(cls, cid: str) -> LeaseLost:
        """The error for conversation `cid`."""
        return cls(f"lost the lease on conversation {cid}; nothing was appended")


@dataclass
class Lease:
    """Acquire, renew, fence and release the lease on conversations for one owner."""

    engine: Engine
    ttl: float = 60.0
    wait: float = 30.0
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    # When this owner last set each lease's expiry (monotonic; the heartbeat writes too).
    _renewed: dict[str, float] = field(default_factory=dict, repr=False)

    def take(self, conn: Connection, cid: str) -> bool:
        """Inside the caller's transaction: take the lease if free, expired or ours."""
        began, expires = self.expiry()
        now = expires - timedelta(seconds=self.ttl)
        params = {"cid": cid, "owner": self.owner, "now": now, "expires": expires}
        taken = _TAKE.run(conn, params).rowcount == 1
        if taken:
            self.renewed(cid, began)
        return taken

    def expiry(self) -> tuple[float, datetime]:
        """A new lease's time: (now, monotonic; its expiry, for the store)."""
        return time.monotonic(), utcnow() + timedelta(seconds=self.ttl)

    def renewed(self, cid: str, at: float) -> None:
        """Note that this owner set the lease's expiry at monotonic time `at` (see expiry)."""
        self._renewed[cid] = at

    def forget(self, cid: str) -> None:
        """Forget a renewal whose transaction rolled back: the next append renews."""
        self._renewed.pop(cid, None)

    def renew_by(self, cid: str) -> float:
        """The monotonic time from which less than half the lease's time is left."""
        return self._renewed.get(cid, float("-inf")) + self.ttl / 2

    def renewal_due(self, cid: str) -> bool:
        """Whether less than half the lease's time is left (as far as this owner knows).

        Until then an append only checks that the lease is still ours (see
        ConversationLog.commit); from then on its fence renews it too.
        """
        return time.monotonic() >= self.renew_by(cid)

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

    def fence(self, conn: Connection, cid: str) -> None:
        """Inside an append's transaction: still ours (renewed), or LeaseLost and roll back."""
        began, expires = self.expiry()
        params = {"cid": cid, "owner": self.owner, "expires": expires}
        if _FENCE.run(conn, params).rowcount != 1:
            raise LeaseLost.on(cid)
        self.renewed(cid, began)

    def release_in(
        self, conn: Connection, cid: str, *, status: str | None = None, fenced: bool = False
    ) -> None:
        """Give the lease up inside the caller's transaction (with the final event).

        `status` sets the conversation's status in the same statement; `fenced` makes it
        the append's fence too (LeaseLost, and the caller rolls back, unless it was ours).
        """
        if status is None:
            released = _RELEASE.run(conn, {"cid": cid, "owner": self.owner})
        else:
            released = _RELEASE_WITH_STATUS.run(
                conn, {"cid": cid, "owner": self.owner, "status": status}
            )
        if fenced and released.rowcount != 1:
            raise LeaseLost.on(cid)
        self.forget(cid)

    def release(self, cid: str) -> None:
        """Give the lease up (only if we hold it)."""
        with self.engine.begin() as conn:
            self.release_in(conn, cid)

    @contextmanager
    def kept_alive(self, cid: str) -> Iterator[None]:
        """Renew the lease every ttl/3 while a long call (the model) runs.

        The lease joins the set the process's one heartbeat thread sweeps (no thread is
        started per call). A lease found taken over is dropped from the set: the
        holder's next fence refuses its append.
        """
        key = _HEARTBEAT.join(self, cid)
        try:
            yield
        finally:
            _HEARTBEAT.leave(key)


@dataclass
class _Beat:
    calls: int  # model calls in flight on this lease
    due: float  # monotonic time of the next renewal


class _Heartbeat:
    """One daemon thread per process renewing every lease in a long call when it is due."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._beats: dict[tuple[int, str], tuple[Lease, _Beat]] = {}
        self._thread: threading.Thread | None = None
        self._wakes_at = float("inf")  # when the thread looks again if nobody wakes it
        self._idle = 1.0  # seconds between looks while no call is in flight

    def join(self, lease: Lease, cid: str) -> tuple[int, str]:
        key = (id(lease), cid)
        with self._wake:
            _, beat = self._beats.get(key, (lease, _Beat(0, 0.0)))
            if beat.calls == 0:  # first beat in ttl/3, or sooner if half its time is gone
                beat.due = min(time.monotonic() + lease.ttl / 3, lease.renew_by(cid))
            beat.calls += 1
            self._beats[key] = (lease, beat)
            if self._thread is None or not self._thread.is_alive():  # first use, or a fork
                self._thread = threading.Thread(target=self._run, name="lease-heartbeat")
                self._thread.daemon = True
                self._thread.start()
            if beat.due < self._wakes_at:  # waking the thread costs; only when it must
                self._wake.notify()
        return key

    def leave(self, key: tuple[int, str]) -> None:
        with self._wake:
            found = self._beats.get(key)
            if found is not None:
                found[1].calls -= 1
                if found[1].calls <= 0:
                    del self._beats[key]

    def _due(self) -> list[tuple[tuple[int, str], Lease, str]]:
        """Wait until some lease is due; those due, their next beat scheduled."""
        with self._wake:
            while True:
                now = time.monotonic()
                due = [(k, lease, k[1]) for k, (lease, b) in self._beats.items() if b.due <= now]
                if due:
                    for key, lease, _ in due:
                        self._beats[key][1].due = now + lease.ttl / 3
                    return due
                # Idle, it still looks every `_idle` seconds, so the next call of the same
                # kind needs no wake-up; a lease due sooner wakes it (see join).
                beats = self._beats.values()
                self._idle = min((lease.ttl / 3 for lease, _ in beats), default=self._idle)
                soonest = min((b.due for _, b in beats), default=now + self._idle)
                self._wakes_at = soonest
                self._wake.wait(soonest - now)
                self._wakes_at = float("inf")

    def _run(self) -> None:
        while True:
            for key, lease, cid in self._due():
                try:
                    kept = lease.try_acquire(cid)
                except Exception:
                    continue  # the store hiccuped: try again next beat
                if not kept:
                    with self._wake:
                        self._beats.pop(key, None)


_HEARTBEAT = _Heartbeat()
