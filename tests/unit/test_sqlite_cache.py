"""``core.db.sqlite_cache_at_least``: a bulk import's larger page cache, and the connection's own setting after."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from triad.core.db import make_engine, sqlite_cache_at_least


@pytest.fixture()
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with Session(engine) as s:
        yield s
    engine.dispose()


def cache(s: Session) -> int:
    return s.execute(text("PRAGMA cache_size")).scalar()


def test_the_cache_is_raised_while_the_block_runs_then_restored(session):
    before = cache(session)
    assert before == -2000  # SQLite's default: 2,000 KiB
    with sqlite_cache_at_least(session, 65_536):
        assert cache(session) == -65_536
    assert cache(session) == before


def test_restored_after_an_error(session):
    with pytest.raises(RuntimeError), sqlite_cache_at_least(session, 65_536):
        raise RuntimeError("boom")
    assert cache(session) == -2000


@pytest.mark.parametrize("setting", [-131_072, 40_000])  # KiB, or pages (40,000 x 4 KiB = 160,000 KiB)
def test_a_cache_already_as_large_is_left_alone(session, setting):
    session.execute(text(f"PRAGMA cache_size={setting}"))
    with sqlite_cache_at_least(session, 65_536):
        assert cache(session) == setting
    assert cache(session) == setting


def test_a_smaller_page_count_is_raised_and_restored(session):
    session.execute(text("PRAGMA cache_size=100"))  # pages
    with sqlite_cache_at_least(session, 65_536):
        assert cache(session) == -65_536
    assert cache(session) == 100
