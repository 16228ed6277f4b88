"""store.slots: a few threads of a process hold connections at once, never deadlocked."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from agent.store.engine import make_engine
from agent.store.slots import (
    CONNECTIONS_ENV,
    HELD,
    Slots,
    connection_slots,
    return_slots,
    slotted_pool,
)


def _engine(path: Path, size: int, wait: float = 30.0) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}",
        poolclass=slotted_pool(size, wait),
        connect_args={"check_same_thread": False},
        pool_size=10,
    )
    return_slots(engine)
    return engine


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Engine]:
    engine = _engine(tmp_path / "s.db", 2)
    yield engine
    engine.dispose()


def _slots(engine: Engine) -> Slots:
    slots = getattr(engine.pool, "slots", None)
    assert isinstance(slots, Slots)
    return slots


def test_no_more_threads_than_slots_hold_a_connection(two: Engine) -> None:
    most, inside, guard = [0], [0], threading.Lock()
    start = threading.Barrier(6)

    def work() -> None:
        start.wait()
        for _ in range(20):
            with two.connect() as conn:
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                conn.execute(text("SELECT 1"))
                time.sleep(0.002)  # let the others in, as far as slots allow
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 2
    assert _slots(two).holders() == 0  # every slot came back


def test_a_thread_holding_a_slot_opens_a_second_connection_without_waiting(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path / "s.db", 1, wait=3600)  # waiting would hang the test
    done: list[int] = []

    def nested() -> None:
        with engine.connect() as outer, engine.connect() as inner:
            outer.execute(text("SELECT 1"))
            inner.execute(text("SELECT 1"))
            assert HELD in outer.connection.info and HELD not in inner.connection.info
            done.append(1)

    thread = threading.Thread(target=nested, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert done == [1]
    assert _slots(engine).holders() == 0
    engine.dispose()


def test_a_thread_that_waits_too_long_goes_ahead_without_a_slot(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "s.db", 1, wait=0.05)
    release, taken = threading.Event(), threading.Event()

    def holder() -> None:
        with engine.connect():
            taken.set()
            release.wait(60)

    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait(60)
    with engine.connect() as conn:  # the slot is held: after 0.05 s, on without one
        assert conn.execute(text("SELECT 1")).scalar() == 1
        assert HELD not in conn.connection.info
    release.set()
    thread.join()
    assert _slots(engine).holders() == 0
    engine.dispose()


def test_a_failed_connect_gives_its_slot_back(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "missing" / "s.db", 1, wait=0.05)  # no such folder
    for _ in range(3):
        with pytest.raises(Exception, match="unable to open"):
            engine.connect()
    assert _slots(engine).holders() == 0


def test_a_disposed_engine_starts_with_free_slots(two: Engine) -> None:
    conn = two.connect()
    two.dispose()  # a new pool, with slots of its own
    assert _slots(two).holders() == 0
    conn.close()  # the old pool's slot is given back to the old pool, not the new
    with two.connect(), two.connect():
        pass


def test_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONNECTIONS_ENV, raising=False)
    assert connection_slots() >= 2  # twice the CPUs
    monkeypatch.setenv(CONNECTIONS_ENV, "0")
    assert connection_slots() == 0
    monkeypatch.setenv(CONNECTIONS_ENV, " 3 ")
    assert connection_slots() == 3
    for bad in ("-1", "four", "2.5"):
        monkeypatch.setenv(CONNECTIONS_ENV, bad)
        with pytest.raises(ValueError, match=CONNECTIONS_ENV):
            connection_slots()


def test_postgresql_engines_have_slots_unless_the_setting_says_0(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONNECTIONS_ENV, "3")
    engine = make_engine(pg_url)
    assert _slots(engine).size == 3
    with engine.connect() as conn:
        assert conn.connection.info[HELD][1] == threading.get_ident()
    assert _slots(engine).holders() == 0
    engine.dispose()
    monkeypatch.setenv(CONNECTIONS_ENV, "0")
    engine = make_engine(pg_url)
    assert getattr(engine.pool, "slots", None) is None
    engine.dispose()
