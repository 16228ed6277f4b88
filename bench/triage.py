"""Triage benchmark: the 400-ticket demo inbox, realtime under a rate limit, then as a batch.

Run from the repository root:

    python -m bench.triage [--tickets 400] [--scale 0.1] [--concurrency 16]

The fake Messages API answers every gist after a latency of 1-3 s and enforces a
rate limit of 50 requests per minute (tier 1) with 429s; the client shares the
engine's client-side limiter, set to the same limit, which learns from the
`anthropic-ratelimit-*` headers how much of it the server lets out at once. To
finish in about a minute,
time is scaled by --scale: at 0.1 a call takes 0.1-0.3 s and the limit is 50
requests per 6 s window (the same shape, ten times faster).

Ideal wall time: the server's limit is a token bucket that holds a window's worth
(`limit` requests, all available at once) and refills continuously at `limit` per
window, so of N answered calls the first `limit` may start at once and the rest one
every window / limit seconds: the last starts after (N - limit) / limit windows and
ends one mean latency later. (Until issue 10 the ideal counted whole windows,
floor((N - 1) / limit), as if the limit were a fixed window: the same 42.2 s at 400
tickets, but up to a window too generous at other counts.)
Figures: wall time over ideal, the share of HTTP calls answered 429,
tickets failed or left untriaged, dollars realtime vs batch (same tickets, same
gist model, batch at the 50% batch price, its processing time also scaled) and the
token bill split into input, output, cache write and cache read.

Prints figures; asserts nothing about time. Ends with the RESULT line.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agent.config import Settings
from agent.model.client import Usage
from agent.store.engine import make_engine
from agent.testing.fake_batches import FakeBatches, ForcedToolResponder
from agent.testing.fake_limits import ServerRateLimit
from agent.testing.fake_server import FakeMessagesAPI
from agent.testing.prompt_cache import PromptCache
from tools.retail import DOMAIN
from tools.tickets.batch import Backoff, BatchTriage
from tools.tickets.claims import candidates, new_owner
from tools.tickets.connection import make_limiter, sdk_client
from tools.tickets.demo import seed_inbox
from tools.tickets.progress import Outcome, Tally
from tools.tickets.realtime import RealtimeTriage
from tools.tickets.tables import Ticket

MODEL = "claude-haiku-4-5"
KEY = "bench-not-a-real-key"
REQUESTS_PER_MINUTE = 50  # the Messages API's tier-1 limit
LATENCY = (1.0, 3.0)
BATCH_PROCESSING = 60.0  # seconds before the scaled fake batch ends
MESSAGE_ANSWERS = frozenset({"json", "stream", "rate limited"})


@dataclass
class QuietReporter:
    """Counts outcomes without printing a line per ticket."""

    tally: Tally = field(default_factory=Tally)

    def ticket(
        self, ticket_id: str, outcome: Outcome, detail: str, usage: Usage, dollars: Decimal | None
    ) -> None:
        """Count one ticket."""
        self.tally.add(outcome, usage, dollars)

    def note(self, text: str) -> None:
        """Notes are not figures."""


def seeded_store(directory: Path, name: str, tickets: int) -> Engine:
    """A store with the demo retail data and the demo inbox (seed 0)."""
    engine = make_engine(f"sqlite:///{directory / name}")
    with Session(engine) as session:
        DOMAIN.seed_demo(session, 0)
        seed_inbox(session, 0, tickets)
        session.commit()
    return engine


def untriaged(engine: Engine) -> int:
    """Tickets that did not end triaged."""
    with Session(engine) as session:
        return sum(t.status != "triaged" for t in session.exec(select(Ticket)).all())


def bill(usage: Usage) -> str:
    """The token bill split."""
    return (
        f"input {usage.input_tokens}, output {usage.output_tokens}, "
        f"cache write {usage.cache_creation_input_tokens}, "
        f"cache read {usage.cache_read_input_tokens}"
    )


@dataclass
class Figures:
    """What one run measured."""

    wall: float
    tally: Tally
    failed: int
    calls: int = 0
    limited: int = 0


def ideal_seconds(calls: int, window: float, mean_latency: float) -> float:
    """The least wall time the server's bucket allows for `calls`: burst, then its rate."""
    burst, per_second = REQUESTS_PER_MINUTE, REQUESTS_PER_MINUTE / window
    return max(0, calls - burst) / per_second + mean_latency


def realtime(engine: Engine, scale: float, concurrency: int) -> Figures:
    """Triage every ticket realtime against a rate-limited fake API with latency."""
    window = 60.0 * scale
    api = FakeMessagesAPI(
        responder=ForcedToolResponder(latency=(LATENCY[0] * scale, LATENCY[1] * scale), seed=1),
        prompt_cache=PromptCache(),
        # REQUESTS_PER_MINUTE per (scaled) minute, all of it available at once as a burst.
        rate_limit=ServerRateLimit(
            requests_per_minute=REQUESTS_PER_MINUTE / scale, burst_seconds=window
        ),
    )
    settings = Settings(requests_per_minute=REQUESTS_PER_MINUTE, max_retries=4)
    reporter = QuietReporter()
    with api:
        client = sdk_client(settings, KEY, api.base_url)
        run = RealtimeTriage(
            engine,
            client,
            make_limiter(settings, window=window),
            MODEL,
            new_owner(),
            reporter,
            concurrency,
        )
        todo = candidates(engine)
        started = time.perf_counter()
        run.run(todo)
        wall = time.perf_counter() - started
        client.close()
        answers = [r.answer for r in api.requests if r.answer in MESSAGE_ANSWERS]
    figures = Figures(wall, reporter.tally, untriaged(engine))
    figures.calls, figures.limited = len(answers), answers.count("rate limited")
    return figures


def batch(engine: Engine, scale: float) -> Figures:
    """Triage every ticket through the Message Batches API of the fake."""
    api = FakeMessagesAPI(
        responder=ForcedToolResponder(seed=1),
        prompt_cache=PromptCache(),
        batches=FakeBatches(processing_seconds=BATCH_PROCESSING * scale, expired_every=100),
    )
    reporter = QuietReporter()
    with api:
        client = sdk_client(Settings(), KEY, api.base_url)
        run = BatchTriage(
            engine, client, MODEL, new_owner(), reporter, Backoff(first=2.0 * scale, ceiling=6.0)
        )
        started = time.perf_counter()
        run.run(None)
        wall = time.perf_counter() - started
        client.close()
    return Figures(wall, reporter.tally, untriaged(engine))


def main() -> None:
    """Run both modes on the same inbox and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument("--scale", type=float, default=0.1, help="time scale (1.0 = real)")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    window = 60.0 * args.scale
    with tempfile.TemporaryDirectory(prefix="bench-triage-") as tmp:
        inbox = seeded_store(Path(tmp), "rt.db", args.tickets)
        live = realtime(inbox, args.scale, args.concurrency)
        later = batch(seeded_store(Path(tmp), "batch.db", args.tickets), args.scale)
    answered = live.calls - live.limited  # each one a ticket's call or its corrective retry
    ideal = ideal_seconds(answered, window, sum(LATENCY) / 2 * args.scale)
    wall_over_ideal = live.wall / ideal
    share = live.limited / live.calls if live.calls else 0.0
    failed = live.failed + later.failed
    rt_dollars, batch_dollars = live.tally.dollars, later.tally.dollars
    print(
        f"{args.tickets} tickets, {MODEL}, time scale {args.scale} "
        f"(latency {LATENCY[0] * args.scale:.2f}-{LATENCY[1] * args.scale:.2f} s, "
        f"limit {REQUESTS_PER_MINUTE} requests per {window:.1f} s window)"
    )
    print(
        f"realtime: wall {live.wall:.2f} s, ideal {ideal:.2f} s, ratio {wall_over_ideal:.3f}; "
        f"{live.calls} HTTP calls, {live.limited} answered 429 ({share:.2%}); "
        f"concurrency {args.concurrency}"
    )
    print(
        f"realtime: triaged {live.tally.triaged}, failed {live.tally.failed}, "
        f"left {live.tally.retry}; ${rt_dollars:.6f}; tokens {bill(live.tally.usage)}"
    )
    print(
        f"batch: wall {later.wall:.2f} s; triaged {later.tally.triaged}, failed "
        f"{later.tally.failed}, requeued once {later.tally.retry}; ${batch_dollars:.6f} "
        f"({batch_dollars / rt_dollars:.1%} of realtime); tokens {bill(later.tally.usage)}"
    )
    print(
        f"RESULT wall_over_ideal={wall_over_ideal:.3f} http_429_share={share:.4f} "
        f"failed={failed} dollars_realtime={rt_dollars:.4f} dollars_batch={batch_dollars:.4f}"
    )


if __name__ == "__main__":
    main()
