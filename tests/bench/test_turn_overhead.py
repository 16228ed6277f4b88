"""bench.turn_overhead: the RESULT line's format (not its numbers) and the bare loop's fairness."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.model.client import ModelRequest, ModelResponse
from agent.transcript.events import load
from bench.bare_loop import BareLoop, BareLoopError
from bench.turn_overhead import RETAIL, parse
from bench.turn_threads import throughput
from bench.turn_workload import (
    Arena,
    Counter,
    bare_conversation,
    conversation,
    plans,
    reference_decisions,
    script,
    seed_template,
    sqlite_store,
)
from tests.conftest import PG_ENV
from tools.retail import DOMAIN

ROOT = Path(__file__).resolve().parents[2]
SHARE = r"(0|[1-9]\d*)\.\d{3}"
THREADS = 4  # fewer than the bench's 16: the line's format is the same, the run shorter
RESULT = re.compile(
    rf"RESULT ratio=\d+\.\d{{2}} commits_per_turn=\d+\.\d{{2}} "
    rf"threads{THREADS}_sqlite={SHARE} threads{THREADS}_pg=(?P<pg>{SHARE}|skipped)"
)


def run_quick(*extra: str, pg: str | None = None) -> list[str]:
    """Run the bench in quick mode as a subprocess; its output lines (it must succeed)."""
    env = {k: v for k, v in os.environ.items() if k != PG_ENV}
    if pg:
        env[PG_ENV] = pg
    done = subprocess.run(
        [sys.executable, "-m", "bench.turn_overhead", "--quick", "--threads", str(THREADS), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def test_quick_run_ends_with_one_result_line_and_says_why_pg_was_skipped() -> None:
    lines = run_quick()
    match = RESULT.fullmatch(lines[-1])
    assert match is not None, lines[-1]
    assert match["pg"] == "skipped"
    assert sum(line.startswith("RESULT") for line in lines) == 1
    assert any(line.startswith("threads pg: skipped (") and PG_ENV in line for line in lines)
    assert any(line.startswith("took ") for line in lines)


def test_quick_run_on_postgresql_reports_a_share() -> None:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    match = RESULT.fullmatch(run_quick(pg=base)[-1])
    assert match is not None
    assert match["pg"] != "skipped"


@pytest.mark.parametrize(
    "argv", [["--reps", "0"], ["--threads", "0"], ["--rounds", "0"], ["--delay", "0"]]
)
def test_nonsense_sizes_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err


def test_a_missing_retail_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(["--retail", str(tmp_path / "nope.json")])
    assert exit_info.value.code == 2
    assert "nope.json: no such file" in capsys.readouterr().err


def test_per_thread_defaults_to_what_the_store_allows(tmp_path: Path) -> None:
    document = tmp_path / "db.json"
    document.write_text("{}")
    assert parse(["--retail", str(document)]).per_thread == 6
    assert parse(["--retail", str(document), "--per-thread", "3"]).per_thread == 3
    if not RETAIL.is_file():  # without the shared data, the demo store: 2 per thread
        assert parse([]).per_thread == 2


def test_the_retail_data_holds_six_conversations_for_each_of_16_threads(tmp_path: Path) -> None:
    if not RETAIL.is_file():
        pytest.skip(f"the shared retail data is not at {RETAIL}")
    path = tmp_path / "retail.db"
    seed_template(path, RETAIL)
    arena = Arena(path, tmp_path / "r.db")
    found = plans(arena.fresh())
    arena.engine.dispose()
    assert len(found) >= 16 * 6
    assert len({plan.order_id for plan in found}) == len(found)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "template.db"
    seed_template(path)
    return path


def test_bare_loop_writes_the_agents_events_in_one_commit_per_model_turn(
    template: Path, tmp_path: Path
) -> None:
    agent, bare = Arena(template, tmp_path / "a.db"), Arena(template, tmp_path / "b.db")
    plan = plans(agent.fresh())[0]
    decisions = reference_decisions(agent, bare, plan)  # raises unless the events match
    assert set(decisions) == {"find_user_id_by_email", "get_order_details", "cancel_pending_order"}
    counter = Counter()
    counter.attach(bare.engine)
    seconds, turns = bare_conversation(bare.fresh(), plan, "c1", counter, decisions)
    assert seconds > 0
    assert turns == counter.turns == 5
    assert counter.commits == counter.transactions == 5


def test_bare_loop_refuses_anything_but_a_yes(template: Path, tmp_path: Path) -> None:
    arena = Arena(template, tmp_path / "b.db")
    engine = arena.fresh()
    plan = plans(engine)[0]
    agent = Arena(template, tmp_path / "a.db")
    decisions = reference_decisions(agent, Arena(template, tmp_path / "r.db"), plan)
    loop = BareLoop(engine, DOMAIN, script(plan), "c1", decisions)
    first, second, _ = conversation(plan)
    assert loop.run(first.text)[0] == "done"
    status, reply = loop.run(second.text)
    assert status == "paused"
    assert "Please confirm" in reply
    with pytest.raises(BareLoopError, match="only handles a yes"):
        loop.run("yes, but cancel a different order")


def test_bare_loop_for_threads_calls_the_model_outside_its_transactions(
    template: Path, tmp_path: Path
) -> None:
    agent, bare = Arena(template, tmp_path / "a.db"), Arena(template, tmp_path / "b.db")
    plan = plans(agent.fresh())[0]
    decisions = reference_decisions(agent, bare, plan)
    engine = bare.fresh()
    held: list[int] = []

    class Watched:
        """The scripted model, noting how many connections are out when it is called."""

        def __init__(self) -> None:
            self.inner = script(plan)

        def respond(self, request: ModelRequest) -> ModelResponse:
            held.append(engine.pool.checkedout())  # type: ignore[attr-defined]
            return self.inner.respond(request)

    counter = Counter()
    counter.attach(engine)
    counter.active = True
    loop = BareLoop(engine, DOMAIN, Watched(), "c1", decisions, span_model_call=False)
    for turn in conversation(plan):
        assert loop.run(turn.text)[0] == turn.status
    assert held == [0] * 5  # no transaction open across any model call
    # One commit per model call, and one more for the write the yes clears before its call.
    assert counter.commits == counter.transactions == 6
    with Session(engine) as session:
        written = [stored.event.type for stored in load(session, "c1")]
    with Session(agent.engine) as session:
        assert written == [stored.event.type for stored in load(session, "reference")]


def test_timed_thread_rounds_carry_no_counting_listeners(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Listeners cost every statement something: they may count only a round apart.
    handed_out: list[Engine] = []

    @contextmanager
    def store() -> Iterator[Engine]:
        with sqlite_store(template, tmp_path / f"s{len(handed_out)}.db") as engine:
            handed_out.append(engine)
            yield engine

    counted: list[Engine] = []
    monkeypatch.setattr(Counter, "attach", lambda _self, engine: counted.append(engine))
    throughput(store, threads=1, per_thread=1, rounds=2, delay=0.001, label="t")
    assert len(handed_out) == 3  # two timed rounds, then the counted one
    assert counted == [handed_out[-1]]
