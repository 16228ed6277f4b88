"""Crash soak: SIGKILL the crash worker many times, resume it, count broken invariants.

Run from the repository root:

    python -m bench.crash_soak [--kills 200] [--conversations 40] [--seed 1]

Each round is a fresh SQLite file with --conversations planned conversations; workers are
killed at random points until one finishes on its own, then the store is audited. Rounds
repeat until --kills kills have landed. Prints one line:

    kills=... writes_once=... duplicates=0 lost_events=0 unapproved=0 ...

and exits 1 if any write ran twice or without its yes/approval, an event is missing, or the
store differs from the plans in any other way (details on stderr).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.crash_worker import Audit, audit, last_event_type, run_killed


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs to land in total")
    parser.add_argument("--conversations", type=int, default=40, help="conversations per round")
    parser.add_argument("--seed", type=int, default=1, help="plan seed of the first round")
    parser.add_argument("--max-delay", type=float, default=0.6, help="longest life, seconds")
    return parser.parse_args(argv)


def merge(total: Audit, part: Audit, label: str) -> None:
    """Add one round's audit to the running total."""
    total.expected_writes += part.expected_writes
    total.writes_once += part.writes_once
    total.duplicates += part.duplicates
    total.lost_events += part.lost_events
    total.unapproved += part.unapproved
    total.problems += [f"{label}: {problem}" for problem in part.problems]


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its summary line."""
    args = parse(argv)
    jitter = random.Random()
    started = time.monotonic()
    total, landed_after = Audit(), Counter[str]()
    kills = rounds = 0
    with tempfile.TemporaryDirectory(prefix="crash-soak-") as tmp:
        log_path = Path(tmp) / "worker.log"
        with log_path.open("w") as log:
            while kills < args.kills:
                url = f"sqlite:///{Path(tmp) / f'round-{rounds}.db'}"
                seed = args.seed + rounds

                def note(url: str = url) -> None:
                    landed_after[last_event_type(url)] += 1

                kills += run_killed(
                    url,
                    args.conversations,
                    seed,
                    args.kills - kills,
                    lambda: jitter.uniform(0.05, args.max_delay),
                    log,
                    on_kill=note,
                )
                merge(total, audit(url, args.conversations, seed), f"round {rounds} seed {seed}")
                rounds += 1
        if total.problems:
            print(log_path.read_text()[-2000:], file=sys.stderr)
    elapsed = time.monotonic() - started
    print(
        f"kills={kills} writes_once={total.writes_once} duplicates={total.duplicates} "
        f"lost_events={total.lost_events} unapproved={total.unapproved} "
        f"expected_writes={total.expected_writes} rounds={rounds} elapsed={elapsed:.1f}s"
    )
    where = " ".join(f"{k}={v}" for k, v in landed_after.most_common())
    print(f"kills landed after: {where}", file=sys.stderr)
    for problem in total.problems[:20]:
        print(f"problem: {problem}", file=sys.stderr)
    broken = total.duplicates or total.lost_events or total.unapproved or total.problems
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
