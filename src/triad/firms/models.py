"""Law firms (linked to one master vendor), timekeepers and their rates (system of record: legal)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triad.core.db import Amount, Base, TimestampMixin
from triad.vendors.models import Vendor


class LawFirm(TimestampMixin, Base):
    __tablename__ = "law_firm"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id"), index=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    ledes_firm_id: Mapped[str] = mapped_column(String(40), unique=True)  # LAW_FIRM_ID (its tax ID)
    default_currency: Mapped[str] = mapped_column(String(3))
    panel_member: Mapped[bool] = mapped_column(default=True)
    vendor: Mapped[Vendor] = relationship()
    timekeepers: Mapped[list[Timekeeper]] = relationship(back_populates="firm", order_by="Timekeeper.id")

    @property
    def vendor_status(self) -> str:
        """The master vendor's lifecycle status: a suspended or deactivated vendor's firm gets no work."""
        return self.vendor.status


class Timekeeper(TimestampMixin, Base):
    __tablename__ = "timekeeper"
    __table_args__ = (UniqueConstraint("firm_id", "tk_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("law_firm.id"), index=True)
    tk_id: Mapped[str] = mapped_column(String(20))  # the firm's TIMEKEEPER_ID
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    classification: Mapped[str] = mapped_column(String(10))  # LEDES: PARTNR, ASSOC, OFCNSL, PARLGL, LGLAST, OTHR
    is_active: Mapped[bool] = mapped_column(default=True)
    firm: Mapped[LawFirm] = relationship(back_populates="timekeepers")
    rates: Mapped[list[TimekeeperRate]] = relationship(
        back_populates="timekeeper", cascade="all, delete-orphan", order_by="TimekeeperRate.effective_from"
    )


class TimekeeperRate(Base):
    __tablename__ = "timekeeper_rate"
    __table_args__ = (UniqueConstraint("timekeeper_id", "effective_from"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    timekeeper_id: Mapped[int] = mapped_column(ForeignKey("timekeeper.id", ondelete="CASCADE"), index=True)
    rate: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    timekeeper: Mapped[Timekeeper] = relationship(back_populates="rates")
