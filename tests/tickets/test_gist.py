"""The gist model and the forced-tool request: exactly three short lines or nothing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.testing.fake_batches import fill_schema
from tools.tickets.attachments import Image
from tools.tickets.gist import (
    GIST_TOOL,
    Gist,
    GistRejected,
    correction_params,
    gist_params,
    gist_tool,
    parse_gist,
)
from tools.tickets.tables import Ticket

GOOD = {
    "lines": ["Wants to return boots from #W1.", "Delivered last week; wrong size.", "Calm."],
    "category": "return",
    "urgency": "normal",
    "next_step": "Offer a return of the boots to the original card.",
}


def call(tool_input: object) -> list[dict[str, object]]:
    return [{"type": "tool_use", "id": "toolu_1", "name": GIST_TOOL, "input": tool_input}]


def test_a_valid_gist_has_exactly_three_lines():
    gist = parse_gist(call(GOOD), "tool_use")
    assert gist.text().split("\n") == GOOD["lines"]
    assert gist.category == "return"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": ["one", "two"]}, "lines"),
        ({"lines": ["one", "two", "three", "four"]}, "lines"),
        ({"lines": ["x" * 121, "two", "three"]}, "lines.0"),
        ({"lines": ["multi\nline", "two", "three"]}, "lines.0"),
        ({"lines": ["esc \x1b[31m red", "two", "three"]}, "lines.0"),
        ({"category": "shipping"}, "category"),
        ({"urgency": "asap"}, "urgency"),
        ({"next_step": ""}, "next_step"),
        ({"extra": "field"}, "extra"),
    ],
)
def test_a_malformed_gist_is_rejected_with_each_field_named(change, field):
    with pytest.raises(GistRejected) as caught:
        parse_gist(call({**GOOD, **change}), "tool_use")
    assert f"{field}:" in str(caught.value)
    assert caught.value.tool_use is not None and caught.value.tool_use["id"] == "toolu_1"


def test_no_tool_call_or_a_cut_off_reply_is_rejected():
    with pytest.raises(GistRejected, match="no record_gist call"):
        parse_gist([{"type": "text", "text": "Here is the gist"}], "end_turn")
    with pytest.raises(GistRejected, match="max_tokens"):
        parse_gist(call(GOOD), "max_tokens")


def ticket(body: str = "My order #W1 never came.") -> Ticket:
    return Ticket(id="T-1", customer_email="a@example.com", subject="Late", body=body)


def test_the_request_forces_the_gist_tool_and_sends_images_as_base64():
    image = Image("s.png", "image/png", b"\x89PNG\r\n\x1a\nrest")
    params = gist_params(ticket(), [image], "claude-haiku-4-5")
    assert params["tool_choice"] == {"type": "tool", "name": GIST_TOOL}
    assert params["tools"][0]["name"] == GIST_TOOL
    assert params["tools"][0]["cache_control"] == {"type": "ephemeral"}
    content = params["messages"][0]["content"]
    assert content[0]["type"] == "image"
    assert content[0]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgpyZXN0",
    }
    assert "My order #W1 never came." in content[1]["text"]


def test_a_huge_ticket_keeps_head_and_tail():
    body = "HEAD " + "x" * 100_000 + " TAIL"
    text = gist_params(ticket(body), [], "m")["messages"][0]["content"][-1]["text"]
    assert "HEAD" in text and "TAIL" in text and "characters elided" in text
    assert len(text) < 70_000


def test_the_corrective_retry_sends_the_rejected_call_and_its_errors():
    params = gist_params(ticket(), [], "m")
    rejected = call({"lines": []})[0]
    retry = correction_params(params, rejected, "lines: too short")
    assert retry["messages"][1] == {"role": "assistant", "content": [rejected]}
    result = retry["messages"][2]["content"][0]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert result["tool_use_id"] == "toolu_1" and "lines: too short" in result["content"]
    assert params["messages"] != retry["messages"]  # the original is not mutated
    assert len(params["messages"]) == 1


def test_the_fake_api_fills_the_gist_schema_validly_and_deterministically():
    schema = gist_tool()["input_schema"]
    text = "I want to return the boots from order #W123. They are too small! Please help."
    first, second = fill_schema(schema, text), fill_schema(schema, text)
    assert first == second
    gist = Gist.model_validate(first)
    assert gist.category == "return"  # the word is in the text
    assert all(line.rstrip(".") in text or line.endswith("...") for line in gist.lines)
    assert fill_schema(schema, "Something else entirely. Different words here.") != first
    with pytest.raises(ValidationError):
        Gist.model_validate({**first, "lines": first["lines"][:2]})
