"""Webhooks: signed POSTs about conversations, delivered by workers with retries and backoff.

Signature: `X-Support-Agent-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`
with `X-Support-Agent-Timestamp: <unix seconds>`; receivers reject old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from agent.clock import utcnow
from agent.worker.queue import Claimed, enqueue

WebhookEvent = Literal["approval.requested", "conversation.replied", "conversation.failed"]
SECRET_ENV = "SUPPORT_AGENT_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-Support-Agent-Signature"
TIMESTAMP_HEADER = "X-Support-Agent-Timestamp"
DELIVERY_HEADER = "X-Support-Agent-Delivery"


class WebhookAttempt(SQLModel, table=True):
    """One delivery attempt of one webhook job: when, how it went."""

    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(index=True)
    delivery_id: str = Field(index=True)
    url: str
    event: str
    attempt: int
    at: datetime = Field(default_factory=utcnow)
    status_code: int | None = None
    error: str = ""
    duration_ms: float = 0.0


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx; the job is retried with backoff."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: float = 300.0
) -> bool:
    """What a receiver checks: a fresh timestamp and a matching signature (constant time)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


def notify(
    session: Session, urls: Sequence[str], event: WebhookEvent, data: dict[str, Any]
) -> None:
    """Queue one delivery per configured URL, in the caller's transaction."""
    for url in urls:
        body = {"id": f"evt_{uuid.uuid4().hex}", "type": event, "created": utcnow().isoformat()}
        enqueue(session, "webhook", {"url": url, "body": {**body, "data": data}})


def backoff(attempt: int, base: float = 2.0, cap: float = 600.0) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential, capped."""
    return float(min(cap, base**attempt))


@dataclass
class WebhookSender:
    """Delivers webhook jobs: sign, POST, record the attempt; non-2xx raises DeliveryFailed."""

    engine: Engine
    secret: str
    timeout: float = 10.0

    def deliver(self, job: Claimed) -> None:
        """One attempt at delivering this job's body to its URL."""
        url, body = str(job.payload["url"]), job.payload["body"]
        raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, stamp, raw),
            TIMESTAMP_HEADER: str(stamp),
            DELIVERY_HEADER: str(body["id"]),
        }
        attempt = WebhookAttempt(
            job_id=job.id, delivery_id=body["id"], url=url, event=body["type"], attempt=job.attempts
        )
        started = time.monotonic()
        try:
            response = httpx.post(url, content=raw, headers=headers, timeout=self.timeout)
            attempt.status_code = response.status_code
            if not 200 <= response.status_code < 300:
                attempt.error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"[:500]
        attempt.duration_ms = (time.monotonic() - started) * 1000
        error = attempt.error
        with Session(self.engine) as session, session.begin():
            session.add(attempt)
        if error:
            raise DeliveryFailed(f"webhook to {url}: {error}")
