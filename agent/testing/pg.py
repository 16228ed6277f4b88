"""A throw-away PostgreSQL schema for tests and benchmarks (one home for the recipe)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from agent.store.engine import make_engine


@contextmanager
def fresh_schema(base_url: str, prefix: str = "t") -> Iterator[str]:
    """A URL like `base_url` whose search_path is a new, empty schema, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base_url, create=False)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
