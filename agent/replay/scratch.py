"""Scratch stores for scenario runs: seeded once, then copied (a file copy beats re-seeding).

Seeding the demo store takes about a second; copying a seeded SQLite file takes
milliseconds. Demo data is dated relative to the moment it is generated, so a template
is only reused while it is younger than TEMPLATE_MAX_AGE: a run never sees data more than
that much older than a freshly seeded store would be.
"""

from __future__ import annotations

import atexit
import json
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

TEMPLATE_MAX_AGE = 60.0  # seconds
_templates: dict[str, tuple[Path, float]] = {}
_lock = threading.Lock()
_directory: list[Path] = []


def _template_dir() -> Path:
    if not _directory:
        path = Path(tempfile.mkdtemp(prefix="support-agent-templates-"))
        atexit.register(shutil.rmtree, path, True)
        _directory.append(path)
    return _directory[0]


def scratch_store(target: Path, key: dict[str, object], fill: Callable[[str], None]) -> str:
    """A SQLite URL at `target` holding what `fill(url)` puts in an empty store, from a copy."""
    name = json.dumps(key, sort_keys=True, default=str)
    with _lock:
        cached = _templates.get(name)
        if cached is None or time.monotonic() - cached[1] > TEMPLATE_MAX_AGE:
            path = _template_dir() / f"template-{len(_templates)}-{time.monotonic_ns()}.db"
            url = f"sqlite:///{path}"
            fill(url)
            with closing(sqlite3.connect(path)) as connection:  # all of it in the main file
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cached = (path, time.monotonic())
            _templates[name] = cached
        shutil.copyfile(cached[0], target)
    return f"sqlite:///{target}"
