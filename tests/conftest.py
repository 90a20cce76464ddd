"""Test fixtures. One switch picks the database: TRIAD_TEST_DB=sqlite (default) or postgres.

The schema is built once per run by the real Alembic migrations; each test runs
inside a transaction that is rolled back at the end (services and routes that
"commit" only release a SAVEPOINT).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import settings
from sqlalchemy.orm import Session

from triad.config import get_settings
from triad.core.db import make_engine
from triad.core.migrate import upgrade

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# CI runs the property tests derandomized, so a run is reproducible; locally they explore freely.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def _backend() -> str:
    return os.environ.get("TRIAD_TEST_DB", "sqlite")


def pytest_report_header(config):
    return f"triad test database: {_backend()}"


@pytest.fixture(scope="session", autouse=True)
def _settings(tmp_path_factory):
    var = tmp_path_factory.mktemp("var")
    os.environ["TRIAD_VAR_DIR"] = str(var)
    os.environ.pop("TRIAD_SMTP_URL", None)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory) -> Iterator[str]:
    if _backend() == "postgres":
        admin_url = os.environ.get("TRIAD_TEST_POSTGRES_URL", PG_DEFAULT)
        name = f"triad_test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        yield url
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def engine(db_url):
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine) -> Iterator[sa.Connection]:
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    if outer.is_active:
        outer.rollback()
    conn.close()


def _session(conn: sa.Connection) -> Session:
    return Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def db(connection) -> Iterator[Session]:
    s = _session(connection)
    yield s
    s.close()


@pytest.fixture
def app(connection):
    from triad.app import create_app

    return create_app(session_factory=lambda: _session(connection))


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    # https so that Secure cookies are sent back, as a browser would.
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        yield c


@pytest.fixture(autouse=True)
def _fresh_login_throttles():
    """The in-process throttles are per process; each test starts with none."""
    from triad.auth.service import ip_throttle, unknown_names

    ip_throttle.clear()
    unknown_names.clear()
    yield


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    """A migrated SQLite database of its own for CLI tests (the CLI commits, so it cannot share the
    rolled-back test transaction). Yields (CliRunner, triad.core.db)."""
    from typer.testing import CliRunner

    from triad.cli import app
    from triad.core import db as core_db

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TRIAD_DATABASE_URL", url)
    get_settings.cache_clear()
    core_db.configure(url)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    try:
        yield runner, core_db
    finally:
        get_settings.cache_clear()
