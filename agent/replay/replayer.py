"""Replay a recorded transcript with today's tools, policy and prompt; stop at the first divergence.

The recorded model replies are served in order (ReplayModel), the starting data is
recreated from the transcript's meta, the customer's messages go through Agent.run
again (so confirmations follow from the same words) and the supervisors' decisions
are re-applied from the run/resume in which they were recorded (ReplayApprover).
Before each model call the replay compares every event since the previous call, then
the request itself with the one rebuilt from the recording (agent.replay.compare).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from agent.config import Settings
from agent.domain import Domain
from agent.gate.approvals import scripted_roster
from agent.gate.policy import Policy
from agent.loop import Agent
from agent.model.client import ModelRequest
from agent.replay.compare import NOTHING, Comparator, Divergence, pretty
from agent.replay.model import (
    CallTiming,
    ReplayApprover,
    ReplayClock,
    ReplayModel,
    Segment,
    clock_offset,
    recorded_replies,
    split_segments,
)
from agent.replay.own_store import NotScratch, claim_scratch
from agent.runtime import build_agent, domain_policy, file_sha256
from agent.store.engine import make_engine
from agent.store.tables import Conversation
from agent.transcript.events import (
    FORMAT_VERSION,
    ApprovalDecided,
    ModelRequested,
    StoredEvent,
    load,
)
from agent.transcript.files import (
    KIND,
    DataRef,
    Transcript,
    TranscriptHeader,
    TranscriptMeta,
    read_transcript,
)


class ReplayError(Exception):
    """The transcript cannot be replayed here (missing data file, conversation already stored)."""


class Diverged(Exception):
    """Raised inside the loop at the first divergence, to stop the replay there."""

    def __init__(self, divergence: Divergence) -> None:
        super().__init__(divergence.message)
        self.divergence = divergence


@dataclass
class ReplayReport:
    """What a replay found: identical, or the first divergence; plus warnings and timings."""

    conversation_id: str
    recorded_steps: int
    steps: int = 0
    events: int = 0
    divergence: Divergence | None = None
    warnings: list[str] = field(default_factory=list)
    overheads: list[float] = field(default_factory=list)
    seconds: float = 0.0
    snapshot_before: dict[str, Any] | None = None
    snapshot_after: dict[str, Any] | None = None

    @property
    def identical(self) -> bool:
        """True when every compared step matched."""
        return self.divergence is None

    def render(self) -> str:
        """A readable report: warnings, then IDENTICAL or the divergence with its diff."""
        lines = [f"warning: {w}" for w in self.warnings]
        if self.divergence is None:
            lines.append(
                f"identical: {self.steps} model calls and {self.events} events of "
                f"{self.conversation_id} replayed the same"
            )
        else:
            lines.append(self.divergence.render())
        return "\n".join(lines)


Source = Path | str | Transcript | list[StoredEvent]


def _as_transcript(source: Source) -> tuple[Transcript, Path | None]:
    if isinstance(source, Path | str):
        return read_transcript(source), Path(source).parent
    if isinstance(source, Transcript):
        return source, None
    cid = source[0].conversation_id if source else None
    header = TranscriptHeader(format_version=FORMAT_VERSION, kind=KIND, conversation_id=cid)
    return Transcript(header, source), None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def resolve_policy(
    domain: Domain, meta: TranscriptMeta, warnings: list[str], override: Policy | Path | None
) -> Policy:
    """The policy to replay under: explicit, else the recorded file, else the domain's."""
    if isinstance(override, Policy):
        return override
    if override is not None:
        return domain_policy(domain, override)
    source = meta.policy.source
    recorded = meta.policy.sha256
    moved = source and not Path(source).is_file()
    if moved and recorded and file_sha256(domain.policy_path) == recorded:
        return domain_policy(domain)  # the same rules, recorded in another checkout
    if source and Path(source).is_file():
        digest = file_sha256(Path(source))
        if meta.policy.sha256 and digest != meta.policy.sha256:
            warnings.append(f"the policy file {source} changed since the recording")
        return domain_policy(domain, Path(source))
    if source:
        warnings.append(
            f"the policy file {source} named by the transcript is missing; "
            f"using the domain's policy {domain.policy_path}"
        )
    return domain_policy(domain)


def resolve_data(
    meta: TranscriptMeta, warnings: list[str], override: DataRef | None, base: Path | None
) -> DataRef:
    """The starting data: explicit, else the recorded seed or file (hash checked), else seed 0."""
    data = override or meta.data
    if data.file:
        path = Path(data.file)
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise ReplayError(
                f"the starting data file {path} named by the transcript is missing "
                "(replay against other data with --data FILE or --seed N)"
            )
        digest = file_sha256(path)
        if override is None and data.sha256 and digest != data.sha256:
            warnings.append(
                f"the starting data file {path} changed since the recording "
                f"(sha256 {data.sha256[:12]}… now {str(digest)[:12]}…)"
            )
        return DataRef(file=str(path), sha256=digest)
    if data.demo_seed is not None:
        return DataRef(demo_seed=data.demo_seed)
    warnings.append("the transcript does not name its starting data; using demo data, seed 0")
    return DataRef(demo_seed=0)


def seed_store(domain: Domain, engine: Engine, data: DataRef) -> None:
    """Load the starting data into the store unless it already holds the domain's data."""
    with Session(engine) as session, session.begin():
        if any(domain.snapshot(session).values()):
            return
        if data.file:
            try:
                domain.import_file(session, Path(data.file))
            except (ValueError, OSError) as exc:  # JSON and validation errors are ValueErrors
                first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                raise ReplayError(
                    f"{data.file} is not a usable {domain.name} data file: {first}"
                ) from exc
        else:
            domain.seed_demo(session, data.demo_seed or 0)


def scratch_engine(path: Path) -> Engine:
    """A throw-away SQLite store for one replay, with every table created."""
    engine = make_engine(f"sqlite:///{path}", create=False, scratch=True)
    SQLModel.metadata.create_all(engine)
    return engine


def _recorded_settings(settings: Settings, meta: TranscriptMeta) -> Settings:
    update: dict[str, Any] = {}
    if meta.model.model:
        update["model"] = meta.model.model
    if meta.model.max_tokens:
        update["max_tokens"] = meta.model.max_tokens
    return settings.model_copy(update=update)


def _overheads(calls: list[CallTiming], start: float, end: float) -> list[float]:
    """Seconds of framework work per model call of one run/resume (everything but serving)."""
    out = []
    for i, call in enumerate(calls):
        after = calls[i + 1].called if i + 1 < len(calls) else end
        before = call.called - start if i == 0 else 0.0
        out.append(before + (call.served - call.called) + (after - call.returned))
    return out


@dataclass
class Replayer:
    """Drives one replay: each recorded run/resume again, comparing as it goes."""

    events: list[StoredEvent]
    domain: Domain
    settings: Settings
    engine: Engine
    cid: str
    last_seq: int = 0
    segment: Segment | None = None
    agent: Agent | None = None
    requests: list[int] = field(init=False)
    comparator: Comparator = field(init=False)

    def __post_init__(self) -> None:
        self.requests = [i for i, e in enumerate(self.events) if e.event.type == "model_request"]
        self.comparator = Comparator(self.events)

    def run(
        self, policy: Policy, data: DataRef, warnings: list[str], snapshots: bool
    ) -> ReplayReport:
        """Replay every segment; the report holds the first divergence, if any."""
        clock = ReplayClock()
        approver = ReplayApprover(clock)
        segments = split_segments(self.events)
        for seg in segments:
            for stored in self.events[seg.start : seg.end]:
                if isinstance(stored.event, ApprovalDecided):
                    approver.add(seg.index, stored.event)
        model = ReplayModel(recorded_replies(self.events), check=self._check)
        recorded = [(e.event.by, e.event.role) for e in self.events
                    if isinstance(e.event, ApprovalDecided)]  # fmt: skip
        settings = self.settings.model_copy(
            update={"approvers": scripted_roster(recorded, self.settings.approvers)}
        )
        agent = self.agent = build_replay_agent(
            self.domain, settings, self.engine, model, approver, policy, clock, data
        )
        report = ReplayReport(self.cid, len(self.requests), warnings=warnings)
        if snapshots:
            report.snapshot_before = self._snapshot()
        began = time.perf_counter()
        for seg in segments:
            self.segment, approver.segment = seg, seg.index
            offset = clock_offset(self.events, seg, self.settings.approval_expiry_hours)
            clock.offset = clock.offset if offset is None else offset
            calls, start = len(model.timings), time.perf_counter()
            try:
                if seg.text is not None:
                    agent.run(self.cid, seg.text)
                else:
                    agent.resume(self.cid)
                report.divergence = self.comparator.events(seg.end, self._new(), model.position)
            except Diverged as exc:
                report.divergence = exc.divergence
            report.overheads += _overheads(model.timings[calls:], start, time.perf_counter())
            if report.divergence is not None:
                break
        report.seconds = time.perf_counter() - began
        report.steps, report.events = model.position, self.comparator.compared
        if snapshots:
            report.snapshot_after = self._snapshot()
        return report

    def _snapshot(self) -> dict[str, Any]:
        with Session(self.engine) as session:
            return self.domain.snapshot(session)

    def _new(self) -> list[StoredEvent]:
        """Events since the last look: committed ones, then those the agent holds unwritten."""
        with Session(self.engine) as session:
            new = load(session, self.cid, after=self.last_seq)
        if self.agent is not None:
            held = self.agent.log(self.cid).unwritten()
            new += [e for e in held if e.seq > (new[-1].seq if new else self.last_seq)]
        if new:
            self.last_seq = new[-1].seq
        return new

    def _check(self, request: ModelRequest, step: int) -> None:
        """Before model call `step`: compare the events since the last call, then the request."""
        assert self.segment is not None
        now = self._new()
        sent = now[-1].event if now else None
        if not isinstance(sent, ModelRequested):
            raise AssertionError("the loop called the model without recording the request")
        end = self.requests[step - 1] if step <= len(self.requests) else self.segment.end
        found = self.comparator.events(min(end, self.segment.end), now[:-1], step - 1)
        if found is None and end >= self.segment.end:
            found = Divergence(
                step,
                "extra",
                None,
                "model_request",
                f"the loop calls the model (call {step}) where the recording does not",
                NOTHING,
                pretty({"type": "model_request", "message_count": len(request.messages)}),
            )
        if found is None:
            found = self.comparator.request(end, request, sent, step)
        if found is not None:
            raise Diverged(found)


def replay_transcript(
    source: Source,
    domain: Domain,
    settings: Settings,
    *,
    db_url: str | None = None,
    policy: Policy | Path | None = None,
    data: DataRef | None = None,
    snapshots: bool = False,
) -> ReplayReport:
    """Replay a transcript (file, Transcript or events) and report the first divergence."""
    transcript, base = _as_transcript(source)
    meta = transcript.header.meta
    warnings: list[str] = []
    if meta.domain and meta.domain != domain.name:
        warnings.append(f"recorded with domain {meta.domain!r}, replayed with {domain.name!r}")
    if meta.system_sha256 and meta.system_sha256 != _sha(domain.system_prompt):
        warnings.append("the domain's system prompt changed since the recording")
    chosen = resolve_policy(domain, meta, warnings, policy)
    start = resolve_data(meta, warnings, data, base)
    cid = transcript.header.conversation_id or (
        transcript.events[0].conversation_id if transcript.events else "replay"
    )
    with tempfile.TemporaryDirectory(prefix="support-agent-replay-") as tmp:
        engine = make_engine(db_url) if db_url else scratch_engine(Path(tmp) / "replay.db")
        try:
            try:
                claim_scratch(engine, domain, "support-agent replay")
            except NotScratch as exc:
                raise ReplayError(str(exc)) from exc
            with Session(engine) as session:
                if session.get(Conversation, cid) is not None:
                    raise ReplayError(
                        f"conversation {cid!r} already exists in this database; "
                        "replay into a fresh one"
                    )
            seed_store(domain, engine, start)
            settings = _recorded_settings(settings, meta)
            replayer = Replayer(transcript.events, domain, settings, engine, cid)
            return replayer.run(chosen, start, warnings, snapshots)
        finally:
            engine.dispose()


def build_replay_agent(
    domain: Domain,
    settings: Settings,
    engine: Engine,
    model: ReplayModel,
    approver: ReplayApprover,
    policy: Policy,
    clock: ReplayClock,
    data: DataRef,
) -> Agent:
    """The agent a replay drives: today's domain and policy, the recorded replies."""
    return build_agent(
        domain,
        settings,
        engine,
        model,
        approver=approver,
        policy=policy,
        clock=clock,
        data_ref=data.model_dump(exclude_none=True),
    )
