"""Hours already billed on a timekeeper's day are added up by the database for a submission: the
same Decimal (value and digits) as adding the earlier lines one by one, withdrawn invoices left out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from tests.factories import world as factories
from triad.audit.service import Actor
from triad.guidelines.service import load
from triad.invoices.intake import import_file
from triad.invoices.models import Invoice

ACTOR = Actor("legal")
EXAMPLE = Path(__file__).parent.parent.parent / "docs" / "examples" / "guidelines-company.yaml"


@pytest.fixture
def w(db):
    return factories.world(db)


@pytest.mark.parametrize("path", ["targeted", "bulk", "none-withdrawn"])
def test_hours_of_earlier_invoices_add_up_exactly(db, w, monkeypatch, path):
    import triad.guidelines.service as gs

    if path == "bulk":  # read the lines and add them up one by one in Python instead
        monkeypatch.setattr(gs, "TARGETED_MAX_LINES", 0)
    load(session=db, text=EXAMPLE.read_text(), effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    for n, units in enumerate(["1.25", "0.5", "2", "1.75"]):
        out = import_file(session=db, data=factories.ledes_file(w.a, f"S-{n}", units=units), filename=f"s{n}.ledes",
                          actor=ACTOR)
        assert out.invoices[0].status == "stored"
    gone = import_file(session=db, data=factories.ledes_file(w.a, "S-X", units="0.125"), filename="sx.ledes",
                       actor=ACTOR)
    if path == "none-withdrawn":  # its lines are left out by the database, not by the withdrawn state
        db.get(Invoice, gone.invoices[0].invoice_id).lines[0].line_type = "E"
    else:
        db.get(Invoice, gone.invoices[0].invoice_id).state = "withdrawn"
    db.flush()
    new = import_file(session=db, data=factories.ledes_file(w.a, "S-NEW", units="7.0"), filename="new.ledes",
                      actor=ACTOR)
    hours = [f["message"] for f in new.invoices[0].findings if f["rule"] == "daily_hours"]
    # the world's own invoice (2 h) + 1.25 + 0.5 + 2 + 1.75 = 7.50: two decimals, as the most precise
    # line counted; 0.125 (three decimals) was withdrawn and counts neither in value nor in digits
    assert hours == [f"{w.a.timekeeper.tk_id} billed 14.50 h on 2026-09-03 (7.50 h of it on earlier invoices); "
                     "at most 12 h a day are allowed"]


SMALL = ["0.1", "1.25", "0.125", "7", "0.000001", "2.5", "10", "0.3", "0.33", "0.7", "1.1", "3.000001", "0"]
LARGE = [*SMALL, "123456.75", "99999999.999999", "-1.5", "-0.25"]


@pytest.mark.parametrize("seed", range(4))
def test_hours_added_up_as_floats_equal_the_exact_sums(db, w, seed):
    """SQLite adds a day's hours as floats and rounds them where that is provably exact
    (``_hours_by_float``); every such sum must equal the exact one (value and digits), and a sum the
    floats cannot give exactly must be handed back for the exact path, never rounded wrongly."""
    import random

    from triad.guidelines import service as gs
    from triad.invoices.models import InvoiceLine

    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("the float path is SQLite's")
    rng = random.Random(seed)
    a = w.a
    days = [dt.date(2026, 9, d) for d in range(1, 8)]
    for n in range(12):
        inv = Invoice(firm_id=a.firm.id, vendor_id=a.firm.vendor_id, invoice_number=f"H-{seed}-{n}",
                      invoice_date=dt.date(2026, 10, 1), billing_start=dt.date(2026, 9, 1),
                      billing_end=dt.date(2026, 9, 30), currency="USD", total_amount=Decimal(0))
        for k in range(rng.randint(1, 30)):
            day = rng.choice(days)  # the last two days also get sizes the floats cannot always round exactly
            inv.lines.append(InvoiceLine(matter_id=a.matter.id, line_no=k + 1, line_type="F", work_date=day,
                                         timekeeper_id=a.timekeeper.id,
                                         units=Decimal(rng.choice(SMALL if day.day <= 5 else LARGE)),
                                         unit_cost=Decimal(0), total=Decimal(0), description="x"))
        db.add(inv)
    db.flush()
    params = {"tks": [a.timekeeper.id], "days": days, "new": [-1]}
    by_float, missing = gs._hours_by_float(db, params)
    exact = gs._hours_exact(db, params, False)
    assert by_float, "no day was added up as floats"
    assert set(by_float) | missing == set(exact)
    for key, total in by_float.items():
        assert str(total) == str(exact[key]), key
    # a day whose floats cannot be rounded exactly is handed back
    assert gs._rounded_exactly(0.30000000000000004, 0.3, 3, 1) == Decimal("0.3")
    assert gs._rounded_exactly(1e17, 1e17, 2, 2) is None
    assert gs._rounded_exactly(float("inf"), 1.0, 1, 0) is None


def test_the_float_path_hands_back_what_it_cannot_round(db, w, monkeypatch):
    """With every float sum refused, the hours come from the exact path alone: same message."""
    import triad.guidelines.service as gs

    monkeypatch.setattr(gs, "_rounded_exactly", lambda *a: None)
    load(session=db, text=EXAMPLE.read_text(), effective_from=dt.date(2026, 1, 1), actor=ACTOR)
    for n, units in enumerate(["1.25", "0.5", "2", "1.75"]):
        import_file(session=db, data=factories.ledes_file(w.a, f"F-{n}", units=units), filename=f"f{n}.ledes",
                    actor=ACTOR)
    new = import_file(session=db, data=factories.ledes_file(w.a, "F-NEW", units="7.0"), filename="fnew.ledes",
                      actor=ACTOR)
    hours = [f["message"] for f in new.invoices[0].findings if f["rule"] == "daily_hours"]
    assert hours == [f"{w.a.timekeeper.tk_id} billed 14.50 h on 2026-09-03 (7.50 h of it on earlier invoices); "
                     "at most 12 h a day are allowed"]
