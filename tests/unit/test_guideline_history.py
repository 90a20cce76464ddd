"""History.hours_on: hours of every invoice but one, the same Decimal (value and digits shown) as
adding them one by one from 0."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from triad.guidelines.model import EarlierLine, History

DAY = dt.date(2026, 3, 10)


def test_hours_on_matches_adding_one_by_one():
    rng = random.Random(7)
    choices = ["1", "1.5", "2.0", "0.25", "3.10", "8", "0.1", "10.50", "0"]
    for _ in range(300):
        entries = [(rng.choice(["A", "B", "C", "D"]), Decimal(rng.choice(choices))) for _ in range(rng.randint(0, 6))]
        h = History(EarlierLine(n, DAY, "TK1", u, u * 100, "x") for n, u in entries)
        for exclude in ("A", "B", "Z"):
            expected = sum((u for n, u in entries if n != exclude), Decimal(0))
            got = h.hours_on("TK1", DAY, exclude_invoice=exclude)
            assert (str(got), got) == (str(expected), expected), (entries, exclude)
    assert str(History().hours_on("TK1", DAY, exclude_invoice="A")) == "0"


def test_precomputed_hours_of_earlier_invoices_are_never_excluded():
    h = History(hours={("TK1", DAY): [(None, Decimal("6")), ("NEW-1", Decimal("1.50"))]})
    assert str(h.hours_on("TK1", DAY, exclude_invoice="NEW-1")) == "6"
    assert str(h.hours_on("TK1", DAY, exclude_invoice="NEW-2")) == "7.50"
