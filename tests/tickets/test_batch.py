"""Batch triage: half price, custom_id mapping, retries, and polling resumed after a crash."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from agent.config import Settings
from agent.model.usage import batch_cost
from agent.testing.fake_batches import FakeBatches, fill_schema
from agent.testing.fake_server import bad_request, tool_reply
from agent.testing.prompt_cache import estimate_tokens
from tests.tickets.conftest import ticket_usage
from tools.tickets.batch import Backoff, BatchTriage
from tools.tickets.claims import new_owner
from tools.tickets.connection import sdk_client
from tools.tickets.gist import GIST_TOOL, gist_tool, ticket_text
from tools.tickets.progress import LogReporter, Tally
from tools.tickets.tables import Ticket, TriageBatch

from .conftest import KEY

MODEL = "claude-haiku-4-5"
BAD = {"lines": ["one", "two"], "category": "return", "urgency": "normal", "next_step": "Call."}


class Crash(BaseException):
    """Stands in for SIGKILL while the run waits for the batch."""


def run_batch(engine, api, ids=None, *, sleep=lambda s: None):
    client = sdk_client(Settings(max_retries=0), KEY, api.base_url)
    tally = Tally()
    triage = BatchTriage(
        engine, client, MODEL, new_owner(), LogReporter(tally), Backoff(0.01), sleep=sleep
    )
    try:
        triage.run(ids)
    finally:
        client.close()
    return tally


def stored(engine) -> list[Ticket]:
    with Session(engine) as session:
        return list(session.exec(select(Ticket).order_by(col(Ticket.seq))).all())


def batches(engine) -> list[TriageBatch]:
    with Session(engine) as session:
        return list(session.exec(select(TriageBatch)).all())


def test_a_batch_gists_every_ticket_at_half_price(inbox, gist_api):
    tally = run_batch(inbox, gist_api, sleep=lambda s: time.sleep(0.05))
    tickets = stored(inbox)
    assert tally.triaged == 24 and tally.failed == 0
    assert all(t.status == "triaged" and len(t.gist_lines()) == 3 for t in tickets)
    assert all(t.triage_mode == "batch" and t.batch_key is None for t in tickets)
    for ticket in tickets:
        price = batch_cost(MODEL, ticket_usage(ticket))
        assert price is not None and ticket.cost_microdollars == int(price * 1_000_000)
    assert gist_api.batches is not None and gist_api.batches.created == 1
    (batch,) = batches(inbox)
    assert batch.state == "ended" and batch.batch_id == "msgbatch_fake_000001"
    assert sorted(batch.requests.values()) == [t.id for t in sorted(tickets, key=lambda t: t.id)]
    create = next(r for r in gist_api.requests if r.answer == "batch create")
    sent = create.body["requests"]
    assert all(r["params"]["tool_choice"]["name"] == GIST_TOOL for r in sent)
    assert {r["custom_id"]: None for r in sent}.keys() == batch.requests.keys()
    polls = [r for r in gist_api.requests if r.answer == "batch retrieve"]
    assert len(polls) >= 2  # it waited: processing takes 0.2 s here


def test_errored_and_expired_requests_go_into_the_next_batch(inbox, gist_api):
    gist_api.batches = FakeBatches(processing_seconds=0.0, errored_every=5, expired_every=7)
    tally = run_batch(inbox, gist_api)
    assert [t.status for t in stored(inbox)] == ["triaged"] * 24
    assert gist_api.batches.created == 3  # 24 -> 7 retried -> 2 retried
    assert tally.retry == 9 and tally.triaged == 24


def test_a_request_the_api_rejects_fails_its_ticket_only(inbox, gist_api):
    gist_api.add(bad_request("messages.0.content: invalid image"))
    run_batch(inbox, gist_api)
    tickets = stored(inbox)
    failed = [t for t in tickets if t.status == "failed"]
    assert len(failed) == 1 and failed[0].gist is None
    assert failed[0].failure == "API invalid_request_error: messages.0.content: invalid image"
    assert sum(t.status == "triaged" for t in tickets) == 23


def test_an_invalid_gist_is_corrected_in_the_next_batch(inbox, gist_api):
    gist_api.add(tool_reply(GIST_TOOL, BAD, id="toolu_bad"))
    run_batch(inbox, gist_api, ["T-00001", "T-00002"])
    tickets = {t.id: t for t in stored(inbox)}
    assert gist_api.batches is not None and gist_api.batches.created == 2
    second = [r for r in gist_api.requests if r.answer == "batch create"][1].body["requests"]
    (retry,) = second
    result = retry["params"]["messages"][2]["content"][0]
    assert (
        result["tool_use_id"] == "toolu_bad"
        and "lines: List should have at least 3" in (result["content"])
    )
    first = min(batches(inbox), key=lambda b: b.created_at)
    bad = tickets[first.requests["r0"]]
    answer = fill_schema(gist_tool()["input_schema"], ticket_text(bad))
    assert bad.gist_lines() == answer["lines"]  # the corrected gist, from the ticket text
    assert bad.output_tokens == 7 + estimate_tokens(answer) + 20  # both attempts billed
    assert all(tickets[t].status == "triaged" for t in ("T-00001", "T-00002"))
    assert all(t.correction is None for t in tickets.values())


def test_invalid_twice_in_batches_fails_the_ticket(inbox, gist_api):
    gist_api.add(tool_reply(GIST_TOOL, BAD), tool_reply(GIST_TOOL, BAD))
    run_batch(inbox, gist_api, ["T-00003"])
    (ticket,) = [t for t in stored(inbox) if t.id == "T-00003"]
    assert ticket.status == "failed" and ticket.gist is None
    assert ticket.failure is not None and ticket.failure.startswith("invalid gist twice")


def test_a_restart_resumes_polling_the_stored_batch_instead_of_paying_twice(inbox, gist_api):
    def crash(_: float) -> None:
        raise Crash

    with pytest.raises(Crash):
        run_batch(inbox, gist_api, sleep=crash)
    (batch,) = batches(inbox)
    assert batch.batch_id == "msgbatch_fake_000001" and batch.state == "submitted"
    assert all(t.batch_key == batch.key and t.status == "new" for t in stored(inbox))
    tally = run_batch(inbox, gist_api, sleep=lambda s: time.sleep(0.05))
    assert gist_api.batches is not None and gist_api.batches.created == 1
    assert tally.triaged == 24 and all(t.status == "triaged" for t in stored(inbox))


def test_a_submission_cut_before_its_id_was_stored_is_sent_again(inbox, gist_api):
    dead = f"{socket.gethostname()}:999999999:cafe0000"
    with Session(inbox) as session, session.begin():
        session.add(TriageBatch(key="k1", owner=dead, model=MODEL, requests={"r0": "T-00001"}))
        session.flush()
        session.execute(update(Ticket).where(col(Ticket.id) == "T-00001").values(batch_key="k1"))
    run_batch(inbox, gist_api, ["T-00001"])
    assert [t.status for t in stored(inbox) if t.id == "T-00001"] == ["triaged"]
    states = {b.key: (b.batch_id, b.state) for b in batches(inbox)}
    assert states["k1"] == (None, "ended")
