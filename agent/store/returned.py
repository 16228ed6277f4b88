"""When a pooled connection stops belonging to the code that checked it out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

# Back in the pool, or gone from it for good: whatever its holder took must be given back.
RETURNED = ("checkin", "invalidate", "detach")


def on_return(engine: Engine, listener: Callable[..., Any]) -> None:
    """Call `listener(dbapi_conn, record, ...)` whenever a connection returns or leaves."""
    for name in RETURNED:
        event.listen(engine, name, listener)
