"""Contracts with vendors and their key dates (system of record: legal / the contract repository)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triad.core.db import Amount, Base, TimestampMixin


class Contract(TimestampMixin, Base):
    __tablename__ = "contract"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    contract_type: Mapped[str] = mapped_column(String(40))  # engagement_letter, msa, sow, nda, ...
    status: Mapped[str] = mapped_column(String(20), default="draft")
    value: Mapped[Decimal | None] = mapped_column(Amount())
    currency: Mapped[str | None] = mapped_column(String(3))
    risk_tier: Mapped[str] = mapped_column(String(10), default="medium")
    executed_on: Mapped[dt.date | None] = mapped_column(Date)
    effective_on: Mapped[dt.date | None] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    key_dates: Mapped[list[ContractKeyDate]] = relationship(
        back_populates="contract", cascade="all, delete-orphan", order_by="ContractKeyDate.due_on"
    )


class ContractKeyDate(Base):
    __tablename__ = "contract_key_date"
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # renewal, notice, expiry, price_review, ...
    due_on: Mapped[dt.date] = mapped_column(Date)
    lead_days: Mapped[int] = mapped_column(Integer, default=30)
    description: Mapped[str | None] = mapped_column(Text)
    contract: Mapped[Contract] = relationship(back_populates="key_dates")
