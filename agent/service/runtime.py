"""What the service and the workers share: the store, the agent builder, webhook settings."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from agent.config import Settings
from agent.domain import Domain
from agent.gate.approvals import QueueApprover
from agent.loop import Agent
from agent.model.client import ModelClient
from agent.runtime import build_agent
from agent.service import audit as _audit  # noqa: F401 - registers the table
from agent.service import sessions as _sessions  # noqa: F401 - registers the table
from agent.service.roster import service_roster
from agent.worker import queue as _queue  # noqa: F401 - registers the table
from agent.worker import webhooks as _webhooks  # noqa: F401 - registers the table

# Importing this module registers every table of the service and the workers, so that
# make_engine in any process that builds a service agent creates them all at once.


def service_agent(domain: Domain, settings: Settings, engine: Engine, model: ModelClient) -> Agent:
    """An agent that queues approvals and re-checks them against config + service users."""
    agent = build_agent(domain, settings, engine, model, approver=QueueApprover(engine))
    agent.gate.roster = service_roster(settings, engine)
    return agent


@dataclass
class ServiceContext:
    """The store, how to build an agent, and where webhooks go; shared by API and inbox."""

    engine: Engine
    make_agent: Callable[[], Agent]
    webhook_urls: Sequence[str] = ()
    secure_cookies: bool = False  # set behind HTTPS so the session cookie is never sent in clear
    session_hours: float = 8.0
    inbox_poll_seconds: float = 3.0
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def agent(self) -> Agent:
        """This thread's agent (an Agent caches conversation state and is not shared)."""
        agent: Agent | None = getattr(self._local, "agent", None)
        if agent is None:
            agent = self.make_agent()
            self._local.agent = agent
        return agent
