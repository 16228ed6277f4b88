"""The job queue on SQLite: claiming, leases, fencing, retries, release, graceful SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from agent.clock import utcnow
from agent.store.engine import make_engine
from agent.worker.queue import Claimed, Job, JobQueue, enqueue
from agent.worker.runner import Busy, Worker


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    yield eng
    eng.dispose()


def claim(queue: JobQueue, kinds: tuple[str, ...] = ("resume",)) -> Claimed:
    job = queue.claim(kinds)
    assert job is not None
    return job


def add(engine, kind="resume", key=None, **payload):
    with Session(engine) as session, session.begin():
        return enqueue(session, kind, payload, key=key)


def test_an_open_job_with_the_same_key_is_not_queued_twice(engine):
    assert add(engine, key="resume:c1") is not None
    assert add(engine, key="resume:c1") is None
    queue = JobQueue(engine, owner="a")
    assert queue.finish(claim(queue).id)
    assert add(engine, key="resume:c1") is not None  # done jobs do not block new work


def test_a_claimed_job_is_not_handed_out_again_until_its_lease_expires(engine):
    job_id = add(engine)
    first, second = JobQueue(engine, 30, "a"), JobQueue(engine, 30, "b")
    assert claim(first).id == job_id
    assert second.claim(("resume",)) is None
    with Session(engine) as session, session.begin():  # as if `a` died 31 s ago
        row = session.get(Job, job_id)
        assert row is not None
        row.lease_expires = utcnow() - timedelta(seconds=1)
        session.add(row)
    taken = claim(second)
    assert taken.id == job_id and taken.attempts == 2
    assert not first.finish(job_id) and not first.heartbeat(job_id)  # fenced out
    assert second.heartbeat(job_id) and second.finish(job_id)
    assert second.claim(("resume",)) is None


def test_only_handled_kinds_are_claimed(engine):
    add(engine, kind="triage")
    assert JobQueue(engine, owner="a").claim(("resume", "webhook")) is None
    assert claim(JobQueue(engine, owner="a"), ("triage",)).kind == "triage"


def test_failures_retry_with_backoff_then_fail_for_good(engine):
    add(engine)
    calls = []

    def boom(job):
        calls.append(job.attempts)
        raise RuntimeError("receiver down")

    worker = Worker(engine, {"resume": boom}, backoff_base=0.0)
    queue = JobQueue(engine, owner="a")
    with Session(engine) as session, session.begin():
        session.exec(select(Job)).one().max_attempts = 3
    while (claimed := queue.claim(("resume",))) is not None:
        worker.run_one(queue, claimed)
    assert calls == [1, 2, 3]
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        assert job.status == "failed" and "receiver down" in job.last_error


def test_a_busy_job_is_released_without_counting_an_attempt(engine):
    add(engine)

    def busy(job):
        raise Busy("conversation leased elsewhere", delay=0.0)

    queue = JobQueue(engine, owner="a")
    Worker(engine, {"resume": busy}).run_one(queue, claim(queue))
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        assert (job.status, job.attempts, job.lease_owner) == ("queued", 0, None)


def test_heartbeats_keep_a_long_job_leased(engine):
    add(engine)
    queue = JobQueue(engine, lease_seconds=0.6, owner="a")
    other = JobQueue(engine, owner="b")
    stolen = []

    def slow(job):
        for _ in range(6):
            time.sleep(0.25)
            stolen.append(other.claim(("resume",)))

    Worker(engine, {"resume": slow}, lease_seconds=0.6).run_one(queue, claim(queue))
    assert stolen == [None] * 6
    with Session(engine) as session:
        assert session.exec(select(Job)).one().status == "done"


def test_sigterm_finishes_the_current_job_then_exits(tmp_path):
    from agent.gate.approvals import QueueApprover, Supervisor
    from agent.service.users import add_user
    from agent.worker.jobs import enqueue_resume
    from tests.service.conftest import shop_agent, shop_engine
    from tests.service.shop import order

    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = shop_engine(url)
    add_user(engine, "lee", "supervisor", ["team-lead"])
    agent = shop_agent(engine)
    agent.run("c", "refund $600 on order #1001", customer_id="cus_mia")
    rid = agent.run("c", "yes").awaiting[0]
    lead = Supervisor("lee", frozenset({"team-lead"}))
    QueueApprover(engine).record(rid, approved=True, supervisor=lead, reason="ok")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.worker.procs", url, "--delay", "1.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and "ready" in proc.stdout.readline()
        with Session(engine) as session, session.begin():
            enqueue_resume(session, "c", "test")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with Session(engine) as session:
                if session.exec(select(Job)).one().status == "running":
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    with Session(engine) as session:
        assert session.exec(select(Job)).one().status == "done"
        assert order(session, "#1001").refunds == 1


def test_breaker_hook_queues_resumes_only_once_the_breaker_has_closed(engine):
    from agent.worker.jobs import BreakerResumes

    closed = False
    source = BreakerResumes(is_closed=lambda: closed, paused=lambda session: ["c1", "c2"])
    source.poll(engine)
    with Session(engine) as session:
        assert session.exec(select(Job)).all() == []
    closed = True
    source.poll(engine)
    source.poll(engine)  # still open jobs: not queued twice
    with Session(engine) as session:
        jobs = session.exec(select(Job)).all()
    assert sorted(j.key or "" for j in jobs) == ["resume:c1", "resume:c2"]
