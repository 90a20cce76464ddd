"""The database's own share of the AP cycle (decision 0030): the bare writes of an export and of an import
of N invoices, with no checking, no file and no audit, timed next to the benchmark's floors (csv.writer over
the export's 3N rows, csv.reader over the N-row feed). Each step runs in its own transaction on a freshly
seeded database (benchmarks/ap.py's seed) and is rolled back, except the export's, which the import needs:

- export: ``UPDATE invoice SET state = 'sent_to_ap'`` of the N invoices (one statement), N state-history
  rows and N batch items (COPY on PostgreSQL, executemany on SQLite, ``triad.ap.bulk.insert_rows``);
- import: N payment rows and N state-history rows the same way, and ``UPDATE invoice SET state = 'paid'``.

Also the least any importer could do (decision 0033): read the feed with ``csv.reader`` and store each row's
six cells, as text, into a scratch table, committed — once into a table without an index
(``minimal_import``), once with the one unique index that makes an entry apply only once
(``minimal_import_unique``), best of three each. No checks, no invoice update, no history. Their ratios
to the read floor say whether an import of payment confirmations can be within 5x of reading them at all.

Prints one JSON line: seconds per step and the ratio of each side's total to its floor. Not a target:
what no code above the database can go below. ``--n N`` (default 20,000), ``--db sqlite|postgresql``.
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
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ap import floor_read, floor_write, fresh_db, seed  # noqa: E402

from triad.core.migrate import upgrade  # noqa: E402


def run(kind: str, n: int, tmp: Path) -> dict:
    from triad.ap import bulk
    from triad.ap.models import ApBatch, ApBatchItem, ApRoute, Payment, SyncRun
    from triad.files.models import StoredFile
    from triad.invoices.models import Invoice, InvoiceStateChange

    engine, drop = fresh_db(kind, tmp)
    out: dict = {}
    try:
        upgrade(engine)
        seed(engine, n)
        now = dt.datetime.now(dt.UTC)
        with Session(engine) as s:
            ids = list(s.scalars(sa.select(Invoice.id).order_by(Invoice.id)))
            route = s.scalar(sa.select(ApRoute.id).where(ApRoute.name == "bench"))
            f = StoredFile(sha256="0" * 64, kind="ap_export", filename="f.csv", size=1, content=b"x",
                           detected_format="csv", media_type="text/csv")
            s.add(f)
            s.flush()
            b = ApBatch(route_id=route, format="csv", file_id=f.id, sha256="0" * 64, invoice_count=n, totals={},
                        created_by="floor")
            run_ = SyncRun(kind="ap_import", status="applied", actor="floor")
            s.add_all([b, run_])
            s.commit()
            batch_id, run_id = b.id, run_.id
        inv = Invoice.__table__
        rows = {  # built before the clock starts: only the database's work is timed
            "export_history": [(i, "approved", "sent_to_ap", "floor", None, "AP batch TRIAD-B0000001", now)
                               for i in ids],
            "export_items": [(batch_id, i, f"TRIAD-{i}-1", Decimal("1000.00"), "USD") for i in ids],
            "import_payments": [(i, dt.date(2026, 11, 2), Decimal("1000.00"), "USD", None, f"PAY-{i}", "paid",
                                 f"csv:id{i}:PAY-{i}:paid", run_id, k + 2, now, now) for k, i in enumerate(ids)],
            "import_history": [(i, "sent_to_ap", "paid", "floor", None, f"paid 1000.00 USD (PAY-{i})", now)
                               for i in ids]}
        steps = {
            "export_update": lambda s: s.execute(sa.update(inv).where(bulk.among(s.connection(), inv.c.id, ids)).values(
                state="sent_to_ap", updated_at=now)),
            "export_history": lambda s: bulk.insert_rows(s, InvoiceStateChange.__table__, (
                "invoice_id", "from_state", "to_state", "actor", "actor_id", "reason", "at"), rows["export_history"]),
            "export_items": lambda s: bulk.insert_rows(s, ApBatchItem.__table__, (
                "batch_id", "invoice_id", "idempotency_key", "amount", "currency"), rows["export_items"]),
            "import_payments": lambda s: bulk.insert_rows(s, Payment.__table__, (
                "invoice_id", "paid_on", "amount", "currency", "fx_rate", "reference", "status", "entry_ref",
                "run_id", "source_line", "created_at", "updated_at"), rows["import_payments"]),
            "import_history": lambda s: bulk.insert_rows(s, InvoiceStateChange.__table__, (
                "invoice_id", "from_state", "to_state", "actor", "actor_id", "reason", "at"), rows["import_history"]),
            "import_update": lambda s: s.execute(sa.update(inv).where(bulk.among(s.connection(), inv.c.id, ids)).values(
                state="paid", updated_at=now)),
        }
        # the export's writes are kept (committed) so the import's run against sent invoices
        for side in ("export", "import"):
            with Session(engine) as s:
                s.connection()
                total = 0.0
                for name, step in steps.items():
                    if not name.startswith(side):
                        continue
                    t = time.perf_counter()
                    step(s)
                    s.flush()
                    out[name + "_s"] = round(time.perf_counter() - t, 4)
                    total += out[name + "_s"]
                t = time.perf_counter()
                if side == "export":
                    s.commit()
                else:
                    s.rollback()
                out[side + "_commit_s"] = round(time.perf_counter() - t, 4)
                out[side + "_s"] = round(total + (out[side + "_commit_s"] if side == "export" else 0), 4)
        # the floors, on rows and bytes like the benchmark's (best of three)
        content = ("\r\n".join(",".join(["TRIAD-B0000001", f"TRIAD-{i}-1", str(i), f"B-{i}", "2026-10-01", "1",
                                         "Vendor", "Firm", "BU", "USD", "1000.00", str(k), "M-1", "CC1", "6000",
                                         "333.33"]) for i in ids for k in (1, 2, 3)) + "\r\n").encode()
        feed = ("invoice_id,payment_date,amount,currency,payment_reference,status\n" + "".join(
            f"{i},2026-11-02,1000.00,USD,PAY-{i},paid\n" for i in ids)).encode()
        write_s = min(floor_write(b"h\r\n" + content)[0] for _ in range(3))
        read_s = min(floor_read(feed) for _ in range(3))
        out |= {"floor_write_s": round(write_s, 4), "floor_read_s": round(read_s, 4),
                "export_db_ratio": round(out["export_s"] / write_s, 1),
                "import_db_ratio": round(out["import_s"] / read_s, 1)}
        for name, unique in (("minimal_import", False), ("minimal_import_unique", True)):
            # best of three, each into a new table, as the floors are
            took = min(minimal_import(engine, feed, f"{name}_{k}", unique) for k in range(3))
            out[name + "_s"] = round(took, 4)
            out[name + "_ratio"] = round(took / read_s, 1)
        return out
    finally:
        engine.dispose()
        if drop:
            drop()


def minimal_import(engine: sa.Engine, feed: bytes, name: str, unique: bool) -> float:
    """Seconds to read ``feed`` with csv.reader and store its rows' cells as text in a new table ``name``
    (with a unique index on the payment reference when ``unique``), committed: the least an import can do."""
    from triad.ap import bulk

    cols = ["invoice_id", "payment_date", "amount", "currency", "payment_reference", "status"]
    table = sa.Table(name, sa.MetaData(), *[sa.Column(c, sa.Text) for c in cols])
    if unique:
        sa.Index(f"ux_{name}_reference", table.c.payment_reference, unique=True)
    table.create(engine)
    with Session(engine) as s:
        s.connection()
        t = time.perf_counter()
        reader = csv.reader(io.StringIO(feed.decode("utf-8"), newline=""))
        next(reader)
        bulk.insert_rows(s, table, cols, reader)
        s.commit()
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), action="append")
    args = ap.parse_args()
    out: dict = {"scenario": "ap_db_floor", "invoices": args.n, "load": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.db or ("sqlite", "postgresql"):
            out[kind] = run(kind, args.n, Path(tmp))
            print(f"{kind}: {out[kind]}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
