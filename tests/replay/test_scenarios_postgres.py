"""The same scenarios on PostgreSQL: the store, the queue and the ledger behave alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import Settings
from agent.replay.scenario import load_scenario
from agent.replay.scenario_run import run_scenario
from tools.retail import DOMAIN

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.parametrize(
    "name",
    [
        "cancel-with-confirmation",
        "large-refund-approved",
        "approval-expired",
        "third-return-in-30-days",
    ],
)
def test_scenario_on_postgres(pg_url, name):
    outcome = run_scenario(
        load_scenario(SCENARIOS / f"{name}.yaml"), DOMAIN, Settings.load(), db_url=pg_url
    )
    assert outcome.failures == []
