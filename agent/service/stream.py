"""Server-sent events of one run: text, tool calls, gate decisions, pauses, the final status.

The run happens in a thread; the stream follows the events it commits to the store
(so what the client sees is exactly what the transcript holds), plus text deltas when
the model client streams them.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
from sqlalchemy import func
from sqlmodel import Session, select

from agent.loop import RunResult
from agent.model.anthropic import AnthropicModel
from agent.model.client import CallEnded, LiveText, StreamReset
from agent.service.runtime import ServiceContext
from agent.service.views import verified_customer
from agent.store.tables import Event
from agent.transcript.events import (
    ApprovalDecided,
    ApprovalRequested,
    ConfirmationRequested,
    ErrorOccurred,
    GateDecided,
    ModelResponded,
    StoredEvent,
    ToolCalled,
    ToolResulted,
    load,
)
from agent.worker.jobs import notify_run


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event (JSON data on one line, so no injected `event:` lines)."""
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def _frame(stored: StoredEvent) -> str | None:
    match stored.event:
        case ModelResponded(message=message):
            text = message.text()
            return sse("text", {"text": text}) if text else None
        case ToolCalled(tool_use_id=tid, name=name, input=args):
            return sse("tool_call", {"tool_use_id": tid, "name": name, "input": args})
        case GateDecided() as ev:
            return sse("gate_decision", ev.model_dump(mode="json", exclude={"facts", "type"}))
        case ConfirmationRequested(tool_use_id=tid, args_hash=digest, summary=summary):
            data = {"kind": "confirmation", "tool_use_id": tid, "args_hash": digest}
            return sse("paused", {**data, "summary": summary})
        case ApprovalRequested(request_id=rid, role=role, summary=summary):
            return sse(
                "paused", {"kind": "approval", "request_id": rid, "role": role, "summary": summary}
            )
        case ApprovalDecided(approved=approved, by=by):
            return sse("approval_decided", {"approved": approved, "by": by})
        case ToolResulted(tool_use_id=tid, name=name, is_error=is_error, executed=executed):
            return sse(
                "tool_result",
                {"tool_use_id": tid, "name": name, "is_error": is_error, "executed": executed},
            )
        case ErrorOccurred(kind=kind, message=message):
            return sse("error", {"kind": kind, "message": message})
        case _:
            return None


def _last_seq(ctx: ServiceContext, cid: str) -> int:
    with Session(ctx.engine) as session:
        return int(
            session.exec(select(func.max(Event.seq)).where(Event.conversation_id == cid)).one() or 0
        )


def _new_events(ctx: ServiceContext, cid: str, after: int) -> list[StoredEvent]:
    with Session(ctx.engine) as session:
        return load(session, cid, after=after)


def _delta_frame(piece: LiveText) -> str:
    """A live-text signal as an SSE frame: a retried stream tells the client to discard."""
    if isinstance(piece, StreamReset):  # the client drops the text it showed for this call
        return sse("text_reset", {"discarded": len(piece.discarded)})
    if isinstance(piece, CallEnded):
        return sse("text_end", {})
    return sse("text_delta", {"text": piece})


async def stream_run(ctx: ServiceContext, cid: str, text: str) -> AsyncIterator[str]:
    """Run the message in a thread and yield its events as they are committed."""
    after = await anyio.to_thread.run_sync(_last_seq, ctx, cid)
    deltas: queue.Queue[LiveText] = queue.Queue()
    outcome: dict[str, RunResult | Exception] = {}

    def work() -> None:
        agent = ctx.agent()
        streaming = isinstance(agent.model, AnthropicModel)
        if isinstance(agent.model, AnthropicModel):
            agent.model.on_text = deltas.put  # text, resets of a retried stream, call ends
        try:
            result = agent.run(cid, text, customer_id=verified_customer(ctx.engine, cid))
            outcome["result"] = result
            notify_run(ctx.engine, ctx.webhook_urls, result, resumed=False)
        except Exception as exc:
            outcome["error"] = exc
        finally:
            if streaming and isinstance(agent.model, AnthropicModel):
                agent.model.on_text = None

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while True:
        finished = not thread.is_alive()
        while not deltas.empty():
            yield _delta_frame(deltas.get_nowait())
        for stored in await anyio.to_thread.run_sync(_new_events, ctx, cid, after):
            after = stored.seq
            frame = _frame(stored)
            if frame is not None:
                yield frame
        if finished:
            break
        await anyio.sleep(0.1)
    result = outcome.get("result")
    if isinstance(result, RunResult):
        yield sse(
            "status",
            {
                "status": result.status,
                "reason": result.reason,
                "reply": result.reply,
                "awaiting": result.awaiting,
            },
        )
    else:
        error = outcome.get("error")
        yield sse(
            "status", {"status": "failed", "reason": type(error).__name__ if error else "no result"}
        )
