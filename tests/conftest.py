"""Shared fixtures: a fresh SQLite store per test with the toy domain's table."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.model.breaker import reset_breakers
from agent.model.ratelimit import reset_limiters
from agent.store.engine import make_engine
from agent.testing.pg import fresh_schema
from tests.toy import ToyValue


@pytest.fixture(autouse=True)
def fresh_wire_state() -> Iterator[None]:
    """Circuit breakers and rate limiters are per process: each test starts with fresh ones."""
    reset_breakers()
    reset_limiters()
    yield
    reset_breakers()
    reset_limiters()


@pytest.fixture(scope="session")
def engine_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with every table and the toy rows, built once per test process."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    eng = make_engine(f"sqlite:///{path}")
    with Session(eng) as session:
        session.add(ToyValue(name="a", value=1))
        session.add(ToyValue(name="b", value=2))
        session.commit()
    eng.dispose()
    with closing(sqlite3.connect(path)) as connection:  # everything in the main file
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def engine(tmp_path: Path, engine_template: Path) -> Iterator[Engine]:
    """A fresh SQLite store per test: a copy of the template (faster than building one)."""
    path = tmp_path / "test.db"
    shutil.copyfile(engine_template, path)
    eng = make_engine(f"sqlite:///{path}")
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
    with fresh_schema(base) as url:
        yield url


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the seed-0 retail demo store, built once per test process."""
    from tools.retail import seed_demo

    path = tmp_path_factory.mktemp("retail") / "demo.db"
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        seed_demo(session, 0)
        session.commit()
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def toy_store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The toy rows on SQLite, then on PostgreSQL (skipped with the reason when unset)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("engine")
        return
    engine = make_engine(request.getfixturevalue("pg_url"))
    with Session(engine) as session:
        session.add(ToyValue(name="a", value=1))
        session.add(ToyValue(name="b", value=2))
        session.commit()
    yield engine
    engine.dispose()
