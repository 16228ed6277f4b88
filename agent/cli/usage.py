"""`support-agent usage`: tokens, dollars, errors and model latency from the transcript store."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlmodel import Session, col, select

from agent.cli.common import DbOption, fail, settings_for
from agent.clock import utcnow
from agent.model.client import Usage
from agent.model.spend import customer_of, response_cost
from agent.model.usage import PRICES_AS_OF
from agent.store.engine import make_engine
from agent.store.tables import Event

GroupBy = Literal["conversation", "customer", "day", "model", "tool"]
DURATION = re.compile(r"^(\d+)([hdw])$")
UNITS = {"h": "hours", "d": "days", "w": "weeks"}


@dataclass
class Row:
    """Totals of one group."""

    calls: int = 0
    usage: Usage = field(default_factory=Usage)
    dollars: Decimal = Decimal(0)
    errors: int = 0
    retries: int = 0
    latencies: list[float] = field(default_factory=list)

    def as_dict(self, key: str) -> dict[str, Any]:
        """The row as JSON-ready values."""
        return {
            "group": key,
            "calls": self.calls,
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "cache_write_tokens": self.usage.cache_creation_input_tokens,
            "cache_read_tokens": self.usage.cache_read_input_tokens,
            "dollars": str(self.dollars.quantize(Decimal("0.0001"))),
            "errors": self.errors,
            "retries": self.retries,
            "latency_p50_ms": percentile(self.latencies, 50),
            "latency_p95_ms": percentile(self.latencies, 95),
        }


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return round(ordered[int(rank) - 1], 1)


def parse_since(raw: str | None, now: datetime) -> datetime | None:
    """`24h`, `7d`, `2w` ago, or an ISO date/time (UTC); None for all time."""
    if raw is None:
        return None
    match = DURATION.match(raw.strip())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"--since {raw!r}: use 24h, 7d, 2w or an ISO date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)


def _keys(
    by: GroupBy, cid: str, at: datetime, payload: Mapping[str, Any], who: dict[str, str]
) -> list[str]:
    if by == "conversation":
        return [cid]
    if by == "customer":
        return [who.get(cid, "(not identified)")]
    if by == "day":
        return [at.date().isoformat()]
    message = payload.get("message") or {}
    if by == "model":
        return [str(message.get("model") or "(unknown)")]
    tools = [
        str(b.get("name")) for b in message.get("content") or [] if b.get("type") == "tool_use"
    ]
    return tools or ["(reply)"]


def report(session: Session, by: GroupBy, since: datetime | None) -> dict[str, Row]:
    """Totals per group over model responses and errors since a moment."""
    query = select(Event.conversation_id, Event.created_at, Event.type, Event.payload).where(
        col(Event.type).in_(["model_response", "error"])
    )
    if since is not None:
        query = query.where(col(Event.created_at) >= since)
    events = session.exec(query.order_by(col(Event.id))).all()
    who = customer_of(session, {e[0] for e in events}) if by == "customer" else {}
    rows: dict[str, Row] = defaultdict(Row)
    for cid, at, kind, payload in events:
        keys = _keys(by, cid, at, payload, who)
        if kind == "error":
            rows[keys[0] if by != "tool" else "(error)"].errors += 1
            continue
        share = Decimal(1) / len(keys)
        for key in keys:
            row = rows[key]
            row.calls += 1
            row.usage = row.usage + Usage.model_validate(payload.get("usage") or {})
            row.dollars += response_cost(payload) * share
            row.retries += int(payload.get("retries") or 0)
            row.latencies.append(float(payload.get("latency_ms") or 0.0))
    return dict(sorted(rows.items()))


WIDE = 120  # narrower terminals get one block per group instead of the table
COLUMNS = (  # label, key of Row.as_dict
    ("calls", "calls"),
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache write", "cache_write_tokens"),
    ("cache read", "cache_read_tokens"),
    ("dollars", "dollars"),
    ("errors", "errors"),
    ("retries", "retries"),
    ("p50 ms", "latency_p50_ms"),
    ("p95 ms", "latency_p95_ms"),
)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def usage(
    db: DbOption = None,
    since: Annotated[str | None, typer.Option(help="24h, 7d, 2w or an ISO date.")] = None,
    by: Annotated[GroupBy, typer.Option("--by", help="Group rows by this.")] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Tokens, dollars, errors and model latency percentiles from the transcripts."""
    settings = settings_for(db)
    try:
        start = parse_since(since, utcnow())
    except ValueError as exc:
        fail(str(exc))
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        rows = report(session, by, start)
    data = [row.as_dict(key) for key, row in rows.items()]
    if as_json:
        typer.echo(json.dumps({"by": by, "prices_as_of": PRICES_AS_OF, "rows": data}, indent=2))
        return
    console = Console()
    if console.width >= WIDE:
        table = Table(by, *(label for label, _ in COLUMNS))
        for item in data:
            table.add_row(*(Text("" if v is None else str(v)) for v in item.values()))
        console.print(table)
    else:  # a table this wide truncates every cell: one block per group instead
        for item in data:
            console.print(Text(str(item["group"]), style="bold"), soft_wrap=True)
            # label=value pairs never break inside: a narrow terminal wraps between them
            shown = (f"{label.replace(' ', '_')}={_cell(item[key])}" for label, key in COLUMNS)
            console.print(Text("  " + " · ".join(shown)))
    console.print(Text(f"prices as of {PRICES_AS_OF}; unknown models count $0"))
