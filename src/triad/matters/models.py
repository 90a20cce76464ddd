"""Matters, their default cost allocations, and engagements of firms on matters (system of record: legal)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triad.core.db import Amount, Base, Rate, TimestampMixin
from triad.firms.models import LawFirm
from triad.org.models import BusinessUnit, CostCenter, GLAccount


class Matter(TimestampMixin, Base):
    __tablename__ = "matter"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # CLIENT_MATTER_ID
    name: Mapped[str] = mapped_column(String(300), index=True)
    matter_type: Mapped[str] = mapped_column(String(30))  # litigation, counseling, transactional, ...
    status: Mapped[str] = mapped_column(String(20), default="open")
    business_unit_id: Mapped[int] = mapped_column(ForeignKey("business_unit.id"), index=True)
    cost_center_id: Mapped[int] = mapped_column(ForeignKey("cost_center.id"), index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    business_unit: Mapped[BusinessUnit] = relationship()
    cost_center: Mapped[CostCenter] = relationship()
    allocations: Mapped[list[MatterAllocation]] = relationship(
        back_populates="matter", cascade="all, delete-orphan", order_by="MatterAllocation.id"
    )
    engagements: Mapped[list[Engagement]] = relationship(back_populates="matter", order_by="Engagement.id")


class MatterAllocation(Base):
    """Default split of a matter's spend across cost centers and GL accounts."""

    __tablename__ = "matter_allocation"
    id: Mapped[int] = mapped_column(primary_key=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("matter.id", ondelete="CASCADE"), index=True)
    cost_center_id: Mapped[int] = mapped_column(ForeignKey("cost_center.id"))
    gl_account_id: Mapped[int] = mapped_column(ForeignKey("gl_account.id"))
    percent: Mapped[Decimal | None] = mapped_column(Rate())
    fixed_amount: Mapped[Decimal | None] = mapped_column(Amount())
    fixed_currency: Mapped[str | None] = mapped_column(String(3))
    matter: Mapped[Matter] = relationship(back_populates="allocations")
    cost_center: Mapped[CostCenter] = relationship()
    gl_account: Mapped[GLAccount] = relationship()


class Engagement(TimestampMixin, Base):
    """A firm engaged on a matter, with the billing terms that apply."""

    __tablename__ = "engagement"
    __table_args__ = (UniqueConstraint("firm_id", "matter_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("law_firm.id"), index=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("matter.id"), index=True)
    firm_matter_id: Mapped[str | None] = mapped_column(String(40))  # the firm's own matter number
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="active")
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    billing_terms: Mapped[dict] = mapped_column(JSON, default=dict)
    firm: Mapped[LawFirm] = relationship()
    matter: Mapped[Matter] = relationship(back_populates="engagements")
