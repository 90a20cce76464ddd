"""A bulk import screens its large groups from the file's LEDES columns (``frame.ledes_columns``)
instead of the views: the stored findings must be exactly those of the views and of ``evaluate``."""

from __future__ import annotations

import datetime as dt
import random
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

import triad.guidelines.service as gs
from tests.factories import world as factories
from triad.audit.service import Actor
from triad.guidelines import runner
from triad.guidelines.frame import lines_frame
from triad.guidelines.models import InvoiceFinding
from triad.guidelines.service import load
from triad.invoices import intake
from triad.invoices.intake import import_file
from triad.invoices.models import Invoice
from triad.ledes.model import Invoice as LInvoice
from triad.ledes.model import Line, Party
from triad.ledes.writers import write_1998b

ACTOR = Actor("legal")
EXAMPLE = Path(__file__).parent.parent.parent / "docs" / "examples" / "guidelines-company.yaml"
WORDS = ["review", "draft", "conference", "with", "client", "re", "motion", "meal", "copying", "travel", "file",
         "letter", "research", "call", "court", "Prüfung", "ÉTUDE"]
BLANKS = ["", " ", "  ", "\t", "\u3000", "\xa0", " \u2003", "\x1f", "\x1c "]


def _file(w, tks: list[tuple[str, str]], seed: int) -> tuple[bytes, str]:
    """A 1998B file of several invoices of firms A and B (lines shuffled, so invoices interleave),
    one of A's invoices in the middle refused (unknown timekeeper). Returns the file and that number."""
    rnd = random.Random(seed)
    invoices = []
    refused = f"R-{seed}"
    plan = [("A", f"A-{seed}-{i}") for i in range(3)] + [("A", refused)] + [("A", f"A-{seed}-{i}") for i in (3, 4)] \
        + [("B", f"B-{seed}-{i}") for i in range(2)]
    for who, number in plan:
        fw = w.a if who == "A" else w.b
        lines = []
        for n in range(1, rnd.randint(8, 30) + 1):
            expense = rnd.random() < 0.2 and not (number == refused and n == 3)
            if expense:
                tk_id, cls = None, None
                units, rate = Decimal(rnd.randint(1, 40)), Decimal(rnd.choice(["0.10", "0.25", "12.00", "40.00"]))
            else:
                tk_id, cls = rnd.choice(tks) if who == "A" else (fw.timekeeper.tk_id, "ASSOC")
                if number == refused and n == 3:
                    tk_id = "TK-NOT-IN-TRIAD"
                units = Decimal(rnd.choice(["0.1", "0.25", "1.0", "2.5", "7.0", "11.0", "0.3"]))
                rate = Decimal(rnd.choice(["200.00", "300.00", "400.00", "700.00", "1000.00"]))
            words = rnd.sample(WORDS, rnd.randint(0, 5))
            desc = rnd.choice(BLANKS) + " ".join(words) + rnd.choice(BLANKS)
            lines.append(Line(
                line_no=str(n), line_type="E" if expense else "F", date=dt.date(2026, 9, rnd.randint(1, 5)),
                units=units, unit_cost=rate, adjustment=Decimal(0), total=(units * rate).quantize(Decimal("0.01")),
                law_firm_matter_id="FM-1", client_matter_id=fw.matter.number,
                task_code=None if expense else rnd.choice(["L110", "L160", "L120", None]),
                activity_code=None if expense else rnd.choice(["A101", "A104", "A106", None]),
                expense_code=rnd.choice(["E101", "E111", "E110"]) if expense else None,
                timekeeper_id=tk_id, timekeeper_name="Doe, Jan" if tk_id else None,
                timekeeper_classification=cls, description=desc))
        invoices.append(LInvoice(invoice_number=number, invoice_date=dt.date(2026, 10, 2),
                                 billing_start=dt.date(2026, 9, 1), billing_end=dt.date(2026, 9, 30),
                                 total=sum((ln.total for ln in lines), Decimal(0)),
                                 law_firm=Party(id=fw.firm.ledes_firm_id), client=Party(id="TRIADCO"),
                                 description="September", lines=lines))
    rows = write_1998b(invoices).split(b"\r\n")
    head, body = rows[:2], [r for r in rows[2:] if r]
    rnd.shuffle(body)
    return b"\r\n".join(head + body) + b"\r\n", refused


def _stored(db, ids: list[int]) -> list[tuple]:
    rows = db.execute(sa.select(Invoice.invoice_number, InvoiceFinding.rule, InvoiceFinding.severity,
                                InvoiceFinding.line_no, InvoiceFinding.source_line, InvoiceFinding.message,
                                InvoiceFinding.adjustment, InvoiceFinding.action, InvoiceFinding.guideline_version,
                                InvoiceFinding.clause)
                      .join(Invoice, Invoice.id == InvoiceFinding.invoice_id)
                      .where(InvoiceFinding.invoice_id.in_(ids)).order_by(Invoice.invoice_number, InvoiceFinding.id))
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("seed", [1, 2])
def test_import_findings_same_from_file_columns_views_and_evaluate(db, monkeypatch, seed):
    w = factories.world(db)
    # timekeepers of A whose classification in Triad differs from the file's
    tks = [(w.a.timekeeper.tk_id, "ASSOC")]
    for last, triad_cls, file_cls in [("Para", "PARLGL", "PARTNR"), ("Part", "PARTNR", "LGLAST"), ("Same", "OFCNSL",
                                                                                                    "OFCNSL")]:
        tk = factories.timekeeper(db, w.a.firm, last=last)
        tk.classification = triad_cls
        tks.append((tk.tk_id, file_cls))
    load(session=db, text=EXAMPLE.read_text(), effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    db.flush()
    data, refused = _file(w, tks, seed)
    monkeypatch.setattr(gs, "BATCH_MIN_LINES", 20)
    taken: list[bool] = []
    real = gs.evaluate_many

    def spy(invoices, ctx, versions, *, columns=None):
        taken.append(columns is not None and runner.same_lines(columns, invoices))
        if columns is not None:  # every column as the views hold it (descriptions stripped as intake does)
            assert_frame_equal(lines_frame(invoices)[0], lines_frame(invoices, columns)[0], check_column_order=False)
        return real(invoices, ctx, versions, columns=columns)

    monkeypatch.setattr(gs, "evaluate_many", spy)

    def run() -> tuple[list[tuple], list]:
        nested = db.begin_nested()
        try:
            r = import_file(session=db, data=data, filename=f"s{seed}.ledes", actor=ACTOR)
            found = _stored(db, [o.invoice_id for o in r.invoices if o.invoice_id])
            return found, [(o.invoice_number, o.status, o.findings) for o in r.invoices]
        finally:
            nested.rollback()

    with_columns = run()
    assert taken == [True, True]  # firm A's and firm B's groups both read the file's columns
    statuses = {n: s for n, s, _ in with_columns[1]}
    assert statuses.pop(refused) == "rejected" and set(statuses.values()) == {"stored"} and len(statuses) == 7
    taken.clear()
    monkeypatch.setattr(gs, "USE_LEDES_COLUMNS", False)
    from_views = run()
    assert taken == [False, False]
    monkeypatch.setattr(gs, "BATCH_MIN_LINES", 10 ** 9)
    one_by_one = run()
    assert with_columns == from_views == one_by_one
    found = with_columns[0]
    assert len(found) > 50
    # the Triad classification decides the caps: PARLGL (file: PARTNR) capped at 275, billed 300+
    para = tks[1][0]
    assert any(f[1] == "rate_cap" and "PARLGL" in f[5] for f in found), found
    assert not any(f[1] == "rate_cap" and "LGLAST" in f[5] for f in found)
    assert para  # (the timekeeper exists)
    assert {f[1] for f in found} >= {"vague_description", "rate_cap", "expense_not_allowed"}


def test_python_whitespace_list():
    assert set(intake.PY_WHITESPACE) == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}


def test_group_columns_takes_the_groups_invoices_in_its_order():
    import polars as pl

    from triad.guidelines.service import ScreenItem, _group_columns

    cols = pl.DataFrame({"inv": pl.Series([0, 0, 1, 2, 2, 2], dtype=pl.UInt32),
                         "tk": ["a", None, "b", "a", "c", "b"], "cls": ["X", None, "X", "X", "X", "X"],
                         "line_no": [1, 2, 1, 1, 2, 3]})
    classes = {"a": "PARTNR", "b": None, "c": "ASSOC"}

    def item(inv, cl=classes):
        return ScreenItem(0, None, 1, 1, "USD", [1], inv, cl)

    got = _group_columns(cols, [item(2), item(0)])
    assert got.to_dict(as_series=False) == {"inv": [0, 0, 0, 1, 1], "tk": ["a", "c", "b", "a", None],
                                            "cls": ["PARTNR", "ASSOC", None, "PARTNR", None],
                                            "line_no": [1, 2, 3, 1, 2]}
    assert got.columns == cols.columns and got["inv"].dtype == pl.UInt32
    assert _group_columns(cols, [item(0), item(None)]) is None  # an invoice not in the file's columns
    assert _group_columns(cols, [item(0), item(1, dict(classes))]) is None  # two classification maps
    assert _group_columns(cols, [item(0), item(0)]) is None
