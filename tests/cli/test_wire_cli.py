"""Commands of the production wire: fake-api, chat offline, usage, config show, live text."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import Session, select
from typer.testing import CliRunner

from agent.cli.app import app
from agent.cli.fake_api import build_fake, fault_items, script_items
from agent.cli.live import LiveReply
from agent.model.client import CallEnded, LiveText, StreamReset, Usage
from agent.store.tables import Event
from agent.testing.fake_server import Reply
from tools.retail import DOMAIN

runner = CliRunner()
SECRET_DB_PASSWORD = "hunter2-db-password"


def seed(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/chat.db"
    result = runner.invoke(DOMAIN.cli, ["init", "--db", url, "--seed", "0"])
    assert result.exit_code == 0, result.output
    return url


def offline_env(monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anything")
    monkeypatch.setenv("SUPPORT_AGENT_RETRY_BASE_DELAY", "0.001")


def test_chat_works_offline_against_the_fake_api(tmp_path, monkeypatch):
    url = seed(tmp_path)
    with build_fake() as api:
        offline_env(monkeypatch, api.base_url)
        text = "Hi, my email is mia.hernandez@example.com\nWhere is order #W1001001?\n\n"
        result = runner.invoke(app, ["chat", "--db", url], input=text)
        answers = [r.answer for r in api.requests]

    assert result.exit_code == 0, result.output
    assert "Here is what I found: mia_hernandez_1001" in result.output
    assert "412 Maple Avenue" in result.output  # the order's details came back
    assert answers == ["stream"] * 4
    assert "cache miss" not in result.output


def test_chat_rides_out_injected_faults_and_never_shows_text_twice(tmp_path, monkeypatch):
    url = seed(tmp_path)
    with build_fake(faults="529x2,error,cut,malformed") as api:
        offline_env(monkeypatch, api.base_url)
        result = runner.invoke(app, ["chat", "--db", url], input="hello\n\n")

    assert result.exit_code == 0, result.output
    assert result.output.count("I'm the offline fake assistant") == 1
    assert "breaks off half way" not in result.output  # withdrawn fragments never printed


def test_fault_and_script_specs(tmp_path):
    assert len(fault_items("529x3,429,cut")) == 5
    with pytest.raises(ValueError, match="unknown fault"):
        fault_items("explode")
    script = tmp_path / "script.yaml"
    script.write_text("- text: Hello\n- tool: lookup\n  input: {name: a}\n- fault: 529\n")
    items = script_items(script)
    assert isinstance(items[0], Reply) and items[0].content[0]["text"] == "Hello"
    assert isinstance(items[1], Reply) and items[1].content[-1]["name"] == "lookup"


def test_fake_api_runs_as_a_command_and_stops_by_itself():
    command = [sys.executable, "-m", "agent.cli", "fake-api", "--port", "0", "--stop-after", "1"]
    process = subprocess.run(
        [sys.executable, "-c", "from agent.cli import main; main()", *command[3:]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 0, process.stderr
    assert "fake Messages API on http://127.0.0.1:" in process.stdout


def test_live_reply_withdraws_retried_text_and_separates_calls():
    out = StringIO()
    live = LiveReply(Console(file=out, force_terminal=False, width=100))
    signals: list[LiveText] = ["Let me ", "che", StreamReset("Let me che"), "Let me check."]
    for signal in [*signals, CallEnded()]:
        live(signal)
    live("Not found.")
    live(CallEnded())
    live.end_turn()
    assert out.getvalue() == "Let me check.\n\nNot found.\n"
    assert live.resets == 1


def test_live_reply_markup_is_shown_not_interpreted():
    out = StringIO()
    live = LiveReply(Console(file=out, force_terminal=False, width=100))
    live("[bold red]hi[/]")
    live(CallEnded())
    assert "[bold red]hi[/]" in out.getvalue()


def test_usage_groups_tokens_dollars_errors_and_latency(tmp_path, monkeypatch):
    url = seed(tmp_path)
    with build_fake() as api:
        offline_env(monkeypatch, api.base_url)
        text = "Hi, my email is mia.hernandez@example.com\n\n"
        assert runner.invoke(app, ["chat", "--db", url], input=text).exit_code == 0

    by_model = runner.invoke(app, ["usage", "--db", url, "--by", "model", "--json"])
    assert by_model.exit_code == 0, by_model.output
    (row,) = json.loads(by_model.output)["rows"]
    assert row["group"] == "claude-sonnet-5-5" and row["calls"] == 2
    assert row["latency_p50_ms"] is not None and row["errors"] == 0
    assert row["cache_write_tokens"] + row["cache_read_tokens"] + row["input_tokens"] > 0

    by_customer = runner.invoke(app, ["usage", "--db", url, "--by", "customer", "--json"])
    assert [r["group"] for r in json.loads(by_customer.output)["rows"]] == ["mia_hernandez_1001"]
    by_tool = runner.invoke(app, ["usage", "--db", url, "--by", "tool", "--json"])
    groups = {r["group"] for r in json.loads(by_tool.output)["rows"]}
    assert groups == {"find_user_id_by_email", "(reply)"}
    table = runner.invoke(app, ["usage", "--db", url, "--since", "1h"])
    assert table.exit_code == 0 and "prices as of" in table.output
    for width in ("80", "200"):  # narrow: a block per group; wide: the table; never cut
        shown = runner.invoke(
            app, ["usage", "--db", url, "--by", "customer"], env={"COLUMNS": width}
        )
        assert shown.exit_code == 0 and "…" not in shown.output
        assert "mia_hernandez_1001" in shown.output and "dollars" in shown.output
        assert max(len(line) for line in shown.output.splitlines()) <= int(width)
    assert runner.invoke(app, ["usage", "--db", url, "--since", "soon"]).exit_code == 2


def test_usage_cost_uses_the_price_table(tmp_path):
    url = f"sqlite:///{tmp_path}/u.db"
    from agent.store.engine import make_engine
    from agent.store.tables import Conversation

    engine = make_engine(url)
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000)
    payload = {
        "type": "model_response",
        "message": {"model": "claude-haiku-4-5", "content": [], "usage": usage.model_dump()},
        "usage": usage.model_dump(),
        "latency_ms": 120.0,
        "retries": 2,
    }
    with Session(engine) as session:
        session.add(Conversation(id="c1"))
        session.add(Event(conversation_id="c1", seq=1, type="model_response", payload=payload))
        session.add(
            Event(conversation_id="c1", seq=2, type="error", payload={"kind": "overloaded"})
        )
        session.commit()
        assert len(session.exec(select(Event)).all()) == 2

    out = runner.invoke(app, ["usage", "--db", url, "--by", "conversation", "--json"])
    (row,) = json.loads(out.output)["rows"]
    assert row["dollars"] == "1.5000"  # $1 in + $0.50 out on Haiku 4.5
    assert (row["errors"], row["retries"], row["latency_p95_ms"]) == (1, 2, 120.0)


def test_config_show_lists_sources_and_masks_secrets(tmp_path, monkeypatch):
    config = tmp_path / "support-agent.toml"
    config.write_text(
        'deadline = 30.0\nspend_alert_webhook = "https://hooks.example.com/T/secret"\n'
    )
    monkeypatch.setenv("SUPPORT_AGENT_MAX_RETRIES", "4")
    monkeypatch.setenv("SUPPORT_AGENT_DB", f"postgresql://app:{SECRET_DB_PASSWORD}@db/x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-should-never-print")

    out = runner.invoke(app, ["--config", str(config), "config", "show", "--json"])

    assert out.exit_code == 0, out.output
    assert SECRET_DB_PASSWORD not in out.output and "should-never-print" not in out.output
    assert "secret" not in out.output.replace("secrets", "")
    document = json.loads(out.output)
    rows = {r["name"]: r for r in document["settings"]}
    assert rows["deadline"]["value"] == 30.0 and "config file" in rows["deadline"]["source"]
    assert rows["max_retries"]["source"] == "environment variable SUPPORT_AGENT_MAX_RETRIES"
    assert rows["timeout"]["source"] == "default"
    assert rows["spend_alert_webhook"]["value"] == "https://hooks.example.com/****"
    assert document["credentials"]["ANTHROPIC_API_KEY"] == "set"
    table = runner.invoke(app, ["--config", str(config), "config", "show"])
    assert "deadline" in table.output and SECRET_DB_PASSWORD not in table.output


def test_the_fake_api_command_emulates_the_cache_so_only_real_misses_warn():
    from agent.config import Settings
    from agent.model.anthropic import AnthropicModel
    from agent.model.client import ChatMessage, ModelRequest

    system = "You are a careful support agent for a large online store. " * 100  # > 1024 tokens
    user = ChatMessage(role="user", content=[{"type": "text", "text": "hello"}])
    request = ModelRequest(model="m", max_tokens=20, system=system, messages=[user])
    with build_fake() as api:
        model = AnthropicModel(Settings(base_url=api.base_url), api_key="anything")
        model.respond(request)
        model.respond(request)
    assert (model.cache_stats.writes, model.cache_stats.reads, model.cache_stats.misses) == (
        1,
        1,
        0,
    )


def test_chat_during_an_outage_says_so_politely_and_keeps_the_message(tmp_path, monkeypatch):
    url = seed(tmp_path)
    with build_fake() as dead:
        base_url = dead.base_url  # stopped on leaving: connections are refused
    offline_env(monkeypatch, base_url)
    monkeypatch.setenv("SUPPORT_AGENT_MAX_RETRIES", "0")

    result = runner.invoke(app, ["chat", "--db", url], input="where is my order?\n\n")

    assert result.exit_code == 0, result.output
    assert "can't reach our assistant right now" in result.output
    assert "Traceback" not in result.output
