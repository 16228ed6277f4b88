"""Shared fixtures: a fresh SQLite store per test with the toy domain's table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.store import make_engine
from tests.toy import ToyValue


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    with Session(eng) as session:
        session.add(ToyValue(name="a", value=1))
        session.add(ToyValue(name="b", value=2))
        session.commit()
    yield eng
    eng.dispose()
