"""Service callers: API tokens stored only hashed, each bound to a name, kind and roles."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, Column
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from agent.clock import utcnow
from agent.gate.approvals import Supervisor

CallerKind = Literal["app", "supervisor", "admin"]
CALLER_KINDS: tuple[CallerKind, ...] = get_args(CallerKind)
TOKEN_PREFIX = "sat_"  # recognisable in a leaked-secret scan
PII_ROLE = "pii"  # supervisors holding it see unmasked transcripts; admins always do


class ServiceUser(SQLModel, table=True):
    """One caller of the service; the token itself is never stored."""

    __tablename__ = "service_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    kind: str
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    token_sha256: str = Field(index=True, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Caller:
    """An authenticated caller of the service; roles come from the users table only."""

    name: str
    kind: CallerKind
    roles: frozenset[str]

    def supervisor(self) -> Supervisor:
        """This caller as an approver for QueueApprover.record."""
        return Supervisor(self.name, self.roles)

    @property
    def may_see_pii(self) -> bool:
        """Admins, and supervisors given the `pii` role, see unmasked transcripts."""
        return self.kind == "admin" or PII_ROLE in self.roles


class UserError(ValueError):
    """A user cannot be added or revoked (duplicate name, unknown user, bad kind)."""


def token_digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(engine: Engine, name: str, kind: CallerKind, roles: list[str]) -> str:
    """Create a caller and return its token (shown once, stored only hashed)."""
    if kind not in CALLER_KINDS:
        raise UserError(f"unknown kind {kind!r} (one of {', '.join(CALLER_KINDS)})")
    if not name.strip():
        raise UserError("a user needs a name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with Session(engine) as session, session.begin():
        if session.exec(select(ServiceUser).where(ServiceUser.name == name)).first():
            # Names stay unique forever: decisions in transcripts name their maker.
            raise UserError(f"a user named {name!r} exists or existed; choose another name")
        session.add(
            ServiceUser(
                name=name, kind=kind, roles=sorted(set(roles)), token_sha256=token_digest(token)
            )
        )
    return token


def authenticate(engine: Engine, token: str) -> Caller | None:
    """The caller a token belongs to, or None for unknown or revoked tokens."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    with Session(engine) as session:
        user = session.exec(
            select(ServiceUser).where(ServiceUser.token_sha256 == token_digest(token))
        ).first()
    if user is None or user.revoked_at is not None or user.kind not in CALLER_KINDS:
        return None
    return Caller(user.name, user.kind, frozenset(user.roles))


def list_users(engine: Engine) -> list[ServiceUser]:
    """Every user, revoked ones included, by name."""
    with Session(engine) as session:
        return list(session.exec(select(ServiceUser).order_by(col(ServiceUser.name))).all())


def revoke_user(engine: Engine, name: str) -> None:
    """Revoke a user's token (and so its inbox sessions); the row stays for the audit trail."""
    with Session(engine) as session, session.begin():
        user = session.exec(select(ServiceUser).where(ServiceUser.name == name)).first()
        if user is None or user.revoked_at is not None:
            raise UserError(f"no active user named {name!r}")
        user.revoked_at = utcnow()
        session.add(user)


def approver_roles(engine: Engine) -> dict[str, list[str]]:
    """Active supervisors' and admins' roles by name, for the gate's roster."""
    with Session(engine) as session:
        users = session.exec(select(ServiceUser).where(col(ServiceUser.revoked_at).is_(None))).all()
    return {u.name: list(u.roles) for u in users if u.kind in ("supervisor", "admin")}


def describe(user: ServiceUser) -> dict[str, Any]:
    """A user as plain data for listings (never the token hash)."""
    return {
        "name": user.name,
        "kind": user.kind,
        "roles": list(user.roles),
        "created_at": user.created_at.isoformat(),
        "revoked": user.revoked_at is not None,
    }
