"""Dead ends 2 and 3: chat on an empty store, readable output, history, Ctrl-D and Ctrl-C."""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from agent.cli import app as cli
from agent.store.engine import make_engine
from agent.testing import fixtures
from agent.testing.fake_server import FakeMessagesAPI, text_reply, tool_reply
from agent.transcript.events import load
from tools.retail import DOMAIN

fake_api = fixtures.fake_api
KEY = "sk-test-not-a-real-key-0123456789"
EMAIL = "mia.hernandez@example.com"
runner = CliRunner()


def use_fake(monkeypatch, server: FakeMessagesAPI, db: str) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    monkeypatch.setenv("SUPPORT_AGENT_DB", db)


def seeded(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(db)
    with Session(engine) as session:
        DOMAIN.seed_demo(session, 0)
        session.commit()
    engine.dispose()
    return db


def chat(*args: str, input: str):
    return runner.invoke(cli.app, ["chat", *args], input=input, env={"COLUMNS": "200"})


def test_chat_on_an_empty_store_says_how_to_fill_it(tmp_path, monkeypatch, fake_api) -> None:
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    make_engine(db).dispose()  # tables, no data
    use_fake(monkeypatch, fake_api, db)
    result = chat(input="hello\n")
    assert result.exit_code == 2
    assert "holds no retail data" in result.output and "support-agent db init" in result.output
    assert fake_api.requests == []


def test_chat_on_a_missing_store_creates_nothing(tmp_path, monkeypatch, fake_api) -> None:
    missing = tmp_path / "nowhere.db"
    use_fake(monkeypatch, fake_api, str(missing))
    result = chat(input="hello\n")
    assert result.exit_code == 2 and f"no database at {missing}" in result.output
    assert not missing.exists()


def test_text_of_consecutive_model_calls_is_not_glued(tmp_path, monkeypatch, fake_api) -> None:
    fake_api.add(
        tool_reply("find_user_id_by_email", {"email": EMAIL}, text="Let me look up your account."),
        text_reply("I found your account, Mia."),
    )
    use_fake(monkeypatch, fake_api, seeded(tmp_path))
    result = chat("--conversation", "c-1", input=f"my email is {EMAIL}\n\n")
    assert result.exit_code == 0, result.output
    assert "account.I found" not in result.output
    # Each model call's text is its own paragraph (a log line may stand between them).
    out = result.output
    first, second = out.index("Let me look up your account."), out.index("I found your account")
    assert first < second and "\n" in out[first:second]
    assert "tool call" not in result.output  # only with -v


def test_verbose_shows_tool_calls_and_gate_decisions(tmp_path, monkeypatch, fake_api) -> None:
    fake_api.add(
        tool_reply("find_user_id_by_email", {"email": EMAIL}, text="Looking."),
        text_reply("Found you."),
    )
    use_fake(monkeypatch, fake_api, seeded(tmp_path))
    result = chat("-v", input=f"my email is {EMAIL}\n\n")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    call = next(i for i, line in enumerate(lines) if "tool call find_user_id_by_email" in line)
    assert any("gate      allow find_user_id_by_email" in line for line in lines[call:])
    assert any("result    find_user_id_by_email" in line for line in lines[call:])
    assert lines.index("Found you.") > call  # events appear before the next call's text


def test_conversation_option_shows_the_history_first(tmp_path, monkeypatch, fake_api) -> None:
    fake_api.add(text_reply("Hello! How can I help?"), text_reply("Still here."))
    db = seeded(tmp_path)
    use_fake(monkeypatch, fake_api, db)
    assert chat("--conversation", "c-2", input="hi\n\n").exit_code == 0
    result = chat("--conversation", "c-2", input="are you there?\n\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "history of c-2" in out
    assert (
        out.index("Hello! How can I help?") < out.index("end of history") < out.index("Still here.")
    )


def test_ctrl_d_ends_the_prompt_line(tmp_path, monkeypatch, fake_api) -> None:
    use_fake(monkeypatch, fake_api, seeded(tmp_path))
    result = chat("--conversation", "c-3", input="")  # EOF at the first prompt
    assert result.exit_code == 0, result.output
    assert "you> \n" in result.output
    assert "continue later with `support-agent chat --conversation c-3`" in result.output


def test_the_hint_to_continue_names_the_db_given(tmp_path, monkeypatch, fake_api) -> None:
    db = seeded(tmp_path)
    use_fake(monkeypatch, fake_api, db)
    monkeypatch.delenv("SUPPORT_AGENT_DB")  # the store is known only from --db
    result = chat("--conversation", "c-5", "--db", db, input="")
    assert result.exit_code == 0, result.output
    assert f"continue later with `support-agent chat --conversation c-5 --db {db}`" in (
        result.output
    )


def spawn_chat(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    # "started" once the entry point is loaded, as in the console script: a Ctrl-C before
    # that interrupts Python's own start-up, which no program can catch.
    code = "from agent.cli import main; print('started', flush=True); main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "chat", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env, "COLUMNS": "200"},
    )


def read_until(proc: subprocess.Popen[bytes], marker: bytes, timeout: float = 60) -> bytes:
    """Output so far, once `marker` appeared (or the timeout passed)."""
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen


def test_ctrl_c_at_the_prompt_says_how_to_continue(tmp_path, fake_api) -> None:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake_api.base_url,
           "SUPPORT_AGENT_DB": seeded(tmp_path)}  # fmt: skip
    proc = spawn_chat(env, "--conversation", "c-4")
    try:
        before = read_until(proc, b"you>")
        assert b"you>" in before, before
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    text = (before + out).decode()
    assert proc.returncode == 130
    assert (
        "interrupted; conversation c-4 is paused, continue with "
        "`support-agent chat --conversation c-4`" in text
    )
    assert "Traceback" not in text


def test_ctrl_c_while_starting_prints_no_traceback(tmp_path) -> None:
    proc = spawn_chat({"SUPPORT_AGENT_DB": str(tmp_path / "x.db"), "ANTHROPIC_API_KEY": ""})
    try:
        started = read_until(proc, b"started")
        time.sleep(0.05)  # into main(): importing the commands takes longer than this
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert b"started" in started
    assert b"Traceback" not in out, out
    assert proc.returncode in (130, 2)  # 2: it got as far as "no API key" first


@pytest.mark.parametrize("status", ["done"])
def test_resume_of_a_finished_conversation_appends_nothing(
    tmp_path, monkeypatch, fake_api, status
) -> None:
    fake_api.add(text_reply("Hello!"))
    db = seeded(tmp_path)
    use_fake(monkeypatch, fake_api, db)
    assert chat("--conversation", "c-5", input="hi\n\n").exit_code == 0
    engine = make_engine(db)
    with Session(engine) as session:
        before = len(load(session, "c-5"))
    result = runner.invoke(cli.app, ["resume", "c-5"])
    assert result.exit_code == 0
    assert f"conversation c-5 is {status}: nothing to resume" in result.output
    with Session(engine) as session:
        assert len(load(session, "c-5")) == before
    assert len(fake_api.requests) == 1


def test_a_log_line_never_lands_mid_sentence(tmp_path) -> None:
    from rich.console import Console

    from agent.cli.chat_screen import ChatScreen

    out, err = io.StringIO(), io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    screen = ChatScreen(console, make_engine(seeded(tmp_path)), "c-6", err=err)
    screen.text("I'll cancel")
    screen.log("12:00:00 WARNING agent.model: slow response\n")
    screen.text(" it now.")
    screen.model_call()
    screen.text("Done.")
    screen.end_line()
    assert out.getvalue() == "I'll cancel\n it now.\nDone.\n"
    assert err.getvalue() == "12:00:00 WARNING agent.model: slow response\n"


def test_chat_customer_option_is_the_verified_customer(tmp_path, monkeypatch, fake_api) -> None:
    # Issue 8, hole 4: the channel vouches for the customer; no lookup is needed, and the
    # conversation's customer is that id, whatever the model looks up.
    fake_api.add(
        tool_reply("get_order_details", {"order_id": "#W1001001"}),
        text_reply("Your order is pending."),
    )
    db = seeded(tmp_path)
    use_fake(monkeypatch, fake_api, db)
    result = chat(
        "--conversation", "c-v", "--customer", "mia_hernandez_1001", input="where is it?\n\n"
    )
    assert result.exit_code == 0, result.output
    with Session(make_engine(db)) as session:
        events = [e.event for e in load(session, "c-v")]
    assert events[0].type == "customer_verified"
    looked = next(e for e in events if e.type == "tool_result")
    assert not looked.is_error  # authenticated by the channel: the gate let it through
