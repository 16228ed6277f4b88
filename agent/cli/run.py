"""`support-agent run SCENARIO`: a scripted conversation, offline, with its expectations checked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.cli.common import DEFAULT_DOMAIN, DomainOption, VerboseOption, fail

RUNS_DIR = Path.home() / ".local" / "share" / "support-agent" / "runs"
"""Where `run --keep` keeps its databases."""


def kept_db_path(scenario_name: str) -> Path:
    """A new database file for `run --keep`, named after the scenario and the time."""
    from agent.clock import utcnow

    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    return RUNS_DIR / f"{scenario_name}-{utcnow():%Y%m%d-%H%M%S-%f}.db"


def run(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Run in this new database and keep it (default: a scratch one, discarded).",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        bool,
        typer.Option("--keep", help=f"Keep the scratch database (under {RUNS_DIR})."),
    ] = False,
    domain: DomainOption = DEFAULT_DOMAIN,
    verbose: VerboseOption = False,
    policy: Annotated[
        Path | None,
        typer.Option(
            help="Policy file (else SUPPORT_AGENT_POLICY/config, the scenario's, the domain's).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a scripted scenario offline: exit 0 if all expectations hold, 1 if not, 2 if invalid."""
    from rich.console import Console
    from rich.text import Text

    from agent.cli.common import settings_for, store_url
    from agent.cli.render import print_events
    from agent.domain import load_domain
    from agent.gate.policy_file import PolicyError
    from agent.replay.own_store import NotScratch
    from agent.replay.scenario import ScenarioError, load_scenario
    from agent.replay.scenario_run import run_scenario
    from agent.store.engine import redacted_url
    from agent.text import printable

    console = Console()
    try:
        scenario = load_scenario(scenario_file)
        dom = load_domain(domain)
    except (ScenarioError, ValueError) as exc:
        fail(str(exc))
    if db is not None and keep:
        fail("give --db or --keep, not both: --db already keeps its database")
    url = store_url(db, "create") if db is not None else None
    if keep:
        url = f"sqlite:///{kept_db_path(scenario.name)}"
    console.rule(Text(printable(f"scenario {scenario.name}")))
    if scenario.description:
        console.print(Text(printable(scenario.description.strip()), style="dim"))
    try:
        outcome = run_scenario(
            scenario,
            dom,
            settings_for(),
            db_url=url,
            printer=lambda evs: print_events(console, evs, verbose),
            policy=policy,
        )
    except (ScenarioError, PolicyError, NotScratch) as exc:
        fail(str(exc))
    if outcome.failures:
        console.print(f"[bold red]FAILED[/] {len(outcome.failures)} expectation(s):")
        for failure in outcome.failures:
            console.print(Text.assemble(("  - ", "red"), printable(failure)))
    else:
        console.print(Text.assemble(("PASSED", "bold green"), f" {scenario.name}"))
    cid = outcome.conversation_id
    if url is None:
        console.print(
            Text(
                f"conversation {cid} ran in a scratch database, now discarded "
                "(--keep or --db FILE to keep it)",
                style="dim",
            ),
            soft_wrap=True,
        )
    else:
        where = redacted_url(url)
        console.print(Text(f"conversation {cid} stored in {where}"), soft_wrap=True)
        console.print(
            Text(f"  see it with: support-agent conversations show {cid} --db {where}"),
            soft_wrap=True,
        )
    if outcome.failures:
        raise typer.Exit(1)
