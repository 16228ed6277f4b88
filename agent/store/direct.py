"""Core statements sent straight to the driver: compiled once per dialect, run on its cursor.

SQLAlchemy spends about 100 µs of Python on each statement it executes (execution
context, parameter processing, result set-up, event dispatch); the driver itself spends
about 10. The engine's own statements (events, lease, ledger) run many times a turn, so
they go through `Direct`: the statement is compiled once for each dialect, values are
bound by the columns' own type processors (the same ones SQLAlchemy would use), and the
driver's cursor runs it inside the caller's transaction. Driver errors come out as
SQLAlchemy's (IntegrityError, OperationalError, ...), as from `Connection.execute`, and
`before_execute` and `before_cursor_execute` listeners still see every statement (they
may watch; one registered to rewrite it, with retval=True, is not obeyed). A connection
found lost is invalidated; the pool's own check at checkout (store.liveness) finds any
other connection the same server restart dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.sql.expression import Executable

Params = Mapping[str, Any]
# Rows one statement writes at most: a statement is kept per count, and psycopg prepares
# each one it sees often (100 per connection by default, shared with every other query).
MAX_ROWS = 16
_NOT_GIVEN = object()


@dataclass(frozen=True)
class _Compiled:
    """One statement as one dialect's driver takes it."""

    statement: Executable  # what `before_execute` listeners see
    sql: str
    names: tuple[str, ...] | None  # positional drivers: the parameters in order
    fixed: dict[str, Any]  # values the statement carries itself (e.g. `.values(flag=False)`)
    defaults: dict[str, Callable[[], Any]]  # Python-side column defaults, for names not given
    required: frozenset[str]  # names the caller must give
    binds: dict[str, Callable[[Any], Any]]  # name -> the column type's bind processor
    results: tuple[Callable[[Any], Any] | None, ...]  # per result column (none: no rows)

    def bind(self, params: Params) -> Any:
        """The driver's parameters for one row of values (InvalidRequestError if one lacks)."""
        if not self.required <= params.keys():
            missing = ", ".join(sorted(self.required - params.keys()))
            raise InvalidRequestError(f"a value is required for bind parameter(s) {missing}")
        values = {**self.fixed, **params} if self.fixed else params
        for name, default in self.defaults.items():
            if name not in params:
                values = {**values, name: default()}
        for name, process in self.binds.items():
            value = values.get(name, _NOT_GIVEN)
            if value is not _NOT_GIVEN:  # None too: a JSON column may store it as 'null'
                if values is params:
                    values = dict(params)
                values[name] = process(value)  # type: ignore[index]
        if self.names is None:
            return values
        return tuple(values[name] for name in self.names)


def _compile(statement: Executable, dialect: Dialect, columns: Sequence[str] | None) -> _Compiled:
    compiled: Any = statement.compile(  # type: ignore[attr-defined]
        dialect=dialect, column_keys=list(columns) if columns is not None else None
    )
    if getattr(compiled, "escaped_bind_names", None):
        raise ValueError(f"parameter names that need escaping in {compiled.string!r}")
    binds: dict[str, Callable[[Any], Any]] = {}
    fixed: dict[str, Any] = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds[name] = process
        if not bind.required:
            fixed[name] = bind.effective_value
    defaults: dict[str, Callable[[], Any]] = {}
    inserted = set(compiled.insert_prefetch)
    for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
        spec = column.default if column in inserted else column.onupdate
        if column.key not in compiled.binds or not (spec.is_scalar or spec.is_callable):
            raise ValueError(f"unsupported default of {column} in {compiled.string!r}")
        if spec.is_scalar:
            fixed[column.key] = spec.arg
        else:  # SQLAlchemy wraps it to take an execution context, which it ignores
            defaults[column.key] = partial(spec.arg, None)
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.exported_columns  # type: ignore[attr-defined]
    )
    names = tuple(compiled.positiontup) if dialect.positional else None
    required = frozenset(compiled.binds) - fixed.keys() - defaults.keys()
    return _Compiled(statement, compiled.string, names, fixed, defaults, required, binds, results)


@dataclass(frozen=True)
class Rows:
    """What a statement returned: the rows (processed as SQLAlchemy would) and rowcount."""

    rows: list[tuple[Any, ...]]
    rowcount: int

    def first(self) -> tuple[Any, ...] | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        return self.rows[0][0] if self.rows else None


@dataclass
class Direct:
    """A Core statement (one per dialect where they differ) run on the driver's cursor."""

    statements: Mapping[str, Executable]  # dialect name -> statement; "" for any other
    columns: Sequence[str] | None = None  # an INSERT of these columns, values by name
    # On PostgreSQL, `rows(n)` writes n rows in one statement, each row's names suffixed
    # _0, _1, ...: one round trip, where psycopg's executemany runs a pipeline whose
    # Python costs more than the statements (SQLite's executemany is the driver's C loop).
    rows: Callable[[int], Executable] | None = None
    _compiled: dict[str, _Compiled] = field(default_factory=dict, repr=False)
    _compiled_rows: dict[int, _Compiled] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls,
        statement: Executable,
        *,
        columns: Sequence[str] | None = None,
        rows: Callable[[int], Executable] | None = None,
    ) -> Direct:
        """The same statement on every dialect (`columns`, `rows`: see the fields)."""
        return cls({"": statement}, columns, rows)

    @classmethod
    def per_dialect(cls, build: Callable[[Any], Executable]) -> Direct:
        """`build(insert)` with each dialect's `insert` (for ON CONFLICT clauses)."""
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return cls({"sqlite": build(sqlite_insert), "postgresql": build(pg_insert)})

    def run(self, conn: Connection, params: Params | None = None) -> Rows:
        """Execute once with `params`, inside the connection's transaction."""
        return self._execute(conn, params or {}, many=False)

    def run_many(self, conn: Connection, rows: Sequence[Params]) -> int:
        """Execute once per row of values (the driver's executemany); rows written in all."""
        if not rows:
            return 0
        if (
            self.rows is not None
            and 1 < len(rows) <= MAX_ROWS
            and conn.dialect.name == "postgresql"
        ):
            together = {f"{k}_{i}": v for i, row in enumerate(rows) for k, v in row.items()}
            # Listeners are shown the one-row statement and the rows, as SQLAlchemy shows
            # its own batches (insertmanyvalues); the driver gets the n-row statement.
            shown = (self.compiled(conn.dialect).statement, rows)
            return self._execute(
                conn, together, many=False, compiled=self._for(conn, len(rows)), shown=shown
            ).rowcount
        if len(rows) == 1:  # as SQLAlchemy does: a plain execute (no pipeline on psycopg)
            return self._execute(conn, rows[0], many=False).rowcount
        return self._execute(conn, rows, many=True).rowcount

    def _for(self, conn: Connection, n: int) -> _Compiled:
        found = self._compiled_rows.get(n)
        if found is None:
            assert self.rows is not None
            found = self._compiled_rows[n] = _compile(self.rows(n), conn.dialect, None)
        return found

    def compiled(self, dialect: Dialect) -> _Compiled:
        """The statement compiled for the dialect (once)."""
        found = self._compiled.get(dialect.name)
        if found is None:
            statement = self.statements.get(dialect.name, self.statements.get(""))
            if statement is None:
                raise ValueError(f"no statement for {dialect.name}")
            found = self._compiled[dialect.name] = _compile(statement, dialect, self.columns)
        return found

    def _execute(
        self,
        conn: Connection,
        params: Any,
        *,
        many: bool,
        compiled: _Compiled | None = None,
        shown: tuple[Executable, Sequence[Params]] | None = None,
    ) -> Rows:
        dialect = conn.dialect
        compiled = compiled or self.compiled(dialect)
        if not conn.in_transaction():
            conn.begin()  # the engine's BEGIN (and its listeners) as for any statement
        if conn.dispatch.before_execute:  # listeners see what Connection.execute shows them
            if shown is None:
                _before_execute(conn, compiled.statement, params, many=many)
            else:
                _before_execute(conn, shown[0], shown[1], many=True)
        bound = [compiled.bind(p) for p in params] if many else compiled.bind(params)
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, compiled.sql, bound, None, many)
            if many:
                cursor.executemany(compiled.sql, bound)
            else:
                cursor.execute(compiled.sql, bound)
            rows = cursor.fetchall() if compiled.results else []
            rowcount = cursor.rowcount
        except dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, compiled.sql, bound, exc, cursor) from exc
        finally:
            cursor.close()
        if rows and any(compiled.results):
            rows = [_processed(row, compiled.results) for row in rows]
        return Rows(rows, rowcount)


def _before_execute(conn: Connection, statement: Executable, params: Any, *, many: bool) -> None:
    rows = list(params) if many else [params]
    multiparams, single = ([], rows[0]) if len(rows) == 1 else (rows, {})
    options = conn.get_execution_options()
    for listener in conn.dispatch.before_execute:
        listener(conn, statement, multiparams, single, options)


def _processed(
    row: Sequence[Any], processors: Sequence[Callable[[Any], Any] | None]
) -> tuple[Any, ...]:
    return tuple(v if p is None else p(v) for v, p in zip(row, processors, strict=False))


def _wrapped(conn: Connection, sql: str, params: Any, exc: Any, cursor: Any) -> Exception:
    """The driver's error as SQLAlchemy raises it; a lost connection is invalidated."""
    dialect = conn.dialect
    driver = conn.connection.driver_connection
    lost = bool(dialect.is_disconnect(exc, driver, cursor))
    if lost:
        conn.invalidate(exc)
    error: Exception = DBAPIError.instance(
        sql,
        params,
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )
    return error
