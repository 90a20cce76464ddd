"""Budgets by matter x vendor x UTBMS phase/task x fiscal period (system of record: legal, approved by finance)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triad.core.db import Amount, Base, TimestampMixin
from triad.matters.models import Matter
from triad.vendors.models import Vendor


class Budget(TimestampMixin, Base):
    __tablename__ = "budget"
    __table_args__ = (UniqueConstraint("matter_id", "vendor_id", "utbms_code", "fiscal_period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("matter.id"), index=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id"), index=True)
    utbms_code: Mapped[str] = mapped_column(String(10))  # phase (L100) or task (L110); "*" = all
    fiscal_period: Mapped[str] = mapped_column(String(10))  # FY2026 or FY2026-Q1
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    matter: Mapped[Matter] = relationship()
    vendor: Mapped[Vendor] = relationship()
