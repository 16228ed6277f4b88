"""Long conversations: history fitted to a token budget without breaking tool pairs."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agent.config import Settings
from agent.model.anthropic import AnthropicModel
from agent.model.client import ChatMessage, ModelRequest
from agent.model.context import estimate, fit, fit_request, turns
from agent.model.scripted import ScriptStep
from agent.testing.fake_server import FakeMessagesAPI, text_reply
from agent.transcript.state import ConversationState
from tests.test_loop import make_agent

KEY = "sk-test-not-a-real-key"


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=[{"type": "text", "text": text}])


def said(text: str) -> ChatMessage:
    return ChatMessage(role="assistant", content=[{"type": "text", "text": text}])


def uses(tool_id: str) -> ChatMessage:
    block = {"type": "tool_use", "id": tool_id, "name": "lookup", "input": {"name": "a"}}
    return ChatMessage(role="assistant", content=[block])


def result(tool_id: str, content: str = "found", text: str | None = None) -> ChatMessage:
    blocks: list[dict[str, Any]] = [
        {"type": "tool_result", "tool_use_id": tool_id, "content": content}
    ]
    if text:
        blocks.append({"type": "text", "text": text})
    return ChatMessage(role="user", content=blocks)


def history(n: int) -> list[ChatMessage]:
    messages: list[ChatMessage] = []
    for i in range(n):
        messages += [user(f"question {i} " + "x" * 400), uses(f"t{i}"), result(f"t{i}"), said("ok")]
    return messages


def pairs_intact(messages: list[ChatMessage]) -> bool:
    used = {b["id"] for m in messages for b in m.content if b.get("type") == "tool_use"}
    answered = {
        b["tool_use_id"] for m in messages for b in m.content if b.get("type") == "tool_result"
    }
    return used == answered


def test_within_budget_nothing_changes():
    messages = history(3)
    assert fit(messages, 10_000) is messages


def test_oldest_whole_turns_go_first_and_a_note_says_so():
    messages = [*history(6), user("latest question")]

    kept = fit(messages, 600)

    assert estimate(kept) <= 600
    assert kept[-1] == messages[-1]  # the customer's latest message
    assert kept[0].role == "user" and "omitted to fit" in kept[0].content[0]["text"]
    assert pairs_intact(kept)
    assert len(kept) < len(messages)


def test_a_tool_result_with_the_customers_answer_stays_with_its_turn():
    messages = [user("refund a"), uses("t1"), result("t1", text="yes please"), said("done")]
    assert len(turns(messages)) == 1


def test_a_pending_tool_call_and_everything_after_it_are_kept():
    pending = [user("refund order 7"), uses("t9")]  # t9 awaits the customer's confirmation
    messages = [*history(4), *pending, user("actually, wait")]

    kept = fit(messages, 200)

    texts = [b.get("text") for m in kept for b in m.content]
    assert "refund order 7" in texts and pending[1] in kept
    assert kept[-1] == messages[-1]


def test_a_huge_latest_turn_is_shortened_not_dropped():
    giant = result("t1", "row " * 20_000)
    messages = [user("export everything"), uses("t1"), giant]

    kept = fit(messages, 2_000)

    assert len(kept) == 3 and pairs_intact(kept)
    assert "characters omitted" in kept[2].content[0]["content"]
    assert estimate(kept) <= 2_000


def test_fit_request_asks_count_tokens_once_and_never_touches_system():
    request = ModelRequest(
        model="m", max_tokens=10, system="S" * 400, messages=[*history(8), user("now")]
    )
    calls: list[ModelRequest] = []

    def count(r: ModelRequest) -> int:
        calls.append(r)
        return int(1.2 * (estimate(r.messages) + 100))

    fitted = fit_request(request, 1_500, count)

    assert len(calls) == 1
    assert fitted.system == request.system
    assert fitted.messages[-1] == request.messages[-1]
    assert len(fitted.messages) < len(request.messages)


def test_count_tokens_through_the_sdk_against_the_fake(fake_api: FakeMessagesAPI):
    model = AnthropicModel(Settings(base_url=fake_api.base_url), api_key=KEY)
    request = ModelRequest(model="m", max_tokens=10, system="Be brief.", messages=[user("hi")])

    counted = model.count_tokens(request)

    assert counted is not None and counted > 0
    assert fake_api.requests[-1].path == "/v1/messages/count_tokens"
    assert "max_tokens" not in fake_api.requests[-1].body


def test_the_loop_sends_a_fitted_history_and_does_not_fail(engine):
    steps = [ScriptStep(content=[{"type": "text", "text": f"reply {i}"}]) for i in range(8)]
    agent, model = make_agent(engine, steps, context_budget=400)
    for i in range(8):
        assert agent.run("c1", f"message {i} " + "y" * 300).status == "done"
    last = model.requests[-1].messages
    assert last[-1].content[-1]["text"].startswith("message 7")
    assert "omitted to fit" in last[0].content[0]["text"]


def test_a_conversation_over_the_window_is_trimmed_before_sending(fake_api: FakeMessagesAPI):
    fake_api.add(text_reply("fine"))
    model = AnthropicModel(Settings(base_url=fake_api.base_url, cache=False), api_key=KEY)
    request = ModelRequest(
        model="m", max_tokens=10, system="Be brief.", messages=[*history(30), user("now")]
    )

    fitted = fit_request(request, 2_000, model.count_tokens)
    model.respond(fitted)

    sent = fake_api.requests[-1].body["messages"]
    assert len(sent) < len(request.messages) and sent[-1]["content"][0]["text"] == "now"


def test_a_short_conversation_costs_no_count_tokens_round_trip():
    request = ModelRequest(model="m", max_tokens=10, system="S", messages=[user("hi")])
    asked: list[ModelRequest] = []

    def count(r: ModelRequest) -> int:
        asked.append(r)
        return 5

    fitted = fit_request(request, 100_000, count)

    assert fitted is request and asked == []


TEXTS = st.text(max_size=40)  # any characters: JSON escapes them the same either way
MESSAGES = st.lists(
    st.builds(user, TEXTS) | st.builds(said, TEXTS) | st.builds(uses, st.text(max_size=8)),
    max_size=12,
)


@given(messages=MESSAGES)
def test_the_estimate_is_the_length_of_the_whole_list_in_json(
    messages: list[ChatMessage],
) -> None:
    whole = json.dumps([m.model_dump() for m in messages], default=str)
    assert estimate(messages) == math.ceil(len(whole) / 4)


@given(messages=MESSAGES, tail=st.lists(TEXTS, max_size=2))
def test_the_state_keeps_the_estimate_of_its_next_request(
    messages: list[ChatMessage], tail: list[str]
) -> None:
    state = ConversationState()
    for message in messages:
        state.add_message(message)
        assert state.messages_estimate() == estimate(state.request_messages())
    state.texts.extend(tail)  # what the customer said since: the request's user tail
    assert state.messages_estimate() == estimate(state.request_messages())
