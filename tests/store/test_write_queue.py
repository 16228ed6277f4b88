"""SQLite writers of one process take turns on the write queue; readers never queue."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.store.engine import reader
from agent.store.write_queue import WRITE_LOCKS
from tests.toy import ToyValue


def test_a_writer_holds_the_queue_until_its_connection_is_back(engine: Engine) -> None:
    lock = WRITE_LOCKS[engine]
    with Session(engine) as session, session.begin():
        session.add(ToyValue(name="c", value=3))
        session.flush()
        assert lock.locked()
    assert not lock.locked()
    with Session(engine) as session:
        assert session.get(ToyValue, "c") is not None


def test_a_failed_write_gives_the_queue_back(engine: Engine) -> None:
    lock = WRITE_LOCKS[engine]
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(ToyValue.__table__.delete())  # type: ignore[attr-defined]
        raise RuntimeError("the step failed half-way")
    assert not lock.locked()
    with Session(engine) as session:  # rolled back: nothing was deleted
        assert session.get(ToyValue, "a") is not None


def test_readers_do_not_queue_behind_a_writer(engine: Engine) -> None:
    lock = WRITE_LOCKS[engine]
    with engine.begin() as writer:
        writer.execute(ToyValue.__table__.update().values(value=9))  # type: ignore[attr-defined]
        with reader(engine).connect() as conn:  # same thread: it would deadlock if it queued
            values = conn.execute(select(ToyValue.value)).scalars().all()  # type: ignore[call-overload]
        assert sorted(values) == [1, 2]  # the writer's change is not committed yet
        assert lock.locked()
    assert not lock.locked()


def test_a_second_writer_waits_for_the_first_then_goes_ahead(engine: Engine) -> None:
    began, errors = threading.Event(), []

    def second() -> None:
        try:
            began.set()
            with Session(engine) as session, session.begin():
                row = session.get(ToyValue, "a")
                assert row is not None
                row.value += 10
        except Exception as exc:  # reported to the test thread
            errors.append(exc)

    with Session(engine) as session, session.begin():
        row = session.get(ToyValue, "a")
        assert row is not None
        row.value += 100
        session.flush()
        thread = threading.Thread(target=second)
        thread.start()
        began.wait(5)
        thread.join(0.3)
        assert thread.is_alive(), "the second writer got in while the first held the lock"
    thread.join(30)
    assert not thread.is_alive() and not errors
    with Session(engine) as session:
        row = session.get(ToyValue, "a")
        assert row is not None and row.value == 111  # both increments, one after the other


def test_a_queued_writer_does_not_hold_sqlites_lock_while_it_waits(engine: Engine) -> None:
    # Were BEGIN IMMEDIATE sent before the queue, a waiting writer would hold SQLite's
    # write lock while the queue's holder waited on SQLite's busy handler (sleeps of up
    # to 100 ms): every other process's writer would be locked out too.
    lock, done = WRITE_LOCKS[engine], threading.Event()
    url = engine.url.database
    assert url is not None

    def queued() -> None:
        with engine.begin() as conn:
            conn.execute(ToyValue.__table__.update().values(value=7))  # type: ignore[attr-defined]
        done.set()

    assert lock.acquire(timeout=5)  # another writer of this process holds the queue
    thread = threading.Thread(target=queued)
    try:
        thread.start()
        thread.join(0.3)
        assert thread.is_alive() and not done.is_set()
        outsider = sqlite3.connect(url, timeout=0, isolation_level=None)
        try:
            outsider.execute("BEGIN IMMEDIATE")  # fails "database is locked" on the bug
            outsider.execute("ROLLBACK")
        finally:
            outsider.close()
    finally:
        lock.release()
    thread.join(30)
    assert done.is_set()
    with Session(engine) as session:
        row = session.get(ToyValue, "a")
        assert row is not None and row.value == 7
