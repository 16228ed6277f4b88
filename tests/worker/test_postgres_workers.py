"""Three worker processes share one PostgreSQL queue; one is SIGKILLed mid-job; all done once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlmodel import Session, col, select

from agent.gate.approvals import QueueApprover, Supervisor
from agent.service.users import add_user
from agent.store.tables import Execution
from agent.worker.jobs import enqueue_resume
from agent.worker.queue import Job
from tests.service.conftest import shop_agent
from tests.service.shop import ShopOrder

CONVERSATIONS = 12


def prepare(engine) -> None:
    """Twelve conversations, each with a $600 refund approved and a resume job queued."""
    add_user(engine, "lee", "supervisor", ["team-lead"])
    lead = Supervisor("lee", frozenset({"team-lead"}))
    agent = shop_agent(engine)
    with Session(engine) as session, session.begin():
        for n in range(CONVERSATIONS):
            session.add(ShopOrder(order_id=f"#{2000 + n}", customer_id=f"cus_{n}", total=900.0))
    for n in range(CONVERSATIONS):
        cid = f"conv_{n}"
        agent.run(cid, f"refund $600 on order #{2000 + n}", customer_id=f"cus_{n}")
        rid = agent.run(cid, "yes").awaiting[0]
        QueueApprover(engine).record(rid, approved=True, supervisor=lead, reason="ok")
        with Session(engine) as session, session.begin():
            enqueue_resume(session, cid, "approved")


def running_job_of(engine, pid: int) -> Job | None:
    with Session(engine) as session:
        jobs = session.exec(select(Job).where(Job.status == "running")).all()
    return next((j for j in jobs if j.lease_owner and f":{pid}:" in j.lease_owner), None)


@pytest.mark.slow
def test_sigkilled_worker_loses_no_job_and_none_runs_twice(pg_url):
    from agent.store.engine import make_engine

    engine = make_engine(pg_url)
    prepare(engine)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.worker.procs", pg_url, "--delay", "0.4", "--lease", "2"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        for _ in range(3)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and "ready" in proc.stdout.readline()
        victim = procs[0]
        deadline = time.monotonic() + 60
        killed_job = None
        while killed_job is None and time.monotonic() < deadline:
            killed_job = running_job_of(engine, victim.pid)
            time.sleep(0.02)
        assert killed_job is not None, "the first worker never took a job"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with Session(engine) as session:
                open_jobs = session.exec(
                    select(Job).where(col(Job.status).in_(("queued", "running")))
                ).all()
            if not open_jobs:
                break
            time.sleep(0.2)
        for proc in procs[1:]:
            proc.send_signal(signal.SIGTERM)
        for proc in procs[1:]:
            assert proc.wait(timeout=30) == 0
    finally:
        for proc in procs:
            proc.kill()
    with Session(engine) as session:
        jobs = session.exec(select(Job)).all()
        assert len(jobs) == CONVERSATIONS and {j.status for j in jobs} == {"done"}
        retaken = session.get(Job, killed_job.id)
        assert retaken is not None and retaken.attempts >= 2  # taken again after the kill
        orders = session.exec(select(ShopOrder)).all()
        assert (
            sorted(o.refunds for o in orders if o.order_id.startswith("#2")) == [1] * CONVERSATIONS
        )
        assert len(session.exec(select(Execution)).all()) == CONVERSATIONS
        from agent.store.tables import Conversation

        statuses = {c.id: c.status for c in session.exec(select(Conversation)).all()}
        assert set(statuses.values()) == {"done"}, statuses
    engine.dispose()
