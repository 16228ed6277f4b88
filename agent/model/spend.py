"""Spend read from the transcript store: per-customer limits and the daily spend alert.

Dollars come from the usage recorded on `model_response` events and the dated price
table; a conversation's customer is the one a tool result authenticated (else the
conversation stands for its own customer). The loop asks `SpendGuard.check` before a
customer's message is answered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
from loguru import logger
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.clock import utcnow
from agent.model.client import Usage
from agent.model.usage import cost
from agent.store.tables import Event

POLITE_LIMIT_REPLY = (
    "Thank you for your patience. We have received a lot of messages from you in a short "
    "time, so we need to pause this conversation for now. Your message is saved, and we "
    "will pick it up again later."
)


@dataclass(frozen=True)
class Refusal:
    """Why a customer's message is not answered now, and what the customer is told."""

    reason: str
    reply: str = POLITE_LIMIT_REPLY


def customer_of(session: Session, conversation_ids: Iterable[str]) -> dict[str, str]:
    """The authenticated customer of each conversation that has one."""
    ids = list(conversation_ids)
    rows = session.exec(
        select(Event.conversation_id, Event.payload)
        .where(Event.type == "tool_result", col(Event.conversation_id).in_(ids))
        .order_by(col(Event.seq))
    ).all()
    found: dict[str, str] = {}
    for cid, payload in rows:
        customer = payload.get("customer_id")
        if customer and cid not in found:
            found[cid] = str(customer)
    return found


def conversations_of(session: Session, customer: str) -> list[str]:
    """Every conversation in which a tool result authenticated this customer."""
    rows = session.exec(
        select(Event.conversation_id)
        .where(
            Event.type == "tool_result",
            Event.payload["customer_id"].as_string() == customer,
        )
        .distinct()
    ).all()
    return list(rows)


def response_cost(payload: Mapping[str, Any]) -> Decimal:
    """Dollars of one recorded model response (0 when the model's price is unknown)."""
    usage = Usage.model_validate(payload.get("usage") or {})
    model = str((payload.get("message") or {}).get("model") or "")
    return cost(model, usage) or Decimal(0)


def dollars_since(session: Session, since: datetime, conversation_ids: list[str] | None) -> Decimal:
    """Dollars spent on model calls since a moment, in some conversations or all."""
    query = select(Event.payload).where(
        Event.type == "model_response", col(Event.created_at) >= since
    )
    if conversation_ids is not None:
        query = query.where(col(Event.conversation_id).in_(conversation_ids))
    return sum((response_cost(p) for p in session.exec(query).all()), Decimal(0))


def messages_since(session: Session, since: datetime, conversation_ids: list[str]) -> int:
    """Customer messages received since a moment in these conversations."""
    rows = session.exec(
        select(Event.id).where(
            Event.type == "user_message",
            col(Event.created_at) >= since,
            col(Event.conversation_id).in_(conversation_ids),
        )
    ).all()
    return len(rows)


def start_of_day(moment: datetime) -> datetime:
    """Midnight UTC of the moment's day."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class SpendAlert:
    """Logs (and POSTs to a webhook, if set) once a day when the day's dollars cross a threshold."""

    threshold: Decimal
    webhook: str | None = None
    timeout: float = 5.0
    _alerted: set[date] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, engine: Engine, now: datetime | None = None) -> Decimal | None:
        """The day's dollars if this call raised the alert, else None."""
        now = now or utcnow()
        with self._lock:
            if now.date() in self._alerted:
                return None
        with Session(engine) as session:
            spent = dollars_since(session, start_of_day(now), None)
        if spent < self.threshold:
            return None
        with self._lock:
            if now.date() in self._alerted:
                return None
            self._alerted.add(now.date())
        logger.warning(
            "spend alert: ${} spent on model calls on {} (threshold ${})",
            spent,
            now.date(),
            self.threshold,
        )
        if self.webhook:
            self._post(spent, now)
        return spent

    def _post(self, spent: Decimal, now: datetime) -> None:
        body = {
            "kind": "spend_alert",
            "day": now.date().isoformat(),
            "dollars": str(spent),
            "threshold": str(self.threshold),
        }
        try:
            httpx2.post(str(self.webhook), json=body, timeout=self.timeout).raise_for_status()
        except httpx2.HTTPError as exc:
            logger.error("spend alert webhook failed: {}", type(exc).__name__)


@dataclass
class SpendGuard:
    """Per-customer limits (messages per hour, dollars per day) plus the spend alert."""

    engine: Engine
    messages_per_hour: int | None = None
    dollars_per_day: Decimal | None = None
    alert: SpendAlert | None = None

    def check(self, conversation_id: str, now: datetime | None = None) -> Refusal | None:
        """A Refusal when this conversation's customer is over a limit, else None."""
        now = now or utcnow()
        if self.alert is not None:
            self.alert.check(self.engine, now)
        if self.messages_per_hour is None and self.dollars_per_day is None:
            return None
        with Session(self.engine) as session:
            customer = customer_of(session, [conversation_id]).get(conversation_id)
            ids = conversations_of(session, customer) if customer else [conversation_id]
            who = f"customer {customer}" if customer else f"conversation {conversation_id}"
            if self.messages_per_hour is not None:
                sent = messages_since(session, now - timedelta(hours=1), ids)
                if sent >= self.messages_per_hour:
                    return self._refuse(
                        f"{who} sent {sent} messages in the last hour "
                        f"(limit {self.messages_per_hour})"
                    )
            if self.dollars_per_day is not None:
                spent = dollars_since(session, start_of_day(now), ids)
                if spent >= self.dollars_per_day:
                    return self._refuse(
                        f"{who} used ${spent} of model calls today (limit ${self.dollars_per_day})"
                    )
        return None

    def _refuse(self, reason: str) -> Refusal:
        logger.warning("customer limit reached: {}", reason)
        return Refusal(reason=f"customer limit: {reason}")
