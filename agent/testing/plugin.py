"""The pytest plugin shipped with support-agent (registered via the pytest11 entry point).

- Collects `*.yaml` scenarios and `*.transcript.jsonl` recorded transcripts under a
  `scenarios/` directory as test items: scenarios run with the scripted model,
  transcripts are replayed. A failure shows the failed expectations or the replay's
  diff, not a stack trace. The domain comes from the ini option `support_agent_domain`
  (default tools.retail:DOMAIN).
- Fixtures: `support_store` (a temporary SQLite store), `scripted_model` (a factory)
  and `fake_api` (the local fake Messages API server).
- Real model calls are forbidden: ANTHROPIC_API_KEY is removed for every test unless it
  is marked `@pytest.mark.real_api`; a marked test without a key is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from agent.config import ConfigError, Settings
from agent.domain import DEFAULT_DOMAIN, Domain, load_domain
from agent.gate.policy_file import PolicyError
from agent.model.scripted import ScriptedModel, ScriptStep
from agent.replay.replayer import ReplayError, replay_transcript
from agent.replay.scenario import Reply, ScenarioError, load_scenario
from agent.replay.scenario_run import run_scenario
from agent.store.engine import make_engine
from agent.testing.fixtures import fake_api
from agent.transcript.files import TranscriptError

__all__ = ["fake_api", "scripted_model", "support_store"]

DOMAIN_INI = "support_agent_domain"
REAL_API_MARKER = "real_api"
KEY_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
TRANSCRIPT_SUFFIX = ".transcript.jsonl"


class ItemFailed(Exception):
    """A scenario or transcript item failed; the message is the whole readable report."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ini option naming the domain scenario items run against."""
    parser.addini(
        DOMAIN_INI,
        "Domain (module:ATTR) that scenario and transcript items run against.",
        default=DEFAULT_DOMAIN,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the real_api marker."""
    config.addinivalue_line(
        "markers",
        f"{REAL_API_MARKER}: calls the real Anthropic API; runs only when ANTHROPIC_API_KEY is set",
    )


def _under_scenarios(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts[:-1]
    except ValueError:
        parts = path.parts[:-1]
    return "scenarios" in parts


def _is_scenario_file(path: Path) -> bool:
    """YAML under scenarios/ that is not another kind of document (a policy file, say)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True  # collect it, so that the item reports the problem
    return not (isinstance(data, dict) and "rules" in data and "turns" not in data)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Scenario YAML and recorded transcripts under a `scenarios` directory become items."""
    if not _under_scenarios(file_path, parent.config.rootpath):
        return None
    if file_path.name.endswith(TRANSCRIPT_SUFFIX):
        return TranscriptFile.from_parent(parent, path=file_path)
    if file_path.suffix in (".yaml", ".yml") and _is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@cache
def _domain(spec: str) -> Domain:
    return load_domain(spec)


def _setup(config: pytest.Config) -> tuple[Domain, Settings]:
    spec = str(config.getini(DOMAIN_INI) or DEFAULT_DOMAIN)
    try:
        return _domain(spec), Settings.load()
    except (ValueError, ConfigError) as exc:
        raise ItemFailed(str(exc)) from None


class _Item(pytest.Item):
    """A data-driven item whose failures are reports, not tracebacks."""

    def check(self, domain: Domain, settings: Settings) -> None:
        """Run the item; raise ItemFailed with a readable report."""
        raise NotImplementedError

    def runtest(self) -> None:
        """Run without any API key in the environment."""
        domain, settings = _setup(self.config)
        with pytest.MonkeyPatch.context() as patch:
            for var in KEY_VARS:
                patch.delenv(var, raising=False)
            self.check(domain, settings)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        """The report itself for expected failures, pytest's usual output otherwise."""
        if isinstance(excinfo.value, ItemFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the item comes from."""
        return self.path, None, f"{type(self).__name__}: {self.name}"


class ScenarioItem(_Item):
    """One scenario file, run on a fresh store with the scripted model."""

    def check(self, domain: Domain, settings: Settings) -> None:
        """Run the scenario; fail with its list of unmet expectations."""
        try:
            scenario = load_scenario(self.path)
            outcome = run_scenario(scenario, domain, settings)
        except (ScenarioError, PolicyError) as exc:
            raise ItemFailed(str(exc)) from None
        if outcome.failures:
            lines = [f"scenario {scenario.name} ({self.path}): {len(outcome.failures)} failed"]
            lines += [f"  - {failure}" for failure in outcome.failures]
            raise ItemFailed("\n".join(lines))


class TranscriptItem(_Item):
    """One recorded transcript, replayed; fails at the first divergence with its diff."""

    def check(self, domain: Domain, settings: Settings) -> None:
        """Replay the transcript; fail with the replay's report."""
        try:
            report = replay_transcript(self.path, domain, settings)
        except (TranscriptError, ReplayError, PolicyError) as exc:
            raise ItemFailed(str(exc)) from None
        if not report.identical:
            raise ItemFailed(f"{self.path}: replay diverged\n{report.render()}")


class ScenarioFile(pytest.File):
    """A scenario YAML file: one item."""

    def collect(self) -> Iterator[pytest.Item]:
        """The scenario item, named after the file."""
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class TranscriptFile(pytest.File):
    """A recorded transcript: one item."""

    def collect(self) -> Iterator[pytest.Item]:
        """The replay item, named after the file."""
        yield TranscriptItem.from_parent(self, name=self.path.name.removesuffix(TRANSCRIPT_SUFFIX))


@pytest.fixture(autouse=True)
def _support_agent_no_real_api(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Remove API keys unless the test is marked real_api; skip a marked test without a key."""
    if request.node.get_closest_marker(REAL_API_MARKER) is None:
        for var in KEY_VARS:
            monkeypatch.delenv(var, raising=False)
    elif not os.environ.get("ANTHROPIC_API_KEY", "").strip():
        pytest.skip("marked real_api: set ANTHROPIC_API_KEY to run it against the real API")


@pytest.fixture
def support_store(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite store in a temporary directory, every registered table created."""
    engine = make_engine(f"sqlite:///{tmp_path / 'support-store.db'}")
    try:
        yield engine
    finally:
        engine.dispose()


ReplySpec = ScriptStep | str | dict[str, Any]


def _step(spec: ReplySpec, number: int) -> ScriptStep:
    if isinstance(spec, ScriptStep):
        return spec
    reply = Reply(say=spec) if isinstance(spec, str) else Reply.model_validate(spec)
    return ScriptStep(
        content=reply.content(f"toolu_scripted_{number:03d}"),
        stop_reason=reply.stop(),
        expect_in_request=reply.expect_in_request,
    )


@pytest.fixture
def scripted_model() -> Callable[..., ScriptedModel]:
    """A factory: scripted_model(*replies) with ScriptSteps, texts or scenario-style dicts."""

    def make(*replies: ReplySpec, name: str = "script") -> ScriptedModel:
        steps = [_step(spec, n) for n, spec in enumerate(replies, start=1)]
        return ScriptedModel(steps, name=name)

    return make
