"""Replay: recorded conversations replay identically; changed tools, policies, prompts diverge."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session
from typer.testing import CliRunner

from agent.cli.app import app
from agent.config import Settings
from agent.gate.approvals import Approver, ScriptedApprover
from agent.model.client import ModelError, ModelRequest, ModelResponse
from agent.model.scripted import ScriptedModel, ScriptStep
from agent.registry import ToolRegistry
from agent.replay.model import ReplayExhausted, ReplayModel
from agent.replay.replayer import ReplayError, replay_transcript, scratch_engine, seed_store
from agent.replay.scenario import load_scenario
from agent.replay.scenario_record import record_scenario
from agent.runtime import build_agent, file_sha256
from agent.store.tables import Conversation
from agent.transcript.events import load
from agent.transcript.files import DataRef, Transcript, export_text, parse_text, write_transcript
from tests.toy import TOOLS
from tests.toy_domain import DOMAIN as TOY

SETTINGS = Settings(approvers={"lee": ["team-lead"]})  # the recording side needs a roster
TOY_SPEC = "tests.toy_domain:DOMAIN"
LEAD = {"approved": True, "by": "lee", "role": "team-lead", "reason": "fine"}


def say(text: str) -> ScriptStep:
    return ScriptStep(content=[{"type": "text", "text": text}])


def call(name: str, args: Any, tid: str, stop: str = "tool_use") -> ScriptStep:
    return ScriptStep(
        content=[{"type": "tool_use", "id": tid, "name": name, "input": args}], stop_reason=stop
    )


class FailingOnce:
    """A model whose reply number `fail_at` is an API error (recorded, then replayed)."""

    def __init__(self, steps: list[ScriptStep], fail_at: int) -> None:
        self.inner, self.calls, self.fail_at = ScriptedModel(steps), 0, fail_at

    def respond(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        if self.calls == self.fail_at:
            raise ModelError("Overloaded", kind="overloaded")
        return self.inner.respond(request)


def converse(
    tmp_path: Path,
    steps: list[ScriptStep],
    texts: list[str],
    approver: Approver | None = None,
    data: DataRef | None = None,
    fail_at: int = 0,
) -> Transcript:
    """Record a toy conversation and return its export, read back."""
    data = data or DataRef(demo_seed=0)
    engine = scratch_engine(tmp_path / "record.db")
    seed_store(TOY, engine, data)
    model = FailingOnce(steps, fail_at) if fail_at else ScriptedModel(steps)
    agent = build_agent(
        TOY, SETTINGS, engine, model, approver=approver, data_ref=data.model_dump(exclude_none=True)
    )
    for text in texts:
        agent.run("c1", text)
    with Session(engine) as session:
        events = load(session, "c1")
        conversation = session.get(Conversation, "c1")
        meta = dict(conversation.meta) if conversation else {}
    engine.dispose()
    return parse_text(export_text(events, meta))


READ = ([call("lookup", {"name": "a"}, "t1"), say("a is 1")], ["what is a?"])
CONFIRMED = (
    [call("lookup", {"name": "a"}, "t1"), say("a is 1"), call("set_value", {"name": "a", "value": 7}, "t2"), say("Done.")],  # noqa: E501
    ["what is a?", "set a to 7", "yes"],
)  # fmt: skip
CONVERSATIONS: dict[str, tuple[list[ScriptStep], list[str]]] = {
    "read": READ,
    "confirmed write": CONFIRMED,
    "declined write": ([call("set_value", {"name": "a", "value": 7}, "t1"), say("OK.")], ["set a to 7", "no"]),  # noqa: E501
    "denied by policy": ([call("set_value", {"name": "a", "value": 13}, "t1"), say("Cannot.")], ["13"]),  # noqa: E501
    "approved now": ([call("set_value", {"name": "a", "value": 700}, "t1"), say("Done.")], ["700", "yes"]),  # noqa: E501
    "invalid then fixed": (
        [call("set_value", {"name": "a", "value": "x"}, "t1"), call("lookup", {"nme": "a"}, "t2"), call("lookup", {"name": "a"}, "t3"), say("1")],  # noqa: E501
        ["a?"],
    ),
    "unknown tool and domain error": ([call("nope", {}, "t1"), call("lookup", {"name": "zz"}, "t2"), say("sorry")], ["zz?"]),  # noqa: E501
    "handoff": ([call("handoff", {"name": "a"}, "t1")], ["human please", "hello?"]),
    "cut off reply": ([call("lookup", {"name": "a"}, "t1", stop="max_tokens"), say("again")], ["a?", "a?"]),  # noqa: E501
    "unknown stop reason": ([ScriptStep(content=[], stop_reason="weird"), say("ok")], ["a?", "a?"]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_toy_conversations_replay_identically(tmp_path: Path, name: str) -> None:
    steps, texts = CONVERSATIONS[name]
    transcript = converse(tmp_path, steps, texts, approver=ScriptedApprover([dict(LEAD)]))
    report = replay_transcript(transcript, TOY, SETTINGS)
    assert report.identical, report.render()
    assert report.steps == report.recorded_steps > 0
    assert report.events == len(transcript.events)


def test_recorded_api_error_is_replayed(tmp_path: Path) -> None:
    transcript = converse(tmp_path, [say("hello")], ["hi", "hi again"], fail_at=1)
    assert "error" in [e.event.type for e in transcript.events]
    report = replay_transcript(transcript, TOY, SETTINGS)
    assert report.identical, report.render()


QUEUE_SCENARIO = {
    "name": "toy-queue",
    "approver": "queue",
    "turns": [
        {"customer": "set a to 700", "model": [{"tool": "set_value", "input": {"name": "a", "value": 700}}]},  # noqa: E501
        {"customer": "yes", "expect_status": "paused"},
        {"supervisor": LEAD, "model": [{"say": "Done."}]},
        {"customer": "set b to 900", "model": [{"tool": "set_value", "input": {"name": "b", "value": 900}}]},  # noqa: E501
        {"customer": "yes", "expect_status": "paused"},
        {"advance_hours": 25, "resume": True, "model": [{"say": "It expired."}]},
    ],
}  # fmt: skip


def test_queued_approvals_decided_later_and_expiry_replay(tmp_path: Path) -> None:
    path = tmp_path / "toy-queue.yaml"
    path.write_text(yaml.safe_dump(QUEUE_SCENARIO))
    transcript, outcome = record_scenario(load_scenario(path), TOY, SETTINGS)
    assert not outcome.failures
    decided = [e.event for e in transcript.events if e.event.type == "approval_decided"]
    assert [d.approved for d in decided] == [True, False]
    report = replay_transcript(transcript, TOY, SETTINGS)
    assert report.identical, report.render()


def changed_tool(**change: Any) -> Any:
    tools = [dataclasses.replace(t, **change) if t.name == "lookup" else t for t in TOOLS]
    return dataclasses.replace(TOY, registry=ToolRegistry.of(tools, TOY.registry.facts))


def test_changed_tool_result_diverges_at_that_step(tmp_path: Path) -> None:
    transcript = converse(tmp_path, *CONFIRMED)
    domain = changed_tool(fn=lambda ctx, args: {"name": args.name, "value": 42})
    report = replay_transcript(transcript, domain, SETTINGS)
    found = report.divergence
    assert found is not None and (found.step, found.event_type) == (1, "tool_result")
    assert found.seq is not None and transcript.events[found.seq - 1].event.type == "tool_result"
    assert '-      "value": 1' in found.diff() and '+      "value": 42' in found.diff()
    assert "step 1" in report.render() and f"#{found.seq}" in report.render()


def test_changed_tool_definition_diverges_at_the_first_request(tmp_path: Path) -> None:
    transcript = converse(tmp_path, *READ)
    report = replay_transcript(transcript, changed_tool(description="Find a value."), SETTINGS)
    found = report.divergence
    assert found is not None and (found.step, found.kind) == (1, "request")
    assert "tool definitions differ" in found.message and "tools_sha256" in found.diff()


def test_changed_prompt_diverges_at_the_first_request_with_a_warning(tmp_path: Path) -> None:
    transcript = converse(tmp_path, *READ)
    domain = dataclasses.replace(TOY, system_prompt="You are terse.")
    report = replay_transcript(transcript, domain, SETTINGS)
    assert report.divergence is not None and report.divergence.step == 1
    assert "system prompt differs" in report.divergence.message
    assert any("system prompt changed" in w for w in report.warnings)


def test_changed_policy_diverges_at_the_gate_decision(tmp_path: Path) -> None:
    transcript = converse(tmp_path, *CONFIRMED)
    policy = tmp_path / "policy.yaml"
    policy.write_text(TOY.policy_path.read_text().replace("exclusiveMinimum: 500", "minimum: 5"))
    report = replay_transcript(transcript, TOY, SETTINGS, policy=policy)
    found = report.divergence
    assert found is not None and (found.step, found.event_type) == (3, "gate_decision")
    assert '-  "verdict": "confirm"' in found.diff() and '+  "verdict": "approve"' in found.diff()


def test_starting_data_file_is_checked(tmp_path: Path) -> None:
    data = tmp_path / "values.json"
    data.write_text(json.dumps({"a": 5}))
    transcript = converse(tmp_path, *READ, data=DataRef(file=str(data), sha256=file_sha256(data)))
    assert replay_transcript(transcript, TOY, SETTINGS).identical
    data.write_text(json.dumps({"a": 6}))
    report = replay_transcript(transcript, TOY, SETTINGS)
    assert any("changed since the recording" in w for w in report.warnings)
    assert report.divergence is not None and report.divergence.event_type == "tool_result"
    data.unlink()
    with pytest.raises(ReplayError, match=r"values\.json named by the transcript is missing"):
        replay_transcript(transcript, TOY, SETTINGS)


def test_replay_model_serves_in_order_then_runs_out(tmp_path: Path) -> None:
    transcript = converse(tmp_path, *READ)
    model = ReplayModel.from_events(transcript.events)
    request = ModelRequest(model="m", max_tokens=1, system="", messages=[])
    assert model.respond(request).message.blocks_of("tool_use")[0]["id"] == "t1"
    assert model.respond(request).message.text() == "a is 1"
    with pytest.raises(ReplayExhausted):
        model.respond(request)


def test_cli_replay_exit_codes(tmp_path: Path) -> None:
    transcript = converse(tmp_path, *CONFIRMED)
    path = tmp_path / "c1.jsonl"
    write_transcript(path, transcript.events, transcript.header.meta.model_dump())
    runner = CliRunner()
    same = runner.invoke(app, ["replay", str(path), "--domain", TOY_SPEC])
    assert same.exit_code == 0 and "IDENTICAL" in same.output
    policy = tmp_path / "policy.yaml"
    policy.write_text(TOY.policy_path.read_text().replace("exclusiveMinimum: 500", "minimum: 5"))
    args = ["replay", str(path), "--domain", TOY_SPEC]
    diverged = runner.invoke(app, [*args, "--policy", str(policy)])
    assert diverged.exit_code == 1 and "DIVERGED at step 3" in diverged.output
    path.write_text(path.read_text().replace('"seq":2', '"seq":'))
    broken = runner.invoke(app, ["replay", str(path), "--domain", TOY_SPEC])
    assert broken.exit_code == 2 and "c1.jsonl:3" in broken.output


def test_cli_from_transcript_makes_a_passing_scenario(tmp_path: Path) -> None:
    steps, texts = CONVERSATIONS["approved now"]
    transcript = converse(tmp_path, steps, texts, approver=ScriptedApprover([dict(LEAD)]))
    path = tmp_path / "recorded.jsonl"
    write_transcript(path, transcript.events, transcript.header.meta.model_dump())
    out = tmp_path / "scenarios" / "big-value.yaml"
    out.parent.mkdir()
    runner = CliRunner()
    args = ["scenario", "from-transcript", str(path), "-o", str(out)]
    made = runner.invoke(app, [*args, "--domain", TOY_SPEC])
    assert made.exit_code == 0, made.output
    scenario = load_scenario(out)
    assert scenario.name == "big-value" and scenario.approvals[0].by == "lee"
    assert scenario.expect.db == {"values": {"a": {"value": 700, "writes": 1}}}
    ran = runner.invoke(app, ["run", str(out), "--domain", TOY_SPEC])
    assert ran.exit_code == 0 and "PASSED" in ran.output, ran.output
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--force" in again.output


# --- every scenario: record -> export -> import -> replay is identical, and back again ---

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
RECORDED: dict[Path, Transcript] = {}


def recorded(path: Path) -> Transcript:
    """The scenario's transcript, recorded once per test session."""
    if path not in RECORDED:
        from agent.domain import load_domain

        transcript, outcome = record_scenario(load_scenario(path), load_domain(), SETTINGS)
        assert not outcome.failures, outcome.failures
        RECORDED[path] = transcript
    return RECORDED[path]


@pytest.mark.skipif(not SCENARIOS, reason="no scenarios/*.yaml yet")
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_scenario_round_trips_identically(tmp_path: Path, path: Path) -> None:
    from agent.domain import load_domain

    transcript = recorded(path)
    file = tmp_path / f"{path.stem}.transcript.jsonl"
    write_transcript(file, transcript.events, transcript.header.meta.model_dump())
    report = replay_transcript(file, load_domain(), SETTINGS)
    assert report.identical, report.render()
    assert report.events == len(transcript.events) and report.steps == report.recorded_steps


@pytest.mark.skipif(not SCENARIOS, reason="no scenarios/*.yaml yet")
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_scenario_survives_from_transcript(tmp_path: Path, path: Path) -> None:
    from agent.domain import load_domain
    from agent.replay.scenario_record import scenario_from_transcript
    from agent.replay.scenario_run import run_scenario

    domain = load_domain()
    conversion = scenario_from_transcript(
        recorded(path), name=path.stem, out_dir=tmp_path, domain=domain, settings=SETTINGS
    )
    assert not conversion.warnings
    out = tmp_path / f"{path.stem}.yaml"
    out.write_text(conversion.yaml())
    outcome = run_scenario(load_scenario(out), domain, SETTINGS)
    assert not outcome.failures, outcome.failures


@pytest.mark.parametrize(
    ("same_rules", "warned"),
    [(True, False), (False, True)],
    ids=["same-rules-elsewhere", "different-rules"],
)
def test_a_recording_from_another_checkout_replays_under_the_same_rules(
    tmp_path: Path, same_rules: bool, warned: bool
) -> None:
    """The recorded policy path is gone (another checkout); its hash decides what is said."""
    from agent.replay.replayer import resolve_policy
    from agent.transcript.files import PolicyRef, TranscriptMeta

    digest = file_sha256(TOY.policy_path) if same_rules else "0" * 64
    meta = TranscriptMeta(policy=PolicyRef(source=str(tmp_path / "gone.yaml"), sha256=digest))
    warnings: list[str] = []
    policy = resolve_policy(TOY, meta, warnings, None)
    assert policy.source == str(TOY.policy_path)
    assert bool(warnings) == warned
    if warned:
        assert "gone.yaml named by the transcript is missing" in warnings[0]
