"""FX rates by date (system of record: finance/treasury)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from triad.core.db import Base, Rate


class FXRate(Base):
    """1 unit of ``base`` = ``rate`` units of ``quote`` on ``rate_date``."""

    __tablename__ = "fx_rate"
    __table_args__ = (UniqueConstraint("base", "quote", "rate_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    base: Mapped[str] = mapped_column(String(3))
    quote: Mapped[str] = mapped_column(String(3))
    rate_date: Mapped[dt.date] = mapped_column(Date, index=True)
    rate: Mapped[Decimal] = mapped_column(Rate())
    source: Mapped[str] = mapped_column(String(40), default="manual")
