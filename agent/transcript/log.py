"""ConversationLog: the only writer and reader of one conversation's events.

A step's events are committed in one transaction, together with the domain change
and ledger row when the step runs a tool, and fenced by the conversation lease. The
log folds what it appends into its cached state instead of reading it back, so a turn
costs one read at its start and one commit per step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Insert, Select, bindparam, exists, insert, select, union_all, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import Session

from agent.clock import utcnow
from agent.store.contain import attempts
from agent.store.direct import Direct
from agent.store.engine import reader, reads_outside_transaction, relaxed
from agent.store.lease import ConversationBusy, Lease, LeaseLost
from agent.store.tables import Conversation, Event
from agent.transcript.events import (
    AnyEvent,
    ConfirmationDeclined,
    ConfirmationGiven,
    ConfirmationUnclear,
    ConversationStatus,
    CustomerVerified,
    ErrorOccurred,
    StoredEvent,
    UserMessage,
    append,
    event_rows,
    load_rows,
)
from agent.transcript.state import ConversationState, apply_event, fold

# Work done inside a commit's transaction: given the session, returns more events to
# append and a value for the caller (e.g. the gate's outcome).
InTransaction = Callable[[Session], tuple[list[AnyEvent], Any]]

EVENTS = Event.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]


# Built once: one turn runs these many times.
_NEWER = Direct.of(
    select(EVENTS.c.seq)
    .where(EVENTS.c.conversation_id == bindparam("cid"), EVENTS.c.seq > bindparam("seq"))
    .limit(1)
)
_EVENT_COLUMNS = ("conversation_id", "seq", "type", "payload", "created_at")


def _event(suffix: str = "") -> list[BindParameter[Any]]:
    return [bindparam(f"{name}{suffix}", type_=EVENTS.c[name].type) for name in _EVENT_COLUMNS]


def _events(n: int) -> Insert:
    """n event rows in one INSERT (store.direct: PostgreSQL), names suffixed _0, _1, ..."""
    rows = [dict(zip(_EVENT_COLUMNS, _event(f"_{i}"), strict=True)) for i in range(n)]
    return insert(EVENTS).values(rows).inline()


def _fenced(suffix: str = "") -> Select[Any]:
    """One event row, selected only while `owner` holds the conversation's lease."""
    return select(*_event(suffix)).where(
        exists().where(
            CONVERSATIONS.c.id == bindparam(f"conversation_id{suffix}"),
            CONVERSATIONS.c.lease_owner == bindparam(f"owner{suffix}"),
        )
    )


_INSERT_EVENTS = Direct.of(insert(EVENTS).inline(), columns=_EVENT_COLUMNS, rows=_events)
_INSERT_FENCED = Direct.of(  # the rows written, summed over the rows given
    insert(EVENTS).from_select(list(_EVENT_COLUMNS), _fenced()),
    rows=lambda n: insert(EVENTS).from_select(
        list(_EVENT_COLUMNS), union_all(*(_fenced(f"_{i}") for i in range(n)))
    ),
)
_SET_STATUS = Direct.of(
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("cid"))
    .values(status=bindparam("status"))
)

# All a relaxed commit may write: what the customer said, and errors that stopped the
# turn before anything acted on it. A decision, a tool result, a question or a reply
# shown to anyone always waits for the disk.
CUSTOMER_INPUT = (
    UserMessage,
    CustomerVerified,
    ConfirmationGiven,
    ConfirmationDeclined,
    ConfirmationUnclear,
    ErrorOccurred,
)


class LogConflict(Exception):
    """Someone appended to this conversation without the lease; the cache was re-read."""


class StaleTurn(Exception):
    """Others appended since the cached state a turn was opened on; nothing was written.

    The cache has been read again: open the turn anew on the fresh state.
    """


@dataclass
class ConversationLog:
    """Append, load and fold the events of one conversation, under its lease."""

    engine: Engine
    conversation_id: str
    lease: Lease
    state: ConversationState = field(default_factory=ConversationState)
    _staged: list[AnyEvent] = field(default_factory=list)
    _opening: dict[str, Any] | None = None  # the next commit takes the lease (row meta)
    _synced: bool = False  # the cache has met the store at least once
    holds_lease: bool = False

    def refresh(self) -> ConversationState:
        """Fold what was appended since the cached state (by anyone) and return the state."""
        with reads_outside_transaction(reader(self.engine).connect()) as conn:
            self._catch_up(conn)
            conn.commit()  # not a rollback: see store.engine.read_only
        self._synced = True
        return self.state

    def open_turn(self, events: Sequence[AnyEvent], *, meta: dict[str, Any]) -> None:
        """Stage a turn's first events; the turn's first commit takes the lease with them.

        That commit also creates the conversation row (with `meta`) if it is missing, and
        refuses with StaleTurn if anyone appended since the cached state the events were
        derived from, or ConversationBusy if another worker holds the lease.
        """
        self._opening = meta
        self.stage(*events)

    @property
    def synced(self) -> bool:
        """Whether the cached state was ever read from (or written to) the store."""
        return self._synced

    @property
    def opening(self) -> bool:
        """Whether the lease is still to be taken by the turn's first commit."""
        return self._opening is not None

    def stage(self, *events: AnyEvent) -> None:
        """Fold events now and write them with the next commit (a model reply with its step)."""
        for event in events:
            self._fold(event)
        self._staged.extend(events)

    def unwritten(self) -> list[StoredEvent]:
        """The staged events with the sequence numbers they will be written with."""
        first = self.state.last_seq - len(self._staged) + 1
        now = utcnow()
        return [
            StoredEvent(conversation_id=self.conversation_id, seq=first + i, at=now, event=e)
            for i, e in enumerate(self._staged)
        ]

    def discard(self) -> None:
        """Drop anything staged and re-read the state (after a step failed half-way)."""
        self._reread()

    def commit(
        self,
        events: Sequence[AnyEvent] = (),
        *,
        work: InTransaction | None = None,
        status: ConversationStatus | None = None,
        take_lease: bool = False,
        create: dict[str, Any] | None = None,
        release: bool = False,
        durable: bool = True,
    ) -> Any:
        """Write staged events, `events` and what `work` adds, in one fenced transaction.

        The first commit of a turn (see open_turn) takes the lease; every later one
        fences it (LeaseLost if it was taken over). `take_lease` takes it outside a turn
        (ConversationBusy if another worker holds it) and folds what others appended
        before `work` runs, so `work` decides on the store's latest state (with `create`,
        the conversation row is made first if missing, with that meta). `status` sets
        the conversation's status; `release` gives the lease up in the same commit. On
        any failure nothing is written and the cached state is read again. Returns what
        `work` returned.

        `durable=False` is for a turn's opening commit, which takes the lease with what
        the customer said before anything acts on it: it does not wait for the disk
        (engine.relaxed), so it survives a crash of this process, and the step's next
        commit, which waits, makes it durable against a power loss too. Such a commit
        refuses (ValueError, nothing written) events other than CUSTOMER_INPUT.
        """
        opening, staged = self._opening, list(self._staged)
        if take_lease and (opening is not None or staged):
            raise ValueError("take_lease is for a commit outside a turn, with nothing staged")
        # Fence, status and release in one statement, when nothing else holds the lease.
        release_now = release and opening is None and not take_lease and work is None

        def again() -> None:  # rolled back (store.contain): from the store, as given
            self._reread()
            self.lease.forget(self.conversation_id)  # a renewal in it did not happen
            self._opening = opening
            self.stage(*staged)

        def once() -> Any:
            # A plain connection: an ORM session only joins it when `work` needs one.
            with (self.engine if durable else relaxed(self.engine)).begin() as conn:
                stored = self.state.last_seq - len(self._staged)  # the last seq already written
                fence_later = False
                if release_now:
                    self.lease.release_in(conn, self.conversation_id, status=status, fenced=True)
                else:
                    stored, fence_later = self._hold(
                        conn, stored, opening, create, take_lease, events
                    )
                self.stage(*events)
                result: Any = None
                if work is not None:
                    with Session(bind=conn) as session:
                        more, result = work(session)
                        session.flush()
                    self.stage(*more)
                if not durable:
                    _customer_input_only(self._staged)
                self._append(conn, stored + 1, fenced=fence_later)
                if release and not release_now:
                    self.lease.release_in(conn, self.conversation_id, status=status)
                elif status is not None and not release:
                    _SET_STATUS.run(conn, {"cid": self.conversation_id, "status": status})
            return result

        try:
            result = attempts(once, again)
        except IntegrityError as exc:
            self._reread()
            if opening is not None:  # someone appended since the turn was opened
                raise StaleTurn(f"conversation {self.conversation_id} moved on") from exc
            raise LogConflict(f"conversation {self.conversation_id} changed underneath") from exc
        except BaseException:
            self._reread()
            raise
        self._staged, self._opening, self._synced = [], None, True
        self.holds_lease = not release
        return result

    def _hold(
        self,
        conn: Connection,
        stored: int,
        opening: dict[str, Any] | None,
        create: dict[str, Any] | None,
        take_lease: bool,
        events: Sequence[AnyEvent],
    ) -> tuple[int, bool]:
        """Take, renew or (later) check the lease; (the last seq written, fence later).

        Fence later: the events' insert checks that the lease is still ours (see _append).
        """
        if opening is not None:
            self._take(conn, opening, stored, check=not (self._staged or events))
        elif take_lease:
            if not self._claim(conn, create):  # a row just made has no events yet
                self._catch_up(conn)
            stored = self.state.last_seq
        elif self.lease.renewal_due(self.conversation_id):
            self.lease.fence(conn, self.conversation_id)
        else:
            return stored, True
        return stored, False

    def _append(self, conn: Connection, first: int, *, fenced: bool) -> None:
        """Insert the staged events, numbered from `first`; `fenced`: check the lease too.

        The fenced insert writes each row only if this owner still holds the lease, in the
        same statement: an append checks its fence without a statement of its own
        (LeaseLost if it is not ours, and nothing is written).
        """
        if not self._staged:
            if fenced:
                self.lease.fence(conn, self.conversation_id)
            return
        rows = event_rows(self.conversation_id, first, self._staged)
        if not fenced:
            _INSERT_EVENTS.run_many(conn, rows)
            return
        owner = self.lease.owner
        inserted = _INSERT_FENCED.run_many(conn, [{**row, "owner": owner} for row in rows])
        if inserted != len(rows):
            raise LeaseLost.on(self.conversation_id)

    def _take(self, conn: Connection, meta: dict[str, Any], stored: int, *, check: bool) -> None:
        """Create the row if new, take the lease, and make sure nobody appended since `stored`.

        With events to write, their insert is the check: numbered from `stored` + 1, it
        collides with anything appended since (the (conversation, seq) key), and the
        commit says StaleTurn. Without any, `check` looks before the turn goes on.
        """
        created = self._claim(conn, meta if stored == 0 else None)
        if (
            check
            and not created
            and _NEWER.run(conn, {"cid": self.conversation_id, "seq": stored}).first()
        ):
            raise StaleTurn(f"conversation {self.conversation_id} moved on since it was read")

    def _claim(self, conn: Connection, create: dict[str, Any] | None) -> bool:
        """Take the lease (or ConversationBusy); with `create`, make the row first if missing.

        A row made here is made holding the lease, in one statement. Returns whether the
        row is new (so nobody has appended to it yet).
        """
        cid = self.conversation_id
        if create is not None:
            began, expires = self.lease.expiry()
            new = {"cid": cid, "at": utcnow(), "meta": create, "owner": self.lease.owner}
            if _NEW_CONVERSATION.run(conn, {**new, "expires": expires}).rowcount:
                self.lease.renewed(cid, began)
                return True
        if not self.lease.take(conn, cid):
            raise ConversationBusy(f"conversation {cid} is being handled by another worker")
        return False

    def _fold(self, event: AnyEvent) -> None:
        apply_event(self.state, event)
        self.state.last_seq += 1

    def _catch_up(self, conn: Connection) -> None:
        for stored in load_rows(conn, self.conversation_id, after=self.state.last_seq):
            fold(self.state, stored)

    def _reread(self) -> None:
        """Forget the cache and anything staged; the store is the truth."""
        self.state, self._staged, self._opening = ConversationState(), [], None
        self._synced = False
        try:
            self.refresh()
        except Exception:
            self.state = ConversationState()


def _customer_input_only(events: Sequence[AnyEvent]) -> None:
    """Refuse a relaxed commit of anything but customer input (a caller's mistake)."""
    other = [e.type for e in events if not isinstance(e, CUSTOMER_INPUT)]
    if other:
        raise ValueError(f"a commit that does not wait for the disk cannot hold {other}")


_NEW_CONVERSATION = Direct.per_dialect(  # built once; a row already there is left as it is
    lambda insert: (
        insert(CONVERSATIONS)
        .values(
            id=bindparam("cid"),
            created_at=bindparam("at"),
            meta=bindparam("meta"),
            lease_owner=bindparam("owner"),
            lease_expires=bindparam("expires"),
        )
        .on_conflict_do_nothing()  # rowcount 1: made here, 0: it was there
    )
)


def record(engine: Engine, conversation_id: str, *events: BaseModel) -> list[int]:
    """Append events outside any conversation turn (imports, tests): no lease, own commit."""
    with Session(engine) as session, session.begin():
        return append(session, conversation_id, *events)
