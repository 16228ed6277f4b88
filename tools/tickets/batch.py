"""Batch triage through the Message Batches API, at half price, resumable after a kill.

Order of writes: the TriageBatch row and its tickets' `batch_key` are committed
before the batch is created; the batch id is committed right after `create`
returns and before any waiting. A restarted run finds submitted batches and
resumes polling them instead of paying again. Results map back through the
`custom_id` -> ticket id table stored with the batch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.clock import utcnow
from agent.model.client import AssistantMessage, Usage
from tools.tickets.attachments import AttachmentError
from tools.tickets.claims import (
    claim,
    owner_alive,
    release,
    stale_owners,
    store_failure,
    store_gist,
)
from tools.tickets.gist import Gist, GistRejected, correction_params, parse_gist
from tools.tickets.progress import Reporter
from tools.tickets.realtime import bill, load_request
from tools.tickets.tables import Ticket, TriageBatch

MAX_REQUESTS_PER_BATCH = 10_000
PERMANENT_ERRORS = frozenset({"invalid_request_error", "authentication_error", "permission_error"})


@dataclass(frozen=True)
class Backoff:
    """Polling intervals: first, growth factor, ceiling (seconds)."""

    first: float = 2.0
    factor: float = 1.5
    ceiling: float = 60.0

    def delays(self) -> Any:
        """An endless series of waits."""
        delay = self.first
        while True:
            yield delay
            delay = min(self.ceiling, delay * self.factor)


@dataclass
class BatchTriage:
    """Submits untriaged tickets as batches, polls them, and stores their results."""

    engine: Engine
    client: anthropic.Anthropic
    model: str
    owner: str
    reporter: Reporter
    backoff: Backoff = field(default_factory=Backoff)
    max_rounds: int = 3  # corrections and expired requests go into the next round
    sleep: Callable[[float], None] = time.sleep

    def run(self, ticket_ids: list[str] | None) -> None:
        """Finish batches earlier runs left, then submit and finish new ones, round by round."""
        for batch in self._unfinished():
            self.reporter.note(f"resuming batch {batch.batch_id} (submitted by an earlier run)")
            self._finish(batch)
        for _ in range(self.max_rounds):
            submitted = self._submit(ticket_ids)
            if submitted is None:
                return
            self._finish(submitted)

    def _unfinished(self) -> list[TriageBatch]:
        """Submitted batches to poll; submissions cut before create returned are undone."""
        with Session(self.engine) as session:
            rows = session.exec(select(TriageBatch).where(col(TriageBatch.state) != "ended")).all()
        resumable = []
        for row in rows:
            if row.batch_id is not None:
                resumable.append(row)
            elif owner_alive(row.owner) is not True:
                self.reporter.note(
                    f"batch {row.key} was cut off before its id was stored; its "
                    f"{len(row.requests)} tickets go back to the queue"
                )
                self._end(row.key, release_tickets=True)
        return resumable

    def _submit(self, ticket_ids: list[str] | None) -> TriageBatch | None:
        """Record a batch of claimed tickets, create it, store its id: all before waiting."""
        stale = stale_owners(self.engine)
        with Session(self.engine) as session:
            query = select(Ticket.id).where(
                col(Ticket.status) == "new",
                col(Ticket.batch_key).is_(None),
            )
            if ticket_ids is not None:
                query = query.where(col(Ticket.id).in_(ticket_ids))
            ids = list(session.exec(query.order_by(col(Ticket.seq))).all())
        requests: dict[str, str] = {}
        params_list: list[dict[str, Any]] = []
        for tid in ids:
            if len(requests) >= MAX_REQUESTS_PER_BATCH:
                break
            if not claim(self.engine, self.owner, tid, stale):
                continue
            params = self._params(tid)
            if params is None:
                continue
            custom_id = f"r{len(requests)}"
            requests[custom_id] = tid
            params_list.append({"custom_id": custom_id, "params": params})
        if not requests:
            return None
        key = uuid.uuid4().hex
        self._record(key, requests)
        created = self.client.messages.batches.create(requests=params_list)  # type: ignore[arg-type]
        with Session(self.engine) as session, session.begin():
            row = session.get(TriageBatch, key)
            assert row is not None
            row.batch_id, row.state = created.id, "submitted"
            session.add(row)
        self.reporter.note(f"submitted batch {created.id} with {len(requests)} tickets")
        with Session(self.engine) as session:
            return session.get(TriageBatch, key)

    def _params(self, ticket_id: str) -> dict[str, Any] | None:
        """The request for a claimed ticket (with its correction, if one is due), or None."""
        try:
            params = load_request(self.engine, ticket_id, self.model)
        except (AttachmentError, LookupError) as exc:
            if store_failure(
                self.engine, ticket_id, f"cannot be sent: {exc}", None, owner=self.owner
            ):
                self.reporter.ticket(ticket_id, "failed", str(exc), Usage(), None)
            return None
        with Session(self.engine) as session:
            ticket = session.get(Ticket, ticket_id)
            correction = ticket.correction if ticket else None
        if correction:
            params = correction_params(params, correction["tool_use"], correction["errors"])
        return params

    def _record(self, key: str, requests: dict[str, str]) -> None:
        """The batch row and its tickets' batch_key, in one transaction, before create."""
        with Session(self.engine) as session, session.begin():
            session.add(TriageBatch(key=key, owner=self.owner, model=self.model, requests=requests))
            session.flush()
            session.execute(
                update(Ticket)
                .where(
                    col(Ticket.id).in_(list(requests.values())),
                    col(Ticket.claimed_by) == self.owner,
                )
                .values(batch_key=key, claimed_by=None, updated_at=utcnow())
            )

    def _finish(self, batch: TriageBatch) -> None:
        """Poll with backoff until the batch ends, then store every result."""
        assert batch.batch_id is not None
        delays = self.backoff.delays()
        while True:
            current = self.client.messages.batches.retrieve(batch.batch_id)
            if current.processing_status == "ended":
                break
            counts = current.request_counts
            delay = next(delays)
            self.reporter.note(
                f"batch {batch.batch_id}: {counts.processing} processing; next look in {delay:.1f}s"
            )
            self.sleep(delay)
        for line in self.client.messages.batches.results(batch.batch_id):
            ticket_id = batch.requests.get(line.custom_id)
            if ticket_id is None:
                self.reporter.note(f"batch {batch.batch_id}: unknown custom_id {line.custom_id}")
                continue
            self._result(batch.key, ticket_id, line.result.to_dict(mode="json"))
        self._end(batch.key, release_tickets=True)

    def _result(self, key: str, ticket_id: str, result: dict[str, Any]) -> None:
        kind = result.get("type")
        if kind == "succeeded":
            message = AssistantMessage.model_validate(result["message"])
            self._succeeded(key, ticket_id, message)
            return
        if kind == "errored":
            error = (result.get("error") or {}).get("error") or {}
            what = f"{error.get('type', 'error')}: {error.get('message', '')}"
            if error.get("type") in PERMANENT_ERRORS:
                if store_failure(self.engine, ticket_id, f"API {what}", None, batch_key=key):
                    self.reporter.ticket(ticket_id, "failed", what, Usage(), None)
                return
        else:
            what = str(kind)
        self._requeue(key, ticket_id, None)
        self.reporter.ticket(
            ticket_id, "retry", f"{what}; queued for the next batch", Usage(), None
        )

    def _succeeded(self, key: str, ticket_id: str, message: AssistantMessage) -> None:
        with Session(self.engine) as session:
            ticket = session.get(Ticket, ticket_id)
            earlier = (ticket.correction or {}) if ticket else {}
        usage = message.usage + Usage.model_validate(earlier.get("usage") or {})
        try:
            gist: Gist = parse_gist(message.content, message.stop_reason)
        except GistRejected as exc:
            if earlier or exc.tool_use is None:
                reason = (
                    f"invalid gist twice: first {earlier.get('errors')}; then {exc}"
                    if earlier
                    else str(exc)
                )
                billed = bill(self.model, "batch", usage)
                if store_failure(self.engine, ticket_id, reason, billed, batch_key=key):
                    self.reporter.ticket(ticket_id, "failed", reason, usage, billed.dollars)
                return
            correction = {"tool_use": exc.tool_use, "errors": str(exc), "usage": usage.model_dump()}
            self._requeue(key, ticket_id, correction)
            self.reporter.ticket(
                ticket_id, "retry", f"invalid gist, corrective retry: {exc}", Usage(), None
            )
            return
        billed = bill(self.model, "batch", usage)
        if store_gist(self.engine, ticket_id, gist, billed, batch_key=key):
            self.reporter.ticket(
                ticket_id, "triaged", f"({gist.category}, {gist.urgency})", usage, billed.dollars
            )

    def _requeue(self, key: str, ticket_id: str, correction: dict[str, Any] | None) -> None:
        """Back to the queue for the next batch (with a correction to send, if any)."""
        values: dict[str, Any] = {"batch_key": None, "updated_at": utcnow()}
        if correction is not None:
            values["correction"] = correction
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(Ticket)
                .where(col(Ticket.id) == ticket_id, col(Ticket.batch_key) == key)
                .values(**values)
            )

    def _end(self, key: str, *, release_tickets: bool) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(TriageBatch, key)
            if row is not None:
                row.state, row.ended_at = "ended", utcnow()
                session.add(row)
            if release_tickets:
                session.execute(
                    update(Ticket).where(col(Ticket.batch_key) == key).values(batch_key=None)
                )
        release(self.engine, self.owner)
