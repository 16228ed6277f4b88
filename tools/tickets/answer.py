"""`tickets answer`: a guarded conversation seeded with the ticket, for its verified sender."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agent.cli.common import fail
from agent.clock import utcnow
from agent.domain import DEFAULT_DOMAIN
from agent.gate.approvals import QueueApprover
from agent.loop import RunResult
from agent.store.tables import Conversation
from tools.retail.tables import RetailUser
from tools.tickets.tables import Ticket


def seed_text(ticket: Ticket) -> str:
    """The first customer message: the ticket as the customer sent it."""
    return (
        f"[Support ticket {ticket.id}, received via {ticket.channel} from "
        f"{ticket.customer_email}]\nSubject: {ticket.subject}\n\n{ticket.body}"
    )


def customer_for(engine: Engine, email: str) -> str | None:
    """The user id whose account email is the ticket's sender address, if there is one."""
    with Session(engine) as session:
        user = session.exec(
            select(RetailUser).where(func.lower(RetailUser.email) == email.strip().lower())
        ).first()
        return user.user_id if user else None


def _mark(engine: Engine, ticket_id: str, conversation_id: str, status: str) -> None:
    with Session(engine) as session, session.begin():
        ticket = session.get(Ticket, ticket_id)
        if ticket is not None:
            ticket.conversation_id, ticket.status, ticket.updated_at = (
                conversation_id,
                status,
                utcnow(),
            )
            session.add(ticket)


def _show(console: Console, result: RunResult) -> None:
    console.print(result.reply, markup=False, highlight=False)
    if result.status == "paused" and result.reason == "confirmation":
        console.print("[yellow]The customer must confirm; type their answer below.[/]")
    elif result.status == "paused":
        for line in result.awaiting:
            console.print("[magenta]Waiting for a supervisor's approval:[/]", line, markup=True)
    elif result.status != "done":
        console.print(f"({result.status}: {result.reason})", markup=False)


def answer_ticket(
    ticket_id: str,
    db: str | None,
    conversation: str | None,
    console: Console,
    *,
    done: bool = False,
) -> None:
    """Open (or continue) the ticket's conversation, then relay the customer's replies."""
    from agent.cli.chat import live_agent

    agent = live_agent(db, DEFAULT_DOMAIN, QueueApprover)
    engine = agent.engine
    with Session(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            fail(f"no ticket {ticket_id!r}")
        session.expunge(ticket)
    cid = conversation or ticket.conversation_id or f"ticket-{ticket.id}"
    customer = customer_for(engine, ticket.customer_email)
    who = f"customer {customer}" if customer else "no account with this address (unverified)"
    console.print(f"conversation {cid} for ticket {ticket.id}: {who}", markup=False)
    _mark(engine, ticket.id, cid, "in_progress")
    with Session(engine) as session:
        fresh = session.get(Conversation, cid) is None
    if fresh:
        _show(console, agent.run(cid, seed_text(ticket), customer_id=customer))
    while True:
        try:
            text = console.input("customer> ").strip()
        except EOFError:
            break
        if not text:
            break
        _show(console, agent.run(cid, text))
    if done:
        _mark(engine, ticket.id, cid, "done")
