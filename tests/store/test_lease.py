"""The lease heartbeat: one thread per process renews every lease in a long call."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from agent.clock import utcnow
from agent.store.lease import Lease
from agent.store.tables import Conversation

ROWS = Conversation.__table__  # type: ignore[attr-defined]


@pytest.fixture
def store(engine: Engine) -> Engine:
    """The test store with three conversations, none leased."""
    with engine.begin() as conn:
        for cid in ("a", "b", "c"):
            conn.execute(ROWS.insert().values(id=cid, meta={}, status="active"))
    return engine


def _expires(engine: Engine, cid: str) -> float:
    """Seconds the stored lease has left."""
    with engine.connect() as conn:
        row = conn.execute(ROWS.select().where(ROWS.c.id == cid)).one()
    left = row.lease_expires.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    return float(left.total_seconds())


def _heartbeats() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lease-heartbeat"]


def test_many_long_calls_share_one_heartbeat_that_keeps_each_lease(store: Engine) -> None:
    leases = [Lease(store, ttl=0.6), Lease(store, ttl=0.6)]
    assert leases[0].try_acquire("a") and leases[0].try_acquire("b")
    assert leases[1].try_acquire("c")
    with leases[0].kept_alive("a"), leases[0].kept_alive("b"), leases[1].kept_alive("c"):
        time.sleep(1.0)  # longer than the ttl: only renewals keep the leases
        assert len(_heartbeats()) == 1
        assert all(_expires(store, cid) > 0.1 for cid in "abc")
        assert not Lease(store, ttl=0.6).try_acquire("a")  # still held by its owner


def test_no_renewal_once_the_call_has_ended(store: Engine) -> None:
    lease = Lease(store, ttl=0.6)
    assert lease.try_acquire("a")
    with lease.kept_alive("a"):
        time.sleep(0.3)
    time.sleep(0.8)  # past the ttl with no call in flight: the lease lapses
    assert _expires(store, "a") < 0
    assert Lease(store, ttl=0.6).try_acquire("a")


def test_a_lease_taken_over_is_not_renewed_back(store: Engine) -> None:
    mine = Lease(store, ttl=0.6)
    assert mine.try_acquire("a")
    with mine.kept_alive("a"):
        with store.begin() as conn:  # expired and taken by another worker meanwhile
            conn.execute(
                update(ROWS)
                .where(ROWS.c.id == "a")
                .values(lease_owner="other", lease_expires=utcnow() + timedelta(seconds=30))
            )
        time.sleep(0.6)  # a beat or two: each must find the lease is not ours
    with store.connect() as conn:
        owner = conn.execute(ROWS.select().where(ROWS.c.id == "a")).one().lease_owner
    assert owner == "other"


def test_a_call_starting_past_half_the_lease_renews_it_at_once(store: Engine) -> None:
    lease = Lease(store, ttl=3.0)
    assert lease.try_acquire("a")
    assert not lease.renewal_due("a")
    lease._renewed["a"] = time.monotonic() - 2.0  # as if taken 2 of its 3 seconds ago
    with store.begin() as conn:
        conn.execute(
            update(ROWS)
            .where(ROWS.c.id == "a")
            .values(lease_expires=utcnow() + timedelta(seconds=1))
        )
    assert lease.renewal_due("a")
    with lease.kept_alive("a"):
        deadline = time.monotonic() + 0.6  # the regular first beat would come after 1 s
        while time.monotonic() < deadline and lease.renewal_due("a"):
            time.sleep(0.02)
        assert not lease.renewal_due("a")
        assert _expires(store, "a") > 2.0
