"""`support-agent config show`: the effective configuration, where each value came from."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent.cli.common import GLOBAL_CONFIG, GLOBAL_OVERRIDES, command_group, fail
from agent.config import API_KEY_ENV, ENV_VARS, ConfigError, Settings, find_config_file
from agent.store.engine import redacted_url

app = command_group("Inspect the configuration.")
CREDENTIAL_ENV = (API_KEY_ENV, "ANTHROPIC_AUTH_TOKEN", "AWS_BEARER_TOKEN_BEDROCK")
MASKED = "****"


def masked(name: str, value: Any) -> Any:
    """The value as it may be shown: database passwords and webhook paths masked."""
    if value is None:
        return None
    if name == "db_url":
        return redacted_url(str(value))
    if name == "spend_alert_webhook":
        parts = urlsplit(str(value))  # a webhook's path or query often holds its token
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}/{MASKED}"
    if isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)


def effective(settings: Settings, sources: dict[str, str]) -> list[dict[str, Any]]:
    """One row per setting: name, shown value, source, environment variable."""
    return [
        {
            "name": name,
            "value": masked(name, getattr(settings, name)),
            "source": sources.get(name, "default"),
            "env": ENV_VARS.get(name),
        }
        for name in Settings.model_fields
    ]


def credentials() -> dict[str, str]:
    """Whether each credential variable is set; never its value."""
    return {var: "set" if os.environ.get(var, "").strip() else "not set" for var in CREDENTIAL_ENV}


@app.command("show")
def show(as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    """Print the effective configuration with each value's source; secrets masked."""
    path = GLOBAL_CONFIG[0] if GLOBAL_CONFIG else None
    try:
        settings, sources = Settings.load_with_sources(dict(GLOBAL_OVERRIDES), path)
        config_file = find_config_file(path)
    except ConfigError as exc:
        fail(str(exc))
    rows = effective(settings, sources)
    if as_json:
        document = {
            "config_file": str(config_file) if config_file else None,
            "settings": rows,
            "credentials": credentials(),
        }
        typer.echo(json.dumps(document, indent=2, default=str))
        return
    console = Console()
    console.print(Text(f"config file: {config_file or 'none'}"))
    table = Table("setting", "value", "source", "env var")
    for row in rows:
        value = "" if row["value"] is None else json.dumps(row["value"], default=str)
        table.add_row(Text(row["name"]), Text(value), Text(row["source"]), Text(row["env"] or ""))
    console.print(table)
    for var, state in credentials().items():
        console.print(Text(f"{var}: {state}"))
