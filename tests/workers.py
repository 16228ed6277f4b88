"""Code run in child processes by the concurrency and crash tests (spawn-safe, no fixtures)."""

from __future__ import annotations

import multiprocessing.synchronize
from typing import Any

from agent.gate.approvals import QueueApprover
from agent.gate.gate import Gate
from agent.loop import Agent, Limits
from agent.model.scripted import ScriptedModel, ScriptStep
from agent.store.engine import make_engine
from tests.toy import ToyPolicy, registry


def text_step(t: str) -> ScriptStep:
    return ScriptStep(content=[{"type": "text", "text": t}], stop_reason="end_turn")


def tool_step(name: str, args: dict[str, Any], tid: str) -> ScriptStep:
    return ScriptStep(
        content=[{"type": "tool_use", "id": tid, "name": name, "input": args}],
        stop_reason="tool_use",
    )


def toy_agent(url: str, steps: list[ScriptStep]) -> Agent:
    engine = make_engine(url)
    gate = Gate(engine, registry(), ToyPolicy(), approver=QueueApprover(engine))
    return Agent(engine, ScriptedModel(steps), gate, "test", Limits("test-model", 100))


def resume_worker(url: str, cid: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    """Wait for the sibling, then resume the same conversation at the same moment."""
    agent = toy_agent(url, [text_step("done")] * 3)
    barrier.wait(timeout=30)
    agent.resume(cid)
