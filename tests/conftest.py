"""Shared fixtures: a fresh SQLite store per test with the toy domain's table."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.model.breaker import reset_breakers
from agent.model.ratelimit import reset_limiters
from agent.store.engine import make_engine
from tests.toy import ToyValue


@pytest.fixture(autouse=True)
def fresh_wire_state() -> Iterator[None]:
    """Circuit breakers and rate limiters are per process: each test starts with fresh ones."""
    reset_breakers()
    reset_limiters()
    yield
    reset_breakers()
    reset_limiters()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    with Session(eng) as session:
        session.add(ToyValue(name="a", value=1))
        session.add(ToyValue(name="b", value=2))
        session.commit()
    yield eng
    eng.dispose()


PG_ENV = "SUPPORT_AGENT_TEST_PG_URL"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(
            f"{PG_ENV} is not set (a PostgreSQL URL, e.g. postgresql://postgres@127.0.0.1/test)"
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base, create=False)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
