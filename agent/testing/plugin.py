"""The pytest plugin shipped with support-agent (registered via the pytest11 entry point)."""

from __future__ import annotations
