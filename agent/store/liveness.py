"""A pooled PostgreSQL connection is checked for life on checkout, without a round trip.

SQLAlchemy's pre-ping sends an empty query every time a connection leaves the pool: a
round trip per transaction (a third of a short one's: ping, BEGIN, ..., COMMIT). A
server that ends a connection (a restart, an idle timeout, an administrator) says so
on its socket: a FATAL message, then end of file. An idle connection has nothing to
read, so a readable socket on checkout means the connection is gone, or (rarely) that
the server sent something unasked; either way the real ping then decides. A dead one
is replaced before anyone uses it, as with pre-ping, and the whole pool with it (a
server that ended one connection has usually ended them all).

Like pre-ping, this cannot see a connection that dies after checkout, nor a silent
network partition (that needs TCP keepalives, settable in the URL).
"""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

_POLL = getattr(select, "poll", None)  # not on Windows: there every checkout pings


def _quiet(dbapi_conn: Any) -> bool:
    """Whether the connection is open and its socket has nothing waiting to be read."""
    if _POLL is None or getattr(dbapi_conn, "closed", True):
        return False
    try:
        fd = dbapi_conn.pgconn.socket
    except Exception:  # psycopg raises when the connection is already broken
        return False
    poller = _POLL()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


def check_on_checkout(engine: Engine) -> None:
    """Replace a pooled connection the server has closed, before it is handed out.

    For engines created without pool_pre_ping: the socket test costs no round trip;
    only a connection with something to read is pinged for real.
    """
    dialect = engine.dialect

    def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if _quiet(dbapi_conn):
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as error:
            # Replace this connection and every one pooled before it; SQLAlchemy then
            # checks out a fresh one (or raises if the server cannot be reached).
            raise exc.InvalidatePoolError(f"connection closed by the server: {error}") from error

    event.listen(engine, "checkout", checkout)
