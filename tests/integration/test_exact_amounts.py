"""Amounts are exact on both databases; no money column is ever a float type."""

from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import world as f
from triad.budgets.models import Budget
from triad.core.db import Exact
from triad.models import metadata

BIG = Decimal("12345678901234567.89")
MONEYISH = ("amount", "total", "rate", "cost", "price", "value", "adjustment", "percent", "units")
NOT_MONEY = {"vendor_tax_id.value"}  # a tax identifier, not an amount


def test_large_amount_round_trip(db, engine):
    w_bu = f.business_unit(db)
    cc = f.cost_center(db, w_bu)
    firm = f.firm(db, "Exact LLP")
    m = f.matter(db, w_bu, cc, "Exactness")
    b = f.budget(db, m, firm)
    b.amount = BIG
    db.flush()
    db.expire_all()
    again = db.get(Budget, b.id)
    assert again.amount == BIG
    assert str(again.amount) == "12345678901234567.89"
    # and the raw stored value is not a float on either backend
    raw = db.execute(sa.text("SELECT amount FROM budget WHERE id = :i"), {"i": b.id}).scalar_one()
    assert not isinstance(raw, float)
    assert Decimal(str(raw)) == BIG


def test_exact_column_refuses_float_and_excess_digits(db):
    w_bu = f.business_unit(db)
    cc = f.cost_center(db, w_bu)
    firm = f.firm(db, "Strict LLP")
    m = f.matter(db, w_bu, cc, "Strict")
    b = f.budget(db, m, firm)
    b.amount = 1.5  # type: ignore[assignment]
    with pytest.raises(sa.exc.StatementError, match="floats are not accepted"):
        db.flush()
    db.rollback()


def test_no_float_columns_anywhere(engine):
    """Fails if any column in the live database, or any money-like column in the models, is a float."""
    insp = sa.inspect(engine)
    floats = []
    for table in insp.get_table_names():
        for col in insp.get_columns(table):
            t = col["type"]
            if isinstance(t, sa.Float | sa.REAL | sa.DOUBLE | sa.DOUBLE_PRECISION) or type(t).__name__ in (
                "REAL", "FLOAT", "DOUBLE", "DOUBLE_PRECISION"
            ):
                floats.append(f"{table}.{col['name']} ({t})")
    assert floats == [], f"float columns found: {floats}"
    not_exact = [
        f"{t.name}.{c.name}"
        for t in metadata.sorted_tables
        for c in t.columns
        if any(word in c.name for word in MONEYISH) and not c.name.endswith("_id")
        and isinstance(c.type, sa.Numeric | sa.Float | sa.Integer | sa.String) and not isinstance(c.type, Exact)
        and c.name not in ("currency", "fixed_currency") and f"{t.name}.{c.name}" not in NOT_MONEY
    ]
    assert not_exact == [], f"money-like columns not using the Exact type: {not_exact}"
