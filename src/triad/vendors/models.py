"""The master vendor record (system of record: procurement for tax and bank data, legal for review)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triad.core.db import Base, TimestampMixin, UTCDateTime


class VendorStatus(StrEnum):
    draft = "draft"
    pending_review = "pending_review"
    active = "active"
    suspended = "suspended"
    deactivated = "deactivated"


class Vendor(TimestampMixin, Base):
    __tablename__ = "vendor"
    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(300), index=True)
    other_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20), default=VendorStatus.draft)
    risk_tier: Mapped[str] = mapped_column(String(10), default="medium")
    screening_status: Mapped[str] = mapped_column(String(20), default="not_screened")
    screened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    tax_ids: Mapped[list[VendorTaxId]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan", order_by="VendorTaxId.id"
    )
    bank_accounts: Mapped[list[VendorBankAccount]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan", order_by="VendorBankAccount.id"
    )
    addresses: Mapped[list[VendorAddress]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan", order_by="VendorAddress.id"
    )


class VendorTaxId(Base):
    __tablename__ = "vendor_tax_id"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    scheme: Mapped[str] = mapped_column(String(20))  # us_ein, eu_vat, gb_vat, gb_crn, other
    value: Mapped[str] = mapped_column(String(40), index=True)
    country: Mapped[str] = mapped_column(String(2))
    validated_on: Mapped[dt.date | None] = mapped_column(Date)
    vendor: Mapped[Vendor] = relationship(back_populates="tax_ids")


class VendorBankAccount(Base):
    __tablename__ = "vendor_bank_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    holder_name: Mapped[str] = mapped_column(String(200))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    account_number: Mapped[str | None] = mapped_column(String(34))
    routing_number: Mapped[str | None] = mapped_column(String(9))
    currency: Mapped[str] = mapped_column(String(3))
    is_primary: Mapped[bool] = mapped_column(default=True)
    vendor: Mapped[Vendor] = relationship(back_populates="bank_accounts")


class VendorAddress(Base):
    __tablename__ = "vendor_address"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="remit_to")
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    vendor: Mapped[Vendor] = relationship(back_populates="addresses")
