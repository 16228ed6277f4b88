"""Containing a failure inside a transaction, paying for a savepoint only where it helps.

PostgreSQL dooms a transaction at its first failed statement; a savepoint keeps the rest
of it, at two round trips (SAVEPOINT, RELEASE) even when nothing fails. A block that
only reads has nothing of its own to roll back, so on PostgreSQL it first runs bare;
if it leaves the transaction failed, `RunAgain` unwinds to `attempts`, which rolls the
whole transaction back and runs it once more with a savepoint around every block.
SQLite carries on after a failed statement: there only a block that writes takes one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlmodel import Session

T = TypeVar("T")
_CAREFUL: ContextVar[bool] = ContextVar("support_agent_careful", default=False)
_ATTEMPTING: ContextVar[bool] = ContextVar("support_agent_attempting", default=False)


class RunAgain(BaseException):
    """A block run without a savepoint left its transaction failed: roll back, run again.

    A BaseException, so it passes every `except Exception` (a tool's, "facts failed:
    deny") on its way to `attempts`, which alone handles it.
    """


class FailedInside(RuntimeError):
    """A statement in a contained block failed and the block carried on as if not."""


@contextmanager
def contained(session: Session, *, writes: bool) -> Iterator[None]:
    """Keep the transaction usable whatever the block does; `writes`: roll its writes back.

    A block that may write runs in a savepoint on every database. A read-only block runs
    bare, except on PostgreSQL once `attempts` runs a transaction again (see module).
    """
    conn = session.connection()
    postgresql = conn.dialect.name == "postgresql"
    driver = conn.connection.driver_connection
    if writes or (postgresql and _CAREFUL.get()):
        savepoint = session.begin_nested()
        try:
            yield
        except BaseException:
            savepoint.rollback()
            raise
        if postgresql and _failed(driver):  # caught inside: RELEASE would fail, roll back
            savepoint.rollback()
            raise FailedInside("a statement failed inside the block, which went on")
        savepoint.commit()
        return
    if not postgresql:
        yield
        return
    try:
        yield
    except Exception:
        if _failed(driver):
            raise RunAgain from None
        raise
    if _failed(driver):  # the block caught a failed statement itself and went on
        raise RunAgain


def _failed(driver: Any) -> bool:
    """Whether a psycopg connection's transaction failed (it can only roll back now)."""
    from psycopg.pq import TransactionStatus  # loaded already: the connection is psycopg's

    return bool(driver.info.transaction_status == TransactionStatus.INERROR)


def attempts(run: Callable[[], T], again: Callable[[], None]) -> T:
    """`run` a transaction; if it asks (RunAgain), `again` resets, then once more, careful.

    `run` must roll its transaction back when an exception leaves it. The second run
    contains every block in a savepoint, so it never asks again. Inside another
    attempts (a transaction within one), RunAgain goes on out to the outermost.
    """
    if _ATTEMPTING.get():
        return run()
    token = _ATTEMPTING.set(True)
    try:
        try:
            return run()
        except RunAgain:
            again()
        careful = _CAREFUL.set(True)
        try:
            return run()
        finally:
            _CAREFUL.reset(careful)
    finally:
        _ATTEMPTING.reset(token)
