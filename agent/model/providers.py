"""The SDK client for the configured provider: Anthropic, Amazon Bedrock or Google Vertex AI.

Every client gets max_retries=0 (retries are ours, see retry.py), the configured
timeouts, and an httpx client whose transport passes each attempt through the rate
limiter. Bedrock with AWS credentials needs `boto3`, Vertex without an access token
needs `google-auth`: the SDK imports them only then (extras `bedrock` and `vertex`).
"""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import httpx2

from agent.config import Settings
from agent.model.ratelimit import LimitedTransport, RateLimiter

SdkClient = anthropic.Anthropic | anthropic.AnthropicBedrock | anthropic.AnthropicVertex


def http_timeout(settings: Settings) -> httpx2.Timeout:
    """Per-attempt timeouts; `read` is the longest silence tolerated between stream events."""
    return httpx2.Timeout(settings.timeout, connect=settings.connect_timeout)


def limited_http_client(settings: Settings, limiter: Callable[[str], RateLimiter]) -> httpx2.Client:
    """An httpx client whose every request passes through `limiter` (per model)."""
    transport = LimitedTransport(httpx2.HTTPTransport(), limiter)
    return httpx2.Client(transport=transport, timeout=http_timeout(settings))


def make_client(
    settings: Settings,
    http_client: httpx2.Client,
    *,
    api_key: str | None = None,
    access_token: str | None = None,
) -> SdkClient:
    """The SDK's own client for `settings.provider`, with SDK retries switched off."""
    common = {"max_retries": 0, "timeout": http_timeout(settings), "http_client": http_client}
    match settings.provider:
        case "anthropic":
            return anthropic.Anthropic(api_key=api_key, base_url=settings.base_url, **common)  # type: ignore[arg-type]
        case "bedrock":
            return anthropic.AnthropicBedrock(
                aws_region=settings.aws_region,
                api_key=api_key,
                base_url=settings.base_url,
                **common,  # type: ignore[arg-type]
            )
        case "vertex":
            return anthropic.AnthropicVertex(
                region=settings.vertex_region or "us-east5",
                project_id=settings.vertex_project_id or anthropic.NOT_GIVEN,
                access_token=access_token,
                base_url=settings.base_url,
                **common,  # type: ignore[arg-type]
            )
