"""The fake Message Batches endpoints, driven through the official SDK."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import pytest

from agent.testing.fake_batches import FakeBatches, ForcedToolResponder, fill_schema, last_user_text
from agent.testing.fake_server import FakeMessagesAPI, text_reply

TOOL: dict[str, Any] = {
    "name": "record",
    "input_schema": {
        "type": "object",
        "properties": {
            "summary": {"type": "string", "maxLength": 40},
            "mood": {"enum": ["happy", "angry", "calm"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
            "count": {"type": "integer", "minimum": 1},
        },
    },
}


def params(text: str) -> Any:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "tools": [TOOL],
        "tool_choice": {"type": "tool", "name": "record"},
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }


def client_for(api: FakeMessagesAPI) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=api.base_url, max_retries=0)


def test_create_poll_and_read_results_with_errored_and_expired_requests():
    batches = FakeBatches(processing_seconds=0.2, errored_every=3, expired_every=4)
    with FakeMessagesAPI(responder=ForcedToolResponder(), batches=batches) as api:
        client = client_for(api)
        requests: Any = [
            {"custom_id": f"c{i}", "params": params(f"I am angry about {i}.")} for i in range(8)
        ]
        created = client.messages.batches.create(requests=requests)
        assert created.processing_status == "in_progress"
        assert created.request_counts.processing == 8 and created.results_url is None
        with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
            list(client.messages.batches.results(created.id))
        time.sleep(0.25)
        ended = client.messages.batches.retrieve(created.id)
        assert ended.processing_status == "ended" and ended.ended_at is not None
        counts = ended.request_counts
        assert (counts.succeeded, counts.errored, counts.expired) == (4, 2, 2)
        results = {r.custom_id: r.result for r in client.messages.batches.results(created.id)}
        assert results["c2"].type == "errored" and results["c3"].type == "expired"
        ok = results["c0"]
        assert ok.type == "succeeded"
        block = ok.message.content[0]
        assert block.type == "tool_use" and block.input["mood"] == "angry"
        assert [b.id for b in client.messages.batches.list()] == [created.id]
        assert batches.created == 1


def test_cancel_ends_the_batch_with_every_request_canceled():
    with FakeMessagesAPI(batches=FakeBatches(processing_seconds=60)) as api:
        client = client_for(api)
        created = client.messages.batches.create(
            requests=[{"custom_id": "a", "params": params("hi there")}]
        )
        cancelled = client.messages.batches.cancel(created.id)
        assert cancelled.processing_status == "ended"
        assert [r.result.type for r in client.messages.batches.results(created.id)] == ["canceled"]


def test_invalid_batches_and_unknown_ids_are_refused():
    with FakeMessagesAPI(batches=FakeBatches()) as api:
        client = client_for(api)
        with pytest.raises(anthropic.BadRequestError, match="custom_id"):
            client.messages.batches.create(
                requests=[{"custom_id": "no spaces!", "params": params("x")}]
            )
        with pytest.raises(anthropic.BadRequestError, match="duplicate custom_id"):
            client.messages.batches.create(
                requests=[
                    {"custom_id": "a", "params": params("x")},
                    {"custom_id": "a", "params": params("y")},
                ]
            )
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve("msgbatch_nope")


def test_scripted_replies_come_first_and_unforced_requests_still_need_a_script():
    with FakeMessagesAPI([text_reply("scripted")], responder=ForcedToolResponder()) as api:
        client = client_for(api)
        first = client.messages.create(**params("anything at all"))
        assert first.content[0].type == "text"
        second = client.messages.create(**params("I am calm today. Really calm."))
        assert second.content[0].type == "tool_use" and second.stop_reason == "tool_use"
        with pytest.raises(anthropic.InternalServerError, match="no scripted reply"):
            client.messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )


def test_schema_filling_respects_counts_lengths_enums_and_is_deterministic():
    text = "The parcel is late again and I am angry. Second sentence here! Third one too."
    value = fill_schema(TOOL["input_schema"], text)
    assert value == fill_schema(TOOL["input_schema"], text)
    assert value["mood"] == "angry" and len(value["tags"]) == 2
    assert len(value["summary"]) <= 40 and value["count"] >= 1
    assert last_user_text(params(text)) == text
