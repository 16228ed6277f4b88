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
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

HELD = "support_agent_write_queue"  # in a pooled connection's info while it holds the lock
WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def queue_writers(engine: Engine, read_only_option: str, wait: float) -> None:
    """Make the engine's write transactions take turns on one lock (readers never wait)."""
    lock = WRITE_LOCKS[engine] = threading.Lock()

    def acquire(conn: Connection) -> None:
        if conn.get_execution_options().get(read_only_option, False) or conn.info.get(HELD):
            return
        # A holder that never gave its connection back costs `wait` once per writer,
        # after which SQLite's own busy timeout decides as it would without the queue.
        if lock.acquire(timeout=wait):
            conn.info[HELD] = True

    def release(_dbapi_conn: Any, record: Any, *_: Any) -> None:
        if record is not None and record.info.pop(HELD, False):
            lock.release()

    # Engine "begin" listeners run in the order they were added (SQLAlchemy ignores
    # insert=True for them): the engine's own BEGIN listener must be added after this.
    event.listen(engine, "begin", acquire)
    for name in ("checkin", "invalidate", "detach"):
        event.listen(engine, name, release)
