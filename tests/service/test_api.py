"""The JSON API: auth, conversations, confirmations, approvals, problem+json, limits, SSE."""

from __future__ import annotations

import itertools
import json

from sqlmodel import Session, select

from agent.config import Settings
from agent.service.users import ServiceUser
from agent.store.tables import Execution
from agent.worker.queue import Job
from tests.service.conftest import drain
from tests.service.shop import order

PROBLEM = "application/problem+json"


def start(client, tokens, customer="cus_mia"):
    made = client.post(
        "/v1/conversations", json={"customer_id": customer}, headers=tokens.auth("app")
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


def say(client, tokens, cid, text, who="app"):
    return client.post(
        f"/v1/conversations/{cid}/messages", json={"text": text}, headers=tokens.auth(who)
    )


def test_tokens_are_stored_hashed_and_revocation_locks_out(client, tokens, shop):
    with Session(shop) as session:
        stored = [u.token_sha256 for u in session.exec(select(ServiceUser)).all()]
    assert tokens.app not in stored and all(len(h) == 64 for h in stored)
    assert client.get("/v1/approvals", headers=tokens.auth("lead")).status_code == 200
    from agent.service.users import revoke_user

    revoke_user(shop, "lee")
    refused = client.get("/v1/approvals", headers=tokens.auth("lead"))
    assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM


def test_errors_are_problem_json_without_traces(client, tokens):
    missing = client.post("/v1/conversations", json={})
    assert missing.status_code == 401 and missing.headers["content-type"] == PROBLEM
    assert missing.json()["status"] == 401 and "Traceback" not in missing.text
    bogus = client.get("/v1/conversations/x", headers={"Authorization": "Bearer sat_nope"})
    assert bogus.status_code == 401
    assert client.get("/v1/conversations/nope", headers=tokens.auth("app")).status_code == 404
    bad = client.post(
        "/v1/conversations",
        content=b"{not json",
        headers={**tokens.auth("app"), "Content-Type": "application/json"},
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    cid = start(client, tokens)
    empty = say(client, tokens, cid, "")
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "body.text"
    big = client.post(
        f"/v1/conversations/{cid}/messages",
        content=json.dumps({"text": "x" * 20_000}),
        headers={**tokens.auth("app"), "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and big.headers["content-type"] == PROBLEM


def test_callers_only_do_what_their_kind_allows(client, tokens):
    cid = start(client, tokens)
    assert say(client, tokens, cid, "hello", who="lead").status_code == 403
    assert client.get("/v1/approvals", headers=tokens.auth("app")).status_code == 403
    assert client.get(f"/v1/conversations/{cid}", headers=tokens.auth("lead")).status_code == 200
    from agent.service.users import add_user

    other_app = add_user(client.app.state.ctx.engine, "widget", "app", [])
    other = {"Authorization": f"Bearer {other_app}"}
    assert client.get(f"/v1/conversations/{cid}", headers=other).status_code == 404


def test_small_refund_needs_the_customers_structured_confirmation(client, tokens, shop):
    cid = start(client, tokens)
    ran = say(client, tokens, cid, "Please refund $40 on order #1001")
    assert ran.status_code == 200 and ran.json()["status"] == "paused"
    view = client.get(f"/v1/conversations/{cid}", headers=tokens.auth("app")).json()
    assert view["customer_id"] == "cus_mia"
    pending = view["pending_confirmations"][0]
    assert "Refund $40.00 on order #1001" in pending["summary"]
    url = f"/v1/conversations/{cid}/confirmations/{pending['tool_use_id']}"
    stale = client.post(
        url, json={"decision": "confirm", "args_hash": "0" * 64}, headers=tokens.auth("app")
    )
    assert stale.status_code == 409
    body = {"decision": "confirm", "args_hash": pending["args_hash"]}
    assert client.post(url, json=body, headers=tokens.auth("lead")).status_code == 403
    assert client.post(url, json=body, headers=tokens.auth("app")).status_code == 202
    assert client.post(url, json=body, headers=tokens.auth("app")).status_code == 409
    assert drain(shop) == 1
    view = client.get(f"/v1/conversations/{cid}", headers=tokens.auth("app")).json()
    assert view["status"] == "done" and "on its way" in view["last_reply"]
    with Session(shop) as session:
        assert order(session, "#1001").refunds == 1


def test_verified_customer_cannot_act_on_another_customers_order(client, tokens, shop):
    cid = start(client, tokens)
    ran = say(client, tokens, cid, "refund $40 on order #1002").json()
    assert ran["status"] == "done" and "did not go through" in ran["reply"]
    with Session(shop) as session:
        assert order(session, "#1002").refunds == 0


def large_refund_waiting(client, tokens):
    cid = start(client, tokens)
    assert say(client, tokens, cid, "refund $600 on order #1001").json()["status"] == "paused"
    answered = say(client, tokens, cid, "yes").json()
    assert answered["status"] == "paused" and answered["reason"] == "approval"
    return cid, answered["awaiting"][0]


def test_large_refund_is_decided_by_a_supervisor_holding_the_role(client, tokens, shop):
    cid, rid = large_refund_waiting(client, tokens)
    listed = client.get("/v1/approvals?status=pending", headers=tokens.auth("lead")).json()
    assert [a["request_id"] for a in listed] == [rid]
    assert listed[0]["facts"]["refund_total"] == 600.0 and listed[0]["role"] == "team-lead"
    assert client.get("/v1/approvals", headers=tokens.auth("clerk")).json() == []
    clerk = client.post(f"/v1/approvals/{rid}/approve", json={}, headers=tokens.auth("clerk"))
    assert clerk.status_code == 404  # not even visible to a supervisor without the role
    no_reason = client.post(
        f"/v1/approvals/{rid}/deny", json={"reason": " "}, headers=tokens.auth("lead")
    )
    assert no_reason.status_code == 422
    ok = client.post(
        f"/v1/approvals/{rid}/approve", json={"reason": "checked"}, headers=tokens.auth("lead")
    )
    assert ok.status_code == 200 and ok.json()["decision"]["by"] == "lee"
    again = client.post(f"/v1/approvals/{rid}/approve", json={}, headers=tokens.auth("admin"))
    assert again.status_code == 409
    assert drain(shop) == 1
    view = client.get(f"/v1/conversations/{cid}", headers=tokens.auth("app")).json()
    assert view["status"] == "done" and "on its way" in view["last_reply"]
    with Session(shop) as session:
        assert order(session, "#1001").refunds == 1
        assert len(session.exec(select(Execution)).all()) == 1
    assert drain(shop) == 0  # nothing left, nothing re-run


def test_admin_without_the_role_cannot_approve_and_the_request_stays_pending(client, tokens, shop):
    _cid, rid = large_refund_waiting(client, tokens)
    refused = client.post(f"/v1/approvals/{rid}/approve", json={}, headers=tokens.auth("admin"))
    assert refused.status_code == 403 and "team-lead" in refused.json()["detail"]
    assert (
        client.get(f"/v1/approvals/{rid}", headers=tokens.auth("lead")).json()["status"]
        == "pending"
    )


def test_denial_reaches_the_customer_and_nothing_runs(client, tokens, shop):
    cid, rid = large_refund_waiting(client, tokens)
    denied = client.post(
        f"/v1/approvals/{rid}/deny", json={"reason": "too much"}, headers=tokens.auth("lead")
    )
    assert denied.status_code == 200
    drain(shop)
    view = client.get(f"/v1/conversations/{cid}", headers=tokens.auth("app")).json()
    assert "too much" in view["last_reply"]
    with Session(shop) as session:
        assert order(session, "#1001").refunds == 0


def test_transcript_is_redacted_unless_the_caller_may_see_pii(client, tokens):
    cid = start(client, tokens)
    say(client, tokens, cid, "I am mia.hernandez@example.com")
    masked = client.get(f"/v1/conversations/{cid}/transcript", headers=tokens.auth("app")).json()
    assert masked["redacted"] is True and "mia.hernandez@example.com" not in json.dumps(masked)
    full = client.get(f"/v1/conversations/{cid}/transcript", headers=tokens.auth("admin")).json()
    assert full["redacted"] is False and "mia.hernandez@example.com" in json.dumps(full)


def test_messages_stream_as_server_sent_events(client, tokens):
    cid = start(client, tokens)
    with client.stream(
        "POST",
        f"/v1/conversations/{cid}/messages",
        json={"text": "refund $40 on order #1001"},
        headers={**tokens.auth("app"), "Accept": "text/event-stream"},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    kinds = [
        line.removeprefix("event: ") for line in body.splitlines() if line.startswith("event: ")
    ]
    assert kinds[0] == "text" and "tool_call" in kinds and "gate_decision" in kinds
    assert kinds[-2:] == ["paused", "status"]
    status = json.loads(body.strip().splitlines()[-1].removeprefix("data: "))
    assert status["status"] == "paused" and status["reason"] == "confirmation"


def test_openapi_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    assert "/v1/conversations/{cid}/messages" in schema["paths"]
    assert "/v1/approvals/{request_id}/deny" in schema["paths"]
    assert not any(p.startswith("/inbox") for p in schema["paths"])


def test_lost_resume_job_is_recreated_from_the_decided_approval(client, tokens, shop):
    from agent.worker.jobs import WaitingDecisions

    cid, rid = large_refund_waiting(client, tokens)
    client.post(f"/v1/approvals/{rid}/approve", json={}, headers=tokens.auth("lead"))
    with Session(shop) as session, session.begin():  # as if the service died before queueing
        for job in session.exec(select(Job)).all():
            session.delete(job)
    WaitingDecisions().poll(shop)
    assert drain(shop) == 1
    assert (
        client.get(f"/v1/conversations/{cid}", headers=tokens.auth("app")).json()["status"]
        == "done"
    )
    WaitingDecisions().poll(shop)  # the decision is consumed: nothing more to do
    assert drain(shop) == 0


def _streamed(shop, tokens, replies, **settings_options) -> str:
    """The SSE body of one message through the service, the real SDK and the fake API."""
    from fastapi.testclient import TestClient

    from agent.model.anthropic import AnthropicModel
    from agent.service.app import create_app
    from agent.service.runtime import ServiceContext, service_agent
    from agent.testing.fake_server import FakeMessagesAPI
    from tests.service.shop import DOMAIN

    with FakeMessagesAPI(replies) as api:
        settings = Settings(base_url=api.base_url, **settings_options)

        def make_agent():
            return service_agent(DOMAIN, settings, shop, AnthropicModel(settings, api_key="test"))

        with TestClient(create_app(ServiceContext(shop, make_agent))) as client:
            cid = start(client, tokens)
            with client.stream(
                "POST",
                f"/v1/conversations/{cid}/messages",
                json={"text": "hi"},
                headers={**tokens.auth("app"), "Accept": "text/event-stream"},
            ) as response:
                return "".join(response.iter_text())


def _shown(body: str) -> str:
    """What a client following the protocol has on screen at the end."""
    shown = ""
    for previous, line in itertools.pairwise(body.splitlines()):
        if previous == "event: text_delta":
            shown += json.loads(line.removeprefix("data: "))["text"]
        elif previous == "event: text_reset":
            shown = ""
    return shown


def test_stream_carries_the_models_text_deltas(shop, tokens):
    """With the real SDK against the local fake Messages API, text arrives as deltas."""
    from agent.testing.fake_server import text_reply

    body = _streamed(
        shop, tokens, [text_reply("Hello there, how can I help today?")], max_retries=0
    )
    assert "event: text_delta" in body and "event: text_reset" not in body
    assert _shown(body) == "Hello there, how can I help today?"
    assert "event: status" in body


def test_a_retried_stream_tells_the_client_to_discard_what_it_showed(shop, tokens):
    """A stream broken mid-reply is retried; the client gets text_reset, never the text twice."""
    from agent.testing.fake_server import text_reply
    from agent.testing.wire import overloaded

    replies = [
        text_reply("Let me check that for you", stream_error=overloaded(), stream_error_after=5),
        text_reply("Your order shipped."),
    ]
    body = _streamed(shop, tokens, replies, max_retries=2, retry_base_delay=0.01)
    assert "event: text_reset" in body
    assert _shown(body) == "Your order shipped."
