"""Fixtures for the inbox tests: a store with the demo retail data and a small demo inbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner, Result

from agent.cli.app import app
from agent.model.client import Usage
from agent.store.engine import make_engine
from agent.testing.fake_batches import FakeBatches, ForcedToolResponder
from agent.testing.fake_server import FakeMessagesAPI
from agent.testing.prompt_cache import PromptCache
from tools.retail import DOMAIN
from tools.tickets.demo import seed_inbox
from tools.tickets.tables import Ticket

KEY = "sk-test-not-a-real-key-tickets-0123"


def seeded_url(tmp_path: Path, tickets: int) -> str:
    """A SQLite store with the demo store (seed 0) and `tickets` demo tickets."""
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    engine = make_engine(url)
    with Session(engine) as session:
        DOMAIN.seed_demo(session, 0)
        seed_inbox(session, 0, tickets)
        session.commit()
    engine.dispose()
    return url


@pytest.fixture
def inbox_url(tmp_path: Path) -> str:
    """A store with 24 demo tickets."""
    return seeded_url(tmp_path, 24)


@pytest.fixture
def inbox(inbox_url: str) -> Iterator[Engine]:
    """An engine on the 24-ticket store."""
    engine = make_engine(inbox_url)
    yield engine
    engine.dispose()


@pytest.fixture
def gist_api() -> Iterator[FakeMessagesAPI]:
    """A fake API that answers forced tool calls from the text and serves batches."""
    server = FakeMessagesAPI(
        responder=ForcedToolResponder(),
        batches=FakeBatches(processing_seconds=0.2),
        prompt_cache=PromptCache(),
    ).start()
    try:
        yield server
    finally:
        server.stop()


def invoke(*args: object, input: str | None = None) -> Result:
    """Run `support-agent ARGS` in-process (the installed app: its commands are mounted lazily)."""
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def ticket_usage(ticket: Ticket) -> Usage:
    """The token bill stored on a triaged ticket, as the pricing functions take it."""
    return Usage(
        input_tokens=ticket.input_tokens,
        output_tokens=ticket.output_tokens,
        cache_creation_input_tokens=ticket.cache_creation_input_tokens,
        cache_read_input_tokens=ticket.cache_read_input_tokens,
    )
