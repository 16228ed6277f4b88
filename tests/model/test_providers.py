"""Bedrock and Vertex through the SDK's own clients, pointed at the fake server."""

from __future__ import annotations

import pytest

from agent.config import Settings
from agent.model.anthropic import AnthropicModel
from agent.model.client import ChatMessage, ModelError, ModelRequest
from agent.model.providers import limited_http_client, make_client
from agent.model.ratelimit import limiter_for
from agent.testing.fake_server import FakeMessagesAPI, text_reply

MODEL = "claude-sonnet-4-6"


def request() -> ModelRequest:
    user = ChatMessage(role="user", content=[{"type": "text", "text": "hello"}])
    return ModelRequest(model=MODEL, max_tokens=50, system="Be brief.", messages=[user])


def test_bedrock_sends_its_own_path_auth_and_body(fake_api: FakeMessagesAPI):
    settings = Settings(
        provider="bedrock", base_url=fake_api.base_url, aws_region="us-east-1", cache=False
    )
    model = AnthropicModel(settings, api_key="bedrock-bearer-token")

    with pytest.raises(ModelError) as info:  # the fake speaks SSE, not AWS event streams
        model.respond(request())

    sent = fake_api.requests[0]
    assert sent.path == f"/model/{MODEL}/invoke-with-response-stream"
    assert sent.headers["authorization"] == "REDACTED"  # a bearer token was sent
    assert sent.body["anthropic_version"]  # Bedrock names the API version in the body
    assert "model" not in sent.body and "stream" not in sent.body
    assert info.value.kind == "not_found" and len(fake_api.requests) == 1


def test_vertex_streams_through_the_fake(fake_api: FakeMessagesAPI):
    fake_api.add(text_reply("from vertex"))
    settings = Settings(
        provider="vertex",
        base_url=f"{fake_api.base_url}/v1",
        vertex_region="us-east5",
        vertex_project_id="my-project",
        cache=False,
    )
    http = limited_http_client(settings, lambda model: limiter_for(model))
    client = make_client(settings, http, access_token="vertex-access-token")
    model = AnthropicModel(settings, client=client)

    response = model.respond(request())

    sent = fake_api.requests[0]
    assert sent.path == (
        f"/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/"
        f"{MODEL}:streamRawPredict"
    )
    assert sent.body["anthropic_version"]  # Vertex names the API version in the body
    assert response.message.text() == "from vertex"
    assert limiter_for(MODEL).acquired == 1  # our transport saw the attempt


def test_anthropic_client_has_no_sdk_retries(fake_api: FakeMessagesAPI):
    settings = Settings(base_url=fake_api.base_url)
    http = limited_http_client(settings, lambda model: limiter_for(model))
    assert make_client(settings, http, api_key="k").max_retries == 0
