"""Hours already billed on a timekeeper's day are added up by the database for a submission: the
same Decimal (value and digits) as adding the earlier lines one by one, withdrawn invoices left out."""

from __future__ import annotations

import datetime as dt
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


@pytest.mark.parametrize("path", ["targeted", "bulk"])
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
    db.get(Invoice, gone.invoices[0].invoice_id).state = "withdrawn"
    db.flush()
    new = import_file(session=db, data=factories.ledes_file(w.a, "S-NEW", units="7.0"), filename="new.ledes",
                      actor=ACTOR)
    hours = [f["message"] for f in new.invoices[0].findings if f["rule"] == "daily_hours"]
    # the world's own invoice (2 h) + 1.25 + 0.5 + 2 + 1.75 = 7.50: two decimals, as the most precise
    # line counted; 0.125 (three decimals) was withdrawn and counts neither in value nor in digits
    assert hours == [f"{w.a.timekeeper.tk_id} billed 14.50 h on 2026-09-03 (7.50 h of it on earlier invoices); "
                     "at most 12 h a day are allowed"]
