"""The `support-agent` command line: one module per command group."""

from __future__ import annotations


def main() -> None:
    """Console-script entry point (imports the commands only when run)."""
    import sys

    try:
        from agent.cli.app import main as run
    except KeyboardInterrupt:  # Ctrl-C while starting up: no traceback
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    run()
