"""The pytest plugin: scenario and transcript items, readable failures, fixtures, real-API guard."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.transcript.events import ToolResulted
from agent.transcript.files import write_transcript
from tests.replay.test_replay import CONFIRMED, converse

pytest_plugins = ["pytester"]

TOY_INI = "[pytest]\nsupport_agent_domain = tests.toy_domain:DOMAIN\n"
PASSING = {
    "name": "toy-read",
    "turns": [
        {
            "customer": "what is a?",
            "model": [{"tool": "lookup", "input": {"name": "a"}}, {"say": "a is 1"}],
            "expect_status": "done",
        }
    ],
    "expect": {"executed": ["lookup"], "db": {"values": {"a": {"value": 1}}}},
}


def write(pytester: pytest.Pytester, relative: str, data: object) -> Path:
    path = pytester.path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_scenarios_are_collected_and_run(pytester: pytest.Pytester) -> None:
    pytester.makeini(TOY_INI)
    write(pytester, "scenarios/toy-read.yaml", PASSING)
    write(pytester, "scenarios/policies/strict.yaml", {"version": 1, "rules": []})
    write(pytester, "elsewhere/toy-read.yaml", PASSING)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*scenarios/toy-read.yaml::toy-read PASSED*"])


def test_a_failing_scenario_shows_its_failures_not_a_traceback(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(TOY_INI)
    expect = {"executed": ["set_value"], "db": {"values": {"a": {"value": 9}}}}
    failing = {**PASSING, "expect": expect}
    write(pytester, "scenarios/toy-wrong.yaml", failing)
    write(pytester, "scenarios/broken.yaml", {"name": "Not A Slug", "turns": []})
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "scenario toy-read" in out and "2 failed" in out
    assert "tools executed:" in out and "db.values.a.value: expected 9, got 1" in out
    assert "broken.yaml: field name" in out
    assert "Traceback" not in out and "agent/scenario_run.py" not in out


def test_transcripts_under_scenarios_are_replayed(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makeini(TOY_INI)
    transcript = converse(tmp_path, *CONFIRMED)
    meta = transcript.header.meta.model_dump()
    (pytester.path / "scenarios").mkdir()
    write_transcript(pytester.path / "scenarios/good.transcript.jsonl", transcript.events, meta)
    tampered = [e.model_copy(deep=True) for e in transcript.events]
    for stored in tampered:
        if isinstance(stored.event, ToolResulted) and stored.event.name == "lookup":
            stored.event.content = '{"name": "a", "value": 2}'
    write_transcript(pytester.path / "scenarios/bad.transcript.jsonl", tampered, meta)
    write(pytester, "scenarios/unreadable.transcript.jsonl", "not json\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert "replay diverged" in out and "diverged at step 1" in out
    assert '-      "value": 2' in out and '+      "value": 1' in out
    assert "unreadable.transcript.jsonl:1: the header is not valid JSON" in out
    assert "Traceback" not in out


def test_real_api_needs_the_marker_and_a_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.real_api
        def test_marked():
            assert os.environ["ANTHROPIC_API_KEY"] == "sk-test"

        def test_unmarked():
            assert "ANTHROPIC_API_KEY" not in os.environ
        """
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    pytester.runpytest().assert_outcomes(passed=2)
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*marked real_api: set ANTHROPIC_API_KEY*"])


def test_fixtures_users_get(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from sqlalchemy import inspect

        from agent.model.client import ModelRequest
        from agent.testing.fake_server import text_reply

        def test_store(support_store):
            assert "event" in inspect(support_store).get_table_names()

        def test_scripted(scripted_model):
            model = scripted_model("hello", {"tool": "lookup", "input": {"name": "a"}})
            request = ModelRequest(model="m", max_tokens=5, system="", messages=[])
            assert model.respond(request).message.text() == "hello"
            second = model.respond(request).message
            assert second.stop_reason == "tool_use"
            assert second.content[0]["name"] == "lookup"

        def test_fake_api(fake_api):
            fake_api.add(text_reply("hi"))
            assert fake_api.base_url.startswith("http://127.0.0.1")
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_the_domain_defaults_to_retail(pytester: pytest.Pytester) -> None:
    assert pytester.parseconfig().getini("support_agent_domain") == "tools.retail:DOMAIN"
