"""Prompt caching that is verified: breakpoints, reads, writes and reported misses."""

from __future__ import annotations

from loguru import logger

from agent.config import Settings
from agent.model.anthropic import AnthropicModel
from agent.model.client import ChatMessage, ModelRequest
from agent.testing.fake_server import FakeMessagesAPI, text_reply
from agent.testing.prompt_cache import PromptCache

KEY = "sk-test-not-a-real-key"
SYSTEM = "You are a careful support agent. " * 60  # ~500 tokens at 4 chars a token
TOOLS = [
    {
        "name": f"tool_{i}",
        "description": "Does a thing. " * 10,
        "input_schema": {"type": "object", "properties": {}},
    }
    for i in range(5)
]


def request(*texts: str) -> ModelRequest:
    messages = [
        ChatMessage(
            role="user" if i % 2 == 0 else "assistant", content=[{"type": "text", "text": t}]
        )
        for i, t in enumerate(texts)
    ]
    return ModelRequest(
        model="claude-sonnet-5-5", max_tokens=50, system=SYSTEM, messages=messages, tools=TOOLS
    )


def model_for(server: FakeMessagesAPI, **settings: object) -> AnthropicModel:
    return AnthropicModel(
        Settings(base_url=server.base_url, max_retries=3, **settings), api_key=KEY
    )


def test_prompt_cache_writes_then_reads_and_looks_back_over_a_conversation():
    cache = PromptCache(min_tokens=100)
    body = {
        "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
            }
        ],
    }
    first = cache.account(body)
    assert first.cache_creation_input_tokens > 0 and first.cache_read_input_tokens == 0
    second = cache.account(body)
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    longer = {
        **body,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "more", "cache_control": {"type": "ephemeral"}}
                ],
            },
        ],
    }
    third = cache.account(longer)  # reads the earlier prefix through the lookback
    assert third.cache_read_input_tokens == first.cache_creation_input_tokens
    assert third.cache_creation_input_tokens > 0


def test_short_prefixes_are_never_cached():
    cache = PromptCache(min_tokens=10_000)
    body = {
        "system": [{"type": "text", "text": "short", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}],
    }
    for _ in range(2):
        usage = cache.account(body)
        assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)


def test_model_marks_breakpoints_and_second_call_reads_the_cache():
    with FakeMessagesAPI(
        [text_reply("a"), text_reply("b")], prompt_cache=PromptCache(min_tokens=200)
    ) as server:
        model = model_for(server)
        first = model.respond(request("hello"))
        second = model.respond(request("hello", "a", "and then?"))
        sent = server.requests[0].body
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in sent["tools"][0]
    assert sent["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first.message.usage.cache_creation_input_tokens > 0
    assert (
        second.message.usage.cache_read_input_tokens
        >= first.message.usage.cache_creation_input_tokens
    )
    assert (model.cache_stats.reads, model.cache_stats.writes, model.cache_stats.misses) == (
        1,
        2,
        0,
    )


def test_a_cache_miss_on_a_repeated_prefix_is_reported():
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING", format="{message}")
    try:
        with FakeMessagesAPI(
            [text_reply("a"), text_reply("b")], prompt_cache=PromptCache(min_tokens=1_000_000)
        ) as server:
            model = model_for(server)
            model.respond(request("hello"))
            model.respond(request("hello"))
    finally:
        logger.remove(sink)
    assert model.cache_stats.misses == 1
    assert any("prompt cache miss" in w for w in warnings)


def test_caching_can_be_turned_off():
    with FakeMessagesAPI([text_reply("a")]) as server:
        model_for(server, cache=False).respond(request("hello"))
        body = server.requests[0].body
    assert isinstance(body["system"], str) and "cache_control" not in body["tools"][-1]
