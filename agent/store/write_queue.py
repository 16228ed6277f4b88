"""SQLite writers of one process queue on a lock of their own before BEGIN IMMEDIATE.

SQLite lets one writer in at a time and the others poll in its busy handler, which
sleeps up to 100 ms between tries: with many threads the write lock often sits free
while every waiter sleeps. Queuing on a lock in the process first hands the write lock
over as soon as the holder's connection is back in the pool (right after its commit or
rollback); SQLite's busy timeout still orders writers of other processes.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from agent.store.returned import on_return

HELD = "support_agent_write_queue"  # in a pooled connection's info while it holds the lock
WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def queue_writers(engine: Engine, wait: float) -> Callable[[Any], None]:
    """Make the engine's write transactions take turns on one lock; returns `enter`.

    The engine's BEGIN listener calls `enter(conn)` for a write transaction right before
    it sends BEGIN IMMEDIATE (readers never call it); the lock is given back when the
    connection returns to the pool.
    """
    lock = WRITE_LOCKS[engine] = threading.Lock()

    def enter(conn: Any) -> None:
        info = conn.connection.info
        if info.get(HELD):  # a second transaction on the same checked-out connection
            return
        # A holder that never gave its connection back costs `wait` once per writer,
        # after which SQLite's own busy timeout decides as it would without the queue.
        if lock.acquire(timeout=wait):
            info[HELD] = True

    def release(_dbapi_conn: Any, record: Any, *_: Any) -> None:
        if record is not None and record.info.pop(HELD, False):
            lock.release()

    on_return(engine, release)
    return enter
