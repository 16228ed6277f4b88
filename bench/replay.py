"""Replay benchmark: scenarios per second, a long synthetic conversation, framework overhead.

Run from the repository root:

    python -m bench.replay [--turns 1000] [--domain tools.retail:DOMAIN]

1. Every scenarios/*.yaml is run in-process (recorded), exported, read back and replayed;
   prints replays per second and whether each replayed identically.
2. A synthetic conversation on the toy domain (each customer turn: a read tool call,
   then a text reply) is recorded, exported, imported and replayed at --turns / 10 and
   --turns customer turns; equal per-turn figures mean linear time.
3. The median replay overhead per model turn (everything but serving the model's
   reply: events, state, gate, policy, execution, comparison). The Agent against a fair
   bare loop is bench.turn_overhead.

Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

from agent.config import Settings
from agent.domain import DEFAULT_DOMAIN, Domain, load_domain
from agent.model.scripted import ScriptedModel, ScriptStep
from agent.replay.replayer import ReplayReport, replay_transcript, scratch_engine, seed_store
from agent.replay.scenario import load_scenario
from agent.replay.scenario_record import record_scenario
from agent.runtime import build_agent
from agent.store.tables import Conversation
from agent.transcript.events import load
from agent.transcript.files import DataRef, Transcript, export_text, parse_text
from tests.toy_domain import DOMAIN as TOY


def ms(seconds: float) -> str:
    """Seconds as milliseconds, for printing."""
    return f"{seconds * 1000:.2f} ms"


def overhead_line(label: str, reports: list[ReplayReport]) -> str:
    """The median replay overhead per model turn."""
    overheads = [o for r in reports for o in r.overheads]
    if not overheads:
        return f"{label}: no model turns to measure"
    return (
        f"{label}: median replay overhead {ms(statistics.median(overheads))} per model turn "
        f"({len(overheads)} turns)"
    )


def scenarios(domain: Domain, settings: Settings) -> None:
    """Record, export, import and replay every scenario; print rates and overhead."""
    paths = sorted(Path("scenarios").glob("*.yaml"))
    if not paths:
        print("scenarios: none found under ./scenarios")
        return
    transcripts: list[tuple[str, Transcript]] = []
    began = time.perf_counter()
    for path in paths:
        recorded, _ = record_scenario(load_scenario(path), domain, settings)
        text = export_text(recorded.events, recorded.header.meta.model_dump(exclude_none=True))
        transcripts.append((path.stem, parse_text(text, path)))
    recording = time.perf_counter() - began
    reports: list[ReplayReport] = []
    began = time.perf_counter()
    for _, transcript in transcripts:
        reports.append(replay_transcript(transcript, domain, settings))
    replaying = time.perf_counter() - began
    same = sum(r.identical for r in reports)
    print(
        f"scenarios: {len(paths)} replayed in {replaying:.2f} s = "
        f"{len(paths) / replaying:.1f} scenarios/s ({same} identical); "
        f"recording+export+import took {recording:.2f} s"
    )
    for (name, _), report in zip(transcripts, reports, strict=True):
        if not report.identical:
            print(f"  {name}: {report.render()}")
    print(overhead_line("scenario model turns", reports))


def script(turns: int) -> list[ScriptStep]:
    """Two replies per customer turn: look a value up, then say it."""
    steps: list[ScriptStep] = []
    for i in range(turns):
        call = {
            "type": "tool_use",
            "id": f"toolu_{i:05d}",
            "name": "lookup",
            "input": {"name": "a"},
        }
        steps.append(ScriptStep(content=[call], stop_reason="tool_use"))
        steps.append(ScriptStep(content=[{"type": "text", "text": f"a is 1 (turn {i})"}]))
    return steps


def record_synthetic(turns: int, settings: Settings) -> tuple[Transcript, float, float]:
    """Record a synthetic conversation; (transcript, record seconds, export seconds)."""
    data = DataRef(demo_seed=0)
    with tempfile.TemporaryDirectory(prefix="bench-synthetic-") as tmp:
        engine = scratch_engine(Path(tmp) / "record.db")
        seed_store(TOY, engine, data)
        model = ScriptedModel(script(turns), name="synthetic")
        agent = build_agent(TOY, settings, engine, model, data_ref={"demo_seed": 0})
        began = time.perf_counter()
        for i in range(turns):
            agent.run("synthetic", f"what is a? ({i})")
        recording = time.perf_counter() - began
        began = time.perf_counter()
        with Session(engine) as session:
            events = load(session, "synthetic")
            conversation = session.get(Conversation, "synthetic")
            meta = dict(conversation.meta) if conversation else {}
        text = export_text(events, meta)
        exporting = time.perf_counter() - began
        engine.dispose()
    return parse_text(text), recording, exporting


def synthetic(turns: int, settings: Settings) -> None:
    """Record, export, import and replay synthetic conversations of two lengths."""
    last: ReplayReport | None = None
    for size in sorted({max(1, turns // 10), turns}):
        transcript, recording, exporting = record_synthetic(size, settings)
        text = export_text(transcript.events, transcript.header.meta.model_dump())
        began = time.perf_counter()
        parsed = parse_text(text)
        importing = time.perf_counter() - began
        last = replay_transcript(parsed, TOY, settings)
        n = len(parsed.events)
        print(
            f"synthetic {size} turns ({n} events): record {recording:.2f} s "
            f"({ms(recording / size)}/turn), export {exporting:.3f} s ({ms(exporting / n)}/event), "
            f"import {importing:.3f} s ({ms(importing / n)}/event), replay {last.seconds:.2f} s "
            f"({ms(last.seconds / size)}/turn), {'identical' if last.identical else 'DIVERGED'}"
        )
    if last is not None:
        print(overhead_line(f"synthetic {turns}-turn model turns", [last]))


def main(argv: list[str] | None = None) -> int:
    """Print every figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=1000, help="synthetic customer turns")
    parser.add_argument("--domain", default=DEFAULT_DOMAIN, help="domain of the scenarios")
    args = parser.parse_args(argv)
    settings = Settings()
    scenarios(load_domain(args.domain), settings)
    # One tool call per customer turn: lift the per-conversation tool call limit.
    settings = settings.model_copy(update={"max_tool_calls_per_conversation": 2 * args.turns + 10})
    synthetic(args.turns, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
