"""Realtime triage: N concurrent forced-tool calls under the shared rate limiter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.model.anthropic import error_kind, to_assistant_message
from agent.model.client import Usage
from agent.model.ratelimit import RateLimiter
from agent.model.usage import batch_cost, cost
from tools.tickets.attachments import AttachmentError, Image, check_count, check_image
from tools.tickets.claims import Billed, claim, release, stale_owners, store_failure, store_gist
from tools.tickets.connection import learn_rate_limit, wait_for_rate_limit
from tools.tickets.gist import Gist, GistRejected, correction_params, gist_params, parse_gist
from tools.tickets.progress import Reporter
from tools.tickets.tables import Ticket, TicketAttachment, TriageMode

TRANSIENT = frozenset({"rate_limited", "overloaded", "server_error", "timeout", "connection"})
RATE_LIMIT_ATTEMPTS = 8  # 429s are expected under a shared limit: wait and try again
MAX_BACKOFF = 8.0


def retry_delay(exc: anthropic.APIError, attempt: int) -> float:
    """The server's retry-after(-ms) hint, else exponential backoff with jitter."""
    response: httpx2.Response | None = getattr(exc, "response", None)
    for name, unit in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        hint = response.headers.get(name, "") if response is not None else ""
        try:
            return max(0.0, float(str(hint)) * unit)
        except ValueError:
            continue
    return min(MAX_BACKOFF, 0.5 * 2.0 ** (attempt - 1)) * (1 - 0.25 * random.random())


def load_request(engine: Engine, ticket_id: str, model: str) -> dict[str, Any]:
    """The gist request for a stored ticket, its images checked again on the way out."""
    with Session(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise LookupError(f"no ticket {ticket_id}")
        rows = session.exec(
            select(TicketAttachment)
            .where(TicketAttachment.ticket_id == ticket_id)
            .order_by(col(TicketAttachment.position))
        ).all()
        images: list[Image] = [check_image(r.filename, r.data) for r in rows]
        check_count(images)
        return gist_params(ticket, images, model)


def bill(model: str, mode: TriageMode, usage: Usage) -> Billed:
    """The tokens and dollars of a gist at realtime or batch prices."""
    dollars = batch_cost(model, usage) if mode == "batch" else cost(model, usage)
    return Billed(model, mode, usage, dollars)


@dataclass
class Answer:
    """What the API returned for one gist request."""

    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: Usage


@dataclass
class RealtimeTriage:
    """Claims tickets one by one and gists them concurrently; resumable after a kill."""

    engine: Engine
    client: anthropic.Anthropic
    limiter: RateLimiter
    model: str
    owner: str
    reporter: Reporter
    concurrency: int = 4
    sleep: Callable[[float], None] = time.sleep

    def run(self, ticket_ids: list[str]) -> None:
        """Triage these tickets; claims left behind by dead runs are taken over."""
        stale = stale_owners(self.engine)
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            for future in [pool.submit(self.one, tid, stale) for tid in ticket_ids]:
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: no new tickets start
            release(self.engine, self.owner)  # an interrupted run leaves nothing claimed

    def one(self, ticket_id: str, stale: list[str]) -> None:
        """Claim, ask, validate (one corrective retry), store, report."""
        if not claim(self.engine, self.owner, ticket_id, stale):
            return  # triaged meanwhile, or a live process has it
        try:
            params = load_request(self.engine, ticket_id, self.model)
        except (AttachmentError, LookupError) as exc:
            self._fail(ticket_id, f"cannot be sent: {exc}", Usage())
            return
        usage = Usage()
        try:
            answer = self._ask(params)
            usage = answer.usage
            try:
                gist = parse_gist(answer.content, answer.stop_reason)
            except GistRejected as first:
                retry = self._retry_params(params, answer, first)
                answer = self._ask(retry)
                usage = usage + answer.usage
                gist = self._second_try(answer, first)
        except GistRejected as exc:
            self._fail(ticket_id, str(exc), usage)
            return
        except anthropic.APIError as exc:
            self._api_error(ticket_id, exc, usage)
            return
        self._store(ticket_id, gist, usage)

    def _ask(self, params: dict[str, Any]) -> Answer:
        """One gist call; the first attempt and every retry after an error wait for the limiter.

        Every answer, 429s included, teaches the limiter what the API allows, and a
        reply's output tokens are charged to the limiter once it is read.

        The SDK's own retries are off: they would resend outside the limiter. A 429
        is resent after the server's retry-after without a new slot: the slot it
        holds was never used, and a second one would idle a whole window.
        """
        client = self.client.with_options(max_retries=0)
        attempt, limited = 0, False
        while True:
            if not limited:
                wait_for_rate_limit(self.limiter, params)
            try:
                raw = client.messages.with_raw_response.create(**params)
                learn_rate_limit(self.limiter, raw.http_response)
                message = to_assistant_message(raw.parse())
                self.limiter.pay_output(message.usage.output_tokens)  # known only now
                return Answer(message.content, message.stop_reason, message.usage)
            except anthropic.APIError as exc:
                if isinstance(exc, anthropic.APIStatusError):
                    learn_rate_limit(self.limiter, exc.response)
                kind = error_kind(exc)
                limited = kind == "rate_limited"
                budget = RATE_LIMIT_ATTEMPTS if limited else self.client.max_retries
                if kind not in TRANSIENT or attempt >= budget:
                    raise
                attempt += 1
                self.sleep(retry_delay(exc, attempt))

    @staticmethod
    def _retry_params(
        params: dict[str, Any], answer: Answer, first: GistRejected
    ) -> dict[str, Any]:
        if first.tool_use is None:
            return params  # no call to correct: ask again
        return correction_params(params, first.tool_use, str(first))

    @staticmethod
    def _second_try(answer: Answer, first: GistRejected) -> Gist:
        try:
            return parse_gist(answer.content, answer.stop_reason)
        except GistRejected as second:
            reason = f"invalid gist twice: first {first}; then {second}"
            raise GistRejected(reason, second.tool_use) from None

    def _store(self, ticket_id: str, gist: Gist, usage: Usage) -> None:
        billed = bill(self.model, "realtime", usage)
        if store_gist(self.engine, ticket_id, gist, billed, owner=self.owner):
            detail = f"({gist.category}, {gist.urgency})"
            self.reporter.ticket(ticket_id, "triaged", detail, usage, billed.dollars)

    def _fail(self, ticket_id: str, reason: str, usage: Usage) -> None:
        billed = bill(self.model, "realtime", usage)
        if store_failure(self.engine, ticket_id, reason, billed, owner=self.owner):
            self.reporter.ticket(ticket_id, "failed", reason, usage, billed.dollars)

    def _api_error(self, ticket_id: str, exc: anthropic.APIError, usage: Usage) -> None:
        kind = error_kind(exc)
        if kind in TRANSIENT:  # not the ticket's fault: the next run tries again
            release(self.engine, self.owner, [ticket_id])
            billed = bill(self.model, "realtime", usage)
            self.reporter.ticket(
                ticket_id, "retry", f"{kind}; left for the next run", usage, billed.dollars
            )
            return
        self._fail(ticket_id, f"API {kind}: {_api_message(exc)}", usage)


def _api_message(exc: anthropic.APIError) -> str:
    if isinstance(exc, anthropic.APIStatusError):
        return f"{exc.status_code} {exc.api_message or exc.message}"
    return exc.message
