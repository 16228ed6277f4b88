"""The one place tools run: at most once per (conversation, tool_use id), atomically."""

from __future__ import annotations

import json
from typing import Any

from loguru import logger
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from agent.registry import Tool, ToolContext, ToolError, ToolOutput, args_hash
from agent.store.tables import Execution
from agent.transcript.events import ToolResulted, append


class AlreadyExecuted(Exception):
    """Another worker (or an earlier life of this one) already recorded this call."""


def render(content: Any) -> str:
    """Tool output as the text the model reads."""
    return content if isinstance(content, str) else json.dumps(content, sort_keys=True, default=str)


def _run_tool(ctx: ToolContext, tool: Tool, args: BaseModel) -> tuple[ToolOutput, bool]:
    """Call the tool inside a savepoint so a refusal leaves no trace; (output, is_error)."""
    try:
        with ctx.session.begin_nested():
            raw = tool.fn(ctx, args)
    except ToolError as exc:
        return ToolOutput(content=f"Error: {exc}"), True
    except Exception as exc:  # a bug in a tool must not crash the conversation
        logger.opt(exception=exc).error("tool {} raised", tool.name)
        return ToolOutput(
            content=f"Error: internal error in tool {tool.name}; nothing was changed"
        ), True
    output = raw if isinstance(raw, ToolOutput) else ToolOutput(content=raw)
    return output, False


def execute_once(
    engine: Engine,
    conversation_id: str,
    tool_use_id: str,
    tool: Tool,
    args: BaseModel,
    customer_id: str | None,
) -> ToolResulted:
    """Run the tool and commit its change, ledger row and tool_result event together.

    If the ledger already holds this (conversation, tool_use id), nothing runs and
    AlreadyExecuted is raised: the caller re-reads the log, where the result is.
    """
    digest = args_hash(tool.name, args.model_dump(mode="json"))
    try:
        with Session(engine) as session, session.begin():
            if session.get(Execution, (conversation_id, tool_use_id)) is not None:
                raise AlreadyExecuted(tool_use_id)
            # Claim the ledger row before running anything: a concurrent worker blocks
            # on this key and then fails, instead of doing the work on stale reads.
            row = Execution(
                conversation_id=conversation_id,
                tool_use_id=tool_use_id,
                tool=tool.name,
                args_hash=digest,
            )
            session.add(row)
            session.flush()
            ctx = ToolContext(
                session=session, conversation_id=conversation_id, customer_id=customer_id
            )
            output, is_error = _run_tool(ctx, tool, args)
            content = render(output.content)
            result = ToolResulted(
                tool_use_id=tool_use_id,
                name=tool.name,
                content=content,
                is_error=is_error,
                executed=not is_error,
                customer_id=None if is_error else output.identifies_customer,
                ends_conversation=output.ends_conversation and not is_error,
            )
            row.is_error, row.result = is_error, content
            session.add(row)
            append(session, conversation_id, result)
    except IntegrityError as exc:
        # Lost a race: the winner's row (and result event) is committed; nothing ran here.
        raise AlreadyExecuted(tool_use_id) from exc
    return result
