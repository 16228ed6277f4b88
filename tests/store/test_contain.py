"""store.contain: a savepoint only where it helps; a doomed transaction runs again, careful."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from agent.store.contain import FailedInside, RunAgain, attempts, contained
from tests.toy import ToyValue

ONLY_POSTGRESQL = pytest.mark.parametrize("toy_store", ["postgres"], indirect=True)
FAILING = text("SELECT nothing FROM no_such_table")  # fails on every database


@pytest.fixture
def savepoints(toy_store: Engine) -> Iterator[list[str]]:
    """The names of the savepoints the store's connections take, in order."""
    taken: list[str] = []

    def savepoint(_conn: Any, name: str) -> None:
        taken.append(name)

    event.listen(toy_store, "savepoint", savepoint)
    yield taken
    event.remove(toy_store, "savepoint", savepoint)


def _is_pg(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _value(session: Session, name: str) -> int:
    row = session.get(ToyValue, name, populate_existing=True)
    assert row is not None
    return row.value


def test_a_read_that_goes_well_takes_no_savepoint(toy_store: Engine, savepoints: list[str]) -> None:
    with Session(toy_store) as session, session.begin():
        with contained(session, writes=False):
            assert _value(session, "a") == 1
        session.get(ToyValue, "b")
    assert savepoints == []


def test_a_block_that_writes_rolls_back_alone_on_any_database(
    toy_store: Engine, savepoints: list[str]
) -> None:
    with Session(toy_store) as session, session.begin():
        with pytest.raises(ValueError), contained(session, writes=True):
            session.exec(text("UPDATE toyvalue SET value = 5 WHERE name = 'a'"))  # type: ignore[call-overload]
            raise ValueError("the tool refused after writing")
        assert _value(session, "a") == 1  # rolled back to the savepoint
        session.exec(text("UPDATE toyvalue SET value = 9 WHERE name = 'b'"))  # type: ignore[call-overload]
    with Session(toy_store) as session:
        assert (_value(session, "a"), _value(session, "b")) == (1, 9)
    assert len(savepoints) == 1


def test_a_read_that_raises_without_a_failed_statement_just_raises(toy_store: Engine) -> None:
    with Session(toy_store) as session, session.begin():
        with pytest.raises(LookupError), contained(session, writes=False):
            session.get(ToyValue, "a")
            raise LookupError("no such order")
        assert _value(session, "b") == 2  # the transaction goes on


def test_a_failed_read_asks_to_run_again_on_postgresql_only(toy_store: Engine) -> None:
    with Session(toy_store) as session, session.begin():
        expected: type[BaseException] = RunAgain if _is_pg(toy_store) else DBAPIError
        with pytest.raises(expected), contained(session, writes=False):
            session.exec(FAILING)  # type: ignore[call-overload]
        if not _is_pg(toy_store):
            assert _value(session, "a") == 1  # SQLite carries on after a failed statement


@ONLY_POSTGRESQL  # only PostgreSQL dooms a transaction at a failed statement
def test_a_read_that_swallows_its_failed_statement_asks_too(toy_store: Engine) -> None:
    with (
        Session(toy_store) as session,
        session.begin(),
        pytest.raises(RunAgain),
        contained(session, writes=False),
        suppress(DBAPIError),  # a tool that "handles" it: the transaction failed all the same
    ):
        session.exec(FAILING)  # type: ignore[call-overload]


@ONLY_POSTGRESQL  # only PostgreSQL dooms a transaction at a failed statement
def test_run_again_is_not_caught_by_except_exception(toy_store: Engine) -> None:
    caught: list[BaseException] = []
    with pytest.raises(RunAgain), Session(toy_store) as session, session.begin():
        try:
            with contained(session, writes=False):
                session.exec(FAILING)  # type: ignore[call-overload]
        except Exception as exc:  # "facts failed: deny" must not see it
            caught.append(exc)
    assert caught == []


def test_attempts_runs_again_with_savepoints_and_the_failure_is_contained(
    toy_store: Engine, savepoints: list[str]
) -> None:
    runs: list[str] = []
    resets: list[str] = []

    def run() -> str:
        runs.append("run")
        with Session(toy_store) as session, session.begin():
            try:
                with contained(session, writes=False):
                    session.exec(FAILING)  # type: ignore[call-overload]
            except DBAPIError:
                outcome = "denied"  # as the gate does when facts fail
            session.exec(text("UPDATE toyvalue SET value = 7 WHERE name = 'a'"))  # type: ignore[call-overload]
            return outcome

    assert attempts(run, lambda: resets.append("reset")) == "denied"
    with Session(toy_store) as session:
        assert _value(session, "a") == 7  # the transaction went on and committed
    if _is_pg(toy_store):
        assert (runs, resets, len(savepoints)) == (["run", "run"], ["reset"], 1)
    else:
        assert (runs, resets, savepoints) == (["run"], [], [])


def test_attempts_runs_at_most_twice() -> None:
    runs: list[int] = []

    def run() -> None:
        runs.append(1)
        raise RunAgain

    with pytest.raises(RunAgain):
        attempts(run, lambda: None)
    assert len(runs) == 2


@ONLY_POSTGRESQL  # only PostgreSQL dooms a transaction at a failed statement
def test_a_block_that_swallows_a_failure_in_its_savepoint_rolls_back_and_says_so(
    toy_store: Engine,
) -> None:
    """A tool that catches a failed statement and goes on: RELEASE would fail, so roll back."""
    with Session(toy_store) as session, session.begin():
        with pytest.raises(FailedInside), contained(session, writes=True):
            session.exec(text("UPDATE toyvalue SET value = 5 WHERE name = 'a'"))  # type: ignore[call-overload]
            with suppress(DBAPIError):
                session.exec(FAILING)  # type: ignore[call-overload]
        session.exec(text("UPDATE toyvalue SET value = 9 WHERE name = 'b'"))  # type: ignore[call-overload]
    with Session(toy_store) as session:
        assert (_value(session, "a"), _value(session, "b")) == (1, 9)


def test_a_nested_attempt_leaves_running_again_to_the_outermost() -> None:
    """The inner one's transaction lives in the outer one's: only the outer can roll back."""
    log: list[str] = []

    def inner() -> str:
        log.append("inner")
        if log.count("inner") == 1:
            raise RunAgain
        return "ok"

    def outer() -> str:
        log.append("outer")
        return attempts(inner, lambda: log.append("inner reset"))

    assert attempts(outer, lambda: log.append("outer reset")) == "ok"
    assert log == ["outer", "inner", "outer reset", "outer", "inner"]
