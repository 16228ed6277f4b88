"""Statements that differ by dialect (SQLite, PostgreSQL), built once for each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

T = TypeVar("T")


@dataclass(frozen=True)
class PerDialect(Generic[T]):
    """One prepared statement for each store this project runs on."""

    sqlite: T
    postgresql: T

    @classmethod
    def insert(cls, build: Callable[[Any], T]) -> PerDialect[T]:
        """`build(insert)` with each dialect's `insert` (for ON CONFLICT clauses)."""
        return cls(sqlite=build(sqlite_insert), postgresql=build(pg_insert))

    def on(self, conn: Connection) -> T:
        """The statement for the connection's dialect."""
        return self.postgresql if conn.dialect.name == "postgresql" else self.sqlite
