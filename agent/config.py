"""Settings: explicit overrides > environment > TOML config file > defaults.

The API key is deliberately not a setting: it comes from ANTHROPIC_API_KEY only.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.yaml_load import BoundedInputError, read_text_bounded

DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_GIST_MODEL = "claude-haiku-4-5"  # gists are short: a smaller, cheaper model
CONFIG_FILE_NAME = "support-agent.toml"
CONFIG_PATH_ENV = "SUPPORT_AGENT_CONFIG"
API_KEY_ENV = "ANTHROPIC_API_KEY"
MAX_CONFIG_BYTES = 1_000_000
MAX_APPROVAL_EXPIRY_HOURS = 24 * 30  # a request older than a month is stale, never approvable


class ConfigError(Exception):
    """A setting is invalid or a config file cannot be used; the message names the source."""


class MissingApiKey(ConfigError):
    """ANTHROPIC_API_KEY is not set (or empty)."""


class Settings(BaseModel):
    """Everything the agent can be configured with, validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(DEFAULT_MODEL, min_length=1)
    gist_model: str = Field(DEFAULT_GIST_MODEL, min_length=1)
    max_tokens: int = Field(1024, gt=0)
    gist_max_tokens: int = Field(300, gt=0)
    provider: Literal["anthropic", "bedrock", "vertex"] = "anthropic"
    aws_region: str | None = None
    vertex_region: str | None = None
    vertex_project_id: str | None = None
    db_url: str | None = None
    base_url: str | None = None
    timeout: float = Field(60.0, gt=0, description="Seconds per HTTP attempt, and between events.")
    connect_timeout: float = Field(5.0, gt=0)
    deadline: float = Field(60.0, gt=0, description="Seconds one model call may take, retries in.")
    max_retries: int = Field(8, ge=0)
    retry_after_cap: float = Field(30.0, ge=0)
    retry_base_delay: float = Field(0.5, gt=0, description="First backoff; doubles, max 8 s.")
    breaker_failures: int = Field(5, gt=0)
    breaker_cooldown: float = Field(30.0, gt=0)
    context_budget_tokens: int = Field(150_000, gt=0)
    customer_messages_per_hour: int | None = Field(None, gt=0)
    customer_dollars_per_day: Decimal | None = Field(None, gt=0)
    spend_alert_dollars_per_day: Decimal | None = Field(None, gt=0)
    spend_alert_webhook: str | None = None
    max_model_calls_per_message: int = Field(10, gt=0)
    max_tool_calls_per_conversation: int = Field(50, gt=0)
    max_invalid_tool_calls: int = Field(3, ge=0)
    policy_path: Path | None = None
    approval_expiry_hours: float = Field(24.0, gt=0, le=MAX_APPROVAL_EXPIRY_HOURS)
    cache: bool = True
    requests_per_minute: int | None = Field(None, gt=0)
    input_tokens_per_minute: int | None = Field(None, gt=0)
    output_tokens_per_minute: int | None = Field(None, gt=0)
    max_tokens_per_conversation: int | None = Field(None, gt=0)
    max_dollars_per_conversation: Decimal | None = Field(None, gt=0)
    approvers: dict[str, list[str]] | None = Field(
        None, description="Who may approve: name -> roles ([approvers] table in the config file)."
    )
    webhook_urls: list[str] = Field(
        default_factory=list,
        description="Where the service and workers POST signed events (secret: environment).",
    )

    @classmethod
    def load(
        cls, overrides: dict[str, Any] | None = None, config_path: Path | None = None
    ) -> Settings:
        """Merge defaults, the config file, the environment and overrides, then validate."""
        return cls.load_with_sources(overrides, config_path)[0]

    @classmethod
    def load_with_sources(
        cls, overrides: dict[str, Any] | None = None, config_path: Path | None = None
    ) -> tuple[Settings, dict[str, str]]:
        """The settings and, for each one not at its default, where its value came from."""
        layers = [
            _file_layer(config_path),
            _env_layer(),
            _overrides_layer(overrides or {}),
        ]
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for layer_values, layer_sources in layers:
            values.update(layer_values)
            sources.update(layer_sources)
        try:
            return cls.model_validate(values), sources
        except ValidationError as exc:
            raise ConfigError(_describe(exc, sources)) from None

    def for_task(self, task: Task) -> tuple[str, int]:
        """The model id and max_tokens for a task: the chat, or ticket gists."""
        if task == "gist":
            return self.gist_model or self.model, self.gist_max_tokens
        return self.model, self.max_tokens

    def breaker_name(self) -> str:
        """The circuit breaker's name: one per provider and endpoint."""
        return f"{self.provider}:{self.base_url or 'default'}"


Task = Literal["chat", "gist"]


ENV_VARS: dict[str, str] = {
    "model": "SUPPORT_AGENT_MODEL",
    "gist_model": "SUPPORT_AGENT_GIST_MODEL",
    "max_tokens": "SUPPORT_AGENT_MAX_TOKENS",
    "db_url": "SUPPORT_AGENT_DB",
    "base_url": "ANTHROPIC_BASE_URL",
    "gist_max_tokens": "SUPPORT_AGENT_GIST_MAX_TOKENS",
    "provider": "SUPPORT_AGENT_PROVIDER",
    "aws_region": "AWS_REGION",
    "vertex_region": "CLOUD_ML_REGION",
    "vertex_project_id": "ANTHROPIC_VERTEX_PROJECT_ID",
    "timeout": "SUPPORT_AGENT_TIMEOUT",
    "connect_timeout": "SUPPORT_AGENT_CONNECT_TIMEOUT",
    "deadline": "SUPPORT_AGENT_DEADLINE",
    "max_retries": "SUPPORT_AGENT_MAX_RETRIES",
    "retry_after_cap": "SUPPORT_AGENT_RETRY_AFTER_CAP",
    "retry_base_delay": "SUPPORT_AGENT_RETRY_BASE_DELAY",
    "breaker_failures": "SUPPORT_AGENT_BREAKER_FAILURES",
    "breaker_cooldown": "SUPPORT_AGENT_BREAKER_COOLDOWN",
    "context_budget_tokens": "SUPPORT_AGENT_CONTEXT_BUDGET_TOKENS",
    "customer_messages_per_hour": "SUPPORT_AGENT_CUSTOMER_MESSAGES_PER_HOUR",
    "customer_dollars_per_day": "SUPPORT_AGENT_CUSTOMER_DOLLARS_PER_DAY",
    "spend_alert_dollars_per_day": "SUPPORT_AGENT_SPEND_ALERT_DOLLARS",
    "spend_alert_webhook": "SUPPORT_AGENT_SPEND_ALERT_WEBHOOK",
    "max_model_calls_per_message": "SUPPORT_AGENT_MAX_MODEL_CALLS",
    "max_tool_calls_per_conversation": "SUPPORT_AGENT_MAX_TOOL_CALLS",
    "max_invalid_tool_calls": "SUPPORT_AGENT_MAX_INVALID_TOOL_CALLS",
    "policy_path": "SUPPORT_AGENT_POLICY",
    "approval_expiry_hours": "SUPPORT_AGENT_APPROVAL_EXPIRY_HOURS",
    "cache": "SUPPORT_AGENT_CACHE",
    "requests_per_minute": "SUPPORT_AGENT_REQUESTS_PER_MINUTE",
    "input_tokens_per_minute": "SUPPORT_AGENT_INPUT_TOKENS_PER_MINUTE",
    "output_tokens_per_minute": "SUPPORT_AGENT_OUTPUT_TOKENS_PER_MINUTE",
    "max_tokens_per_conversation": "SUPPORT_AGENT_MAX_CONVERSATION_TOKENS",
    "max_dollars_per_conversation": "SUPPORT_AGENT_MAX_CONVERSATION_DOLLARS",
}
"""The environment variable read for each setting."""

Layer = tuple[dict[str, Any], dict[str, str]]


def require_api_key() -> str:
    """The API key from ANTHROPIC_API_KEY; raises MissingApiKey when unset or empty."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise MissingApiKey(f"{API_KEY_ENV} is not set: export {API_KEY_ENV} to call the API")
    return key


def find_config_file(config_path: Path | None = None) -> Path | None:
    """The config file to read: the given path, $SUPPORT_AGENT_CONFIG, or ./support-agent.toml."""
    if config_path is not None:
        return config_path
    from_env = os.environ.get(CONFIG_PATH_ENV, "").strip()
    if from_env:
        return Path(from_env)
    default = Path.cwd() / CONFIG_FILE_NAME
    return default if default.is_file() else None


def _file_layer(config_path: Path | None) -> Layer:
    path = find_config_file(config_path)
    if path is None:
        return {}, {}
    try:
        data = tomllib.loads(read_text_bounded(path, MAX_CONFIG_BYTES))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, BoundedInputError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    source = f"config file {path}"
    _reject_unknown(data, source)
    if isinstance(data.get("policy_path"), str):
        # Relative policy paths in a config file mean "next to this file".
        data["policy_path"] = path.parent / data["policy_path"]
    return data, dict.fromkeys(data, source)


def _env_layer() -> Layer:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, var in ENV_VARS.items():
        raw = os.environ.get(var, "").strip()
        if raw:
            values[name] = raw
            sources[name] = f"environment variable {var}"
    return values, sources


def _overrides_layer(overrides: dict[str, Any]) -> Layer:
    _reject_unknown(overrides, "overrides")
    values = {name: value for name, value in overrides.items() if value is not None}
    return values, dict.fromkeys(values, "overrides")


def _reject_unknown(data: dict[str, Any], source: str) -> None:
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        known = ", ".join(Settings.model_fields)
        raise ConfigError(f"unknown setting {unknown[0]!r} in {source} (known: {known})")


def _describe(exc: ValidationError, sources: dict[str, str]) -> str:
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        source = sources.get(name, "defaults")
        problems.append(
            f"invalid setting {name} from {source}: {error['msg']} (got {error['input']!r})"
        )
    return "; ".join(problems)
