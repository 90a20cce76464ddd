"""Benchmark: procurement vendor import and duplicate detection.

Imports a procurement file of N vendors (default 100,000; --quick: 2,000) into a SQLite database (or, with
``--db postgresql``, a scratch PostgreSQL database created and dropped by the run) that already holds N
vendors: half the rows update existing vendors (new address), the rest are new; a few percent carry a
legal-owned status (conflicts) and a few percent are likely duplicates (similar name or an existing bank
account). Measured in the same run: a bare read of the CSV (the floor), and duplicate
detection alone on 10,000 and on N names (it must not grow quadratically).
Also counted: how many of the seeded likely duplicates the import flagged, and whether the sorted
neighbourhood finds the same pairs as comparing every pair on 2,000 names.
Prints the figures, last, as one JSON line: vendors_per_s, dedupe_s_10k, dedupe_s_100k, ratio_to_floor.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.orm import Session, configure_mappers  # noqa: E402

from triad.audit.service import Actor  # noqa: E402
from triad.core.db import make_engine, utcnow  # noqa: E402
from triad.core.migrate import upgrade  # noqa: E402
from triad.vendors import dedupe, sync  # noqa: E402
from triad.vendors.models import Vendor, VendorBankAccount, VendorTaxId  # noqa: E402
from triad.vendors.validation import name_key  # noqa: E402

WORDS = ["Apex", "Birch", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Indigo", "Juniper", "Kestrel",
         "Lumen", "Meridian", "Nimbus", "Onyx", "Pioneer", "Quartz", "Raven", "Summit", "Tidal", "Umber", "Vertex",
         "Willow", "Xenon", "Yarrow", "Zephyr"]
KINDS = ["Consulting", "Advisory", "Legal Services", "Logistics", "Data", "Partners", "Holdings", "Research"]
FORMS = ["Ltd", "LLC", "Inc", "LLP", "GmbH", "Limited"]


def code(i: int) -> str:
    """Eight letters that tell vendor i apart: two vendors' codes share few letters, so (unlike numbers
    such as 12 and 123) they do not make every pair of similar-looking vendors a likely duplicate."""
    r = random.Random(i * 7919)
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8)).capitalize()


def vendor_name(i: int, code_of: str | None = None) -> str:
    r = random.Random(i)
    return f"{r.choice(WORDS)} {r.choice(WORDS)} {r.choice(KINDS)} {code_of or code(i)} {r.choice(FORMS)}"


def near_copy(i: int) -> str:
    """Vendor i's name with one letter of its code changed: a likely duplicate."""
    c = code(i)
    return vendor_name(i, c[:-1] + ("a" if c[-1] != "a" else "b"))


def ein(i: int) -> str:
    return f"13-{i:07d}"


def seed(engine, n: int) -> None:
    """N existing draft vendors, each with an EIN and a US bank account (direct inserts: setup, not measured)."""
    now = utcnow()
    with Session(engine) as s:
        for k in range(0, n, 5000):
            ids = range(k + 1, min(n, k + 5000) + 1)
            s.execute(insert(Vendor.__table__), [
                {"id": i, "legal_name": vendor_name(i), "name_key": name_key(vendor_name(i)), "other_names": [],
                 "country": "US", "status": "draft", "risk_tier": "medium", "screening_status": "not_screened",
                 "onboarding_pathway": "procurement", "legal_review": "none", "created_at": now, "updated_at": now}
                for i in ids])
            s.execute(insert(VendorTaxId.__table__), [
                {"vendor_id": i, "scheme": "us_ein", "value": ein(i), "country": "US"} for i in ids])
            s.execute(insert(VendorBankAccount.__table__), [
                {"vendor_id": i, "holder_name": vendor_name(i), "routing_number": "021000021",
                 "account_number": f"{i:09d}", "account_key": f"021000021:{i:09d}", "currency": "USD",
                 "is_primary": True} for i in ids])
        if s.get_bind().dialect.name == "postgresql":  # explicit ids above: move the sequence past them
            s.execute(text("SELECT setval(pg_get_serial_sequence('vendor', 'id'), :n)"), {"n": n})
        s.commit()


def procurement_file(n: int, seeded: list | None = None) -> bytes:
    """Half updates of existing vendors, half new; ~3% conflicts (status), ~3% likely duplicates.

    ``seeded`` receives (file line, existing vendor id, reason) for every likely duplicate put in."""
    buf = io.StringIO()
    cols = ["legal_name", "country", "tax_scheme", "tax_id", "routing_number", "account_number", "bank_currency",
            "address_line1", "address_city", "address_country", "status"]
    w = csv.writer(buf)
    w.writerow(cols)
    rng = random.Random(7)
    for k in range(n):
        if k % 2 == 0:  # update: an existing vendor, a new remit-to address
            i = k // 2 + 1
            row = [vendor_name(i), "US", "us_ein", ein(i), "021000021", f"{i:09d}", "USD", f"{k} Main St",
                   "Springfield", "US", "active" if k % 33 == 0 else ""]
        else:  # new vendor
            i = n + k
            name = vendor_name(i)
            account = f"{i:09d}"
            if k % 31 == 1:
                x = rng.randint(1, n)
                name = near_copy(x)  # one character from an existing name
                if seeded is not None:
                    seeded.append((k + 2, x, "similar_name"))
            if k % 37 == 1:
                x = rng.randint(1, n)
                account = f"{x:09d}"  # an existing vendor's account
                if seeded is not None:
                    seeded.append((k + 2, x, "same_bank_account"))
            row = [name, "US", "us_ein", ein(i), "021000021", account, "USD", f"{k} High St", "Portland", "US", ""]
        w.writerow(row)
    return buf.getvalue().encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="2,000 vendors (under 30 s)")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite",
                    help="database of the run (the target figure is SQLite's)")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                    help="server for --db postgresql: a scratch database is created there and dropped after")
    args = ap.parse_args()
    n = args.n or (2_000 if args.quick else 100_000)
    if args.db == "postgresql":
        scratch = f"triad_vendors_bench_{os.getpid()}"
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{scratch}"'))
        try:
            run(args, n, make_engine(args.pg_url.rsplit("/", 1)[0] + "/" + scratch))
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        return
    tmp = Path(tempfile.mkdtemp())
    run(args, n, make_engine(f"sqlite:///{tmp / 'bench.db'}"))


def run(args: argparse.Namespace, n: int, engine) -> None:
    upgrade(engine)
    seed(engine, n)
    seeded: list[tuple[int, int, str]] = []
    data = procurement_file(n, seeded)

    t0 = time.perf_counter()
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    floor = time.perf_counter() - t0
    assert len(rows) == n

    configure_mappers()  # once per process (a running server has done it at startup): not the import's cost
    t0, c0 = time.perf_counter(), time.process_time()
    with Session(engine) as s:
        report = sync.import_vendors(session=s, data=data, filename="procurement.csv", source="procurement",
                                     actor=Actor("bench"))
        s.commit()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert report.ok, report.errors[:5]
    # recall on the seeded duplicates: each new row's vendor flagged with the existing vendor it copies
    ids = {o.line: o.vendor_id for o in report.outcomes}
    flagged = {(d["vendor_id"], d["other_vendor_id"], d["reason"]) for d in report.duplicates}
    flagged |= {(b, a, r) for a, b, r in flagged}
    seeded_found = sum((ids[line], x, reason) in flagged for line, x, reason in seeded)

    def dedupe_time(count: int) -> float:
        """All pairs among ``count`` names, every 31st a near copy of an earlier one (and 50 shared accounts)."""
        keys = [name_key(near_copy(i // 2) if i % 31 == 1 else vendor_name(i)) for i in range(1, count + 1)]
        took = []
        for _ in range(2):  # best of two, each after a full collection (the import's garbage is not its cost)
            gc.collect()
            t = time.perf_counter()
            pairs = dedupe.similar_names(keys)
            dedupe.same_accounts([f"{i % (count - 50)}" for i in range(count)])
            took.append(time.perf_counter() - t)
            assert len(pairs) >= count // 31 - 1, len(pairs)  # the near copies are found
        return min(took)

    d10 = dedupe_time(10_000)
    d100 = dedupe_time(100_000 if not args.quick else 20_000)
    # the sorted neighbourhood against every pair, on 2,000 names (exhaustive is quadratic: small only)
    keys = [name_key(vendor_name(i)) for i in range(1, 2001)]
    keys += [name_key(near_copy(i)) for i in range(1, 2001, 7)]
    same = dedupe.similar_names(keys).keys() == dedupe.similar_names_exhaustive(keys).keys()
    engine.dispose()
    out = {"scenario": "vendors_import", "db": args.db, "vendors": n, "existing": n, "created": report.created,
           "updated": report.updated, "conflicts": report.conflicts, "duplicates_flagged": report.duplicates_flagged,
           "import_s": round(elapsed, 2), "import_cpu_s": round(cpu, 2), "floor_s": round(floor, 3),
           "vendors_per_s": round(n / elapsed),
           "dedupe_s_10k": round(d10, 3), "dedupe_s_100k": round(d100, 3),
           "dedupe_growth_10x": round(d100 / d10, 1) if d10 else None,
           # time per name at the larger size over time per name at 10,000: ~1 linear, ~10 quadratic (n log n ~1.25)
           "dedupe_per_name_growth": round((d100 / (20_000 if args.quick else 100_000)) / (d10 / 10_000), 2)
           if d10 else None,
           "seeded_duplicates": len(seeded), "seeded_duplicates_flagged": seeded_found,
           "dedupe_same_pairs_as_exhaustive_2k": same, "ratio_to_floor": round(elapsed / floor, 1)}
    if args.quick:
        out["dedupe_s_100k_note"] = "quick run: measured on 20,000 names"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
