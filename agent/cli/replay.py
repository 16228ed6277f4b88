"""`support-agent replay FILE` and `support-agent scenario from-transcript FILE -o OUT`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import DEFAULT_DOMAIN, DomainOption, command_group, fail, settings_for
from agent.text import printable

if TYPE_CHECKING:  # imported when a command runs: `--help` stays fast
    from rich.console import Console

    from agent.config import Settings
    from agent.domain import Domain
    from agent.replay.replayer import ReplayReport
    from agent.transcript.files import DataRef

scenario_app = command_group("Make scenarios from recorded conversations.")

FileArgument = Annotated[Path, typer.Argument(help="Transcript JSONL (`transcript export`).")]


def _setup(spec: str) -> tuple[Domain, Settings]:
    from agent.domain import load_domain

    try:
        domain = load_domain(spec)
    except ValueError as exc:
        fail(str(exc))
    return domain, settings_for()


def _data(seed: int | None, data: Path | None) -> DataRef | None:
    from agent.transcript.files import DataRef

    if seed is not None and data is not None:
        fail("give --seed or --data, not both")
    if data is not None:
        return DataRef(file=str(data.resolve()))
    return DataRef(demo_seed=seed) if seed is not None else None


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def print_report(report: ReplayReport) -> None:
    """The report with a coloured diff."""
    from rich.text import Text

    console = _console()
    for warning in report.warnings:
        console.print(Text(printable(f"warning: {warning}"), style="yellow"))
    divergence = report.divergence
    if divergence is None:
        console.print(
            Text(
                f"IDENTICAL: {report.steps} model calls, {report.events} events of "
                f"{report.conversation_id}",
                style="bold green",
            )
        )
        return
    console.print(Text(printable(f"DIVERGED at {divergence.where()}"), style="bold red"))
    console.print(Text(printable(divergence.message)))
    styles = {"-": "red", "+": "green", "@": "cyan"}
    for line in divergence.diff().split("\n"):
        console.print(Text(printable(line), style=styles.get(line[:1], "")))


def replay(
    transcript_file: FileArgument,
    db: Annotated[
        str | None, typer.Option("--db", help="Replay into this database (default: a scratch one).")
    ] = None,
    domain: DomainOption = DEFAULT_DOMAIN,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Policy file (default: the recorded one).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Start from demo data with this seed.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Start from this data file instead.")
    ] = None,
) -> None:
    """Replay a transcript with today's tools, policy and prompt; exit 0 same, 1 differs, 2 bad."""
    from agent.gate.policy_file import PolicyError
    from agent.replay.replayer import ReplayError, replay_transcript
    from agent.transcript.files import TranscriptError

    dom, settings = _setup(domain)
    try:
        report = replay_transcript(
            transcript_file, dom, settings, db_url=db, policy=policy, data=_data(seed, data)
        )
    except (TranscriptError, ReplayError, PolicyError) as exc:
        fail(str(exc))
    print_report(report)
    if not report.identical:
        raise typer.Exit(1)


@scenario_app.command("from-transcript")
def from_transcript(
    transcript_file: FileArgument,
    output: Annotated[Path, typer.Option("-o", "--output", help="Scenario YAML to write.")],
    name: Annotated[str | None, typer.Option(help="Scenario name (default: from -o).")] = None,
    domain: DomainOption = DEFAULT_DOMAIN,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Turn a recorded conversation into a scenario, expectations taken from what happened."""
    from agent.gate.policy_file import PolicyError
    from agent.replay.replayer import ReplayError
    from agent.replay.scenario import ScenarioError
    from agent.replay.scenario_record import scenario_from_transcript
    from agent.transcript.files import TranscriptError, read_transcript

    if output.exists() and not force:
        fail(f"{output} exists; pass --force to overwrite it")
    dom, settings = _setup(domain)
    try:
        transcript = read_transcript(transcript_file)
        conversion = scenario_from_transcript(
            transcript,
            name=name or output.name.split(".")[0],
            out_dir=output.parent,
            domain=dom,
            settings=settings,
        )
    except (TranscriptError, ReplayError, PolicyError, ScenarioError) as exc:
        fail(str(exc))
    from rich.text import Text

    console = _console()
    for warning in conversion.warnings:
        console.print(Text(printable(f"warning: {warning}"), style="yellow"))
    output.write_text(conversion.yaml(), encoding="utf-8")
    turns = len(conversion.document["turns"])
    console.print(
        Text(f"wrote {output} ({turns} turns); check it with: support-agent run {output}")
    )


def register(app: typer.Typer) -> None:
    """Mount `replay` and `scenario` on the main command."""
    app.command("replay")(replay)
    app.add_typer(scenario_app, name="scenario")
