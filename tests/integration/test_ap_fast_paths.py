"""The AP cycle's fast paths (decision 0027) held equal to the precise ones on varied input: the quick
CSV row check against ``_csv_entry``, the CSV writer against a cell-by-cell writer, the audit JSON
written once against ``record`` and against what the import and export did, and the state history
written by INSERT ... SELECT against the invoices it moved."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from tests.integration.test_ap_cycle import _approve, _feed, _route, _split_invoice
from triad.ap import formats
from triad.ap.models import Payment
from triad.ap.service import export, import_payments
from triad.audit.models import AuditEvent
from triad.audit.service import Actor, record, record_json, verify
from triad.core.db import json_dumps
from triad.core.money import minor_units
from triad.invoices.models import Invoice, InvoiceStateChange

ACTOR = Actor("ap-fast-test")
HEADER = ["invoice_id", "invoice_number", "vendor_id", "payment_date", "amount", "currency", "exchange_rate",
          "payment_reference", "status"]


@pytest.fixture
def w(db):
    return factories.world(db)


def _cell(rng: random.Random, field: str) -> str:
    """A value for ``field``: mostly good, often subtly bad (the cases the quick check must hand over)."""
    good = {"invoice_id": [str(rng.randint(1, 10**6)), "", "000123"],
            "invoice_number": ["INV-1", "", "=SUM(A1)", "Ünï-7"],
            "vendor_id": ["", "12", str(rng.randint(1, 99))],
            "payment_date": ["2026-11-02", "2026-02-28", " 2026-11-03 "],
            "amount": ["1000.00", "0.01", "450.5", "999999999999999", " 12.30 ", "7"],
            "currency": ["USD", "usd", " EUR ", "JPY", "BHD"],
            "exchange_rate": ["", "1.0842", "0.5"],
            "payment_reference": ["PAY-1", "ref with spaces", "x" * 100],
            "status": ["paid", "PAID", "rejected", "reversed", " Reversed "]}
    bad = {"invoice_id": ["12a", "1234567890123", "²", "١٢", "-4", "1.0"],
           "invoice_number": [""],
           "vendor_id": ["v1", "1234567890123", "²"],
           "payment_date": ["2026-13-02", "02/11/2026", "", "2026-02-30"],
           "amount": ["-5", "0", "0.00", "1e3", "1,000.00", "1.234", "1.5", "1_000", "", "1234567890123456", "NaN"],
           "currency": ["ZZZ", "US", "", "12X", "€"],
           "exchange_rate": ["NaN", "0", "-1", "abc", "Infinity", "1" * 31, "sNaN"],
           "payment_reference": ["", "x" * 101],
           "status": ["settled", "", "ok"]}
    pool = bad[field] if rng.random() < 0.08 else good[field]
    return rng.choice(pool)


def _mutated_feed(seed: int, rows: int = 400) -> bytes:
    rng = random.Random(seed)
    header = list(HEADER)
    if seed % 3 == 1:
        rng.shuffle(header)
    if seed % 3 == 2:
        header = [h for h in header if h not in ("invoice_number", "vendor_id", "exchange_rate")]
    if seed % 5 == 4:
        header.append("amount")  # a repeated column: the last one counts, as in the row dict
    out = io.StringIO()
    wr = csv.writer(out)
    wr.writerow([h.upper() if rng.random() < 0.2 else h for h in header])
    for _ in range(rows):
        r = rng.random()
        if r < 0.02:
            wr.writerow([" "] * len(header))  # blank
        elif r < 0.04:
            wr.writerow([_cell(rng, "amount")] * (len(header) + rng.choice((-1, 1))))  # wrong width
        else:
            wr.writerow([_cell(rng, h) for h in header])
    return out.getvalue().encode()


@pytest.mark.parametrize("seed", range(10))
def test_quick_csv_rows_are_the_precise_check(seed, monkeypatch):
    data = _mutated_feed(seed)
    quick = formats.read_csv(data, "f.csv")
    monkeypatch.setattr(formats._QuickRow, "entry", lambda self, n, cells: None)  # every row the precise way
    precise = formats.read_csv(data, "f.csv")
    assert quick.entries == precise.entries and quick.problems == precise.problems
    assert len(quick.entries) > 100 and quick.problems  # both kinds of rows were there


def _invoice(number: str, ccy: str, amount: Decimal, allocs: list[tuple[str, str, str, Decimal]]
             ) -> formats.ExportInvoice:
    return formats.ExportInvoice(
        idempotency_key=f"TRIAD-{number}-1", invoice_id=len(number), invoice_number=number,
        invoice_date=dt.date(2026, 10, 1), vendor_id=3, vendor_name="+Vendor, Inc.", firm_name="Firm \"LLP\"",
        currency=ccy, amount=amount, business_unit="@BU", allocations=[formats.ExportAllocation(*a) for a in allocs])


def _by_cell(batch_id: str, invoices, layout: str, columns: dict[str, str]) -> bytes:
    """The CSV as the documented columns say, cell by cell, every cell neutralised."""
    def money(v: Decimal, ccy: str) -> str:
        return format(v.quantize(Decimal(1).scaleb(-minor_units(ccy))), "f")

    names = formats.SINGLE_COLUMNS if layout == "single" else formats.MULTI_COLUMNS
    out = io.StringIO()
    wr = csv.writer(out, lineterminator="\r\n")
    wr.writerow([formats.neutralise(columns.get(c, c)) for c in names])
    for i in invoices:
        base = [batch_id, i.idempotency_key, str(i.invoice_id), i.invoice_number, i.invoice_date.isoformat(),
                str(i.vendor_id), i.vendor_name, i.firm_name, i.business_unit, i.currency, money(i.amount, i.currency)]
        if layout == "single":
            wr.writerow([formats.neutralise(c) for c in [*base, str(len(i.allocations))]])
        for n, a in enumerate(i.allocations if layout == "multi" else [], start=1):
            wr.writerow([formats.neutralise(c) for c in [*base, str(n), a.matter_number, a.cost_center,
                                                         a.gl_account, money(a.amount, i.currency)]])
    return out.getvalue().encode()


@pytest.mark.parametrize("layout", ["single", "multi"])
def test_csv_writer_is_the_cell_by_cell_file(layout):
    rng = random.Random(7)
    invoices = []
    for k in range(300):
        ccy = rng.choice(["USD", "JPY", "BHD", "EUR"])
        digits = minor_units(ccy)
        parts = [Decimal(rng.randint(0, 10**7)).scaleb(-digits) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.5:  # a value every currency has, written with each one's own digits
            parts.append(Decimal(rng.choice((1, 5, 100))))
        if rng.random() < 0.3:  # the same value written with more digits (as stored on PostgreSQL)
            parts = [p.quantize(Decimal("0.000001")) for p in parts]
        accounts = [(rng.choice(["M-1", "=M2", "-M3", "Matter \"4\"", "M,5", "M\n6", ""]),
                     rng.choice(["CC1", "+CC2", "@cc", "CC\r\n7", "CC,8"]), rng.choice(["6000", "-6100", "6\r2"]), p)
                    for p in parts]
        number = rng.choice(["INV-", "=INV-", "-INV-", "@INV-", "\tINV-", "Ünï,", "N\"q", "L\nF", "C\rR"]) + str(k)
        invoice = _invoice(number, ccy, sum(parts, Decimal(0)), accounts)
        invoice.vendor_name = rng.choice(["+Vendor, Inc.", "Plain", "", "Line\nbreak", "Q\"uote"])
        invoice.business_unit = rng.choice(["@BU", "BU", ""])
        invoices.append(invoice)
    columns = {"amount": "=Total", "invoice_id": "Invoice"}
    assert formats.write_csv("TRIAD-B0000007", invoices, layout=layout, columns=columns) == _by_cell(
        "TRIAD-B0000007", invoices, layout, columns)


def test_an_event_written_as_json_is_the_event_record_writes(db):
    after = {"entries": [{"amount": Decimal("1.50"), "n": 'Ünï "q" \\ </', "d": dt.date(2026, 1, 2)}],
             "none": None, "n": 3, "text": "\u2028\x00"}
    first = record(db, actor=ACTOR, action="t.same", entity_type="t", entity_id=5, after=after, reason="why")
    record_json(db, actor=ACTOR, action="t.same", entity_type="t", entity_id=5, after_json=json_dumps(after),
                reason="why")
    db.flush()
    second = db.scalar(sa.select(AuditEvent).where(AuditEvent.seq == first.seq + 1))
    db.refresh(first)
    cols = ("actor", "actor_id", "action", "entity_type", "entity_id", "before", "after", "reason")
    assert [getattr(second, c) for c in cols] == [getattr(first, c) for c in cols]
    assert second.prev_hash == first.hash and verify(db).ok


def _paid(db, invoice_id: int) -> Decimal:
    total = Decimal(0)
    for status, amount in db.execute(sa.select(Payment.status, Payment.amount).where(Payment.invoice_id == invoice_id)):
        total += amount if status == "paid" else -amount if status == "reversed" else 0
    return total


def test_export_and_import_fast_paths_keep_every_record(db, w):
    _route(db, csv_layout="multi")
    invs = [factories.invoice(db, w.a.firm, w.a.matter, w.a.timekeeper, w.cc, w.gl, f"work {k}") for k in range(7)]
    invs[0].invoice_number = '=Ünï "q" \\ ' + factories.uniq("N")  # escaped in JSON, neutralised in CSV
    invs.append(_split_invoice(db, w))
    for inv in invs:
        _approve(db, w, inv)
    res = export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert len(res.invoices) == len(invs)

    # the batch event holds the batch as record() would have written it (canonical JSON, chain intact)
    ev = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ap.batch_exported"))
    assert ev.after == {"route": "main", "format": "csv", "sha256": res.sha256, "invoices": res.invoices,
                        "totals": res.totals}
    raw = db.connection().execute(sa.select(sa.cast(AuditEvent.after, sa.Text)).where(AuditEvent.id == ev.id)).scalar()
    assert json_dumps(json.loads(raw)) == raw
    # one state-history row per exported invoice, in export order, at the batch's time
    batch_ref = next(csv.DictReader(io.StringIO(res.content.decode())))["batch_id"]
    moves = db.execute(sa.select(InvoiceStateChange.invoice_id, InvoiceStateChange.from_state,
                                 InvoiceStateChange.to_state, InvoiceStateChange.actor, InvoiceStateChange.actor_id,
                                 InvoiceStateChange.reason, InvoiceStateChange.at)
                       .where(InvoiceStateChange.to_state == "sent_to_ap").order_by(InvoiceStateChange.id)).all()
    assert [m[:6] for m in moves] == [(i["invoice_id"], "approved", "sent_to_ap", ACTOR.label, None,
                                       f"AP batch {batch_ref}") for i in res.invoices]
    stamped = {db.get(Invoice, i["invoice_id"]).updated_at for i in res.invoices}
    assert {m[6] for m in moves} == stamped and len(stamped) == 1
    assert all(m[6].tzinfo is not None for m in moves)

    a, b, c, d, e, f, g, split = invs
    feed = _feed(
        f"{a.id},2026-11-02,400.00,USD,,PAY-1,paid",  # partial
        f"{b.id},2026-11-02,900.00,USD,1.0842,PAY-2,paid",  # in full, with a rate
        f"{c.id},2026-11-02,950.00,USD,,PAY-3,paid",  # over
        f"{d.id},2026-11-02,900.00,USD,,PAY-4,paid",  # reversed by the next file
        f"{e.id},2026-11-02,900.00,USD,,PAY-5,rejected",  # re-opened
        f"{f.id},2026-11-02,300.5,USD,,PAY-6,paid",
        f"{f.id},2026-11-04,599.50,USD,,PAY-7,paid",  # two parts make it paid
        f"{f.id},2026-11-04,599.50,USD,,PAY-7,paid",  # the same entry again: applied once
        f"{split.id},2026-11-02,1000.01,USD,,PAY-8,paid",
        "999999999,2026-11-02,1.00,USD,,PAY-9,paid")  # no such invoice: the partial report has it
    before = {i.id: ("sent_to_ap", Decimal(0)) for i in invs}
    imp = import_payments(session=db, data=feed, filename="mixed.csv", actor=ACTOR, partial=True)
    assert imp.status == "partial" and [x["line"] for x in imp.errors] == [11]
    assert [x["line"] for x in imp.skipped] == [9]
    assert [(x["line"], x["flag"]) for x in imp.flags] == [(4, "overpaid")]
    db.expire_all()
    final = {i.id: db.get(Invoice, i.id).state for i in invs}
    assert [final[i.id] for i in invs] == ["partially_paid", "paid", "paid", "paid", "approved", "paid",
                                           "sent_to_ap", "paid"]

    # the file's event names every applied entry with its invoice's state and paid amount before and after
    ev = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ap.payments_imported"))
    expected, state = [], dict(before)
    lines = list(csv.DictReader(io.StringIO(feed.decode())))
    for x in imp.applied:
        row = lines[x["line"] - 2]  # the header is line 1
        st, paid = state[x["invoice_id"]]
        amount = Decimal(row["amount"])
        now_paid = paid + amount if x["status"] == "paid" else paid - amount if x["status"] == "reversed" else paid
        state[x["invoice_id"]] = (x["state"], now_paid)
        expected.append({"line": x["line"], "invoice_id": x["invoice_id"], "invoice_number": x["invoice_number"],
                         "entry_ref": f"csv:id{x['invoice_id']}:{row['payment_reference']}:{x['status']}",
                         "status": x["status"], "amount": row["amount"], "currency": "USD",
                         "before": (st, paid), "after": (x["state"], now_paid)})
    got = ev.after["entries"]
    assert [{k: v for k, v in g.items() if k not in ("before", "after")} for g in got] == [
        {k: v for k, v in x.items() if k not in ("before", "after")} for x in expected]
    assert [((g["before"]["state"], Decimal(g["before"]["paid"])), (g["after"]["state"], Decimal(g["after"]["paid"])))
            for g in got] == [(x["before"], x["after"]) for x in expected]
    for iid, (st, paid) in state.items():  # the last "after" of each invoice is what the database holds
        assert final[iid] == st and _paid(db, iid) == paid
    raw = db.connection().execute(sa.select(sa.cast(AuditEvent.after, sa.Text)).where(AuditEvent.id == ev.id)).scalar()
    assert json_dumps(json.loads(raw)) == raw
    assert ev.after["file"] == "mixed.csv" and ev.after["sha256"] == imp.sha256 and ev.after["format"] == "csv"
    assert verify(db).ok
    rev = import_payments(session=db, data=_feed(f"{d.id},2026-11-03,900.00,USD,,PAY-4,reversed"),
                          filename="rev.csv", actor=ACTOR)
    ev = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "ap.payments_imported")
                    .order_by(AuditEvent.seq.desc())).first()
    assert rev.status == "applied" and d.state == "sent_to_ap"
    assert [(x["before"], x["after"]) for x in ev.after["entries"]] == [
        ({"state": "paid", "paid": "900"}, {"state": "sent_to_ap", "paid": "0"})]

    # the re-opened invoice goes again, as JSON, and the other formats are untouched by the CSV fast path
    again = export(session=db, route_name="main", fmt="json", actor=ACTOR)
    doc = json.loads(again.content)
    assert [i["invoice_id"] for i in doc["invoices"]] == [e.id] and doc["invoices"][0]["amount"] == "900.00"
    assert verify(db).ok


def test_among_is_in_for_any_values(db, w):
    """``bulk.among`` (one parameter) selects what ``IN (...)`` selects, whatever the texts hold."""
    from triad.ap import bulk

    numbers = ['a"b', "c\\d", "e,f", "{g}", "Ünï h", "NULL", "", " i ", "j'k"]
    invs = [factories.invoice(db, w.a.firm, w.a.matter, w.a.timekeeper, w.cc, w.gl, "x") for _ in numbers]
    for inv, number in zip(invs, numbers, strict=True):
        inv.invoice_number = number
    db.flush()
    conn = db.connection()
    for values in (numbers, numbers[::2] + ["absent"], ["absent"], []):
        got = set(conn.execute(sa.select(Invoice.id).where(bulk.among(conn, Invoice.invoice_number, values))).scalars())
        assert got == set(conn.execute(sa.select(Invoice.id).where(Invoice.invoice_number.in_(values))).scalars())
    ids = [i.id for i in invs[1::2]] + [10**9]
    assert set(conn.execute(sa.select(Invoice.id).where(bulk.among(conn, Invoice.id, ids))).scalars()) == set(ids[:-1])


def test_ready_and_export_rows_are_the_orm_reading(db, w):
    """``_ready`` (plain queries, amounts made exact once per distinct value, routes decided once per
    business unit and currency, equal allocation rows shared) reads what ``ready_invoices`` (the ORM) reads,
    and the export's rows (allocation labels made once per shared row) are the ORM's invoices cell by cell,
    on seeded invoices: two business units, two currencies, decided lines, split and repeated allocations,
    credits, and routes by currency, business unit and legal entity with a catch-all (decision 0030)."""
    from triad.ap.models import InvoiceCredit
    from triad.ap.service import _ready, ready_invoices
    from triad.core.money import Money, allocate
    from triad.invoices.approvals import approved_amount
    from triad.invoices.models import InvoiceAllocation, InvoiceLine
    from triad.matters.models import Matter

    rng = random.Random(5)
    bu2 = factories.business_unit(db)
    bu2.legal_entity = "Triad EU BV"
    cc2 = factories.cost_center(db, bu2)
    m2 = factories.matter(db, bu2, cc2, "Second unit matter")
    matters = [w.a.matter, w.b.matter, m2]
    ccs, gls = [w.cc, cc2, factories.cost_center(db, w.bu)], [w.gl, factories.gl_account(db)]
    routes = [_route(db, "eur", priority=1, currency="EUR"), _route(db, "unit2", priority=2, business_unit_id=bu2.id),
              _route(db, "entity", priority=3, legal_entity="Nobody Ltd"), _route(db, "rest", priority=4)]
    for k in range(60):
        ccy = rng.choice(["USD", "USD", "EUR"])
        inv = Invoice(firm_id=w.a.firm.id, vendor_id=w.a.firm.vendor_id, invoice_number=factories.uniq("RDY"),
                      invoice_date=dt.date(2026, 10, rng.randint(1, 5)), billing_start=dt.date(2026, 9, 1),
                      billing_end=dt.date(2026, 9, 30), currency=ccy, total_amount=Decimal(0), state="approved")
        lines = []
        for n in range(rng.randint(1, 3)):
            total = rng.choice([Decimal("100.00"), Decimal("333.33"), Decimal("0.01"), Decimal("250.5")])
            decided = rng.random() < 0.3
            lines.append(InvoiceLine(matter_id=rng.choice(matters).id, line_no=rng.choice([n + 1, 10 - n]),
                                     line_type="F", work_date=dt.date(2026, 9, 3), timekeeper_id=w.a.timekeeper.id,
                                     units=Decimal(1), unit_cost=total, total=total,
                                     decision="reduce" if decided else None,
                                     approved_total=(total / 2).quantize(Decimal("0.01")) if decided else None,
                                     description=f"l{k}"))
        inv.lines = lines
        inv.total_amount = sum((ln.total for ln in lines), Decimal(0))
        approved = approved_amount(inv)
        parts = rng.choice([[1], [1, 1, 1], [2, 1], [1, 1]]) if k % 7 else [1]
        shares = [approved * p / sum(parts) for p in parts]
        shares = [s.quantize(Decimal("0.01")) for s in shares]
        shares[0] += approved - sum(shares, Decimal(0))
        if k % 13 == 6 and len(shares) > 1 and shares[1] >= 1:  # half cents adding up: re-allocated
            shares[0], shares[1] = shares[0] + Decimal("0.005"), shares[1] - Decimal("0.005")
        if k % 11 == 3:
            shares[0] += Decimal("0.01")  # not adding up: an invoice the export refuses
        inv.allocations = [InvoiceAllocation(matter_id=matters[0].id, cost_center_id=rng.choice(ccs).id,
                                             gl_account_id=rng.choice(gls).id, amount=s, currency=ccy) for s in shares]
        db.add(inv)
        db.flush()
        if k % 9 == 4:
            db.add(InvoiceCredit(invoice_id=inv.id, kind="credit_note", amount=Decimal("0.03"), currency=ccy,
                                 reason="test", created_by="test"))
    db.flush()
    db.expire_all()
    for route in routes:
        orm = ready_invoices(db, route)
        fast = _ready(db, route)
        assert [c.id for c in fast] == [i.id for i in orm]
        for c, inv in zip(fast, orm, strict=True):
            assert c.approved == approved_amount(inv)
            assert (c.bu.id if c.bu else None) == (inv.lines[0].matter.business_unit_id if inv.lines else None)
            assert c.allocations == [(a.matter_id, a.cost_center_id, a.gl_account_id, a.amount)
                                     for a in sorted(inv.allocations, key=lambda a: a.id)]
    # the export's CSV rows: the ORM's invoices, allocation by allocation (refusals aside)
    for inv in db.scalars(sa.select(Invoice).where(Invoice.state == "approved")):
        if sum((a.amount for a in inv.allocations), Decimal(0)) != approved_amount(inv):
            inv.state = "on_hold"
    db.flush()
    for route in routes:
        route.csv_layout = "multi"
        orm = ready_invoices(db, route)
        res = export(session=db, route_name=route.name, fmt="csv", actor=ACTOR, dry_run=True)
        got = [(r["invoice_id"], r["allocation_no"], r["matter_number"], r["cost_center"], r["gl_account"],
                r["allocation_amount"]) for r in csv.DictReader(io.StringIO(res.content.decode()))]
        credited = {i["invoice_id"] for i in res.invoices if Decimal(i["amount"]) != approved_amount(
            db.get(Invoice, i["invoice_id"])).quantize(Decimal("0.01"))} | {s["invoice_id"] for s in res.skipped}
        want = []
        for inv in orm:
            if inv.id in credited:
                continue
            allocs = sorted(inv.allocations, key=lambda a: a.id)
            # the precise path: always the largest-remainder split of the amount due (whole amounts stay)
            shares = allocate(Money.of(approved_amount(inv), inv.currency), [a.amount for a in allocs])
            want += [(str(inv.id), str(n), db.get(Matter, a.matter_id).number, a.cost_center.code, a.gl_account.number,
                      format(part.amount, "f")) for n, (a, part) in enumerate(zip(allocs, shares, strict=True), 1)]
        assert [g for g in got if int(g[0]) not in credited] == want
        assert len(want) > 5 or route.name == "entity"
