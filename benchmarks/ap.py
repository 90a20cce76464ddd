"""Benchmark: the AP file cycle (SQLite and PostgreSQL).

Exports N approved invoices with 3 allocations each (one CSV batch, multi-row layout) through
`triad.ap.service.export`, then imports N payment confirmations (CSV reverse feed) through
`triad.ap.service.import_payments`, into a freshly migrated database per backend. In the same run the
floor is the standard library's csv module writing the very rows of the export file (one per allocation in
the multi-row layout: 3N) and reading the very feed bytes the import reads (decision 0027). Prints invoices
per second, wall and CPU seconds (of this process; PostgreSQL's own CPU is not in it), and the ratio to the
floor (the larger of the two), last, as one JSON line. N = 100,000 (--quick: 2,000; --n N).
Target (issue 5): export <= 5x and import <= 5x the floor.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from triad.audit.service import Actor  # noqa: E402
from triad.core.db import make_engine  # noqa: E402
from triad.core.migrate import upgrade  # noqa: E402

PG = os.environ.get("TRIAD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def fresh_db(kind: str, tmp: Path):
    if kind == "sqlite":
        return make_engine(f"sqlite:///{tmp / (uuid.uuid4().hex + '.db')}"), None
    name = f"triad_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return make_engine(sa.make_url(PG).set(database=name).render_as_string(hide_password=False)), drop


def seed(engine, n: int) -> None:
    """N approved invoices (one line, three allocations each), inserted in bulk (not timed)."""
    from tests.factories import world as factories

    from triad.ap.models import ApRoute
    from triad.invoices.models import Invoice, InvoiceAllocation, InvoiceLine

    with Session(engine) as s:
        w = factories.world(s)
        ccs = [w.cc, factories.cost_center(s, w.bu), factories.cost_center(s, w.bu)]
        s.add(ApRoute(name="bench", ap_system="bench", priority=1, csv_layout="multi"))
        s.commit()
        conn = s.connection()
        for start in range(0, n, 5000):
            rows = [{"firm_id": w.a.firm.id, "vendor_id": w.a.firm.vendor_id, "invoice_number": f"B-{i}",
                     "invoice_date": dt.date(2026, 10, 1), "billing_start": dt.date(2026, 9, 1),
                     "billing_end": dt.date(2026, 9, 30), "currency": "USD", "total_amount": Decimal("1000.00"),
                     "state": "approved", "created_at": dt.datetime.now(dt.UTC), "updated_at": dt.datetime.now(dt.UTC)}
                    for i in range(start, min(n, start + 5000))]
            ids = [r[0] for r in conn.execute(sa.insert(Invoice.__table__).returning(Invoice.__table__.c.id), rows)]
            conn.execute(sa.insert(InvoiceLine.__table__), [
                {"invoice_id": i, "matter_id": w.a.matter.id, "line_no": 1, "line_type": "F",
                 "work_date": dt.date(2026, 9, 3), "timekeeper_id": w.a.timekeeper.id, "units": Decimal("2"),
                 "unit_cost": Decimal("500.00"), "adjustment": Decimal(0), "total": Decimal("1000.00")} for i in ids])
            conn.execute(sa.insert(InvoiceAllocation.__table__), [
                {"invoice_id": i, "matter_id": w.a.matter.id, "cost_center_id": cc.id, "gl_account_id": w.gl.id,
                 "amount": amt, "currency": "USD"}
                for i in ids for cc, amt in zip(ccs, (Decimal("333.34"), Decimal("333.33"), Decimal("333.33")),
                                                strict=True)])
        s.commit()


def floor_write(content: bytes) -> tuple[float, int]:
    """The export's floor: csv.writer writing the very rows of the export file (same count, same cells),
    after they are parsed back (not timed). Returns (seconds, data rows)."""
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    t = time.perf_counter()
    out = io.StringIO()
    wr = csv.writer(out, lineterminator="\r\n")
    wr.writerows(rows)
    out.getvalue().encode("utf-8")
    return time.perf_counter() - t, len(rows) - 1


def floor_read(data: bytes) -> float:
    """The import's floor: csv.reader over the very feed bytes the import reads."""
    t = time.perf_counter()
    for _ in csv.reader(io.StringIO(data.decode("utf-8"), newline="")):
        pass
    return time.perf_counter() - t


def run(kind: str, n: int, tmp: Path) -> dict:
    from triad.ap.service import export, import_payments

    engine, drop = fresh_db(kind, tmp)
    try:
        upgrade(engine)
        seed(engine, n)
        with Session(engine) as s:
            t, c = time.perf_counter(), time.process_time()
            res = export(session=s, route_name="bench", fmt="csv", actor=Actor("bench"))
            s.commit()
            export_s, export_cpu = time.perf_counter() - t, time.process_time() - c
        assert len(res.invoices) == n, len(res.invoices)
        feed = ("invoice_id,payment_date,amount,currency,payment_reference,status\n" + "".join(
            f"{i['invoice_id']},2026-11-02,1000.00,USD,PAY-{i['invoice_id']},paid\n" for i in res.invoices)).encode()
        with Session(engine) as s:
            t, c = time.perf_counter(), time.process_time()
            imp = import_payments(session=s, data=feed, filename="bench.csv", actor=Actor("bench"))
            s.commit()
            import_s, import_cpu = time.perf_counter() - t, time.process_time() - c
        assert imp.status == "applied" and len(imp.applied) == n, (imp.status, imp.errors[:3])
        # the floor, measured right after, on the same rows and bytes (best of three)
        write_s, export_rows = min(floor_write(res.content) for _ in range(3))
        read_s = min(floor_read(feed) for _ in range(3))
        return {"export_s": round(export_s, 3), "import_s": round(import_s, 3),
                "export_cpu_s": round(export_cpu, 3), "import_cpu_s": round(import_cpu, 3),
                "export_rows": export_rows, "floor_write_s": round(write_s, 4), "floor_read_s": round(read_s, 4),
                "export_ratio": round(export_s / write_s, 1), "import_ratio": round(import_s / read_s, 1)}
    finally:
        engine.dispose()
        if drop:
            drop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="2,000 invoices instead of 100,000")
    ap.add_argument("--n", type=int, help="this many invoices (overrides --quick)")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), action="append", help="only this backend")
    args = ap.parse_args()
    n = args.n or (2_000 if args.quick else 100_000)
    out: dict = {"scenario": "ap", "invoices": n, "load": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.db or ("sqlite", "postgresql"):
            try:
                r = run(kind, n, Path(tmp))
            except sa.exc.OperationalError as exc:
                print(f"{kind}: skipped ({exc.__class__.__name__})", file=sys.stderr)
                continue
            r |= {"export_per_s": round(n / r["export_s"]), "import_per_s": round(n / r["import_s"]),
                  "ratio_to_floor": max(r["export_ratio"], r["import_ratio"])}
            print(f"{kind}: {r}", file=sys.stderr)
            out[kind] = r
    first = out.get("sqlite") or out.get("postgresql") or {}
    out |= {k: first.get(k) for k in ("export_per_s", "import_per_s", "export_rows")}
    out["ratio_to_floor"] = max((out[k]["ratio_to_floor"] for k in ("sqlite", "postgresql") if k in out), default=None)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
