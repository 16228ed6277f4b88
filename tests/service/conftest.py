"""Fixtures for the service: a shop store, the app on it, one token per kind of caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.config import Settings
from agent.loop import Agent
from agent.service.app import create_app
from agent.service.runtime import ServiceContext, service_agent
from agent.service.users import add_user
from agent.store.engine import make_engine
from agent.worker.jobs import standard_handlers
from agent.worker.queue import JobQueue
from agent.worker.runner import Worker
from tests.service.shop import DOMAIN, ShopModel, ShopOrder


def shop_engine(url: str) -> Engine:
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        session.add(ShopOrder(order_id="#1001", customer_id="cus_mia", total=900.0))
        session.add(ShopOrder(order_id="#1002", customer_id="cus_other", total=900.0))
    return engine


def shop_agent(engine: Engine, delay: float = 0.0) -> Agent:
    return service_agent(DOMAIN, Settings(), engine, ShopModel(delay=delay))


@dataclass
class Tokens:
    app: str
    lead: str
    clerk: str
    admin: str

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, who)}"}


def make_tokens(engine: Engine) -> Tokens:
    return Tokens(
        app=add_user(engine, "helpdesk", "app", []),
        lead=add_user(engine, "lee", "supervisor", ["team-lead"]),
        clerk=add_user(engine, "sam", "supervisor", ["agent"]),
        admin=add_user(engine, "root", "admin", []),
    )


def drain(engine: Engine, secret: str | None = None, limit: int = 50) -> int:
    """Run queued jobs in this thread until none is due; how many ran."""
    handlers = standard_handlers(engine, lambda: shop_agent(engine), webhook_secret=secret)
    worker = Worker(engine, handlers)
    queue = JobQueue(engine, owner="test-drain")
    ran = 0
    while ran < limit and (job := queue.claim(tuple(handlers))) is not None:
        worker.run_one(queue, job)
        ran += 1
    return ran


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Engine]:
    engine = shop_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def tokens(shop: Engine) -> Tokens:
    return make_tokens(shop)


@pytest.fixture
def client(shop: Engine) -> Iterator[TestClient]:
    ctx = ServiceContext(engine=shop, make_agent=lambda: shop_agent(shop))
    with TestClient(create_app(ctx, max_body_bytes=16 * 1024)) as c:
        yield c
