"""A job queue in the database: row locks (SKIP LOCKED) on PostgreSQL, leases with heartbeats.

A job is claimed by setting a lease; a worker renews the lease while it works, and
finishes the job only while it still owns it (the owner is a fencing token). A killed
worker's job is claimed again once its lease has expired. Effects that must happen
once (tool writes) are protected by the execution ledger; the queue only guarantees
that a finished job is never handed out again and that no two live workers hold one.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import JSON, Column, and_, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from agent.clock import utcnow

JobKind = Literal["resume", "webhook", "triage"]
JobStatus = Literal["queued", "running", "done", "failed"]


class Job(SQLModel, table=True):
    """One unit of work; `key` makes enqueueing the same work twice a no-op while it is open."""

    __tablename__ = "job"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    key: str | None = Field(default=None, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="queued", index=True)
    attempts: int = 0
    max_attempts: int = 8
    run_after: datetime = Field(default_factory=utcnow, index=True)
    lease_owner: str | None = None
    lease_expires: datetime | None = None
    last_error: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


def worker_id() -> str:
    """A unique owner id that still says which host and process holds a lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def enqueue(
    session: Session,
    kind: JobKind,
    payload: dict[str, Any],
    *,
    key: str | None = None,
    delay: float = 0.0,
    max_attempts: int = 8,
) -> int | None:
    """Add a job in the caller's transaction; with `key`, not if an open job has that key."""
    if key is not None:
        open_job = session.exec(
            select(Job.id).where(Job.key == key, col(Job.status).in_(("queued", "running")))
        ).first()
        if open_job is not None:
            return None
    job = Job(
        kind=kind,
        key=key,
        payload=payload,
        run_after=utcnow() + timedelta(seconds=delay),
        max_attempts=max_attempts,
    )
    session.add(job)
    session.flush()
    return job.id


@dataclass
class Claimed:
    """A job this worker holds, with what the handler needs."""

    id: int
    kind: JobKind
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


@dataclass
class JobQueue:
    """Claim, renew, finish and retry jobs as one worker (`owner`)."""

    engine: Engine
    lease_seconds: float = 30.0
    owner: str = field(default_factory=worker_id)

    def claim(self, kinds: tuple[str, ...]) -> Claimed | None:
        """Take the oldest runnable job of these kinds: queued and due, or with an expired lease."""
        now = utcnow()
        runnable = or_(
            and_(col(Job.status) == "queued", col(Job.run_after) <= now),
            and_(col(Job.status) == "running", col(Job.lease_expires) < now),
        )
        query = (
            select(Job)
            .where(col(Job.kind).in_(kinds), runnable)
            .order_by(col(Job.run_after), col(Job.id))
            .limit(1)
            .with_for_update(skip_locked=True)  # SQLite: ignored; BEGIN IMMEDIATE serialises
        )
        with Session(self.engine) as session, session.begin():
            job = session.exec(query).first()
            if job is None or job.id is None:
                return None
            job.status = "running"
            job.lease_owner = self.owner
            job.lease_expires = now + timedelta(seconds=self.lease_seconds)
            job.attempts += 1
            session.add(job)
            return Claimed(job.id, job.kind, dict(job.payload), job.attempts, job.max_attempts)  # type: ignore[arg-type]

    def _owned(self, job_id: int, **values: Any) -> bool:
        stmt = (
            update(Job)
            .where(col(Job.id) == job_id)
            .where(col(Job.lease_owner) == self.owner, col(Job.status) == "running")
            .values(**values)
        )
        with Session(self.engine) as session, session.begin():
            return bool(session.connection().execute(stmt).rowcount == 1)

    def heartbeat(self, job_id: int) -> bool:
        """Extend the lease; False when the job is no longer ours (it expired and was taken)."""
        expires = utcnow() + timedelta(seconds=self.lease_seconds)
        return self._owned(job_id, lease_expires=expires)

    def finish(self, job_id: int) -> bool:
        """Mark done, only while we hold the lease (a late, lease-less worker changes nothing)."""
        return self._owned(
            job_id, status="done", finished_at=utcnow(), lease_owner=None, lease_expires=None
        )

    def retry(self, job: Claimed, error: str, delay: float) -> bool:
        """Back to the queue after `delay` seconds, or failed for good when out of attempts."""
        if job.attempts >= job.max_attempts:
            return self._owned(
                job.id,
                status="failed",
                last_error=error[:2000],
                finished_at=utcnow(),
                lease_owner=None,
                lease_expires=None,
            )
        return self._owned(
            job.id,
            status="queued",
            last_error=error[:2000],
            run_after=utcnow() + timedelta(seconds=delay),
            lease_owner=None,
            lease_expires=None,
        )

    def release(self, job: Claimed, delay: float = 0.0) -> bool:
        """Give a job back untouched (shutdown, busy conversation); the attempt is not counted."""
        return self._owned(
            job.id,
            status="queued",
            attempts=job.attempts - 1,
            run_after=utcnow() + timedelta(seconds=delay),
            lease_owner=None,
            lease_expires=None,
        )
