"""Scenarios and transcripts both ways: record a scenario as a transcript, and back."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from sqlmodel import Session

from agent.config import Settings
from agent.domain import Domain
from agent.model.client import AssistantMessage
from agent.replay.compare import TIMESTAMP
from agent.replay.model import Segment, clock_offset, split_segments
from agent.replay.replayer import replay_transcript
from agent.replay.scenario import Outcome, Reply, Scenario, ScenarioError, scenario_schema
from agent.replay.scenario_run import data_ref, run_scenario
from agent.store.engine import make_engine
from agent.store.tables import Conversation
from agent.transcript.events import (
    ApprovalDecided,
    ApprovalRequested,
    ErrorOccurred,
    GateDecided,
    ModelResponded,
    RunFinished,
    StoredEvent,
    ToolCalled,
    ToolResulted,
    ValidationFailed,
    export_lines,
)
from agent.transcript.files import Transcript, TranscriptMeta, parse_lines

Json = dict[str, Any]


def record_scenario(
    scenario: Scenario, domain: Domain, settings: Settings
) -> tuple[Transcript, Outcome]:
    """Run a scenario in-process and return its export, read back, plus the run's outcome."""
    with tempfile.TemporaryDirectory(prefix="support-agent-record-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'record.db'}"
        outcome = run_scenario(scenario, domain, settings, db_url=url)
        if not outcome.events:
            raise ScenarioError(f"{scenario.path}: the scenario recorded no events")
        cid = outcome.events[0].conversation_id
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                conversation = session.get(Conversation, cid)
                meta = dict(conversation.meta) if conversation else {}
        finally:
            engine.dispose()
    if not meta.get("data"):  # run_scenario does not hand its data reference to the agent
        meta["data"] = data_ref(scenario)
    lines = export_lines(outcome.events, meta)
    return parse_lines(lines, f"<scenario {scenario.name}>"), outcome


@dataclass
class Conversion:
    """A scenario document made from a transcript, and what could not be carried over."""

    document: Json
    warnings: list[str] = field(default_factory=list)

    def yaml(self) -> str:
        """The scenario as YAML (multi-line text as block literals)."""
        return yaml.dump(
            self.document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
        )


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def slug(text: str) -> str:
    """A scenario name from any text: lower-case words joined by hyphens."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words or "recorded"


def reply_entry(message: AssistantMessage) -> Json:
    """One recorded model reply as a scenario `model:` entry (say/tool/input/id, or blocks)."""
    content = message.content
    texts = [b for b in content if b.get("type") == "text"]
    calls = [b for b in content if b.get("type") == "tool_use"]
    simple = (
        len(content) == len(texts) + len(calls)
        and len(texts) <= 1
        and len(calls) <= 1
        and (not texts or (content[0] is texts[0] and set(texts[0]) == {"type", "text"}))
        and (not texts or bool(texts[0]["text"]))
        and (not calls or set(calls[0]) == {"type", "id", "name", "input"})
    )
    entry: Json = {}
    if simple and content:
        if texts:
            entry["say"] = texts[0]["text"]
        if calls:
            entry.update(tool=calls[0]["name"], input=calls[0]["input"], id=calls[0]["id"])
    else:
        entry["blocks"] = content
    stop = message.stop_reason or "none"
    if Reply.model_validate(entry).stop() != stop:
        entry["stop_reason"] = stop
    return entry


def changes(before: Any, after: Any) -> Any:
    """The parts of `after` that differ from `before` (dicts by key; anything else whole)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = {}
        for key, value in after.items():
            if key not in before:
                out[key] = value
            elif before[key] != value:
                changed = changes(before[key], value)
                if not (isinstance(changed, str) and TIMESTAMP.fullmatch(changed)):
                    out[key] = changed
        return out
    return after


@dataclass
class _Turns:
    """Builds the turns: one per recorded run/resume."""

    events: list[StoredEvent]
    queue: bool
    warnings: list[str]
    advance: dict[int, float] = field(default_factory=dict)

    def turn(self, seg: Segment, requested_in: dict[str, int]) -> Json:
        span = [e.event for e in self.events[seg.start : seg.end]]
        turn: Json = {}
        if seg.index in self.advance:
            turn["advance_hours"] = self.advance[seg.index]
        later = [
            e
            for e in span
            if isinstance(e, ApprovalDecided)
            and e.by != "system"
            and requested_in.get(e.tool_use_id, seg.index) < seg.index
        ]
        if self.queue and later:
            first = later[0]
            turn["supervisor"] = {
                "approved": first.approved,
                "by": first.by,
                "role": first.role,
                "reason": first.reason,
            }
            if len(later) > 1:
                self.warnings.append(
                    f"turn {seg.index + 1}: only the first of {len(later)} supervisor decisions "
                    "fits in a scenario turn"
                )
        if seg.text is not None:
            turn["customer"] = seg.text
        elif "supervisor" not in turn:
            turn["resume"] = True
        if replies := [reply_entry(e.message) for e in span if isinstance(e, ModelResponded)]:
            turn["model"] = replies
        for e in span:
            if isinstance(e, ErrorOccurred) and e.kind != "stop_reason":
                self.warnings.append(
                    f"turn {seg.index + 1}: a model API error ({e.kind}) cannot be scripted"
                )
        finished = [e for e in span if isinstance(e, RunFinished)]
        if finished:
            turn["expect_status"] = finished[-1].status
        return turn


def clock_advances(
    segments: list[Segment], events: list[StoredEvent], hours: float
) -> dict[int, float]:
    """Hours the recording's clock jumped ahead before a segment (approval expiry scenarios)."""
    advances: dict[int, float] = {}
    previous = 0.0
    for seg in segments:
        offset = clock_offset(events, seg, hours)
        if offset is None:
            continue
        now = offset.total_seconds() / 3600
        if now - previous >= 0.001:  # below that it is the time between two writes
            advances[seg.index] = round(now - previous, 3)
        previous = max(previous, now)
    return advances


def _data(meta: TranscriptMeta, out_dir: Path, warnings: list[str]) -> Json:
    if meta.data.file:
        return {"file": os.path.relpath(Path(meta.data.file).resolve(), out_dir.resolve())}
    if meta.data.demo_seed is not None:
        return {"demo_seed": meta.data.demo_seed}
    warnings.append("the transcript does not name its starting data; the scenario uses seed 0")
    return {"demo_seed": 0}


def _policy(meta: TranscriptMeta, domain: Domain, out_dir: Path) -> str | None:
    source = meta.policy.source
    if not source or not Path(source).is_file():
        return None
    if Path(source).resolve() == Path(domain.policy_path).resolve():
        return None
    return os.path.relpath(Path(source).resolve(), out_dir.resolve())


def _expect(events: list[StoredEvent]) -> Json:
    evs = [e.event for e in events]
    decisions: dict[str, GateDecided] = {}
    for e in evs:
        if isinstance(e, GateDecided):
            decisions[e.tool_use_id] = e
    finished = [e for e in evs if isinstance(e, RunFinished)]
    expect: Json = {}
    if finished:
        expect["status"] = finished[-1].status
    expect["tools_called"] = [e.name for e in evs if isinstance(e, ToolCalled)]
    expect["executed"] = [e.name for e in evs if isinstance(e, ToolResulted) and e.executed]
    expect["decisions"] = [{"tool": d.name, "verdict": d.verdict} for d in decisions.values()]
    expect["validation_errors"] = sum(isinstance(e, ValidationFailed) for e in evs)
    return expect


def scenario_from_transcript(
    transcript: Transcript,
    *,
    name: str,
    out_dir: Path,
    domain: Domain,
    settings: Settings,
) -> Conversion:
    """A scenario reproducing a recorded conversation, expectations taken from what happened."""
    events = transcript.events
    meta = transcript.header.meta
    warnings: list[str] = []
    segments = split_segments(events)
    requested_in = {
        s.event.tool_use_id: seg.index
        for seg in segments
        for s in events[seg.start : seg.end]
        if isinstance(s.event, ApprovalRequested)
    }
    decided = [
        (seg.index, s.event)
        for seg in segments
        for s in events[seg.start : seg.end]
        if isinstance(s.event, ApprovalDecided) and s.event.by != "system"
    ]
    queue = any(index > requested_in.get(d.tool_use_id, index) for index, d in decided)
    cid = transcript.header.conversation_id or "?"
    document: Json = {
        "name": slug(name),
        "description": f"Recorded conversation {cid}, turned into a scenario by "
        "`support-agent scenario from-transcript`.",
        "data": _data(meta, out_dir, warnings),
    }
    if (policy := _policy(meta, domain, out_dir)) is not None:
        document["policy"] = policy
    if queue:
        document["approver"] = "queue"
    elif decided:
        document["approvals"] = [
            {"approved": d.approved, "by": d.by, "role": d.role, "reason": d.reason}
            for _, d in decided
        ]
    advance = clock_advances(segments, events, settings.approval_expiry_hours)
    builder = _Turns(events, queue, warnings, advance)
    document["turns"] = [builder.turn(seg, requested_in) for seg in segments]
    document["expect"] = _expect(events)
    report = replay_transcript(transcript, domain, settings, snapshots=True)
    if report.identical and report.snapshot_before is not None:
        if db := changes(report.snapshot_before, report.snapshot_after):
            document["expect"]["db"] = db
    else:
        warnings.append("the transcript does not replay identically; no db expectation")
    errors = list(Draft202012Validator(scenario_schema()).iter_errors(document))
    if errors:
        raise ScenarioError(f"the generated scenario is invalid: {errors[0].message}")
    return Conversion(document, warnings + report.warnings)
