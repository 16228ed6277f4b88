"""The gist of a ticket: a Pydantic model, the forced tool that asks for it, and its request."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from tools.tickets.attachments import Image
from tools.tickets.prompt import TRIAGE_SYSTEM_PROMPT
from tools.tickets.tables import Ticket

GIST_TOOL = "record_gist"
GIST_MAX_TOKENS = 512
MAX_TICKET_CHARS = 60_000  # beyond this the middle of a pasted thread is elided
NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"  # one line, no terminal escape sequences

Category = Literal[
    "order_status",
    "cancellation",
    "return",
    "exchange",
    "refund",
    "address_change",
    "payment",
    "damaged_item",
    "account",
    "product_question",
    "complaint",
    "other",
]
Urgency = Literal["low", "normal", "high", "urgent"]
GistLine = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=120, pattern=NO_CONTROL),
]


class Gist(BaseModel):
    """Exactly three short lines, a category, an urgency and the next step for the agent."""

    model_config = ConfigDict(extra="forbid")

    lines: list[GistLine] = Field(
        min_length=3,
        max_length=3,
        description=(
            "Exactly three short lines (at most 120 characters each, no line breaks): "
            "1. who and what they want, 2. the facts that matter (order ids, items, dates), "
            "3. how the customer feels or what they threatened."
        ),
    )
    category: Category = Field(description="The one category that fits best.")
    urgency: Urgency = Field(description="How soon a human must act.")
    next_step: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=3, max_length=200, pattern=NO_CONTROL),
    ] = Field(description="The single next action a support agent should take.")

    def text(self) -> str:
        """The three lines as one stored string."""
        return "\n".join(self.lines)


def gist_tool() -> dict[str, Any]:
    """The tool the model is forced to call, its schema generated from Gist."""
    schema = Gist.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return {
        "name": GIST_TOOL,
        "description": "Record the triage of one support ticket. Call it exactly once.",
        "input_schema": schema,
    }


def ticket_text(ticket: Ticket) -> str:
    """The ticket as the model reads it; a huge body keeps its head and tail."""
    body = ticket.body
    if len(body) > MAX_TICKET_CHARS:
        half = MAX_TICKET_CHARS // 2
        elided = len(body) - 2 * half
        body = f"{body[:half]}\n[... {elided} characters elided ...]\n{body[-half:]}"
    return (
        f"Ticket {ticket.id} via {ticket.channel} from {ticket.customer_email}\n"
        f"Subject: {ticket.subject}\n\n{body}"
    )


def image_block(image: Image) -> dict[str, Any]:
    """A base64 image content block."""
    data = base64.b64encode(image.data).decode("ascii")
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": image.media_type, "data": data},
    }


def gist_params(
    ticket: Ticket, images: list[Image], model: str, *, cache: bool = True
) -> dict[str, Any]:
    """The Messages API parameters asking for this ticket's gist (forced tool call).

    The system prompt and tool are identical for every ticket, so with `cache` a
    breakpoint on them lets every call after the first read them from the cache.
    """
    tool = gist_tool()
    system: Any = TRIAGE_SYSTEM_PROMPT
    if cache:
        tool = {**tool, "cache_control": {"type": "ephemeral"}}
        system = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    content: list[dict[str, Any]] = [image_block(image) for image in images]
    content.append({"type": "text", "text": ticket_text(ticket)})
    return {
        "model": model,
        "max_tokens": GIST_MAX_TOKENS,
        "system": system,
        "tools": [tool],
        "tool_choice": {"type": "tool", "name": GIST_TOOL},
        "messages": [{"role": "user", "content": content}],
    }


def correction_params(
    params: dict[str, Any], tool_use: dict[str, Any], errors: str
) -> dict[str, Any]:
    """The same request plus the rejected call and its errors: one corrective retry."""
    messages = [
        *params["messages"],
        {"role": "assistant", "content": [tool_use]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_use["id"],
                    "is_error": True,
                    "content": f"The gist was rejected: {errors}. Call {GIST_TOOL} again, fixed.",
                }
            ],
        },
    ]
    return {**params, "messages": messages}


class GistRejected(Exception):
    """The model's answer is not a valid gist; the message lists every problem."""

    def __init__(self, message: str, tool_use: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.tool_use = tool_use


def parse_gist(content: list[dict[str, Any]], stop_reason: str | None) -> Gist:
    """The Gist in a reply's forced tool call, or GistRejected with the reasons."""
    calls = [b for b in content if b.get("type") == "tool_use" and b.get("name") == GIST_TOOL]
    if not calls:
        raise GistRejected(f"the reply has no {GIST_TOOL} call (stop reason {stop_reason})", None)
    call: dict[str, Any] = {
        k: calls[0][k] for k in ("type", "id", "name", "input") if k in calls[0]
    }
    if stop_reason == "max_tokens":
        raise GistRejected("the reply was cut off at max_tokens", call)
    try:
        return Gist.model_validate(call.get("input"))
    except ValidationError as exc:
        raise GistRejected(describe_errors(exc), call) from None


def describe_errors(exc: ValidationError) -> str:
    """Every field's problem on one line: `lines: List should have at most 3 items; ...`."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "input"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
