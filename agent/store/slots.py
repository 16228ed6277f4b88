"""PostgreSQL connections go out to a few threads of a process at a time.

Python runs one thread at a time. With many threads in the database at once, every
round trip ends with a wait for the interpreter (and for a core, when the server shares
the machine): each transaction gets slower and all of them together get fewer done.
The classic rule sizes a pool at about twice the cores; here the threads beyond that
wait for a slot before they take a connection, which costs nothing while they wait
(bench.turn_overhead: 16 threads on 2 cores, share about 0.62 unlimited, 0.68 with 4).

A thread that already holds a slot takes no second one: a connection it opens while it
holds another (an approval queue written during a decision) never waits on itself. A
thread that waits longer than `wait` goes ahead without one: slots order the work, they
never stop it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection, QueuePool

from agent.store.returned import on_return

CONNECTIONS_ENV = "SUPPORT_AGENT_PG_CONNECTIONS"
HELD = "support_agent_slot"  # in a pooled connection's info: (slots, thread) it holds


def connection_slots() -> int:
    """Threads of a process in PostgreSQL at once: $SUPPORT_AGENT_PG_CONNECTIONS, else
    twice the CPUs; 0 sets no limit."""
    text = os.environ.get(CONNECTIONS_ENV, "").strip()
    if not text:
        return 2 * (os.cpu_count() or 1)
    if not text.isdigit():
        raise ValueError(
            f"{CONNECTIONS_ENV} must be a whole number >= 0 (0: no limit), not {text!r}"
        )
    return int(text)


class Slots:
    """At most `size` threads at once; a thread holding one passes again freely."""

    def __init__(self, size: int, wait: float) -> None:
        self.size, self.wait = size, wait
        self._free = threading.BoundedSemaphore(size)
        self._held: set[int] = set()  # the threads holding a slot (one each at most)
        self._guard = threading.Lock()

    def take(self) -> int | None:
        """This thread's id if it took a slot now; None if it had one or waited too long."""
        me = threading.get_ident()
        if me in self._held or not self._free.acquire(timeout=self.wait):
            return None
        with self._guard:
            self._held.add(me)
        return me

    def give(self, owner: int) -> None:
        """The slot `owner` took is free again."""
        with self._guard:
            self._held.discard(owner)
        self._free.release()

    def holders(self) -> int:
        """How many threads hold a slot now."""
        with self._guard:
            return len(self._held)


def slotted_pool(size: int, wait: float = 30.0) -> type[QueuePool]:
    """A QueuePool class whose pools hand connections to at most `size` threads at once.

    A class, not a pool: SQLAlchemy builds the pool itself, and builds it again on
    dispose, each time with slots of its own. The engine must call give_back when a
    connection returns (see return_slots).
    """

    class SlottedQueuePool(QueuePool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.slots = Slots(size, wait)

        def connect(self) -> PoolProxiedConnection:
            owner = self.slots.take()
            try:
                connection = super().connect()
            except BaseException:
                if owner is not None:
                    self.slots.give(owner)
                raise
            if owner is not None:
                connection.info[HELD] = (self.slots, owner)
            return connection

    return SlottedQueuePool


def give_back(_dbapi_conn: Any, record: Any, *_: Any) -> None:
    """A connection is back (or gone): free the slot it held, if any."""
    held = record.info.pop(HELD, None) if record is not None else None
    if held is not None:
        slots, owner = held
        slots.give(owner)


def return_slots(engine: Engine) -> None:
    """Free a connection's slot whenever it returns to the engine's pool or leaves it."""
    on_return(engine, give_back)
