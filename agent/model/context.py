"""Keep a long conversation's history within a token budget.

`fit` is pure: it drops the oldest whole turns (a turn starts at a user message that
answers no tool call), so a `tool_use` never loses its `tool_result`; it never drops
the latest turn (the customer's newest message) nor any turn from the first one with
an unanswered tool call (a pending confirmation or approval) onwards. What was dropped
is said in a note at the start of the history. If the kept turns are still too big,
long tool results and texts in them are shortened in the middle, oldest first.
The system prompt is not part of `messages` and so is never touched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from loguru import logger

from agent.model.client import Block, ChatMessage, ModelRequest

Count = Callable[[list[ChatMessage]], int]
PREFLIGHT_SHARE = 0.5  # ask count_tokens only beyond this share of the budget (estimated)
SHORTEN_TO = 2000  # characters kept of a long block when dropping turns is not enough
TRIM_NOTE = (
    "[Earlier conversation omitted to fit the context budget: {n} messages. "
    "Ask the customer again for anything you need from it.]"
)


def estimate(messages: list[ChatMessage]) -> int:
    """Four characters of JSON per token: a rough count when the API cannot be asked."""
    return estimate_chars(sum(message_chars(m) for m in messages), len(messages))


def message_chars(message: ChatMessage | dict[str, Any]) -> int:
    """The characters one message (or its model_dump) adds to what estimate() measures."""
    dumped = message if isinstance(message, dict) else message.model_dump()
    return len(json.dumps(dumped, default=str))


def estimate_chars(chars: int, count: int) -> int:
    """estimate() of `count` messages whose message_chars sum to `chars`.

    The list's JSON is "[", the messages joined by ", ", and "]": a caller that keeps
    the sum as messages are added estimates a long history without encoding it again.
    """
    return math.ceil((chars + 2 + 2 * max(count - 1, 0)) / 4)


def turns(messages: list[ChatMessage]) -> list[list[ChatMessage]]:
    """The history cut at user messages that carry no tool_result."""
    cut: list[list[ChatMessage]] = []
    for message in messages:
        starts = message.role == "user" and not _types(message) & {"tool_result"}
        if starts or not cut:
            cut.append([])
        cut[-1].append(message)
    return cut


def fit(messages: list[ChatMessage], budget: int, count: Count = estimate) -> list[ChatMessage]:
    """The messages, trimmed as the module says, so that `count` of them is within `budget`."""
    if count(messages) <= budget:
        return messages
    groups = turns(messages)
    droppable = _droppable(groups)
    dropped = 0
    kept = messages
    while dropped < droppable:
        dropped += 1
        kept = _with_note(groups[dropped:], sum(len(g) for g in groups[:dropped]))
        if count(kept) <= budget:
            return kept
    return _shorten(kept, budget, count)


def _droppable(groups: list[list[ChatMessage]]) -> int:
    """How many leading turns may go: complete ones, never the last."""
    limit = len(groups) - 1
    for index, group in enumerate(groups[:limit]):
        used = {b.get("id") for m in group for b in m.content if b.get("type") == "tool_use"}
        answered = {
            b.get("tool_use_id") for m in group for b in m.content if b.get("type") == "tool_result"
        }
        if used - answered:
            return index
    return max(0, limit)


def _with_note(groups: list[list[ChatMessage]], omitted: int) -> list[ChatMessage]:
    kept = [m for g in groups for m in g]
    first = kept[0]
    note: Block = {"type": "text", "text": TRIM_NOTE.format(n=omitted)}
    return [ChatMessage(role=first.role, content=[note, *first.content]), *kept[1:]]


def _shorten(messages: list[ChatMessage], budget: int, count: Count) -> list[ChatMessage]:
    """Shorten long blocks, oldest first, until the history fits (or nothing is left to cut)."""
    result = [m.model_copy(deep=True) for m in messages]
    for message in result:  # oldest first: the newest message is shortened last
        message.content = [_shortened(b) for b in message.content]
        if count(result) <= budget:
            return result
    logger.warning("history still exceeds the context budget of {} tokens", budget)
    return result


def _shortened(block: Block) -> Block:
    if block.get("type") == "text" and len(str(block.get("text", ""))) > SHORTEN_TO:
        return {**block, "text": _middle_cut(str(block["text"]))}
    content = block.get("content")
    if (
        block.get("type") == "tool_result"
        and isinstance(content, str)
        and len(content) > SHORTEN_TO
    ):
        return {**block, "content": _middle_cut(content)}
    return block


def _middle_cut(text: str) -> str:
    half = SHORTEN_TO // 2
    return f"{text[:half]}\n[… {len(text) - 2 * half} characters omitted …]\n{text[-half:]}"


def _types(message: ChatMessage) -> set[Any]:
    return {b.get("type") for b in message.content}


def fixed_tokens(request: ModelRequest) -> int:
    """The local estimate of the tokens of the request's system prompt and tools."""
    return math.ceil(len(json.dumps([request.system, request.tools], default=str)) / 4)


def fit_request(
    request: ModelRequest,
    budget: int | None,
    count_tokens: Callable[[ModelRequest], int | None],
    fixed: int | None = None,
    rough: int | None = None,
) -> ModelRequest:
    """The request with its messages fitted to `budget` tokens (system and tools included).

    `count_tokens` (the API's count where available) is asked once, and only when the
    local estimate comes within half of the budget: short conversations cost no extra
    round trip. The trimming steps scale the local estimate by what that count showed.
    `fixed` is fixed_tokens(request) when the caller already knows it (it never changes
    for one agent); `rough` is estimate(request.messages) when the caller keeps it (see
    ConversationState.messages_estimate).
    """
    if budget is None:
        return request
    fixed = fixed_tokens(request) if fixed is None else fixed
    rough = (estimate(request.messages) if rough is None else rough) + fixed
    if rough < budget * PREFLIGHT_SHARE:
        return request
    counted = count_tokens(request)
    if counted is not None and counted <= budget:
        return request
    scale = (counted / rough) if counted and rough else 1.0
    messages = fit(request.messages, budget, lambda ms: math.ceil(scale * (estimate(ms) + fixed)))
    if messages is not request.messages:
        logger.info(
            "history trimmed to fit {} tokens: {} -> {} messages",
            budget,
            len(request.messages),
            len(messages),
        )
    return request.model_copy(update={"messages": messages})
