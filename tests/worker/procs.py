"""A worker process for the worker tests and the load bench: the shop domain, ShopModel.

`python -m tests.worker.procs URL [--delay S] [--lease S] [--concurrency N]` works until
SIGTERM, then finishes its current job and exits 0.
"""

from __future__ import annotations

import argparse

from agent.config import Settings
from agent.loop import Agent
from agent.service.runtime import service_agent
from agent.store.engine import make_engine
from agent.store.lease import Lease
from agent.worker.jobs import WaitingDecisions, standard_handlers
from agent.worker.runner import Worker
from tests.service.shop import DOMAIN, ShopModel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    engine = make_engine(args.url)

    def make_agent() -> Agent:
        agent = service_agent(DOMAIN, Settings(), engine, ShopModel(delay=args.delay))
        # A dead worker's conversation lease runs out as fast as its job lease.
        agent.lease = Lease(engine, ttl=args.lease, wait=1.0)
        return agent

    worker = Worker(
        engine,
        standard_handlers(engine, make_agent),
        concurrency=args.concurrency,
        lease_seconds=args.lease,
        poll_seconds=0.05,
        sources=[WaitingDecisions()],
    )
    worker.stop_on_signals()
    print(f"worker {worker.owner} ready", flush=True)
    worker.run()
    print("worker stopped", flush=True)


if __name__ == "__main__":
    main()
