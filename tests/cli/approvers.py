"""Be a configured approver in CLI tests: an [approvers] roster and the OS user it names."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest


def act_as(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    user: str,
    roster: dict[str, list[str]] | None,
) -> Path:
    """Write a config with this roster (None: no [approvers] table) and log in as `user`."""
    config = tmp_path / "support-agent.toml"
    lines = []
    if roster is not None:
        lines.append("[approvers]")
        lines += [f"{name} = {roles!r}".replace("'", '"') for name, roles in roster.items()]
    config.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("SUPPORT_AGENT_CONFIG", str(config))
    monkeypatch.setattr(getpass, "getuser", lambda: user)
    return config
