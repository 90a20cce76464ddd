"""Bulk reads and writes for the AP file cycle (decision 0023), in the caller's transaction.

Exports and imports move tens of thousands of rows at once. SQLAlchemy's per-row parameter and result
processing costs more than the database work here, so these helpers hand rows to the driver directly:
``COPY ... FROM STDIN`` on PostgreSQL (psycopg 3), one prepared ``executemany`` on SQLite. Values are
converted with the columns' own SQLAlchemy bind processors first, so what is stored is exactly what
an ORM insert would store (exact decimals as text on SQLite, UTC timestamps, and so on). Columns with
a Python-side default (``created_at``...) must be given: the database does not know those defaults.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` (tuples in the order of ``columns``) into ``table``; returns how many."""
    session.flush()  # pending ORM changes first, so the order of writes stays what the code says
    conn = session.connection()
    dialect = conn.dialect
    rows = bound(dialect, table, columns, rows)
    raw = conn.connection.driver_connection
    quote = dialect.identifier_preparer
    count = 0
    if dialect.name == "postgresql":
        # names come from the table's metadata (table.c[name] above), quoted by the dialect
        copy_sql = (f"COPY {quote.format_table(table)} ({', '.join(quote.quote(n) for n in columns)}) "  # noqa: S608
                    "FROM STDIN")
        with raw.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    order = [list(columns).index(name) for name in compiled.positiontup]  # the statement's own column order
    rows = list(rows) if order == sorted(order) else [tuple(row[i] for i in order) for row in rows]
    cur = raw.cursor()
    try:
        cur.executemany(str(compiled), rows)
    finally:
        cur.close()
    return len(rows)


def _procs(dialect: Any, table: Table, columns: Sequence[str], column: Any) -> list:
    """Each column's (``_memo``) bind processor, or None. ``column(k)``: the values of column k. On SQLite a
    Boolean column (made 0/1 by its processor) whose values are all bools gets none: the sqlite3 driver binds
    True and False as exactly those integers (decision 0037)."""
    procs = [_memo(table.c[name].type._cached_bind_processor(dialect)) for name in columns]
    if dialect.name == "sqlite":
        for k, name in enumerate(columns):
            if procs[k] is not None and isinstance(table.c[name].type, Boolean) and \
                    set(map(type, column(k))) <= {bool}:
                procs[k] = None
    return procs


def bound(dialect: Any, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterable[Sequence[Any]]:
    """``rows`` with each value converted by its column's bind processor (as an ORM insert would store it);
    the rows as given when no column has one."""
    if not any(table.c[name].type._cached_bind_processor(dialect) for name in columns):
        return rows
    # column by column (map and zip run in C): each converted column replaces the raw one
    rows = list(rows)
    cols = list(zip(*rows, strict=True)) or [() for _ in columns]
    procs = _procs(dialect, table, columns, cols.__getitem__)
    if not any(procs):
        return rows
    return list(zip(*(col if p is None else _converted(p, col) for p, col in zip(procs, cols, strict=True)),
                    strict=True))


def bound_columns(dialect: Any, table: Table, columns: Sequence[str], cols: Sequence[Sequence[Any]]) -> list:
    """``bound`` column-wise: ``cols`` holds one sequence of values per name in ``columns`` (all of one length);
    each converted by its column's bind processor (a column without one, or a Boolean column of bools on
    SQLite, is given as it is)."""
    procs = _procs(dialect, table, columns, cols.__getitem__)
    return [col if p is None else list(_converted(p, col)) for p, col in zip(procs, cols, strict=True)]


def _converted(proc: Any, col: Sequence[Any]) -> Iterable[Any]:
    """A column through its (``_memo``) bind processor: each distinct value converted once, then looked up in C."""
    try:
        seen = dict.fromkeys(col)
    except TypeError:  # unhashable values (JSON lists): one call each
        return map(proc, col)
    for value in seen:
        seen[value] = proc(value)
    return map(seen.__getitem__, col)


def _memo(proc: Any) -> Any:
    """A bind processor that converts each distinct value once (timestamps, currencies and amounts
    repeat across a batch); values that cannot be dict keys are converted every time."""
    if proc is None:
        return None
    seen: dict[Any, Any] = {None: None}  # NULL stays NULL

    def convert(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            out = seen[value] = proc(value)
            return out
        except TypeError:  # unhashable
            return proc(value)
    return convert


def raw(column: Any) -> Any:
    """A column read as the driver gives it, without SQLAlchemy's result processing (an exact amount
    is text on SQLite and a Decimal on PostgreSQL: pass it through ``Decimal`` either way)."""
    return type_coerce(column, NullType()).label(column.key)


def among(conn: Any, column: Any, values: Iterable[Any]) -> Any:
    """``column IN values`` with one bound parameter however many values (decision 0027): a JSON array
    read with ``json_each`` on SQLite, ``= ANY(array)`` on PostgreSQL. SQLAlchemy renders an ``IN``
    list parameter by parameter, which cost more than the query itself for tens of thousands of ids.
    ``column`` is an integer or a text column, ``values`` of its kind."""
    seq = list(values)
    if conn.dialect.name == "postgresql":
        # one text parameter too (psycopg would adapt a list element by element), an array literal of
        # the column's own type, so the planner can hash it (int4 = ANY(int8[]) would search it row by row)
        if isinstance(column.type, Integer):
            literal = "{" + ",".join(map(str, map(int, seq))) + "}"
            kind: Any = column.type
        else:
            literal = "{" + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in seq) + "}"
            kind = Text
        # untyped, so PostgreSQL reads the parameter as the array itself (a text cast to an array is
        # a run-time conversion the planner cannot use: a search of the whole array for every row)
        return column == any_(cast(bindparam(None, literal, type_=NullType()), ARRAY(kind)))
    arr = bindparam(None, json.dumps(seq), type_=Text)
    return column.in_(select(literal_column("value")).select_from(func.json_each(arr)))


def compiled(conn: Any, stmt: Any) -> tuple[Any, str, Any]:
    """A statement compiled for ``conn``'s driver: (the driver connection, SQL text, parameters bound by
    the columns' own processors), to run with ``execute_compiled`` (possibly on another thread)."""
    done = stmt.compile(dialect=conn.dialect)
    params = done.construct_params()
    for name, proc in done._bind_processors.items():
        if name in params and params[name] is not None:
            params[name] = proc(params[name])
    if done.positional:
        params = tuple(params[name] for name in done.positiontup)
    return conn.connection.driver_connection, str(done), params


def execute_compiled(conn: Any, what: tuple[Any, str, Any]) -> int:
    """Run a statement ``compiled`` made, in the connection's transaction; returns its row count."""
    raw, sql, params = what
    cur = raw.cursor()
    try:
        cur.execute(sql, params)
        return cur.rowcount
    finally:
        cur.close()


def fetch(conn: Any, stmt: Any) -> list[tuple[Any, ...]]:
    """All rows of a SELECT as the driver gives them: plain tuples, values unconverted (an exact amount
    is text on SQLite and a Decimal on PostgreSQL, a date is ISO text on SQLite), read on the
    connection's own transaction. For reads of tens of thousands of rows, where building SQLAlchemy
    rows and converting each value cost more than the query (decision 0027)."""
    raw, sql, params = compiled(conn, stmt)
    cur = raw.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        cur.close()
