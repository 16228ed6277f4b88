"""Triage SIGKILLed at random points and run again: no ticket gisted twice, none lost.

Kill points are random; what must hold is not: every ticket ends triaged with the
gist the fake API derives from its own text, billed for one answer, and a batch
whose id was stored is polled again rather than created again.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from agent.store.engine import make_engine
from agent.testing.fake_batches import FakeBatches, ForcedToolResponder, fill_schema
from agent.testing.fake_server import FakeMessagesAPI
from agent.testing.prompt_cache import estimate_tokens
from tools.tickets.gist import gist_tool, ticket_text
from tools.tickets.tables import Ticket, TriageBatch

from .conftest import seeded_url

ROOT = Path(__file__).resolve().parents[2]
TICKETS = 30
KILLS = 3
CONCURRENCY = 4
TICKET_ID = re.compile(r"^Ticket (\S+) via", re.MULTILINE)


def spawn(url: str, base_url: str, mode: str, log) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.tickets.crash_triage", url, base_url, mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready" once imports are done and the store is open
    return proc


def run_killed(url: str, api: FakeMessagesAPI, mode: str, log, delay) -> int:
    """Kill runs until KILLS landed (or one finished), then run one to the end."""
    landed = 0
    while landed < KILLS:
        proc = spawn(url, api.base_url, mode, log)
        time.sleep(delay())
        if proc.poll() is not None:
            assert proc.wait() == 0
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        landed += 1
    final = spawn(url, api.base_url, mode, log)
    try:
        assert final.wait(timeout=120) == 0
    finally:
        if final.poll() is None:
            final.kill()
            final.wait()
    return landed


def audit(url: str) -> list[Ticket]:
    engine = make_engine(url)
    with Session(engine) as session:
        tickets = list(session.exec(select(Ticket)).all())
    engine.dispose()
    schema = gist_tool()["input_schema"]
    for ticket in tickets:
        assert ticket.status == "triaged", (ticket.id, ticket.status, ticket.failure)
        assert ticket.claimed_by is None and ticket.batch_key is None
        answer = fill_schema(schema, ticket_text(ticket))
        assert ticket.gist_lines() == answer["lines"], ticket.id  # its own gist, no mix-up
        assert ticket.output_tokens == estimate_tokens(answer) + 20, ticket.id  # billed once
    return tickets


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_sigkilled_triage_reruns_to_every_ticket_gisted_once(tmp_path, mode):
    url = seeded_url(tmp_path, TICKETS)
    batches = FakeBatches(processing_seconds=0.8)
    api = FakeMessagesAPI(responder=ForcedToolResponder(latency=(0.05, 0.2)), batches=batches)
    rng = random.Random()
    with api, (tmp_path / "triage.log").open("w") as log:
        landed = run_killed(url, api, mode, log, lambda: rng.uniform(0.05, 1.2))
    worker_log = (tmp_path / "triage.log").read_text()[-3000:]
    assert "Traceback" not in worker_log, worker_log
    tickets = audit(url)
    assert len(tickets) == TICKETS
    if mode == "realtime":
        asked = Counter(
            match.group(1)
            for r in api.requests
            if r.answer == "stream" or r.answer == "json"
            for match in [TICKET_ID.search(r.body["messages"][0]["content"][-1]["text"])]
            if match
        )
        assert set(asked) == {t.id for t in tickets}
        again = sum(n - 1 for n in asked.values())
        assert again <= landed * CONCURRENCY  # only answers lost with a killed process
    else:
        engine = make_engine(url)
        with Session(engine) as session:
            rows = list(session.exec(select(TriageBatch)).all())
        engine.dispose()
        with_id = sum(r.batch_id is not None for r in rows)
        cut = sum(r.batch_id is None for r in rows)
        assert with_id <= batches.created <= with_id + cut  # created again only if cut
        assert all(r.state == "ended" for r in rows)
