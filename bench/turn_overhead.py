"""Turn overhead: the Agent against a fair bare loop per model turn, and 16-thread throughput.

Run from the repository root:

    python -m bench.turn_overhead [--reps 40] [--threads 16] [--per-thread 6] [--rounds 3]
                                  [--retail FILE] [--pg URL] [--quick]

1. Latency. One scripted retail conversation (authenticate by email, read the order,
   cancel it after the customer's yes, reply: five model calls) is run by the Agent
   (build_agent + ScriptedModel) and by bench.bare_loop (same input models, same tool
   functions, same event payloads, one transaction per model turn), interleaved in one
   process, each repetition on fresh copies of one seeded SQLite file (WAL,
   synchronous=FULL: agent.store.engine.make_engine). Prints the median ms per model
   turn of both, their ratio, and per model turn the commits (a SQLAlchemy "commit"
   listener), transactions, statements and lease statements of each.
2. Throughput. --threads worker threads (one Agent each, one shared engine) run
   --per-thread conversations each (on as many customers' pending orders) against a
   scripted model that sleeps --delay seconds per call, --rounds times on a fresh
   store holding the real retail data (--retail, default ../shared/data/retail/db.json,
   imported; without it the demo store, whose 34 such orders allow 2 per thread), on
   SQLite and on PostgreSQL (--pg or $SUPPORT_AGENT_TEST_PG_URL; a fresh
   schema per round, dropped afterwards; skipped with the reason when unset). Prints
   conversations/s as a share of the ideal, threads / (model calls per conversation x delay).
   For scale, the bare loop then runs the same rounds (calling the model outside its
   transactions: one held across a 50 ms call would queue every thread behind it).
   Several conversations per thread measure a worker that keeps going: with one or two,
   the round is mostly its start, where all threads call the model and the store in step.
   The timed rounds carry no counting listeners (an engine with connection events pays
   for them on every statement); transactions and statements per turn are counted on
   two more conversations in a round of their own.

Ends with one line: RESULT ratio=... commits_per_turn=... threads16_sqlite=... threads16_pg=...
(shares as fractions; "skipped" when PostgreSQL was not given). Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from contextlib import AbstractContextManager
from itertools import count
from pathlib import Path

from sqlalchemy.engine import Engine

from agent.transcript.events import GateDecided
from bench.turn_threads import Store, pg_store, throughput
from bench.turn_workload import (
    PG_ENV,
    Arena,
    Plan,
    agent_conversation,
    bare_conversation,
    model_calls,
    plans,
    reference_decisions,
    seed_template,
    sqlite_store,
)

DELAY = 0.05
RETAIL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "retail" / "db.json"


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (--quick: a smoke run of a few seconds)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=40, help="latency repetitions (each side)")
    parser.add_argument("--threads", type=int, default=16, help="worker threads")
    parser.add_argument(
        "--per-thread", type=int, help="conversations per thread (6 on the retail data, else 2)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="thread rounds, each on a new store")
    parser.add_argument("--delay", type=float, default=DELAY, help="seconds per model call")
    parser.add_argument(
        "--retail",
        type=Path,
        default=RETAIL if RETAIL.is_file() else None,
        help="retail JSON document for the thread rounds (default: the shared one, if there)",
    )
    parser.add_argument("--pg", default=os.environ.get(PG_ENV), help=f"PostgreSQL URL (${PG_ENV})")
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    args = parser.parse_args(argv)
    if args.retail is not None and not args.retail.is_file():
        parser.error(f"--retail {args.retail}: no such file")
    if args.per_thread is None:
        args.per_thread = 2 if args.retail is None else 6
    if args.quick:
        args.reps, args.per_thread, args.rounds = min(args.reps, 3), 1, 1
    if min(args.reps, args.threads, args.per_thread, args.rounds) < 1 or args.delay <= 0:
        parser.error("--reps, --threads, --per-thread and --rounds must be >= 1; --delay > 0")
    return args


def latency(
    template: Path, plan: Plan, reps: int, tmp: Path
) -> tuple[float, float, float, dict[str, GateDecided]]:
    """Interleaved Agent and bare runs on fresh copies.

    Returns the ratio, the Agent's commits per turn, the bare loop's CPU seconds per
    conversation, and the reference decisions the bare loop copies.
    """
    arenas = {"agent": Arena(template, tmp / "agent.db"), "bare": Arena(template, tmp / "bare.db")}
    decisions = reference_decisions(arenas["agent"], arenas["bare"], plan)  # also warms up
    timings: dict[str, list[float]] = {"agent": [], "bare": []}
    for rep in range(reps):
        # Alternate who goes first so neither side always runs on a warmer cache.
        for side in ("agent", "bare") if rep % 2 == 0 else ("bare", "agent"):
            arena = arenas[side]
            run = agent_conversation if side == "agent" else bare_conversation
            seconds, turns = run(arena.fresh(), plan, f"bench-{rep}", arena.counter, decisions)
            timings[side].append(seconds / turns)
    for arena in arenas.values():
        arena.engine.dispose()
    agent, bare = statistics.median(timings["agent"]), statistics.median(timings["bare"])
    for side, median in (("agent", agent), ("bare", bare)):
        counted = arenas[side].counter.per_turn()
        print(f"{side:5}: median {median * 1000:.2f} ms per model turn; {counted}")
    ratio = agent / bare
    print(f"ratio agent/bare: {ratio:.2f} (target <= 1.5); {reps} repetitions each, interleaved")
    counter, bare_counter = arenas["agent"].counter, arenas["bare"].counter
    return ratio, counter.commits / counter.turns, bare_counter.cpu / reps, decisions


def stores(args: argparse.Namespace, template: Path, tmp: Path) -> dict[str, Store | str]:
    """Fresh-store factories for the thread rounds, or why a database is skipped."""
    fresh = count(1)

    def sqlite() -> AbstractContextManager[Engine]:
        return sqlite_store(template, tmp / f"threads-{next(fresh)}.db")

    def pg() -> AbstractContextManager[Engine]:
        return pg_store(args.pg, args.retail)

    skipped = f"skipped ({PG_ENV} is not set and no --pg URL was given)"
    return {"sqlite": sqlite, "pg": pg if args.pg else skipped}


def main(argv: list[str] | None = None) -> int:
    """Print every figure and the RESULT line."""
    args = parse(argv)
    began = time.monotonic()
    shares: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-turns-") as tmp_name:
        tmp = Path(tmp_name)
        template = tmp / "template.db"
        seed_template(template)
        with sqlite_store(template, tmp / "plans.db") as engine:
            plan = plans(engine)[0]
        ratio, commits, bare_cpu, decisions = latency(template, plan, args.reps, tmp)
        # One process runs Python on one core at a time: the bare loop's own CPU already
        # bounds what the threads can reach on this machine, whatever the Agent adds.
        ideal = args.threads / (model_calls(plan) * args.delay)
        print(
            f"for scale: the bare loop's own CPU, {bare_cpu * 1000:.1f} ms per conversation, "
            f"would cap a {args.threads}-thread share at {1 / (bare_cpu * ideal):.2f} here"
        )
        if args.retail is None:
            print(f"threads: the demo store ({RETAIL} is not there; see --retail)")
            threads_template = template
        else:
            print(f"threads: the retail data of {args.retail}, imported")
            threads_template = tmp / "retail.db"
            seed_template(threads_template, args.retail)
        for label, store in stores(args, threads_template, tmp).items():
            if isinstance(store, str):
                print(f"threads {label}: {store}")
                shares[label] = "skipped"
                continue
            share = throughput(store, args.threads, args.per_thread, args.rounds, args.delay, label)
            shares[label] = f"{share:.3f}"
            # For scale: the floor on the same threads and store (model called outside its
            # transactions, or every thread would queue behind a write lock held 50 ms).
            floor = throughput(
                store, args.threads, args.per_thread, args.rounds, args.delay, label, decisions
            )
            print(f"threads {label}: agent/bare share {share / floor:.2f}")
    print(f"took {time.monotonic() - began:.1f} s")
    print(
        f"RESULT ratio={ratio:.2f} commits_per_turn={commits:.2f} "
        f"threads{args.threads}_sqlite={shares['sqlite']} threads{args.threads}_pg={shares['pg']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
