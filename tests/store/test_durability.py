"""Commits wait for the disk unless made on engine.relaxed(); the level never leaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Connection, Engine

from agent.replay.replayer import scratch_engine
from agent.store.engine import SYNCHRONOUS_ENV, make_engine, reader, relaxed


def level(conn: Connection) -> str:
    """What a commit of this transaction waits for, as the database names it."""
    if conn.dialect.name == "sqlite":
        value = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[int(str(value))]
    return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())


def test_only_a_relaxed_transaction_skips_waiting_for_the_disk(toy_store: Engine) -> None:
    full, lax = ("FULL", "NORMAL") if toy_store.dialect.name == "sqlite" else ("on", "off")
    for _ in range(3):  # the pooled connection goes back and forth
        with toy_store.begin() as conn:
            assert level(conn) == full
        with relaxed(toy_store).begin() as conn:
            assert level(conn) == lax
    with toy_store.begin() as conn:
        assert level(conn) == full
    with pytest.raises(RuntimeError), relaxed(toy_store).begin() as conn:
        raise RuntimeError("rolled back")
    with toy_store.begin() as conn:
        assert level(conn) == full
    assert relaxed(toy_store) is relaxed(toy_store)


def test_a_relaxed_transaction_keeps_the_write_queue(engine: Engine) -> None:
    from agent.store.write_queue import WRITE_LOCKS

    with relaxed(engine).begin():
        assert WRITE_LOCKS[engine].locked()
    assert not WRITE_LOCKS[engine].locked()
    with reader(engine).begin():
        assert not WRITE_LOCKS[engine].locked()


def relaxed_then_plain(engine: Engine) -> set[tuple[str, str]]:
    """The levels of a relaxed commit and the plain one after it, over two rounds."""
    seen = set()
    try:
        for _ in range(2):
            with relaxed(engine).begin() as conn:
                lax = level(conn)
            with engine.begin() as conn:
                seen.add((lax, level(conn)))
    finally:
        engine.dispose()
    return seen


def test_the_configured_level_comes_back_after_a_relaxed_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SYNCHRONOUS_ENV, "extra")
    engine = make_engine(f"sqlite:///{tmp_path / 'extra.db'}")
    assert relaxed_then_plain(engine) == {("NORMAL", "EXTRA")}


def test_a_scratch_store_never_waits_for_the_disk_not_even_after_a_relaxed_commit(
    tmp_path: Path,
) -> None:
    # A relaxed commit used to set NORMAL, and the next commit then went back to the
    # configured FULL: a replay's scratch store waited for the disk from then on.
    assert relaxed_then_plain(scratch_engine(tmp_path / "scratch.db")) == {("OFF", "OFF")}


def test_the_level_is_the_one_configured_when_the_engine_was_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'full.db'}")
    monkeypatch.setenv(SYNCHRONOUS_ENV, "normal")  # read once, when the engine was made
    assert relaxed_then_plain(engine) == {("NORMAL", "FULL")}


def test_a_bad_level_is_refused_when_the_engine_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SYNCHRONOUS_ENV, "off")  # not a setting a user may choose
    with pytest.raises(ValueError, match=SYNCHRONOUS_ENV):
        make_engine(f"sqlite:///{tmp_path / 'off.db'}")


def test_a_postgresql_store_pays_for_connection_events_only_on_relaxed_commits(
    pg_url: str,
) -> None:
    # An engine with a connection event listener dispatches at every event point of
    # every statement (SQLAlchemy's _has_events): about a tenth of a transaction's CPU.
    engine = make_engine(pg_url)
    try:
        assert not engine._has_events
        assert not reader(engine)._has_events
        assert relaxed(engine)._has_events
        assert not engine._has_events  # the relaxed variant's listener stays its own
    finally:
        engine.dispose()
