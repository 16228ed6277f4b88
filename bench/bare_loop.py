"""The floor the Agent is measured against: a bare tool-use loop doing the same durable work.

It validates with the same Pydantic input models, calls the same tool functions and
writes the same event models (dumped the same way) to the same kind of store, in ONE
transaction per model turn. What it leaves out is what the Agent adds on top: the
policy (its gate_decision payloads are copied from a reference Agent run so the rows
written are the same), facts, dry runs, the execution ledger, the lease and the
ability to resume. A write always waits for a plain yes, which the bench always gives.

The transaction of a model turn spans the in-process scripted model call: with a real
model no loop should hold a write lock that long, but here it costs nothing and keeps
the floor at exactly one commit per model turn. With `span_model_call=False` (the floor
for many threads against a slow model, where a write lock held across the call would
queue every other thread behind it) the model is called outside any transaction, and a
write the customer's yes clears commits on its own before the model reads its result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.digest import canonical_json, json_sha256
from agent.domain import Domain
from agent.gate import confirm
from agent.gate.execution import render
from agent.model.client import (
    Block,
    ChatMessage,
    ModelClient,
    ModelRequest,
    ModelResponse,
    ToolUse,
    Usage,
)
from agent.registry import Tool, ToolContext, ToolError, ToolOutput, args_hash
from agent.store.tables import Conversation, Event
from agent.transcript.events import (
    ConfirmationGiven,
    ConfirmationRequested,
    GateDecided,
    ModelRequested,
    ModelResponded,
    RunFinished,
    RunStatus,
    ToolCalled,
    ToolResulted,
    UserMessage,
    event_rows,
)
from agent.transcript.state import result_block

EVENTS = Event.__table__  # type: ignore[attr-defined]


class BareLoopError(Exception):
    """The scripted conversation went somewhere the bare loop does not handle."""


@dataclass
class Waiting:
    """A write call parked until the customer says yes."""

    use: ToolUse
    tool: Tool
    args: BaseModel
    digest: str


@dataclass
class BareTurn:
    """What one customer message has produced so far."""

    events: list[BaseModel]
    tail: list[Block] = field(default_factory=list)  # the next user message's blocks
    replies: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


@dataclass
class BareLoop:
    """One conversation driven by a minimal loop: validate, call, append; commit per turn."""

    engine: Engine
    domain: Domain
    model: ModelClient
    conversation_id: str
    decisions: dict[str, GateDecided]  # a reference run's decision per tool name
    model_name: str = "bench"
    max_tokens: int = 1024
    seq: int = 0
    messages: list[ChatMessage] = field(default_factory=list)
    customer_id: str | None = None
    said: list[str] = field(default_factory=list)
    waiting: Waiting | None = None
    model_calls: int = 0
    span_model_call: bool = True
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)
    _hashes: tuple[str, str] = ("", "")

    def __post_init__(self) -> None:
        tools = self.domain.registry.api_tools()
        self._hashes = (json_sha256(self.domain.system_prompt), json_sha256(tools))

    def run(self, text: str) -> tuple[RunStatus, str]:
        """One customer message: model turns until a reply or a confirmation question."""
        turn = BareTurn(events=[UserMessage(text=text)])
        self.said.append(text)
        parked, self.waiting = self.waiting, None
        if parked is not None and not self.span_model_call:
            with Session(self.engine) as session, session.begin():
                self._confirmed(session, turn, parked, text)
                self._write(session, turn)
            parked = None
        while True:
            response = None if self.span_model_call else self._ask(turn, text)
            with Session(self.engine) as session, session.begin():
                if parked is not None:  # the customer's answer, and the write it clears
                    self._confirmed(session, turn, parked, text)
                    parked = None
                if response is None:
                    response = self._ask(turn, text)
                status = self._model_turn(session, turn, response)
                if status is not None:
                    reply = "\n\n".join(turn.replies)
                    turn.events.append(RunFinished(status=status, reply=reply, usage=turn.usage))
                self._write(session, turn)
            text = ""
            if status is not None:
                return status, reply

    def _write(self, session: Session, turn: BareTurn) -> None:
        """Insert the turn's events so far (the conversation row with the first ones)."""
        if self.seq == 0:  # the conversation row, with the first commit (as the Agent)
            session.add(Conversation(id=self.conversation_id, meta={"bench": "bare"}))
            session.flush()
        rows = event_rows(self.conversation_id, self.seq + 1, turn.events)
        session.connection().execute(insert(EVENTS), rows)
        self.seq += len(rows)
        turn.events = []

    def _confirmed(self, session: Session, turn: BareTurn, parked: Waiting, text: str) -> None:
        if confirm.classify(text) != "confirm":
            raise BareLoopError(f"the bare loop only handles a yes; got {text!r}")
        turn.events.append(
            ConfirmationGiven(tool_use_id=parked.use.id, args_hash=parked.digest, text=text)
        )
        result = self._call(session, parked.use, parked.tool, parked.args)
        turn.events.append(result)
        turn.tail.append(result_block(result))

    def _ask(self, turn: BareTurn, text: str) -> ModelResponse:
        """The customer's words (if any) after the turn's results, then one model call."""
        if text:
            turn.tail.append({"type": "text", "text": text})
        if turn.tail:
            self._add(ChatMessage(role="user", content=turn.tail))
            turn.tail = []
        request = ModelRequest(
            model=self.model_name,
            max_tokens=self.max_tokens,
            system=self.domain.system_prompt,
            messages=list(self.messages),
            tools=self.domain.registry.api_tools(),
        )
        turn.events.append(
            ModelRequested(
                model=request.model,
                max_tokens=request.max_tokens,
                message_count=len(request.messages),
                system_sha256=self._hashes[0],
                tools_sha256=self._hashes[1],
                messages_sha256=self._digest.hexdigest(),
            )
        )
        self.model_calls += 1
        return self.model.respond(request)

    def _model_turn(
        self, session: Session, turn: BareTurn, response: ModelResponse
    ) -> RunStatus | None:
        """Record the model's reply and run its calls; None when it must be asked again."""
        message = response.message
        turn.events.append(
            ModelResponded(
                message=message,
                request_id=response.request_id,
                latency_ms=response.latency_ms,
                retries=response.retries,
                usage=message.usage,
            )
        )
        self._add(ChatMessage(role="assistant", content=message.content))
        turn.usage = turn.usage + message.usage
        if said := message.text():
            turn.replies.append(said)
        if message.stop_reason != "tool_use":
            return "done"
        for block in message.blocks_of("tool_use"):
            if self._tool_call(session, turn, ToolUse.of(block)):
                return "paused"
        return None

    def _tool_call(self, session: Session, turn: BareTurn, use: ToolUse) -> bool:
        """Validate and run one call (True: a write now waits for the customer's yes)."""
        turn.events.append(ToolCalled(tool_use_id=use.id, name=use.name, input=use.input))
        tool = self.domain.registry.get(use.name)
        if tool is None:
            raise BareLoopError(f"unknown tool {use.name!r}")
        args = self.domain.registry.validate(tool, use.input)
        if isinstance(args, list):
            raise BareLoopError(f"invalid input for {use.name}: {args}")
        digest = args_hash(tool.name, args.model_dump(mode="json"))
        template = self.decisions.get(tool.name)
        if template is None:
            raise BareLoopError(f"no reference decision for {tool.name}")
        turn.events.append(template.model_copy(update={"tool_use_id": use.id, "args_hash": digest}))
        if tool.effect == "write":
            self.waiting = Waiting(use, tool, args, digest)
            summary = tool.describe(args, session)
            turn.events.append(
                ConfirmationRequested(tool_use_id=use.id, args_hash=digest, summary=summary)
            )
            turn.replies.append(confirm.question(summary))
            return True
        result = self._call(session, use, tool, args)
        turn.events.append(result)
        turn.tail.append(result_block(result))
        return False

    def _call(self, session: Session, use: ToolUse, tool: Tool, args: BaseModel) -> ToolResulted:
        """Run the tool in the turn's transaction; a ToolError becomes an is_error result."""
        ctx = ToolContext(session, self.conversation_id, self.customer_id, tuple(self.said))
        try:
            raw = tool.fn(ctx, args)
        except ToolError as exc:
            return ToolResulted(
                tool_use_id=use.id, name=use.name, content=f"Error: {exc}", is_error=True
            )
        output = raw if isinstance(raw, ToolOutput) else ToolOutput(content=raw)
        self.customer_id = self.customer_id or output.identifies_customer
        return ToolResulted(
            tool_use_id=use.id,
            name=use.name,
            content=render(output.content),
            executed=True,
            customer_id=output.identifies_customer,
            ends_conversation=output.ends_conversation,
        )

    def _add(self, message: ChatMessage) -> None:
        """Append to the history and its running hash (as the Agent's state does)."""
        self.messages.append(message)
        self._digest.update(canonical_json(message.model_dump()) + b"\n")
