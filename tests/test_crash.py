"""Crash test: a worker SIGKILLed at random points and resumed applies each confirmed write once.

The kill points are random; the assertions are not: each conversation's plan (value, the
customer's yes or no, the team lead's decision) depends only on SEED.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crash_worker import audit, plan, run_killed

SEED = 7
CONVERSATIONS = 40
KILLS = 4


def test_plans_cover_every_path() -> None:
    plans = [plan(SEED, i) for i in range(CONVERSATIONS)]
    paths = {
        (p.asks_customer, p.needs_approval, p.answer, p.needs_approval and p.lead_approves)
        for p in plans
    }
    assert (False, False, "yes", False) in paths  # 13: denied before anyone is asked
    assert (True, False, "yes", False) in paths  # confirmed
    assert (True, False, "no", False) in paths  # declined
    assert (True, True, "yes", True) in paths  # confirmed and approved
    assert (True, True, "yes", False) in paths  # confirmed, lead denies
    assert (True, True, "no", False) in paths or (True, True, "no", True) in paths


@pytest.mark.slow
def test_sigkilled_worker_resumes_and_applies_each_confirmed_write_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    log_path = tmp_path / "worker.log"
    rng = random.Random()
    with log_path.open("w") as log:
        landed = run_killed(url, CONVERSATIONS, SEED, KILLS, lambda: rng.uniform(0.1, 0.6), log)
    report = audit(url, CONVERSATIONS, SEED)
    worker_log = log_path.read_text()[-3000:]
    assert landed >= 1, worker_log
    assert report.problems == [], worker_log
    assert (report.duplicates, report.lost_events, report.unapproved) == (0, 0, 0)
    assert report.writes_once == report.expected_writes
    assert report.expected_writes == sum(plan(SEED, i).writes for i in range(CONVERSATIONS))
