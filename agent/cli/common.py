"""What every `support-agent` subcommand shares: errors, settings, options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from agent.config import ConfigError, Settings
from agent.text import printable

DbOption = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path.")]
GLOBAL_OVERRIDES: dict[str, object] = {}
GLOBAL_CONFIG: list[Path] = []


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr, no traceback."""
    line = Text.assemble(("error:", "red"), " ", printable(message))  # never markup
    Console(stderr=True, soft_wrap=True).print(line, highlight=False)
    raise typer.Exit(code)


def settings_for(db: str | None = None) -> Settings:
    """Settings: defaults < config file < environment < global flags < --db."""
    overrides = dict(GLOBAL_OVERRIDES)
    if db:
        overrides["db_url"] = db
    try:
        return Settings.load(overrides, GLOBAL_CONFIG[0] if GLOBAL_CONFIG else None)
    except ConfigError as exc:
        fail(str(exc))
