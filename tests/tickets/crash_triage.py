"""A triage process for the crash test: `python -m tests.tickets.crash_triage URL BASE_URL MODE`.

It triages every new ticket of the SQLite store at URL against the fake API at
BASE_URL, realtime (4 at a time) or as batches, and may be SIGKILLed anywhere.
"""

from __future__ import annotations

import sys

from agent.config import Settings
from agent.store.engine import make_engine
from tools.tickets.batch import Backoff, BatchTriage
from tools.tickets.claims import candidates, new_owner
from tools.tickets.connection import make_limiter, sdk_client
from tools.tickets.progress import LogReporter, Tally
from tools.tickets.realtime import RealtimeTriage

KEY = "sk-test-crash-not-a-real-key"
MODEL = "claude-haiku-4-5"


def main(argv: list[str]) -> int:
    """Entry point: URL BASE_URL realtime|batch."""
    url, base_url, mode = argv
    engine = make_engine(url)
    settings = Settings(max_retries=2)
    client = sdk_client(settings, KEY, base_url)
    reporter = LogReporter(Tally())
    print("ready", flush=True)
    if mode == "batch":
        BatchTriage(engine, client, MODEL, new_owner(), reporter, Backoff(0.05, 1.0, 0.05)).run(
            None
        )
    else:
        run = RealtimeTriage(
            engine, client, make_limiter(settings), MODEL, new_owner(), reporter, 4
        )
        run.run(candidates(engine))
    print("finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
