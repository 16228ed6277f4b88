"""A PostgreSQL connection the server dropped is replaced before anyone uses it, and a
live one is handed out without a round trip (store.liveness)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.store.engine import make_engine, normalize_url
from agent.store.tables import Conversation


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    made = make_engine(pg_url)
    yield made
    made.dispose()


@pytest.fixture
def admin(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    plain = normalize_url(pg_url).replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        yield conn


def _pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(admin: psycopg.Connection[Any], *pids: int) -> None:
    """The server ends these backends, as a restart, an idle timeout or an administrator
    would, and they are gone (pg_terminate_backend only signals them)."""
    for pid in pids:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 10
    while admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)
    ).fetchone() != (0,):
        assert time.monotonic() < deadline, "the server did not end the backends"
        time.sleep(0.01)


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    real = engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        seen.append(dbapi_conn)
        return real(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return seen


def test_a_pooled_connection_the_server_dropped_is_replaced(
    engine: Engine, admin: psycopg.Connection[Any]
) -> None:
    pid = _pid(engine)
    assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    _terminate(admin, pid)
    # The next write goes through on a fresh connection, nothing lost or doubled.
    with Session(engine) as session, session.begin():
        session.add(Conversation(id="c1"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
        assert conn.execute(select(func.count()).select_from(Conversation)).scalar() == 1


def test_when_one_pooled_connection_was_dropped_the_others_are_replaced_too(
    engine: Engine, admin: psycopg.Connection[Any]
) -> None:
    with engine.connect() as first, engine.connect() as second:
        pids = {
            int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            for conn in (first, second)
        }
    _terminate(admin, *pids)  # a server restart ends them all
    with engine.connect() as first, engine.connect() as second:
        now = {
            int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            for conn in (first, second)
        }
    assert not now & pids


def test_a_live_connection_is_handed_out_without_a_ping(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = _pid(engine)
    pings = _pings(engine, monkeypatch)
    for n in range(5):
        with Session(engine) as session, session.begin():
            session.add(Conversation(id=f"c{n}"))
    assert pings == []
    assert _pid(engine) == pid  # the same connection all along


def test_a_live_connection_with_something_to_read_is_pinged_and_kept(
    engine: Engine, admin: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("LISTEN support_agent_test")
        conn.commit()
        pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        conn.commit()
    admin.execute("NOTIFY support_agent_test")  # arrives on the idle, pooled connection
    deadline = time.monotonic() + 5
    pings = _pings(engine, monkeypatch)
    while not pings:
        assert time.monotonic() < deadline, "the notification never made the socket readable"
        time.sleep(0.01)
        assert _pid(engine) == pid  # pinged (or not yet readable), never replaced
    assert _pid(engine) == pid


def test_without_poll_every_checkout_pings_and_keeps_a_live_connection(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.store import liveness

    monkeypatch.setattr(liveness, "_POLL", None)  # as on Windows
    pid = _pid(engine)
    pings = _pings(engine, monkeypatch)
    assert _pid(engine) == pid
    assert len(pings) == 1


def test_a_direct_statement_on_a_dropped_connection_says_so_and_the_next_one_works(
    engine: Engine, admin: psycopg.Connection[Any]
) -> None:
    from sqlalchemy import bindparam
    from sqlalchemy.exc import DBAPIError

    from agent.store.direct import Direct

    rows = Conversation.__table__  # type: ignore[attr-defined]
    count = Direct.of(select(func.count()).select_from(rows).where(rows.c.id != bindparam("id")))
    with pytest.raises(DBAPIError) as raised, engine.connect() as conn:
        count.run(conn, {"id": "x"})
        _terminate(admin, int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()))
        count.run(conn, {"id": "x"})  # the server has hung up on this one, mid-transaction
    assert raised.value.connection_invalidated
    with engine.connect() as conn:  # a new connection, not the dead one
        assert count.run(conn, {"id": "x"}).scalar() == 0
