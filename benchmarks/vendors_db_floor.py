"""The database work a procurement import cannot avoid, against the same CSV floor as benchmarks/vendors.py.

Same seed (N vendors with an EIN and a bank account) and same file as ``benchmarks/vendors.py``. Measured, on
SQLite with the application's connection settings (foreign keys, WAL, synchronous=NORMAL), in one transaction
through the bare ``sqlite3`` driver, no Python checks: the scans the import reads (tax IDs, names, the matched
vendors' columns, bank accounts, addresses; after the writes, names and accounts again for duplicates) and
the rows it writes (the new vendors, their tax IDs and bank accounts, a remit-to address for every row,
~3% conflicts and duplicate flags), then the commit. The ratio of that time to a bare ``csv.DictReader`` of the
file says how much of issue 6's 10x budget the database alone takes (decision 0031).
Prints one JSON line per round (best of --rounds is the figure): db_s, db_cpu_s, reads_s, writes_s, floor_s,
db_to_floor.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from vendors import procurement_file, seed  # noqa: E402

from triad.core.db import make_engine  # noqa: E402
from triad.core.migrate import upgrade  # noqa: E402

READS = [
    "SELECT vendor_id, value FROM vendor_tax_id",
    "SELECT id, name_key FROM vendor",
    "SELECT id, legal_name, name_key, other_names, country, status, legal_review, screening_status, risk_tier "
    "FROM vendor",
    "SELECT vendor_id, id, holder_name, iban, bic, account_number, routing_number, currency, is_primary, "
    "account_key FROM vendor_bank_account ORDER BY id",
    "SELECT vendor_id, id, kind, line1, line2, city, region, postal_code, country FROM vendor_address ORDER BY id",
]
READS_AFTER = ["SELECT id, name_key FROM vendor WHERE status != 'deactivated'",
               "SELECT vendor_id, account_key FROM vendor_bank_account"]
NOW = "2026-11-26 12:00:00.000000"


def one_round(con: sqlite3.Connection, rows: list[dict], n: int) -> dict:
    con.execute("BEGIN IMMEDIATE")
    t0, c0 = time.perf_counter(), time.process_time()
    read = sum(len(con.execute(q).fetchall()) for q in READS)
    t_reads = time.perf_counter() - t0
    new = rows[1::2]
    con.executemany(
        "INSERT INTO vendor (legal_name, other_names, country, status, risk_tier, screening_status, name_key, "
        "onboarding_pathway, legal_review, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(r["legal_name"], "[]", "US", "draft", "medium", "not_screened", r["legal_name"].lower(), "procurement",
          "none", NOW, NOW) for r in new])
    top = con.execute("SELECT max(id) FROM vendor").fetchone()[0]
    ids = list(range(top - len(new) + 1, top + 1))
    con.executemany("INSERT INTO vendor_tax_id (vendor_id, scheme, value, country, validated_on) VALUES (?,?,?,?,?)",
                    [(i, "us_ein", r["tax_id"], "US", "2026-11-26") for i, r in zip(ids, new, strict=True)])
    con.executemany(
        "INSERT INTO vendor_bank_account (vendor_id, holder_name, iban, bic, account_number, routing_number, "
        "currency, is_primary, account_key) VALUES (?,?,?,?,?,?,?,?,?)",
        [(i, r["legal_name"], None, None, r["account_number"], "021000021", "USD", 1,
          "021000021:" + r["account_number"]) for i, r in zip(ids, new, strict=True)])
    updated = list(range(1, len(rows[0::2]) + 1))
    con.executemany("INSERT INTO vendor_address (vendor_id, kind, line1, city, country) VALUES (?,?,?,?,?)",
                    [(i, "remit_to", r["address_line1"], r["address_city"], "US")
                     for i, r in zip(ids + updated, new + rows[0::2], strict=True)])
    con.executemany("INSERT INTO vendor_conflict (vendor_id, field, source, owner, in_triad, incoming, filename, "
                    "line, status, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [(i, "status", "procurement", "legal", "draft", "active", "p.csv", 2 * i, "open", NOW)
                     for i in updated[::33]])
    con.executemany("INSERT INTO vendor_duplicate (vendor_id, other_vendor_id, reason, score, status, created_at) "
                    "VALUES (?,?,?,?,?,?)", [(i, i - n, "similar_name", "95.0", "open", NOW) for i in ids[::17]])
    read += sum(len(con.execute(q).fetchall()) for q in READS_AFTER)
    con.execute("COMMIT")
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"db_s": round(took, 3), "db_cpu_s": round(cpu, 3), "reads_s": round(t_reads, 3),
            "writes_s": round(took - t_reads, 3), "rows_read": read}


def undo(con: sqlite3.Connection, n: int) -> None:
    """Back to the seeded state for the next round (not timed)."""
    con.execute("BEGIN IMMEDIATE")
    for stmt in ("DELETE FROM vendor_duplicate", "DELETE FROM vendor_conflict", "DELETE FROM vendor_address",
                 "DELETE FROM vendor_bank_account WHERE vendor_id > ?", "DELETE FROM vendor_tax_id WHERE vendor_id > ?",
                 "DELETE FROM vendor WHERE id > ?"):
        con.execute(stmt, (n,) if "?" in stmt else ())
    con.execute("COMMIT")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    n = args.n
    path = Path(tempfile.mkdtemp()) / "floor.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    seed(engine, n)
    engine.dispose()
    data = procurement_file(n)
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in ("PRAGMA foreign_keys=ON", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"):
        con.execute(pragma)
    for k in range(args.rounds):
        t0 = time.perf_counter()
        list(csv.DictReader(io.StringIO(data.decode())))
        floor = time.perf_counter() - t0
        out = one_round(con, rows, n)
        out |= {"scenario": "vendors_db_floor", "vendors": n, "floor_s": round(floor, 3),
                "db_to_floor": round(out["db_s"] / floor, 1), "load_1min": round(os.getloadavg()[0], 1)}
        print(json.dumps(out), flush=True)
        if k < args.rounds - 1:
            undo(con, n)
    con.close()


if __name__ == "__main__":
    main()
