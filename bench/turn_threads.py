"""Throughput of bench.turn_overhead: worker threads against a slow scripted model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.loop import Agent
from agent.model.client import ModelClient, ModelRequest, ModelResponse
from agent.runtime import build_agent
from agent.store.engine import make_engine, redacted_url
from agent.testing.pg import fresh_schema
from agent.transcript.events import GateDecided, RunStatus
from bench.bare_loop import BareLoop
from bench.turn_workload import (
    SETTINGS,
    Counter,
    Plan,
    conversation,
    model_calls,
    plans,
    policy,
    seed,
)
from bench.turn_workload import script as scripted
from tools.retail import DOMAIN

Store = Callable[[], AbstractContextManager[Engine]]  # a fresh seeded store per call
COUNTED = 2  # conversations whose transactions and statements are counted (untimed)


@dataclass
class SlowModel:
    """A scripted model that takes `delay` seconds per call, like a fast real one."""

    inner: ModelClient
    delay: float

    def respond(self, request: ModelRequest) -> ModelResponse:
        """Sleep, then the scripted reply."""
        time.sleep(self.delay)
        return self.inner.respond(request)


@contextmanager
def pg_store(base_url: str, retail: Path | None = None) -> Iterator[Engine]:
    """A seeded PostgreSQL store (see turn_workload.seed) in a fresh schema, dropped afterwards."""
    with fresh_schema(base_url, "bench") as url:
        engine = make_engine(url)
        try:
            with Session(engine) as session, session.begin():
                seed(session, retail)
            schema = url.rsplit("%3D", 1)[-1]
            print(f"threads pg: schema {schema} on {redacted_url(base_url)}")
            yield engine
        finally:
            engine.dispose()


Bare = dict[str, GateDecided]  # the bare loop's reference decisions: run it instead


def _worker(
    engine: Engine,
    todo: list[Plan],
    delay: float,
    start: threading.Barrier,
    errors: list[str],
    bare: Bare | None,
) -> None:
    """One worker: its own Agent (or bare loops), its conversations one after another."""
    start_conversation = _runner(engine, todo[0], delay, bare)  # not timed: before the start
    start.wait()
    for plan in todo:
        cid = f"bench-{plan.order_id}"
        run = start_conversation(cid, SlowModel(scripted(plan), delay))
        try:
            for turn in conversation(plan):
                status = run(turn.text)
                if status != turn.status:
                    raise RuntimeError(f"{cid}: {turn.text!r} ended {status}, not {turn.status}")
        except Exception as exc:  # reported after the run; a failed run has no figure
            errors.append(f"{type(exc).__name__}: {exc}")
            return


Turn = Callable[[str], RunStatus]  # what the customer says -> how the turn ended


def _runner(
    engine: Engine, first: Plan, delay: float, bare: Bare | None
) -> Callable[[str, SlowModel], Turn]:
    """How this worker starts a conversation: on its one Agent, or on a new bare loop."""
    if bare is None:
        agent = build_agent(
            DOMAIN, SETTINGS, engine, SlowModel(scripted(first), delay), policy=policy()
        )

        def on_agent(cid: str, model: SlowModel) -> Turn:
            agent.model = model
            return partial(_agent_turn, agent, cid)

        return on_agent

    def on_bare_loop(cid: str, model: SlowModel) -> Turn:
        loop = BareLoop(engine, DOMAIN, model, cid, bare, SETTINGS.model, span_model_call=False)
        return partial(_bare_turn, loop)

    return on_bare_loop


def _agent_turn(agent: Agent, cid: str, text: str) -> RunStatus:
    return agent.run(cid, text).status


def _bare_turn(loop: BareLoop, text: str) -> RunStatus:
    return loop.run(text)[0]


def _round(
    engine: Engine,
    threads: int,
    per_thread: int,
    delay: float,
    counter: Counter,
    bare: Bare | None,
    *,
    listen: bool = False,
) -> float:
    """One round on a fresh store: every worker runs its conversations; wall seconds.

    `listen`: count transactions and statements too. Listeners are not free: an engine
    with connection events pays SQLAlchemy's dispatch on every statement, so a timed
    round runs without them (see throughput).
    """
    available = plans(engine)
    if len(available) < threads * per_thread:
        raise SystemExit(
            f"{threads} x {per_thread} conversations need as many pending orders that a yes "
            f"alone cancels; the demo store has {len(available)}"
        )
    if listen:
        counter.attach(engine)  # a new engine each round
    errors: list[str] = []
    start = threading.Barrier(threads + 1)
    workers = [
        threading.Thread(
            target=_worker,
            args=(
                engine,
                available[i * per_thread : (i + 1) * per_thread],
                delay,
                start,
                errors,
                bare,
            ),
            name=f"bench-worker-{i}",
        )
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    start.wait()
    counter.active, began, cpu = True, time.perf_counter(), time.process_time()
    for worker in workers:
        worker.join()
    wall, counter.active = time.perf_counter() - began, False
    counter.cpu += time.process_time() - cpu
    if errors:
        raise SystemExit(f"{len(errors)} conversations failed, the first: {errors[0]}")
    counter.turns += threads * per_thread * model_calls(available[0])
    return wall


def throughput(
    store: Store,
    threads: int,
    per_thread: int,
    rounds: int,
    delay: float,
    label: str,
    bare: Bare | None = None,
) -> float:
    """Conversations per second on `threads` workers as a share of the latency-bound ideal.

    With `bare` (reference decisions) the workers run the bare loop instead of the Agent.
    The timed rounds carry no listeners; the statements per turn are counted afterwards,
    on COUNTED conversations in a round of their own (one thread, no model delay).
    """
    timing, wall = Counter(), 0.0
    for _ in range(rounds):
        with store() as engine:
            wall += _round(engine, threads, per_thread, delay, timing, bare)
    counts = Counter()
    with store() as engine:
        _round(engine, 1, COUNTED, 0.0, counts, bare, listen=True)
    done = threads * per_thread * rounds
    calls = timing.turns // done
    ideal = threads / (calls * delay)
    share = done / wall / ideal
    side, target = ("bare loop", "") if bare else ("agent", " (target >= 0.70)")
    print(
        f"threads {label}: {done} conversations on {threads} threads ({rounds} rounds) in "
        f"{wall:.2f} s = {done / wall:.1f}/s; ideal {ideal:.1f}/s ({calls} calls x "
        f"{delay * 1000:.0f} ms); share {share:.3f}{target}"
    )
    # Python runs one thread at a time: CPU per conversation caps conversations/s.
    cpu = timing.cpu / done
    print(
        f"threads {label}: {cpu * 1000:.1f} ms of this process's CPU per conversation "
        f"({timing.cpu:.2f} s in {wall:.2f} s, {timing.cpu / timing.turns * 1000:.2f} ms per "
        f"model turn), which alone caps the share at {1 / (cpu * ideal):.2f} on one core; "
        f"{side}, counted apart on {COUNTED} conversations, {counts.per_turn(cpu=False)}"
    )
    return share
