"""Exactly once: a write never runs twice, across resumes and concurrent workers."""

from __future__ import annotations

import multiprocessing
import uuid

import pytest
from sqlmodel import Session, col, select

from agent.gate.approvals import QueueApprover, Supervisor
from agent.store.engine import make_engine
from agent.store.tables import Event, Execution
from tests.toy import ToyValue
from tests.workers import resume_worker, text_step, tool_step, toy_agent


def paused_on_approval(url: str, name: str) -> str:
    """A conversation whose big write waits in the queue, then approved by a team lead."""
    cid = f"conc-{uuid.uuid4().hex[:8]}"
    agent = toy_agent(url, [tool_step("set_value", {"name": name, "value": 900}, "t1")])
    agent.run(cid, "set it big")
    result = agent.run(cid, "yes")
    assert result.status == "paused" and result.awaiting
    queue = QueueApprover(agent.engine)
    lee = Supervisor(name="lee", roles=frozenset({"team-lead"}))
    queue.record(result.awaiting[0], approved=True, supervisor=lee, reason="ok")
    return cid


def resume_concurrently(url: str, cid: str, workers: int = 2) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=resume_worker, args=(url, cid, barrier)) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0


def assert_once(url: str, cid: str, name: str) -> None:
    engine = make_engine(url)
    with Session(engine) as s:
        row = s.get(ToyValue, name)
        assert row is not None and row.value == 900 and row.writes == 1
        runs = s.exec(select(Execution).where(Execution.conversation_id == cid)).all()
        assert [r.tool for r in runs] == ["set_value"]
        seqs = s.exec(
            select(Event.seq).where(Event.conversation_id == cid).order_by(col(Event.seq))
        ).all()
        assert list(seqs) == list(range(1, len(seqs) + 1))
    engine.dispose()


def seed_value(url: str) -> str:
    name = f"v-{uuid.uuid4().hex[:8]}"
    engine = make_engine(url)
    with Session(engine) as s:
        s.add(ToyValue(name=name, value=1))
        s.commit()
    engine.dispose()
    return name


@pytest.mark.slow
def test_two_processes_resume_same_approved_conversation_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'conc.db'}"
    name = seed_value(url)
    cid = paused_on_approval(url, name)
    resume_concurrently(url, cid)
    assert_once(url, cid, name)


@pytest.mark.slow
def test_two_processes_resume_same_approved_conversation_postgres(pg_url):
    url = pg_url
    name = seed_value(url)
    cid = paused_on_approval(url, name)
    resume_concurrently(url, cid, workers=3)
    assert_once(url, cid, name)


def test_resume_after_completion_does_not_rerun(tmp_path):
    url = f"sqlite:///{tmp_path / 'again.db'}"
    name = seed_value(url)
    cid = paused_on_approval(url, name)
    for _ in range(3):
        toy_agent(url, [text_step("done")]).resume(cid)
    assert_once(url, cid, name)
