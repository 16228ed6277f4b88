"""The `support-agent` command: one module per command group, registered here.

Start-up is kept fast: command modules import typer (and their option types) only; each
command imports what it needs when it runs. A new command is a module plus a line below.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agent.cli import chat, conversations, run
from agent.cli import policy as policy_cli
from agent.cli import replay as replay_cli
from agent.cli import store as store_cli
from agent.cli.common import GLOBAL_CONFIG, GLOBAL_OVERRIDES
from agent.cli.root import RootGroup

app = typer.Typer(
    cls=RootGroup,
    help="A tool-using customer-support agent with guarded actions.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain, fast help (see common.command_group)
    pretty_exceptions_enable=False,
)
app.command("run")(run.run)
app.command("chat")(chat.chat)
app.command("resume")(chat.resume)
app.add_typer(conversations.app, name="conversations")
app.add_typer(store_cli.transcript_app, name="transcript")
app.add_typer(store_cli.approvals_app, name="approvals")
app.add_typer(policy_cli.app, name="policy")
replay_cli.register(app)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        typer.echo(f"support-agent {version('support-agent')}")
        raise typer.Exit()


@app.callback()
def global_options(
    model: Annotated[
        str | None, typer.Option(help="Model id (else config file or $SUPPORT_AGENT_MODEL).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="max_tokens per model reply (else config or env).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Config file (TOML; default ./support-agent.toml or $SUPPORT_AGENT_CONFIG)."
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options that apply to every command; they may come before or after the command."""
    from agent.logs import configure_logging

    configure_logging()
    GLOBAL_OVERRIDES.update({"model": model, "max_tokens": max_tokens})
    GLOBAL_CONFIG[:] = [config] if config else []


def main() -> None:
    """Console-script entry point: one clear line instead of a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("\ninterrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: one line, details only in the debug log
        from loguru import logger
        from rich.console import Console
        from rich.text import Text

        logger.opt(exception=exc).debug("unhandled error")
        message = Text.assemble(("error:", "red"), f" {type(exc).__name__}: {exc}")
        Console(stderr=True).print(message)
        sys.exit(2)
