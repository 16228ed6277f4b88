"""store.direct: a Core statement on the driver's cursor writes and reads what SQLAlchemy would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from agent.store.direct import MAX_ROWS, Direct
from agent.store.tables import Conversation, Event

EVENTS = Event.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
COLUMNS = ("conversation_id", "seq", "type", "payload", "created_at")
INSERT = Direct.of(insert(EVENTS).inline(), columns=COLUMNS)
NEW = Direct.of(
    insert(CONVERSATIONS).values(
        id=bindparam("cid"), created_at=bindparam("at"), meta=bindparam("meta")
    )
)
READ_SELECT = (
    select(EVENTS.c.seq, EVENTS.c.created_at, EVENTS.c.payload)
    .where(EVENTS.c.conversation_id == bindparam("cid"))
    .order_by(EVENTS.c.seq)
)
READ = Direct.of(READ_SELECT)
AT = datetime(2026, 12, 7, 23, 5, 6, 789012, tzinfo=UTC)


def _conversation(engine: Engine, cid: str = "c") -> None:
    with engine.begin() as conn:
        NEW.run(conn, {"cid": cid, "at": AT, "meta": {"channel": "web"}})


def _row(cid: str, seq: int, payload: Any, at: datetime = AT) -> dict[str, Any]:
    return {"conversation_id": cid, "seq": seq, "type": "t", "payload": payload, "created_at": at}


def test_rows_it_writes_read_back_through_sqlalchemy_as_written(toy_store: Engine) -> None:
    _conversation(toy_store)
    payload = {"text": "héllo ✓", "n": [1, 2.5, None, True], "nested": {"a": {"b": []}}}
    with toy_store.begin() as conn:
        assert INSERT.run_many(conn, [_row("c", 1, payload), _row("c", 2, {})]) == 2
    with toy_store.connect() as conn:
        rows = conn.execute(READ_SELECT, {"cid": "c"}).all()
        made = conn.execute(select(CONVERSATIONS).where(CONVERSATIONS.c.id == "c")).one()
    assert [tuple(r) for r in rows] == [(1, AT, payload), (2, AT, {})]
    assert made.status == "open"  # the column's Python-side default, as an ORM insert
    assert made.meta == {"channel": "web"} and made.created_at == AT


def test_rows_it_reads_come_back_as_sqlalchemy_gives_them(toy_store: Engine) -> None:
    _conversation(toy_store)
    offset = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5)))
    with toy_store.begin() as conn:
        conn.execute(insert(EVENTS), [_row("c", 1, {"k": "v"}, offset)])
    with toy_store.connect() as conn:
        direct = READ.run(conn, {"cid": "c"}).rows
        core = [tuple(r) for r in conn.execute(READ_SELECT, {"cid": "c"})]
    assert direct == core == [(1, offset.astimezone(UTC), {"k": "v"})]
    assert direct[0][1].tzinfo is not None


def test_a_python_side_default_fills_a_column_not_given(toy_store: Engine) -> None:
    _conversation(toy_store)
    without_time = Direct.of(insert(EVENTS).inline(), columns=COLUMNS[:-1])
    before = datetime.now(UTC)
    with toy_store.begin() as conn:
        without_time.run(conn, {k: v for k, v in _row("c", 1, {}).items() if k != "created_at"})
    with toy_store.connect() as conn:
        (at,) = conn.execute(select(EVENTS.c.created_at)).one()
    assert before - timedelta(seconds=1) <= at <= datetime.now(UTC) + timedelta(seconds=1)


def test_a_driver_error_is_sqlalchemys_and_the_transaction_rolls_back(toy_store: Engine) -> None:
    _conversation(toy_store)
    with toy_store.begin() as conn:
        INSERT.run(conn, _row("c", 1, {"first": True}))
    with pytest.raises(IntegrityError) as raised, toy_store.begin() as conn:
        INSERT.run(conn, _row("c", 2, {"lost": True}))
        INSERT.run(conn, _row("c", 1, {"duplicate": True}))  # (conversation, seq) is unique
    assert "INSERT INTO event" in str(raised.value.statement)
    with toy_store.connect() as conn:
        assert [p for (p,) in conn.execute(select(EVENTS.c.payload))] == [{"first": True}]
    missing = Direct.of(select(EVENTS.c.seq).where(EVENTS.c.seq == bindparam("seq")))
    with pytest.raises(InvalidRequestError, match="seq"), toy_store.connect() as conn:
        missing.run(conn, {})  # a parameter not given: refused before the driver sees it


def test_rowcount_sums_over_the_rows_given(toy_store: Engine) -> None:
    for cid in ("a", "b", "c"):
        _conversation(toy_store, cid)
    rename = Direct.of(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == bindparam("cid"))
        .values(status=bindparam("status"))
    )
    with toy_store.begin() as conn:
        rows = [{"cid": cid, "status": "done"} for cid in ("a", "b", "nobody")]
        assert rename.run_many(conn, rows) == 2
        assert rename.run(conn, {"cid": "c", "status": "paused"}).rowcount == 1
        assert rename.run_many(conn, []) == 0


def test_outside_a_transaction_it_begins_one_as_the_engine_does(toy_store: Engine) -> None:
    begun: list[bool] = []
    event.listen(toy_store, "begin", lambda conn: begun.append(True))
    with toy_store.connect() as conn:
        READ.run(conn, {"cid": "c"})
        assert conn.in_transaction() and begun == [True]
        conn.commit()


def test_listeners_see_each_statement_as_from_connection_execute(toy_store: Engine) -> None:
    _conversation(toy_store)
    seen: list[tuple[Any, Any, Any]] = []
    sql: list[str] = []
    event.listen(
        toy_store, "before_execute", lambda c, stmt, many, one, opts: seen.append((stmt, many, one))
    )
    event.listen(toy_store, "before_cursor_execute", lambda c, cur, text, *_: sql.append(text))
    rows = [_row("c", 1, {}), _row("c", 2, {})]
    with toy_store.begin() as conn:
        INSERT.run_many(conn, rows)
        READ.run(conn, {"cid": "c"})
    assert seen[0] == (INSERT.statements[""], rows, {})
    assert seen[1] == (READ_SELECT, [], {"cid": "c"})
    assert sql[0].startswith("INSERT INTO event") and sql[1].startswith("SELECT event.seq")


def test_a_statement_for_another_dialect_only_is_refused(toy_store: Engine) -> None:
    elsewhere = Direct({"mysql": select(EVENTS.c.seq)})
    with pytest.raises(ValueError, match="no statement for"), toy_store.connect() as conn:
        elsewhere.run(conn)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payloads=st.lists(st.dictionaries(st.text(max_size=8), JSON), min_size=1, max_size=4))
def test_any_json_payload_round_trips_exactly(engine: Engine, payloads: list[Any]) -> None:
    with engine.begin() as conn:
        conn.execute(EVENTS.delete())
        conn.execute(CONVERSATIONS.delete())
        NEW.run(conn, {"cid": "c", "at": AT, "meta": {}})
        INSERT.run_many(conn, [_row("c", i + 1, p) for i, p in enumerate(payloads)])
    with engine.connect() as conn:
        assert [p for _, _, p in READ.run(conn, {"cid": "c"}).rows] == payloads
        assert [p for (p,) in conn.execute(select(EVENTS.c.payload).order_by(EVENTS.c.seq))] == (
            payloads
        )


def _rows_at_once(n: int) -> Any:
    values = [{c: bindparam(f"{c}_{i}", type_=EVENTS.c[c].type) for c in COLUMNS} for i in range(n)]
    return insert(EVENTS).values(values).inline()


@pytest.mark.parametrize("n", [1, 3, MAX_ROWS, MAX_ROWS + 5])
def test_rows_written_at_once_are_written_as_one_at_a_time(toy_store: Engine, n: int) -> None:
    _conversation(toy_store)
    batched = Direct.of(insert(EVENTS).inline(), columns=COLUMNS, rows=_rows_at_once)
    shown: list[tuple[Any, Any, Any]] = []
    sent: list[tuple[str, bool]] = []
    event.listen(
        toy_store, "before_execute", lambda c, s, many, one, o: shown.append((s, many, one))
    )
    event.listen(
        toy_store, "before_cursor_execute", lambda c, cur, sql, p, x, m: sent.append((sql, m))
    )
    rows = [_row("c", i + 1, {"i": i}) for i in range(n)]
    with toy_store.begin() as conn:
        assert batched.run_many(conn, rows) == n
        assert [p for _, _, p in READ.run(conn, {"cid": "c"}).rows] == [{"i": i} for i in range(n)]
    # Listeners are shown the one-row statement and every row, whatever the driver gets.
    expected = (
        (batched.statements[""], rows, {}) if n > 1 else (batched.statements[""], [], rows[0])
    )
    assert shown[0] == expected
    at_once = toy_store.dialect.name == "postgresql" and 1 < n <= MAX_ROWS
    assert sent[0][1] is (n > 1 and not at_once)  # executemany only for rows not sent at once
    assert sent[0][0].count("%(seq_") == (n if at_once else 0)
