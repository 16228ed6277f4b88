"""Pytest fixtures for the fake Messages API server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.testing.fake_server import FakeMessagesAPI


@pytest.fixture
def fake_api() -> Iterator[FakeMessagesAPI]:
    """A started FakeMessagesAPI with an empty queue, stopped at teardown."""
    server = FakeMessagesAPI().start()
    try:
        yield server
    finally:
        server.stop()
