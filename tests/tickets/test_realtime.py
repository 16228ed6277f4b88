"""Realtime triage over the SDK and the fake API: forced tool, one retry, never junk stored."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from decimal import Decimal

import anthropic
import httpx2
import pytest
from sqlmodel import Session, select

from agent.config import Settings
from agent.model.client import Usage
from agent.model.ratelimit import RateLimiter
from agent.model.usage import batch_cost, cost
from agent.testing.fake_batches import ForcedToolResponder
from agent.testing.fake_server import (
    FakeMessagesAPI,
    ServerRateLimit,
    bad_request,
    rate_limited,
    server_error,
    text_reply,
    tool_reply,
)
from tests.tickets.conftest import ticket_usage
from tools.tickets.claims import candidates, claim, new_owner
from tools.tickets.connection import make_limiter, sdk_client
from tools.tickets.gist import GIST_TOOL
from tools.tickets.progress import LogReporter, Tally
from tools.tickets.realtime import RealtimeTriage, retry_delay
from tools.tickets.tables import Ticket

from .conftest import KEY

MODEL = "claude-haiku-4-5"
REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/messages")
BAD = {"lines": ["only one line"], "category": "return", "urgency": "normal", "next_step": "Call."}
GOOD = {
    "lines": ["Customer wants a refund.", "Order #W1 arrived late.", "Annoyed but polite."],
    "category": "refund",
    "urgency": "high",
    "next_step": "Check the order and offer the refund the policy allows.",
}


def triage(engine, api, ids=None, *, concurrency=4, limiter=None, max_retries=0):
    settings = Settings(max_retries=max_retries)
    client = sdk_client(settings, KEY, api.base_url)
    tally = Tally()
    run = RealtimeTriage(
        engine,
        client,
        limiter or make_limiter(settings),
        MODEL,
        new_owner(),
        LogReporter(tally),
        concurrency,
    )
    run.run(ids if ids is not None else candidates(engine))
    client.close()
    return tally


def tickets(engine) -> dict[str, Ticket]:
    with Session(engine) as session:
        return {t.id: t for t in session.exec(select(Ticket)).all()}


def test_every_new_ticket_gets_a_three_line_gist_through_a_forced_tool_call(inbox, gist_api):
    tally = triage(inbox, gist_api)
    stored = tickets(inbox)
    assert tally.triaged == len(stored) == 24 and tally.failed == 0
    for ticket in stored.values():
        assert ticket.status == "triaged" and len(ticket.gist_lines()) == 3
        assert ticket.category and ticket.urgency and ticket.next_step
        assert ticket.triage_mode == "realtime" and ticket.model == MODEL
        assert ticket.claimed_by is None
        usage_cost = cost(MODEL, ticket_usage(ticket))
        assert usage_cost is not None
        assert ticket.cost_microdollars == int(usage_cost * 1_000_000)
    bodies = [r.body for r in gist_api.requests]
    assert len(bodies) == 24
    assert all(b["tool_choice"] == {"type": "tool", "name": GIST_TOOL} for b in bodies)
    assert all(b["model"] == MODEL for b in bodies)
    images = [b for b in bodies if b["messages"][0]["content"][0]["type"] == "image"]
    assert images and images[0]["messages"][0]["content"][0]["source"]["media_type"] == "image/png"
    assert sum(t.cache_read_input_tokens for t in stored.values()) > 0  # the shared prefix
    assert all(KEY not in json.dumps(r.headers) for r in gist_api.requests)
    again = triage(inbox, gist_api)  # nothing new: nothing is sent, nothing re-gisted
    assert again.done == 0 and len(gist_api.requests) == 24


def test_an_invalid_gist_gets_one_corrective_retry_with_the_errors(inbox, gist_api):
    gist_api.add(tool_reply(GIST_TOOL, BAD, id="toolu_bad"), tool_reply(GIST_TOOL, GOOD))
    tally = triage(inbox, gist_api, ["T-00001"])
    ticket = tickets(inbox)["T-00001"]
    assert tally.triaged == 1 and ticket.status == "triaged"
    assert ticket.gist_lines() == GOOD["lines"] and ticket.category == "refund"
    _, retry = (r.body for r in gist_api.requests)
    assert retry["messages"][1]["content"][0]["id"] == "toolu_bad"
    result = retry["messages"][2]["content"][0]
    assert result["is_error"] and result["tool_use_id"] == "toolu_bad"
    assert "lines: List should have at least 3 items" in result["content"]
    assert ticket.output_tokens == 14  # both calls are billed (7 output tokens each)


def test_invalid_twice_fails_the_ticket_with_the_reason_and_stores_no_gist(inbox, gist_api):
    gist_api.add(tool_reply(GIST_TOOL, BAD), text_reply("I'd rather chat."))
    tally = triage(inbox, gist_api, ["T-00002"])
    ticket = tickets(inbox)["T-00002"]
    assert tally.failed == 1 and ticket.status == "failed"
    assert ticket.gist is None and ticket.category is None
    assert ticket.failure is not None
    assert "invalid gist twice" in ticket.failure and "no record_gist call" in ticket.failure
    assert ticket.claimed_by is None and ticket.cost_microdollars is not None


def test_a_transient_api_error_leaves_the_ticket_for_the_next_run(inbox, gist_api):
    gist_api.add(server_error(retry_after_ms=1), server_error(retry_after_ms=1))
    tally = triage(inbox, gist_api, ["T-00003"], max_retries=1)
    ticket = tickets(inbox)["T-00003"]
    assert tally.retry == 1 and ticket.status == "new" and ticket.claimed_by is None
    assert triage(inbox, gist_api, ["T-00003"]).triaged == 1


class LearningLimiter(RateLimiter):
    """A limiter that counts the answers it was taught from and the output paid."""

    learned = 0
    paid = 0

    def learn(self, headers: httpx2.Headers, status: int) -> None:
        self.learned += 1
        super().learn(headers, status)

    def pay_output(self, tokens: int) -> None:
        self.paid += tokens
        super().pay_output(tokens)


def test_every_answer_teaches_the_limiter_so_its_first_answer_probe_ends(inbox, gist_api):
    # Until one answer is back only one request goes out (the limits are unknown); an
    # answer the limiter never heard of would hold every later request for probe_wait.
    limiter = LearningLimiter(probe_wait=make_limiter(Settings()).probe_wait)
    assert limiter.probe_wait > 0
    tally = triage(inbox, gist_api, concurrency=4, limiter=limiter)
    assert tally.triaged == 24
    assert limiter.learned == len(gist_api.requests) == 24
    assert limiter.paid == tally.usage.output_tokens > 0  # every reply's output is charged


class CountingLimiter(RateLimiter):
    """A limiter that counts the slots taken."""

    taken = 0

    def acquire(self, tokens: int) -> float:
        self.taken += 1
        return super().acquire(tokens)


def test_a_429_is_resent_without_a_new_slot_and_a_5xx_takes_one(inbox, gist_api):
    gist_api.add(rate_limited(retry_after_ms=1), rate_limited(retry_after_ms=1))
    limiter = CountingLimiter()
    assert triage(inbox, gist_api, ["T-00003"], limiter=limiter).triaged == 1
    assert len(gist_api.requests) == 3 and limiter.taken == 1  # no SDK retries either
    gist_api.add(server_error(retry_after_ms=1))
    limiter = CountingLimiter()
    assert triage(inbox, gist_api, ["T-00004"], limiter=limiter, max_retries=1).triaged == 1
    assert limiter.taken == 2


def test_retry_delay_follows_the_servers_hint_else_backs_off():
    limited = anthropic.RateLimitError(
        "slow down",
        response=httpx2.Response(429, headers={"retry-after-ms": "250"}, request=REQUEST),
        body=None,
    )
    assert retry_delay(limited, 1) == 0.25
    plain = anthropic.InternalServerError(
        "oops", response=httpx2.Response(500, request=REQUEST), body=None
    )
    assert 0.375 <= retry_delay(plain, 1) <= 0.5 and 3.0 <= retry_delay(plain, 4) <= 4.0


def test_a_rejected_request_fails_the_ticket(inbox, gist_api):
    gist_api.add(bad_request("messages.0.content.0.source: image too large"))
    triage(inbox, gist_api, ["T-00004"])
    ticket = tickets(inbox)["T-00004"]
    assert ticket.status == "failed" and ticket.failure is not None
    assert "bad_request: 400" in ticket.failure and "image too large" in ticket.failure


def test_a_ticket_claimed_by_a_live_process_is_left_alone(inbox, gist_api):
    other = new_owner()  # this very process: alive
    assert claim(inbox, other, "T-00005", [])
    triage(inbox, gist_api, ["T-00005"])
    assert tickets(inbox)["T-00005"].status == "new" and gist_api.requests == []


def test_a_claim_left_by_a_dead_process_is_taken_over(inbox, gist_api):
    dead = f"{socket.gethostname()}:999999999:abcd1234"  # no such pid on this host
    assert claim(inbox, dead, "T-00006", [])
    assert triage(inbox, gist_api, ["T-00006"]).triaged == 1


@dataclass
class FakeTime:
    """A clock that only moves when the limiter sleeps; every wait is kept."""

    now: float = 0.0
    waits: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def limiter(self, requests_per_minute: int) -> RateLimiter:
        return RateLimiter(requests_per_minute, clock=self.clock, sleep=self.sleep)


def test_every_call_goes_through_the_shared_rate_limiter(inbox, gist_api):
    time = FakeTime()
    limiter = time.limiter(requests_per_minute=10)
    triage(inbox, gist_api, concurrency=1, limiter=limiter)
    assert len(gist_api.requests) == 24
    # A token bucket of 10 a minute: the first call goes at once, each later one 6 s apart.
    assert limiter.acquired == 24
    assert sum(time.waits) == pytest.approx(23 * 6.0)


def test_the_limiter_learns_the_burst_the_server_allows_and_uses_it(inbox):
    time = FakeTime()
    # Configured as one a second (a burst of one); the server lets a minute's worth out at once.
    limiter = time.limiter(requests_per_minute=60)
    server_limit = ServerRateLimit(requests_per_minute=60, burst_seconds=60)
    api = FakeMessagesAPI(responder=ForcedToolResponder(), rate_limit=server_limit)
    with api:
        assert triage(inbox, api, concurrency=1, limiter=limiter).triaged == 24
        answers = [r.answer for r in api.requests]

    assert answers.count("rate limited") == 0
    assert time.waits == []  # the first answer showed 59 left: the other 23 went at once
    assert limiter.bursts()["requests"] == 59.0  # the server's 60, less one of arrival slack


def test_batch_price_is_half_the_realtime_price():

    usage = Usage(input_tokens=1000, output_tokens=200, cache_read_input_tokens=5000)
    full = cost(MODEL, usage)
    assert full is not None and batch_cost(MODEL, usage) == full * Decimal("0.5")
    assert batch_cost("unknown-model", usage) is None
