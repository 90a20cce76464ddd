"""Business units, cost centers and GL accounts (system of record: finance)."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triad.core.db import Base, TimestampMixin


class BusinessUnit(TimestampMixin, Base):
    __tablename__ = "business_unit"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_entity: Mapped[str | None] = mapped_column(String(100))  # the company entity that pays its invoices
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    cost_centers: Mapped[list[CostCenter]] = relationship(back_populates="business_unit")


class CostCenter(TimestampMixin, Base):
    __tablename__ = "cost_center"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    business_unit_id: Mapped[int] = mapped_column(ForeignKey("business_unit.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    business_unit: Mapped[BusinessUnit] = relationship(back_populates="cost_centers")


class GLAccount(TimestampMixin, Base):
    __tablename__ = "gl_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="expense")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
