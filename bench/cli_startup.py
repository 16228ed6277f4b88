"""CLI start-up benchmark: how long `support-agent --help` takes, next to `python -c pass`.

Run from the repository root (about 10 seconds):

    python -m bench.cli_startup [--runs 15]

Each command runs --runs times in a fresh interpreter (runs alternate, so background load
hits both alike); prints the median and spread of each, and the ratio of the medians.
The last line is `RESULT help_s=<median seconds> ratio=<help / python -c pass>`.
Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

ENTRY = "from agent.cli import main; main()"


def timed(command: list[str]) -> float:
    """Wall-clock seconds of one run; the command must succeed."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def help_command() -> list[str]:
    """The installed console script if there is one, else the same entry point via -c."""
    script = shutil.which("support-agent")
    return [script, "--help"] if script else [sys.executable, "-c", ENTRY, "--help"]


def describe(name: str, samples: list[float]) -> str:
    """'name: median 0.123 s (min 0.1, max 0.2, n=15)'."""
    return (
        f"{name}: median {statistics.median(samples):.3f} s "
        f"(min {min(samples):.3f}, max {max(samples):.3f}, n={len(samples)})"
    )


def main(argv: list[str] | None = None) -> int:
    """Print both medians, their ratio, and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="runs of each command")
    args = parser.parse_args(argv)
    command = help_command()
    baseline_command = [sys.executable, "-c", "pass"]
    timed(command)  # warm the file cache and .pyc files: measure start-up, not the disk
    helps: list[float] = []
    baselines: list[float] = []
    for _ in range(args.runs):
        baselines.append(timed(baseline_command))
        helps.append(timed(command))
    help_s = statistics.median(helps)
    ratio = help_s / statistics.median(baselines)
    print(f"command: {' '.join(command)}")
    print(describe("support-agent --help", helps))
    print(describe("python -c pass", baselines))
    print(f"ratio of medians: {ratio:.1f}")
    print(f"RESULT help_s={help_s:.3f} ratio={ratio:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
