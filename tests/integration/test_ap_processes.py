"""Real processes against a real database (SQLite file, or a fresh PostgreSQL database when the suite
runs on PostgreSQL): an import killed with SIGKILL at random moments is applied fully or not at all and
completes exactly once when re-run; two processes importing the same file at once make one payment each."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.factories import world as factories
from triad.ap.models import ImportedPaymentFile, Payment
from triad.core.db import make_engine
from triad.core.migrate import upgrade

TRIAD = str(Path(sys.executable).with_name("triad"))
N = 300  # invoices paid by each file


@pytest.fixture
def real_db(tmp_path):
    """A migrated database of its own that separate processes can use."""
    if os.environ.get("TRIAD_TEST_DB", "sqlite") == "postgres":
        admin_url = os.environ.get("TRIAD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        name = f"triad_proc_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    else:
        admin, url = None, f"sqlite:///{tmp_path / 'proc.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s:
        w = factories.world(s)
        ids = []
        for _ in range(N):
            inv = factories.invoice(s, w.a.firm, w.a.matter, w.a.timekeeper, w.cc, w.gl, "work")
            inv.state = "sent_to_ap"
            ids.append(inv.id)
        s.commit()
    yield url, engine, ids
    engine.dispose()
    if admin is not None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _feed(path: Path, ids: list[int], tag: str) -> Path:
    rows = "".join(f"{i},2026-11-02,900.00,USD,PAY-{tag}-{i},paid\n" for i in ids)
    path.write_text("invoice_id,payment_date,amount,currency,payment_reference,status\n" + rows)
    return path


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "TRIAD_DATABASE_URL": url}


def _applied(engine, tag: str) -> int:
    with engine.connect() as c:
        return c.scalar(sa.select(sa.func.count(Payment.id)).where(Payment.reference.like(f"PAY-{tag}-%")))


def test_sigkill_mid_import_leaves_all_or_nothing_and_rerun_completes_once(real_db, tmp_path):
    url, engine, ids = real_db
    rng = random.Random(7)
    t = time.perf_counter()
    dry = subprocess.run([TRIAD, "ap", "import", str(_feed(tmp_path / "dry.csv", ids, "dry")), "--dry-run"],
                         env=_env(url), capture_output=True)
    assert dry.returncode == 0, dry.stderr.decode()[-2000:]
    budget = max(0.5, (time.perf_counter() - t) * 3)  # the real import writes; give it room to be caught
    outcomes = []
    for k in range(20):
        feed = _feed(tmp_path / f"k{k}.csv", ids, f"k{k}")
        proc = subprocess.Popen([TRIAD, "ap", "import", str(feed)], env=_env(url), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, budget))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        got = _applied(engine, f"k{k}")
        assert got in (0, N), f"kill {k}: {got} of {N} payments applied"
        outcomes.append(got)
        rerun = subprocess.run([TRIAD, "ap", "import", str(feed), "--json"], env=_env(url), capture_output=True)
        assert rerun.returncode == 0, rerun.stdout.decode()[-1000:] + rerun.stderr.decode()[-1000:]
        status = json.loads(rerun.stdout)["status"]
        assert status == ("duplicate" if got == N else "applied")
        assert _applied(engine, f"k{k}") == N
    assert 0 in outcomes, "no kill landed before the commit; the test proved nothing"
    with engine.connect() as c:
        assert c.scalar(sa.select(sa.func.count(ImportedPaymentFile.id))) == 20


def test_two_processes_importing_the_same_file_pay_once(real_db, tmp_path):
    url, engine, ids = real_db
    feed = _feed(tmp_path / "same.csv", ids, "same")
    procs = [subprocess.Popen([TRIAD, "ap", "import", str(feed), "--json"], env=_env(url), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate() for p in procs]
    statuses = sorted(json.loads(o)["status"] for o, _ in outs)
    assert statuses == ["applied", "duplicate"], [e.decode()[-500:] for _, e in outs]
    assert _applied(engine, "same") == N
    with engine.connect() as c:
        total = sum(c.scalars(sa.select(Payment.amount).where(Payment.reference.like("PAY-same-%"))), Decimal(0))
    assert total == Decimal("900.00") * N
