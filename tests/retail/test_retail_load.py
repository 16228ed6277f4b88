"""orders.load: a row read with one plain statement behaves as one the ORM loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.retail.conftest import store_of
from tools.retail.orders import get_order, load
from tools.retail.tables import RetailOrder, RetailProduct, RetailUser, RetailVariant


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path, mini_doc: Any) -> Iterator[Engine]:
    """The mini store on SQLite, then on PostgreSQL (skipped with the reason when unset)."""
    with store_of(request, tmp_path, mini_doc) as engine:
        yield engine


def _orm(engine: Engine, model: Any, key: str) -> dict[str, Any]:
    with Session(engine) as session:
        row = session.get(model, key)
        assert row is not None
        return {c.key: getattr(row, c.key) for c in model.__table__.columns}


@pytest.mark.parametrize(
    ("model", "key"),
    [(RetailOrder, "#W3"), (RetailUser, "ann_1"), (RetailVariant, "101"), (RetailProduct, "100")],
)
def test_a_loaded_row_holds_what_the_orm_would_load(store: Engine, model: Any, key: str) -> None:
    expected = _orm(store, model, key)
    with Session(store) as session:
        row = load(session, model, key)
        assert row is not None
        assert inspect(row).persistent and row in session
        assert {c.key: getattr(row, c.key) for c in model.__table__.columns} == expected
        assert not session.dirty  # nothing to write back


def _statements(engine: Engine, verb: str) -> list[str]:
    """The statements beginning with `verb` that the engine runs from now on."""
    seen: list[str] = []

    def statement(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        if sql.startswith(verb):
            seen.append(sql)

    event.listen(engine, "before_cursor_execute", statement)
    return seen


def test_a_change_to_a_loaded_row_is_flushed_and_only_what_changed(store: Engine) -> None:
    updates = _statements(store, "UPDATE")
    with Session(store) as session, session.begin():
        order = get_order(session, "#W3")
        order.status = "cancelled"
        order.cancel_reason = "no longer needed"
    assert len(updates) == 1 and "payment_history" not in updates[0] and "items" not in updates[0]
    assert _orm(store, RetailOrder, "#W3")["status"] == "cancelled"
    with Session(store) as session, session.begin():
        user = load(session, RetailUser, "ann_1")
        assert user is not None
        methods = user.get_methods()
        user.set_methods(methods)  # the same value, assigned anew: nothing to write
    assert len(updates) == 1


def test_a_second_lookup_is_free_and_a_known_row_is_not_read_again(store: Engine) -> None:
    selects = _statements(store, "SELECT")
    with Session(store) as session:
        first = load(session, RetailOrder, "#W3")
        assert load(session, RetailOrder, "#W3") is first
        assert len(selects) == 1
        user = session.get(RetailUser, "ann_1")  # loaded by the ORM first
        assert load(session, RetailUser, "ann_1") is user
        assert len(selects) == 2


def test_a_missing_row_is_none_and_leaves_the_session_as_it_was(store: Engine) -> None:
    with Session(store) as session:
        assert load(session, RetailOrder, "#W404") is None
        assert load(session, RetailUser, "nobody") is None
        assert not session.new and not session.dirty and not session.identity_map.keys()
