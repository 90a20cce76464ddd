"""Benchmark: importing LEDES invoices into the database (SQLite and PostgreSQL).

10,000 invoices / 500,000 lines (--quick: 1,000 / 50,000) of seeded 1998B go through
`triad.invoices.intake.import_file` (validation, resolution, storage, audit) into a freshly
migrated database. In the same run, the baseline is a bare bulk insert of the same invoice and
line rows (prepared beforehand, not timed) into another fresh database of the same kind.
Prints lines per second and the ratio to the baseline per backend, last, as one JSON line.
Target (issue 3): <= 3x the bare bulk insert.
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from triad.audit.service import Actor  # noqa: E402
from triad.core.db import make_engine  # noqa: E402
from triad.core.migrate import upgrade  # noqa: E402

PG = os.environ.get("TRIAD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
FIRM_ID = "13-4924710"


def fresh_db(kind: str, tmp: Path):
    if kind == "sqlite":
        url = f"sqlite:///{tmp / (uuid.uuid4().hex + '.db')}"
        drop = None
    else:
        name = f"triad_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(PG).set(database=name).render_as_string(hide_password=False)

        def drop():
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    engine = make_engine(url)
    upgrade(engine)
    return engine, drop


def seed(engine) -> dict:
    """The firm, its timekeepers and the 40 matters the sample file refers to."""
    from triad.core import crud
    from triad.firms.models import LawFirm, Timekeeper
    from triad.firms.schemas import LawFirmCreate, TimekeeperCreate
    from triad.ledes.sample import _PEOPLE
    from triad.matters.models import Engagement, Matter
    from triad.matters.schemas import EngagementCreate, MatterCreate
    from triad.org.models import BusinessUnit, CostCenter
    from triad.org.schemas import BusinessUnitCreate, CostCenterCreate
    from triad.vendors.schemas import VendorCreate
    from triad.vendors.service import create_vendor

    actor = Actor("bench")
    with Session(engine) as s:
        bu = crud.create(session=s, model=BusinessUnit, data=BusinessUnitCreate(code="B", name="B"), actor=actor)
        cc = crud.create(session=s, model=CostCenter, data=CostCenterCreate(code="C", name="C", business_unit_id=bu.id),
                         actor=actor)
        v = create_vendor(session=s, data=VendorCreate(legal_name="Hargrove", country="US"), actor=actor)
        f = crud.create(session=s, model=LawFirm, actor=actor, data=LawFirmCreate(
            vendor_id=v.id, name="Hargrove", ledes_firm_id=FIRM_ID, default_currency="USD"))
        for i, (last, first, cls, _rate) in enumerate(_PEOPLE):
            crud.create(session=s, model=Timekeeper, actor=actor, data=TimekeeperCreate(
                firm_id=f.id, tk_id=f"TK{i:03d}", last_name=last, first_name=first, classification=cls))
        matters = {}
        for n in range(1, 41):
            m = crud.create(session=s, model=Matter, actor=actor, data=MatterCreate(
                number=f"M-2026-{n:04d}", name=f"Matter {n}", matter_type="litigation", business_unit_id=bu.id,
                cost_center_id=cc.id, opened_on=dt.date(2025, 1, 1)))
            crud.create(session=s, model=Engagement, actor=actor, data=EngagementCreate(
                firm_id=f.id, matter_id=m.id, currency="USD", starts_on=dt.date(2025, 1, 1)))
            matters[m.number] = m.id
        tks = {t.tk_id: t.id for t in s.scalars(sa.select(Timekeeper))}
        s.commit()
        return {"firm_id": f.id, "vendor_id": v.id, "matters": matters, "timekeepers": tks}


def bare_rows(data: bytes, ids: dict) -> tuple[list[dict], list[list[dict]]]:
    from triad.ledes import parse

    invoices, _ = parse(data)
    inv_rows, line_rows = [], []
    for inv in invoices:
        inv_rows.append({"firm_id": ids["firm_id"], "vendor_id": ids["vendor_id"], "invoice_number": inv.invoice_number,
                         "invoice_date": inv.invoice_date, "billing_start": inv.billing_start,
                         "billing_end": inv.billing_end, "currency": "USD", "total_amount": inv.total,
                         "state": "submitted", "description": inv.description,
                         "created_at": dt.datetime.now(dt.UTC), "updated_at": dt.datetime.now(dt.UTC)})
        line_rows.append([{"matter_id": ids["matters"][ln.client_matter_id], "line_no": int(ln.line_no),
                           "line_type": ln.line_type, "work_date": ln.date,
                           "timekeeper_id": ids["timekeepers"].get(ln.timekeeper_id or ""),
                           "task_code": ln.task_code, "activity_code": ln.activity_code,
                           "expense_code": ln.expense_code, "units": ln.units, "unit_cost": ln.unit_cost,
                           "adjustment": ln.adjustment or Decimal(0), "total": ln.total,
                           "description": ln.description, "source_line": ln.source_line} for ln in inv.lines])
    return inv_rows, line_rows


def bare_insert(engine, inv_rows, line_rows) -> float:
    from triad.invoices.models import Invoice, InvoiceLine

    t = time.perf_counter()
    with Session(engine) as s:
        ids = s.scalars(sa.insert(Invoice).returning(Invoice.id, sort_by_parameter_order=True), inv_rows).all()
        flat = [dict(row, invoice_id=i) for i, rows in zip(ids, line_rows, strict=True) for row in rows]
        for k in range(0, len(flat), 5000):
            s.execute(sa.insert(InvoiceLine.__table__), flat[k:k + 5000])
        s.commit()
    return time.perf_counter() - t


def triad_import(engine, data: bytes) -> float:
    from triad.invoices.intake import import_file

    t = time.perf_counter()
    with Session(engine) as s:
        result = import_file(session=s, data=data, filename="bench.ledes", actor=Actor("bench"))
        s.commit()
    elapsed = time.perf_counter() - t
    if not result.ok or any(o.status != "stored" for o in result.invoices):
        raise SystemExit(f"import refused something: {[o.errors for o in result.invoices if o.errors][:3]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    from triad.ledes.sample import generate_1998b

    invoices = 1_000 if args.quick else 10_000
    data = generate_1998b(invoices=invoices, lines_per_invoice=50, seed=77, law_firm_id=FIRM_ID)
    lines = data.count(b"\n") - 2
    out = {"scenario": "ledes_import", "invoices": invoices, "lines": lines}
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in backends:
            try:
                e1, drop1 = fresh_db(kind, Path(tmp))
            except sa.exc.OperationalError as exc:
                print(f"{kind}: not reachable ({exc.__class__.__name__}); skipped")
                continue
            seed(e1)
            triad_s = triad_import(e1, data)
            e2, drop2 = fresh_db(kind, Path(tmp))
            ids2 = seed(e2)
            inv_rows, line_rows = bare_rows(data, ids2)
            bare_s = bare_insert(e2, inv_rows, line_rows)
            for e, d in ((e1, drop1), (e2, drop2)):
                e.dispose()
                if d:
                    d()
            out[f"{kind}_lines_per_s"] = int(lines / triad_s)
            out[f"{kind}_ratio_to_bulk_insert"] = round(triad_s / bare_s, 2)
            print(f"{kind}: import {triad_s:.2f} s ({lines / triad_s:,.0f} lines/s); bare bulk insert {bare_s:.2f} s")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
