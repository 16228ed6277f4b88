"""Inbox sign-in sessions: a random cookie id stored hashed, with its CSRF token and expiry."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, delete, select

from agent.clock import utcnow
from agent.service.users import Caller, ServiceUser

COOKIE = "sa_inbox_session"


class InboxSession(SQLModel, table=True):
    """A signed-in supervisor's browser session (the cookie holds the id; we keep its hash)."""

    __tablename__ = "inbox_session"

    id_sha256: str = Field(primary_key=True)
    user_name: str = Field(index=True)
    csrf: str
    expires_at: datetime


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(engine: Engine, caller: Caller, hours: float) -> str:
    """A new session for the caller; returns the cookie value."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    with Session(engine) as session, session.begin():
        session.exec(delete(InboxSession).where(col(InboxSession.expires_at) < now))
        session.add(
            InboxSession(
                id_sha256=_digest(session_id),
                user_name=caller.name,
                csrf=secrets.token_urlsafe(32),
                expires_at=now + timedelta(hours=hours),
            )
        )
    return session_id


def resume(engine: Engine, session_id: str | None) -> tuple[Caller, str] | None:
    """The caller and CSRF token of a live session whose user is still active, else None."""
    if not session_id:
        return None
    with Session(engine) as session:
        row = session.get(InboxSession, _digest(session_id))
        if row is None or row.expires_at <= utcnow():
            return None
        user = session.exec(select(ServiceUser).where(ServiceUser.name == row.user_name)).first()
    if user is None or user.revoked_at is not None or user.kind not in ("supervisor", "admin"):
        return None
    caller = Caller(user.name, user.kind, frozenset(user.roles))  # type: ignore[arg-type]
    return caller, row.csrf


def end(engine: Engine, session_id: str | None) -> None:
    """Sign out: forget the session."""
    if session_id:
        with Session(engine) as session, session.begin():
            row = session.get(InboxSession, _digest(session_id))
            if row is not None:
                session.delete(row)


def csrf_ok(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the form's CSRF token with the session's."""
    return bool(given) and hmac.compare_digest(expected, given or "")
