"""QueueApprover.record with a Supervisor, limits against slow clients, session revocation."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from agent.clock import utcnow
from agent.gate.approvals import QueueApprover, Supervisor
from agent.service.limits import BodyLimit
from agent.service.users import revoke_user
from tests.service.conftest import shop_agent
from tests.service.test_inbox import sign_in

LEAD = Supervisor("lee", frozenset({"team-lead"}))


def waiting(shop) -> str:
    agent = shop_agent(shop)
    agent.run("c", "refund $600 on order #1001", customer_id="cus_mia")
    return agent.run("c", "yes").awaiting[0]


def test_a_late_decision_stores_the_request_as_expired(shop):
    rid = waiting(shop)
    queue = QueueApprover(shop)
    late = utcnow() + timedelta(days=2)
    with pytest.raises(ValueError, match="expired"):
        queue.record(rid, approved=True, supervisor=LEAD, reason="", now=late)
    assert [r.status for r in queue.list(now=utcnow())] == ["expired"]
    with pytest.raises(ValueError, match="already expired"):
        queue.record(rid, approved=True, supervisor=LEAD, reason="")


def test_wrong_role_is_refused_and_leaves_the_request_pending(shop):
    rid = waiting(shop)
    queue = QueueApprover(shop)
    with pytest.raises(PermissionError, match="team-lead"):
        queue.record(rid, approved=True, supervisor=Supervisor("sam", frozenset()), reason="")
    with pytest.raises(ValueError, match="reason"):
        queue.record(rid, approved=False, supervisor=LEAD, reason="  ")
    assert [r.status for r in queue.list()] == ["pending"]
    row = queue.record(rid, approved=True, supervisor=LEAD, reason="ok")
    assert row.decision is not None and (row.decision["by"], row.decision["role"]) == (
        "lee",
        "team-lead",
    )


def test_a_body_that_trickles_in_is_cut_off():
    sent: list[dict[str, object]] = []

    async def app(scope, receive, send):
        raise AssertionError("the app must not see a body that never finished")

    async def receive():
        await anyio.sleep(0.05)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": []}
    anyio.run(BodyLimit(app, max_bytes=10_000, timeout=0.3), scope, receive, send)
    assert sent[0]["status"] == 408


def test_revoking_a_user_ends_their_inbox_session(client, tokens, shop):
    sign_in(client, tokens.lead)
    assert client.get("/inbox", follow_redirects=False).status_code == 200
    revoke_user(shop, "lee")
    assert client.get("/inbox", follow_redirects=False).status_code == 303
