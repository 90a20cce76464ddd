"""Database layer: declarative Base, exact column types, engine and sessions.

Exactness: SQLAlchemy's ``Numeric`` is stored by SQLite as a floating-point
REAL, which silently loses digits (12345678901234567.89 comes back as
12345678901234568). ``Amount`` and ``Exact`` therefore store canonical decimal
text on SQLite and ``NUMERIC(p, s)`` on PostgreSQL; both read back as Decimal.
See docs/decisions/0002-exact-decimals.md.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, MetaData, Numeric, String, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Exact(TypeDecorator):
    """An exact decimal: NUMERIC on PostgreSQL, decimal text on SQLite.

    Refuses floats and values that would lose digits at the column's scale.
    """

    impl = String
    cache_ok = True

    def __init__(self, precision: int = 28, scale: int = 6):
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._exp = Decimal(1).scaleb(-scale)

    def __repr__(self) -> str:  # Alembic renders column types with repr()
        return f"Exact({self.precision}, {self.scale})"

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        # Hot path (bulk intake binds millions of values): tuple arithmetic, no quantize unless needed.
        if value is None:
            return None
        if type(value) is not Decimal:
            if isinstance(value, float | bool):
                raise TypeError("floats are not accepted for exact columns")
            value = Decimal(value) if isinstance(value, int | Decimal) else Decimal(str(value))
        _sign, digits, exp = value.as_tuple()
        if not isinstance(exp, int):
            raise ValueError(f"not a finite number: {value}")
        if exp < -self.scale:
            q = value.quantize(self._exp)
            if q != value:
                raise ValueError(f"{value} has more than {self.scale} decimal places")
            value = q
            _sign, digits, exp = value.as_tuple()
        if len(digits) + exp > self.precision - self.scale and any(digits):
            raise ValueError(f"{value} has more than {self.precision - self.scale} digits before the point")
        if dialect.name == "sqlite":
            text = format(value, "f")
            if "." in text:
                text = text.rstrip("0").rstrip(".")
            return "0" if text in ("", "-0") else text
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):  # never expected; guard against silent loss
            raise TypeError("exact column returned a float")
        d = Decimal(value) if not isinstance(value, Decimal) else value
        return _plain(d)

    def coerce_compared_value(self, op, value):
        return self


def _plain(d: Decimal) -> Decimal:
    """Same value on every backend, without trailing zeros or exponent: 900.000000 -> 900, 12.50 -> 12.5."""
    if d == d.to_integral_value():
        return d.quantize(Decimal(1))
    return d.normalize()


def Amount() -> Exact:  # noqa: N802 - reads like a type
    """A money amount: 28 digits, 6 after the point (covers every ISO 4217 precision)."""
    return Exact(28, 6)


def Rate() -> Exact:  # noqa: N802
    """FX rates, percentages and quantities: 28 digits, 10 after the point."""
    return Exact(28, 10)


class UTCDateTime(TypeDecorator):
    """Timestamps stored and returned as timezone-aware UTC, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused; use triad.core.db.utcnow()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


def _json_default(o: object) -> str:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, dt.datetime | dt.date):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def json_dumps(o: object) -> str:
    return json.dumps(o, default=_json_default, sort_keys=True, separators=(",", ":"))


_ORJSON_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                   | orjson.OPT_PASSTHROUGH_SUBCLASS)


def json_dumps_large(o: object) -> str:
    """``json_dumps``'s exact text for a large payload without floats (an import's audit event naming
    100,000 records), made by orjson about eight times faster.

    For data of strings, integers, booleans, None, lists, tuples and string-keyed dicts, with ``Decimal`` and
    dates through the same ``default``, orjson writes the same characters (sorted keys, no spaces, the same
    escapes) except where ``json_dumps`` escapes a character outside printable ASCII: any such byte in the
    output (non-ASCII text, DEL) means the text is made by ``json_dumps`` instead, as is anything orjson
    refuses (non-string keys, integers beyond 64 bits, a subclass or type ``default`` does not know).
    Floats are written differently (``1e-05``, NaN) and so are not allowed: the callers' data has none (no
    float column anywhere in the schema; money is Decimal); nothing checks this, so use it only for such data.
    Values ``json_dumps`` refuses (a plain ``Enum``, a ``UUID``) may be written rather than refused.
    tests/unit/test_json_dumps_large.py holds the two equal."""
    try:
        out = orjson.dumps(o, default=_json_default, option=_ORJSON_OPTIONS)
    except TypeError:
        return json_dumps(o)
    if not out.isascii() or b"\x7f" in out:
        return json_dumps(o)
    return out.decode("ascii")


def make_engine(url: str, **kw: Any) -> Engine:
    if url.startswith("sqlite"):
        kw.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    else:
        kw.setdefault("pool_pre_ping", True)
    engine = create_engine(url, json_serializer=json_dumps, **kw)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin,
            # so SAVEPOINTs and transactional DDL behave as on PostgreSQL.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            # IMMEDIATE takes the write lock at the start, so concurrent writers wait (busy
            # timeout) instead of failing with SQLITE_BUSY when a read precedes their first write.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None


def configure(url: str | None = None) -> sessionmaker[Session]:
    """Create (or replace) the process-wide engine and session factory."""
    global _engine, _factory
    import triad.models  # noqa: F401 - every mapper registered before the first query
    from triad.config import get_settings

    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url or get_settings().resolved_database_url)
    _factory = sessionmaker(bind=_engine, expire_on_commit=False)
    return _factory


def get_engine() -> Engine:
    if _engine is None:
        configure()
    return _engine  # type: ignore[return-value]


def session_factory() -> sessionmaker[Session]:
    if _factory is None:
        configure()
    return _factory  # type: ignore[return-value]


@contextmanager
def transaction() -> Iterator[Session]:
    """A session whose work is committed once at the end, or rolled back on error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# A bulk import's page cache on SQLite (decision 0037): 64 MiB, against the default 2 MiB.
BULK_CACHE_KIB = 65_536


@contextmanager
def sqlite_cache_at_least(session: Session, kib: int = BULK_CACHE_KIB) -> Iterator[None]:
    """On SQLite, the session's connection keeps up to ``kib`` KiB of database pages in its cache while the
    block runs, then its own setting again (which frees the pages above it). A bulk write inserts into
    several indexes at random places; with the default 2 MiB cache the same index pages are read back and
    dirty ones spilled to the WAL over and over (decision 0037: a 100,000-vendor import's 50,000-row vendor
    insert took 0.83-1.03 s with it, 0.49-0.59 s with 64 MiB). Other databases: nothing to do. A cache
    already at least as large is left alone. Begins the session's transaction if none is open."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    before = raw.execute("PRAGMA cache_size").fetchone()[0]
    # a positive setting counts pages, a negative one KiB
    current = -before if before < 0 else before * raw.execute("PRAGMA page_size").fetchone()[0] // 1024
    if current >= kib:
        yield
        return
    raw.execute(f"PRAGMA cache_size=-{int(kib)}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size={int(before)}")
