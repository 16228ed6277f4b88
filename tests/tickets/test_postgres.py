"""Triage on PostgreSQL: two concurrent runs share the inbox, each ticket gisted once."""

from __future__ import annotations

import threading

from sqlmodel import Session, select

from agent.config import Settings
from agent.store.engine import make_engine
from tools.retail import DOMAIN
from tools.tickets.batch import Backoff, BatchTriage
from tools.tickets.claims import candidates, new_owner
from tools.tickets.connection import make_limiter, sdk_client
from tools.tickets.demo import seed_inbox
from tools.tickets.progress import LogReporter, Tally
from tools.tickets.realtime import RealtimeTriage
from tools.tickets.tables import Ticket

from .conftest import KEY

MODEL = "claude-haiku-4-5"


def test_two_runs_at_once_on_postgres_gist_every_ticket_once(pg_url, gist_api):
    engine = make_engine(pg_url)
    with Session(engine) as session:
        DOMAIN.seed_demo(session, 0)
        seed_inbox(session, 0, 30)
        session.commit()
    client = sdk_client(Settings(max_retries=0), KEY, gist_api.base_url)
    tallies = [Tally(), Tally()]
    todo = candidates(engine)
    runs = [
        RealtimeTriage(
            engine, client, make_limiter(Settings()), MODEL, new_owner(), LogReporter(t), 3
        )
        for t in tallies
    ]
    threads = [threading.Thread(target=run.run, args=(todo,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(t.triaged for t in tallies) == 30  # each stored by exactly one run
    assert len([r for r in gist_api.requests if r.answer in ("json", "stream")]) == 30
    with Session(engine) as session:
        tickets = session.exec(select(Ticket)).all()
    assert all(t.status == "triaged" and len(t.gist_lines()) == 3 for t in tickets)
    with Session(engine) as session:  # a fresh inbox, this time as a batch
        seed_inbox(session, 0, 5)
        session.commit()
    BatchTriage(engine, client, MODEL, new_owner(), LogReporter(Tally()), Backoff(0.05)).run(None)
    with Session(engine) as session:
        assert [t.status for t in session.exec(select(Ticket)).all()] == ["triaged"] * 5
    client.close()
    engine.dispose()
