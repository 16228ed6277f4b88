"""The one place tools run: at most once per (conversation, tool_use id), atomically.

`execute_once` runs inside the transaction that also appends the step's events, so the
domain change, the ledger row and the tool_result event commit together or not at all.
"""

from __future__ import annotations

import json
from typing import Any

from loguru import logger
from pydantic import BaseModel
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlmodel import Session

from agent.clock import utcnow
from agent.model.client import ToolUse
from agent.registry import Tool, ToolContext, ToolError, ToolOutput, args_hash
from agent.store.contain import contained
from agent.store.direct import Direct
from agent.store.tables import CustomerLock, Execution
from agent.transcript.events import ToolResulted

LEDGER = Execution.__table__  # type: ignore[attr-defined]
LOCKS = CustomerLock.__table__  # type: ignore[attr-defined]


def _ledger_insert(insert: Any, *, done: bool) -> Any:
    """Insert a ledger row unless the (conversation, tool_use id) has one; its id if made.

    `done`: with the result (a read, recorded after it ran); else a claim, with the
    result to follow (_RESULT).
    """
    return (
        insert(LEDGER)
        .values(
            conversation_id=bindparam("cid"),
            tool_use_id=bindparam("tid"),
            tool=bindparam("tool"),
            args_hash=bindparam("digest"),
            is_error=bindparam("err") if done else False,
            result=bindparam("res") if done else "",
            executed_at=bindparam("at"),
        )
        .on_conflict_do_nothing()
        .returning(LEDGER.c.tool_use_id)
    )


# Built once (every tool call runs them): claim the ledger row, then record the result;
# or, for a read, record it whole once it ran.
_CLAIM = Direct.per_dialect(lambda insert: _ledger_insert(insert, done=False))
_RECORD = Direct.per_dialect(lambda insert: _ledger_insert(insert, done=True))
_RESULT = Direct.of(
    update(LEDGER)
    .where(LEDGER.c.conversation_id == bindparam("cid"), LEDGER.c.tool_use_id == bindparam("tid"))
    .values(is_error=bindparam("err"), result=bindparam("res"))
)


class AlreadyExecuted(Exception):
    """Another worker (or an earlier life of this one) already recorded this call."""


def render(content: Any) -> str:
    """Tool output as the text the model reads."""
    return content if isinstance(content, str) else json.dumps(content, sort_keys=True, default=str)


def lock_customer(session: Session, customer_id: str | None) -> None:
    """Serialise writes per customer for the rest of the transaction.

    On PostgreSQL this is a row lock on the customer's lock row, taken by one upsert: a
    new row is locked by its insert, an existing one by `ON CONFLICT DO UPDATE` (which
    waits for any other holder). SQLite transactions here begin IMMEDIATE, which already
    serialises every writer.
    """
    conn = session.connection()
    if customer_id is None or conn.dialect.name != "postgresql":
        return
    _LOCK_CUSTOMER.run(conn, {"customer_id": customer_id})


_LOCK_CUSTOMER = Direct.of(  # built once; every write runs it on PostgreSQL
    pg_insert(LOCKS)
    .values(customer_id=bindparam("customer_id"))
    .on_conflict_do_update(
        index_elements=[LOCKS.c.customer_id], set_={"customer_id": bindparam("customer_id")}
    )
)


def _run_tool(ctx: ToolContext, tool: Tool, args: BaseModel) -> tuple[ToolOutput, bool]:
    """Call the tool, contained so a refusal leaves no trace; (output, is_error)."""
    try:
        with contained(ctx.session, writes=tool.effect != "read"):
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
    ctx: ToolContext, tool_use_id: str, tool: Tool, args: BaseModel, digest: str | None = None
) -> ToolResulted:
    """Run the tool in the caller's transaction and record it in the ledger.

    If the ledger already holds this (conversation, tool_use id), AlreadyExecuted is
    raised and a write does not run (a read, which changes nothing, may have); the
    transaction is still usable, so the caller can read the recorded result
    (recorded_result) and append it instead.
    """
    conn = ctx.session.connection()
    # A write claims the ledger row before running anything: its primary key makes a
    # second claim fail, and a concurrent worker blocks on the key until this one commits.
    if digest is None:  # the gate passes the hash its decision was bound to
        digest = args_hash(tool.name, args.model_dump(mode="json"))
    row = {
        "cid": ctx.conversation_id,
        "tid": tool_use_id,
        "tool": tool.name,
        "digest": digest,
        "at": utcnow(),
    }
    # ON CONFLICT DO NOTHING: a second claim returns no row, the transaction stays usable
    # A read changes nothing: it runs first and is recorded whole (one statement).
    read = tool.effect == "read"
    if not read and _CLAIM.run(conn, row).first() is None:
        raise AlreadyExecuted(tool_use_id)
    output, is_error = _run_tool(ctx, tool, args)
    content = render(output.content)
    done = {**row, "err": is_error, "res": content}
    if not read:
        _RESULT.run(conn, done)
    elif _RECORD.run(conn, done).first() is None:
        raise AlreadyExecuted(tool_use_id)
    return ToolResulted(
        tool_use_id=tool_use_id,
        name=tool.name,
        content=content,
        is_error=is_error,
        executed=not is_error,
        customer_id=None if is_error else output.identifies_customer,
        ends_conversation=output.ends_conversation and not is_error,
    )


def recorded_result(conn: Connection, conversation_id: str, use: ToolUse) -> ToolResulted:
    """The ledger's result for a tool_use id that already ran, as the model should read it."""
    key = (LEDGER.c.conversation_id == conversation_id) & (LEDGER.c.tool_use_id == use.id)
    row = conn.execute(select(LEDGER.c.tool, LEDGER.c.result, LEDGER.c.is_error).where(key)).first()
    if row is None:
        message = f"Error: tool_use id {use.id} could not be run; nothing ran"
        return ToolResulted(tool_use_id=use.id, name=use.name, content=message, is_error=True)
    if row.tool != use.name:
        message = f"Error: tool_use id {use.id} already ran {row.tool}; nothing ran"
        return ToolResulted(tool_use_id=use.id, name=use.name, content=message, is_error=True)
    return ToolResulted(
        tool_use_id=use.id, name=use.name, content=row.result, is_error=row.is_error
    )
