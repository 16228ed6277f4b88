"""Property-test budgets: every example in CI (CI=true) or with SLOW=1, fewer in a local run."""

from __future__ import annotations

import os


def _set(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false")


FULL = _set("CI") or _set("SLOW")


def examples(full: int) -> int:
    """Hypothesis max_examples: `full` in CI, a third of it (at least 40) locally."""
    return full if FULL else max(full // 3, 40)
