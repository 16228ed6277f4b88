"""Webhooks: HMAC-SHA256 over timestamp and body, retried with backoff, every attempt kept."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import Session, col, select

from agent.worker.jobs import notify_run
from agent.worker.queue import Job
from agent.worker.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookAttempt,
    backoff,
    sign,
    verify,
)
from tests.service.conftest import drain, shop_agent

SECRET = "whsec_test_only"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that fails the first `fail` deliveries."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.received: list[dict[str, object]] = []
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(
                    SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER]
                )
                if not ok:
                    receiver.rejected += 1
                    self.send_response(401)
                elif receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(503)
                else:
                    receiver.received.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=1)
    yield r
    r.server.shutdown()


def test_signature_binds_body_and_timestamp():
    now = int(time.time())
    signature = sign(SECRET, now, b'{"a":1}')
    assert verify(SECRET, str(now), b'{"a":1}', signature)
    assert not verify(SECRET, str(now), b'{"a":2}', signature)
    assert not verify("other", str(now), b'{"a":1}', signature)
    assert not verify(SECRET, str(now - 3600), b'{"a":1}', sign(SECRET, now - 3600, b'{"a":1}'))
    assert not verify(SECRET, "soon", b'{"a":1}', signature)


def test_backoff_grows_and_is_capped():
    assert [backoff(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert backoff(30) == 600.0


def test_failed_delivery_is_retried_with_backoff_and_every_attempt_recorded(shop, receiver):
    agent = shop_agent(shop)
    result = agent.run("c1", "refund $600 on order #1001", customer_id="cus_mia")
    assert result.status == "paused" and result.reason == "confirmation"
    result = agent.run("c1", "yes")
    notify_run(shop, [receiver.url], result, resumed=False)
    assert drain(shop, SECRET) == 1  # the receiver answers 503: retried later
    with Session(shop) as session:
        job = session.exec(select(Job).where(Job.kind == "webhook")).one()
        assert job.status == "queued" and job.attempts == 1 and "503" in job.last_error
        job.run_after = job.created_at  # skip the backoff wait
        session.add(job)
        session.commit()
    assert drain(shop, SECRET) == 1
    assert receiver.rejected == 0
    [event] = receiver.received
    assert event["type"] == "approval.requested" and event["data"]["conversation_id"] == "c1"
    assert event["data"]["requests"] == result.awaiting
    with Session(shop) as session:
        attempts = session.exec(select(WebhookAttempt).order_by(col(WebhookAttempt.attempt))).all()
        assert [(a.attempt, a.status_code) for a in attempts] == [(1, 503), (2, 204)]
        assert session.exec(select(Job).where(Job.kind == "webhook")).one().status == "done"


def test_resumed_reply_goes_to_the_webhook(shop, receiver):
    from agent.gate.approvals import QueueApprover, Supervisor
    from agent.service.users import add_user
    from agent.worker.jobs import ResumeJob
    from agent.worker.queue import Claimed

    receiver.fail = 0
    add_user(shop, "lee", "supervisor", ["team-lead"])
    agent = shop_agent(shop)
    agent.run("c2", "refund $600 on order #1001", customer_id="cus_mia")
    rid = agent.run("c2", "yes").awaiting[0]
    QueueApprover(shop).record(
        rid, approved=True, supervisor=Supervisor("lee", frozenset({"team-lead"})), reason="ok"
    )
    ResumeJob(lambda: shop_agent(shop), [receiver.url])(
        Claimed(0, "resume", {"conversation_id": "c2"}, 1, 8)
    )
    assert drain(shop, SECRET) == 1
    [event] = receiver.received
    assert event["type"] == "conversation.replied" and "on its way" in event["data"]["reply"]
