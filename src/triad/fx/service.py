"""Exchange rates: the rate in force on a date, and conversions at it.

The rate for a date is the latest published on or before that date (a weekend or holiday uses
the last business day's rate), looked up directly or as the inverse of the opposite pair. A rate
older than ``max_age_days`` is not used: a conversion with no recent rate is an error, never a guess.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from triad.core.errors import Conflict
from triad.core.money import currency as iso
from triad.core.money import quantize
from triad.fx.models import FXRate

MAX_AGE_DAYS = 7


def rate_on(*, session: Session, base: str, quote: str, on: dt.date, max_age_days: int = MAX_AGE_DAYS) -> Decimal:
    """Units of ``quote`` for one unit of ``base`` on ``on``. Raises Conflict when no rate is on file."""
    base, quote = iso(base), iso(quote)
    if base == quote:
        return Decimal(1)
    oldest = on - dt.timedelta(days=max_age_days)
    found = None
    for b, q, invert in ((base, quote, False), (quote, base, True)):
        row = session.execute(
            select(FXRate.rate, FXRate.rate_date).where(FXRate.base == b, FXRate.quote == q,
                                                        FXRate.rate_date <= on, FXRate.rate_date >= oldest)
            .order_by(FXRate.rate_date.desc()).limit(1)).first()
        if row is not None and (found is None or row.rate_date > found[1]):
            found = (Decimal(1) / row.rate if invert else row.rate, row.rate_date)
    if found is None:
        raise Conflict(f"no {base}/{quote} exchange rate on file for {on} (or the {max_age_days} days before)")
    return found[0]


def convert(*, session: Session, amount: Decimal, from_currency: str, to_currency: str, on: dt.date) -> Decimal:
    """``amount`` in ``to_currency`` at the rate in force on ``on``, rounded to its minor units."""
    return quantize(amount * rate_on(session=session, base=from_currency, quote=to_currency, on=on), to_currency)
