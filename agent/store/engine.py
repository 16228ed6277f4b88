"""Database engines: SQLite (WAL) by default, PostgreSQL by URL, migrated on open."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine

from agent.logs import redact_urls
from agent.store import tables as _tables  # noqa: F401 - registers the tables' metadata
from agent.store.liveness import check_on_checkout
from agent.store.migrations import migrate
from agent.store.slots import connection_slots, return_slots, slotted_pool
from agent.store.write_queue import queue_writers

DB_ENV = "SUPPORT_AGENT_DB"
SYNCHRONOUS_ENV = "SUPPORT_AGENT_SQLITE_SYNCHRONOUS"
SYNCHRONOUS_LEVELS = ("FULL", "NORMAL", "EXTRA")
READ_ONLY = "support_agent_read_only"
RELAXED = "support_agent_relaxed"
_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_RELAXED: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_LEVEL = "support_agent_synchronous"  # a SQLite connection's level now (pool record info)
DEFAULT_DB_PATH = Path.home() / ".local" / "share" / "support-agent" / "support-agent.db"


class DatabaseUrlError(ValueError):
    """A --db value that is neither a usable URL nor a SQLite path; the message says why."""


SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")


def default_url(*, create_dir: bool = True) -> str:
    """The database URL: $SUPPORT_AGENT_DB, else a SQLite file in the user's data directory."""
    url = os.environ.get(DB_ENV)
    if url:
        return url
    if create_dir:
        DEFAULT_DB_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DB_PATH}"


def check_url(url: str) -> str:
    """The normalized URL of a --db value, or DatabaseUrlError naming what is wrong with it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = url.strip()
    if not text:
        raise DatabaseUrlError("the database is empty: give a SQLite path or a URL")
    if "://" not in text and ":" in text:
        raise DatabaseUrlError(
            f"{url!r} is neither a URL (scheme://…) nor a file path; "
            "write sqlite:///path/to/file.db or postgresql://user@host/db"
        )
    normalized = normalize_url(text)
    try:
        parsed = make_url(normalized)
    except (ArgumentError, ValueError):  # the text may hold a password: do not echo it
        raise DatabaseUrlError(
            "the database is not a valid URL: write scheme://user@host:port/name"
        ) from None
    if parsed.drivername not in SCHEMES:
        raise DatabaseUrlError(
            f"unsupported database {parsed.drivername!r} in {redacted_url(url)}: "
            "use a SQLite path, sqlite:///FILE or postgresql://…"
        )
    if parsed.drivername == "sqlite":
        path = sqlite_path(normalized)
        if path is not None and (path.is_dir() or text.endswith("/")):
            raise DatabaseUrlError(f"{path} is a directory, not a database file")
    return normalized


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for in-memory databases and other engines)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(normalize_url(url))
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def normalize_url(url: str) -> str:
    """Accept bare paths and postgres:// URLs; PostgreSQL goes through psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def sqlite_synchronous() -> str:
    """The SQLite durability level: FULL (an fsync per commit) unless the setting relaxes it."""
    level = os.environ.get(SYNCHRONOUS_ENV, "FULL").strip().upper()
    if level not in SYNCHRONOUS_LEVELS:
        raise ValueError(
            f"{SYNCHRONOUS_ENV} must be one of {', '.join(SYNCHRONOUS_LEVELS)}, not {level!r}"
        )
    return level


# Durability from least to most; a relaxed commit never waits for more than NORMAL.
_DURABILITY = ("OFF", "NORMAL", "FULL", "EXTRA")


def _sqlite_events(engine: Engine, level: str) -> None:
    """Pragmas on connect and BEGIN on every transaction, at this engine's own level."""
    relaxed_level = min(level, "NORMAL", key=_DURABILITY.index)

    def pragmas(dbapi_conn: Any, record: Any) -> None:
        # Let the driver issue no BEGIN of its own: we emit BEGIN IMMEDIATE so writers
        # queue on the lock instead of failing an upgrade from a read transaction.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={level}")
        record.info[_LEVEL] = level
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    enter_queue = queue_writers(engine, wait=30)

    def begin(conn: Any) -> None:
        # Readers take no write lock; every other transaction queues for it up front.
        # Sent on the driver's connection: every transaction begins here.
        driver = conn.connection.driver_connection
        if is_reader(conn):
            driver.execute("BEGIN")
            return
        # The level can only change between transactions: set it here when this one
        # differs, before queuing (it is the connection's own, and nothing waits on it).
        relaxed = conn.get_execution_options().get(RELAXED, False)
        wanted = relaxed_level if relaxed else level
        info = conn.connection.info
        if info.get(_LEVEL) != wanted:
            driver.execute(f"PRAGMA synchronous={wanted}")
            info[_LEVEL] = wanted
        enter_queue(conn)
        driver.execute("BEGIN IMMEDIATE")

    event.listen(engine, "connect", pragmas)
    event.listen(engine, "begin", begin)


def _postgresql_relaxed_begin(conn: Any) -> None:
    # psycopg opens the transaction with this statement; the setting ends with it.
    conn.connection.driver_connection.execute("SET LOCAL synchronous_commit TO OFF")


def reader(engine: Engine) -> Engine:
    """The same engine for transactions that only read (on SQLite: no write lock).

    On PostgreSQL, read_only and reads_outside_transaction run them without BEGIN and
    COMMIT.
    """
    found = _READERS.get(engine)
    if found is None:
        found = _READERS[engine] = engine.execution_options(**{READ_ONLY: True})
    return found


def reads_outside_transaction(conn: Connection) -> Connection:
    """A fresh reader connection that, on PostgreSQL, runs each read without BEGIN/COMMIT.

    At READ COMMITTED, PostgreSQL's default and this project's, every statement of a
    transaction takes a snapshot of its own anyway: the two round trips bought only a
    wait. On SQLite the read transaction stays (one snapshot, no write lock).
    """
    if conn.dialect.name == "postgresql":
        # On this connection only (the pool resets it on return): an engine-wide option
        # would add an engine event, which every statement then pays for.
        conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


def is_reader(conn: Any) -> bool:
    """Whether a connection's transactions only read (made by reader()): their COMMIT
    writes nothing, so counts of commits that write leave them out."""
    return bool(conn.get_execution_options().get(READ_ONLY, False))


class ReadOnlyWrite(RuntimeError):
    """A read-only session was asked to write (a bug in the reader); nothing was written."""


class ReadOnlySession(Session):
    """A session that refuses to flush: what it was given to change is never written.

    On PostgreSQL its statements run without a transaction (reads_outside_transaction),
    so a flush would be final at once; on SQLite it would need the write lock it does
    not hold.
    """


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    # Called only when the session has something to flush (a clean one returns before).
    raise ReadOnlyWrite(
        "a read-only session was asked to write "
        f"({len(session.new)} new, {len(session.dirty)} changed, {len(session.deleted)} "
        "deleted); nothing was written"
    )


event.listen(ReadOnlySession, "before_flush", _refuse_flush)


@contextmanager
def read_only(engine: Engine) -> Iterator[Session]:
    """A session that only reads (no write lock on SQLite), ended by COMMIT.

    A ROLLBACK would cost a PostgreSQL connection its prepared statements: psycopg
    forgets them all after one and sends DEALLOCATE ALL. Rows the session was given to
    change are never written: a flush, asked for or automatic before a query, raises
    ReadOnlyWrite.
    """
    with (
        reads_outside_transaction(reader(engine).connect()) as conn,
        ReadOnlySession(bind=conn) as session,
    ):
        yield session
        if not (session.new or session.dirty or session.deleted):
            session.commit()


def relaxed(engine: Engine) -> Engine:
    """The same engine for commits that need not wait for the disk.

    Such a commit survives a crash of this process but, on a power loss, only once a
    later commit on the store (which waits for the disk) has made it durable: SQLite
    synchronous=NORMAL in WAL mode, PostgreSQL synchronous_commit=off. Only for what
    nothing has acted on yet (see ConversationLog.commit).
    """
    found = _RELAXED.get(engine)
    if found is None:
        found = _RELAXED[engine] = engine.execution_options(**{RELAXED: True})
        if found.dialect.name == "postgresql":
            # Only here: an engine with connection events of its own pays for them
            # on every statement (SQLAlchemy then dispatches each event point).
            event.listen(found, "begin", _postgresql_relaxed_begin)
    return found


def make_engine(url: str | None = None, *, create: bool = True, scratch: bool = False) -> Engine:
    """An engine for the URL (default: default_url()), with all tables created.

    SQLite commits wait for the disk as sqlite_synchronous() says, read once here;
    `scratch` (a throw-away SQLite store, e.g. a replay's) never waits for it.
    """
    url = normalize_url(url or default_url(create_dir=create))
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_events(engine, "OFF" if scratch else sqlite_synchronous())
    else:
        slots = connection_slots()
        pool = {"poolclass": slotted_pool(slots)} if slots else {}
        engine = create_engine(url, **pool)  # no pre-ping: checked without a round trip
        check_on_checkout(engine)
        return_slots(engine)
    if create:
        migrate(engine)  # existing tables first: create_all never alters them
        SQLModel.metadata.create_all(engine)
    return engine


def redacted_url(url: str) -> str:
    """The URL with any password masked (even one holding '@'), for logs and messages."""
    return redact_urls(normalize_url(url))
