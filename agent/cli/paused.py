"""Conversations paused because the model API was unavailable, and resuming them all."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.loop import Agent
from agent.model.breaker import api_available
from agent.store.lease import ConversationBusy
from agent.store.tables import Conversation, Event

API_UNAVAILABLE = "api_unavailable"


def paused_for_api(engine: Engine) -> list[str]:
    """Ids of paused conversations whose last run ended for want of the API, oldest first."""
    with Session(engine) as session:
        paused = session.exec(
            select(Conversation.id)
            .where(Conversation.status == "paused")
            .order_by(col(Conversation.created_at))
        ).all()
        found = []
        for cid in paused:
            last = session.exec(
                select(Event.payload)
                .where(Event.conversation_id == cid, Event.type == "run_finished")
                .order_by(col(Event.seq).desc())
                .limit(1)
            ).first()
            if last is not None and last.get("reason") == API_UNAVAILABLE:
                found.append(cid)
        return found


def resume_all_paused(agent: Agent, breaker_name: str, console: Console) -> int:
    """Resume every conversation paused for api_unavailable; 1 if the API is still down."""
    if not api_available(agent.engine, breaker_name):
        console.print("the model API is still unavailable (circuit breaker open); try later")
        return 1
    ids = paused_for_api(agent.engine)
    counts: dict[str, int] = {}
    for cid in ids:
        try:
            result = agent.resume(cid)
        except ConversationBusy:
            counts["busy"] = counts.get("busy", 0) + 1
            continue
        counts[result.status] = counts.get(result.status, 0) + 1
        console.print(f"{escape(cid)}: {result.status} {escape(result.reason)}", highlight=False)
        if result.reason == API_UNAVAILABLE:
            console.print("the model API went away again; stopping")
            break
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    console.print(f"resumed {len(ids)} paused conversation(s): {summary}")
    return 0
