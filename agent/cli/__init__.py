"""The `support-agent` command line: one module per command group."""

from __future__ import annotations


def main() -> None:
    """Console-script entry point (imports the commands only when run)."""
    from agent.cli.app import main as run

    run()
