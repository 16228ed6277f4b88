"""The toy registry (tests/toy.py) as a Domain, for replay, scenario and plugin tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from agent.domain import Domain
from tests.toy import ToyValue, registry

POLICY = Path(__file__).with_name("toy_policy.yaml")


def seed_demo(session: Session, seed: int) -> None:
    """Two values, a=1 and b=2, shifted by the seed."""
    session.add(ToyValue(name="a", value=1 + seed))
    session.add(ToyValue(name="b", value=2 + seed))
    session.flush()


def import_file(session: Session, path: Path) -> None:
    """Values from a JSON object {name: value}."""
    for name, value in json.loads(path.read_text()).items():
        session.add(ToyValue(name=name, value=int(value)))
    session.flush()


def snapshot(session: Session) -> dict[str, Any]:
    """Every value with its write count."""
    rows = session.exec(select(ToyValue)).all()
    return {"values": {r.name: {"value": r.value, "writes": r.writes} for r in rows}}


DOMAIN = Domain(
    name="toy",
    registry=registry(),
    system_prompt="You are a toy support agent. Look values up before changing them.",
    policy_path=POLICY,
    seed_demo=seed_demo,
    import_file=import_file,
    snapshot=snapshot,
)
