"""Settings precedence (overrides > env > file > defaults), errors, and the API key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.config import (
    CONFIG_PATH_ENV,
    DEFAULT_MODEL,
    ENV_VARS,
    ConfigError,
    MissingApiKey,
    Settings,
    require_api_key,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in [*ENV_VARS.values(), CONFIG_PATH_ENV, "ANTHROPIC_API_KEY"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    settings = Settings.load()

    assert settings == Settings()
    assert settings.model == DEFAULT_MODEL
    assert (settings.max_tokens, settings.max_retries) == (1024, 8)
    assert (settings.db_url, settings.base_url, settings.policy_path) == (None, None, None)
    assert settings.max_model_calls_per_message == 10
    assert settings.max_tool_calls_per_conversation == 50
    assert settings.max_invalid_tool_calls == 3
    assert settings.approval_expiry_hours == 24
    assert settings.cache is True


def test_precedence_overrides_env_file_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write(
        tmp_path / "support-agent.toml", 'model = "from-file"\nmax_tokens = 111\nmax_retries = 7\n'
    )
    monkeypatch.setenv("SUPPORT_AGENT_MODEL", "from-env")
    monkeypatch.setenv("SUPPORT_AGENT_MAX_TOKENS", "222")

    settings = Settings.load({"model": "from-flag", "max_tokens": None})

    assert settings.model == "from-flag"
    assert settings.max_tokens == 222
    assert settings.max_retries == 7
    assert settings.timeout == 60.0


def test_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_AGENT_DB", "sqlite:///x.db")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SUPPORT_AGENT_CACHE", "false")
    monkeypatch.setenv("SUPPORT_AGENT_TIMEOUT", "2.5")

    settings = Settings.load()

    assert settings.db_url == "sqlite:///x.db"
    assert settings.base_url == "http://127.0.0.1:9"
    assert settings.cache is False
    assert settings.timeout == 2.5


def test_config_path_from_env_and_relative_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    path = write(folder / "agent.toml", 'policy_path = "rules.yaml"\ncache = false\n')
    monkeypatch.setenv(CONFIG_PATH_ENV, str(path))

    settings = Settings.load()

    assert settings.policy_path == folder / "rules.yaml"
    assert settings.cache is False


def test_explicit_config_path_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CONFIG_PATH_ENV, str(write(tmp_path / "a.toml", "max_tokens = 1\n")))

    settings = Settings.load(config_path=write(tmp_path / "b.toml", "max_tokens = 2\n"))

    assert settings.max_tokens == 2


def test_invalid_env_value_names_variable_and_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_AGENT_MAX_TOKENS", "lots")

    with pytest.raises(ConfigError) as info:
        Settings.load()

    assert "max_tokens" in str(info.value)
    assert "environment variable SUPPORT_AGENT_MAX_TOKENS" in str(info.value)


def test_invalid_file_value_names_file_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "support-agent.toml", "max_retries = -1\n")

    with pytest.raises(ConfigError, match="max_retries") as info:
        Settings.load()

    assert str(path) in str(info.value)


def test_invalid_override_names_overrides() -> None:
    with pytest.raises(ConfigError, match="approval_expiry_hours from overrides"):
        Settings.load({"approval_expiry_hours": 0})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("api_key = 'sk-nope'\n", "unknown setting 'api_key'"),
        ("model = \n", "cannot be read"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path / "support-agent.toml", text)

    with pytest.raises(ConfigError, match=match) as info:
        Settings.load()

    assert str(path) in str(info.value)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(config_path=tmp_path / "nope.toml")


def test_api_key_is_not_a_setting() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'api_key' in overrides"):
        Settings.load({"api_key": "sk-nope"})
    assert "api_key" not in Settings.model_fields


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().max_tokens = 5  # type: ignore[misc]


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_api_key(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is not None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", value)

    with pytest.raises(MissingApiKey) as info:
        require_api_key()

    message = str(info.value)
    assert "ANTHROPIC_API_KEY" in message
    assert "\n" not in message


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-a-real-key")

    assert require_api_key() == "sk-test-not-a-real-key"
