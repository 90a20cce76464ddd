"""The master vendor record (system of record: procurement for identity, tax and bank data; legal for
status, legal review, risk, screening and panel status). See docs/vendors.md."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from triad.core.db import Base, Exact, TimestampMixin, UTCDateTime, utcnow


class VendorStatus(StrEnum):
    draft = "draft"
    pending_review = "pending_review"
    active = "active"
    suspended = "suspended"
    deactivated = "deactivated"


class ScreeningStatus(StrEnum):
    not_screened = "not_screened"
    clear = "clear"  # screened, no match above the threshold
    hit = "hit"  # at least one open match: blocks activation
    cleared = "cleared"  # every match was cleared by a reviewer with a reason


class GateBypass(RuntimeError):
    """Raised when code tries to make a vendor active without passing the lifecycle gate."""


class Vendor(TimestampMixin, Base):
    __tablename__ = "vendor"
    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(300))  # no index: lists sort by name_key (decision 0037)
    other_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20), default=VendorStatus.draft, index=True)
    risk_tier: Mapped[str] = mapped_column(String(10), default="medium")
    screening_status: Mapped[str] = mapped_column(String(20), default="not_screened")
    screened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # normalised legal name (cleanco + case/punctuation folding): matching and duplicate detection
    name_key: Mapped[str | None] = mapped_column(String(300), index=True)
    onboarding_pathway: Mapped[str] = mapped_column(String(20), default="procurement")  # self_service, legal
    # user ids without foreign keys: user_account -> law_firm -> vendor would make a cycle
    requested_by_id: Mapped[int | None] = mapped_column(Integer)
    review_requested_by_id: Mapped[int | None] = mapped_column(Integer)  # user id
    review_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    legal_review: Mapped[str] = mapped_column(String(20), default="none")  # none, completed, rejected
    legal_reviewed_by_id: Mapped[int | None] = mapped_column(Integer)  # user id
    legal_reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    legal_review_note: Mapped[str | None] = mapped_column(Text)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # set when this record was merged into another (the survivor); the record is then deactivated
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("vendor.id"), index=True)
    tax_ids: Mapped[list[VendorTaxId]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan", order_by="VendorTaxId.id"
    )
    bank_accounts: Mapped[list[VendorBankAccount]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan", order_by="VendorBankAccount.id"
    )
    addresses: Mapped[list[VendorAddress]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan", order_by="VendorAddress.id"
    )
    contacts: Mapped[list[VendorContact]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan", order_by="VendorContact.id"
    )
    business_units: Mapped[list[VendorBusinessUnit]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan", order_by="VendorBusinessUnit.id"
    )
    status_changes: Mapped[list[VendorStatusChange]] = relationship(
        cascade="all, delete-orphan", order_by="VendorStatusChange.id", viewonly=True
    )

    # Set only by triad.vendors.lifecycle after the gate passed; checked on every write of ``status``.
    _gate_token = None

    @validates("status")
    def _guard_status(self, _key: str, value: str) -> str:
        if value == VendorStatus.active and self._gate_token is not _GATE_PASSED:
            raise GateBypass("a vendor becomes active only through triad.vendors.lifecycle.transition (the gate)")
        self._gate_token = None
        return value


_GATE_PASSED = object()


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
    # IBAN, or routing:account, compact: finds two vendors paid into the same account
    account_key: Mapped[str | None] = mapped_column(String(60), index=True)
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


class VendorContact(Base):
    __tablename__ = "vendor_contact"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str | None] = mapped_column(String(60))  # billing, relationship partner, ...
    vendor: Mapped[Vendor] = relationship(back_populates="contacts")


class VendorBusinessUnit(Base):
    """A business unit the vendor serves."""

    __tablename__ = "vendor_business_unit"
    __table_args__ = (UniqueConstraint("vendor_id", "business_unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    business_unit_id: Mapped[int] = mapped_column(ForeignKey("business_unit.id"), index=True)
    vendor: Mapped[Vendor] = relationship(back_populates="business_units")


class VendorStatusChange(Base):
    """Approval history: every lifecycle move and legal review, who, when, why."""

    __tablename__ = "vendor_status_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    event: Mapped[str] = mapped_column(String(30), default="transition")  # transition, legal_review
    actor: Mapped[str] = mapped_column(String(120))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VendorPendingChange(Base):
    """Four eyes: a bank or tax change to an active vendor waits here until a second person approves."""

    __tablename__ = "vendor_pending_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # bank_accounts, tax_ids
    proposed: Mapped[list[Any]] = mapped_column(JSON)
    current: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # approved, rejected
    source: Mapped[str] = mapped_column(String(20), default="triad")  # triad, procurement
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_by_id: Mapped[int | None] = mapped_column(Integer)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_by_id: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)


class SanctionsList(Base):
    """One loaded sanctions list file (OFAC SDN CSV layout, or a simple CSV of names)."""

    __tablename__ = "sanctions_list"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40), index=True)  # ofac_sdn, names, or a label
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    is_current: Mapped[bool] = mapped_column(default=True)
    loaded_by: Mapped[str] = mapped_column(String(120))
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SanctionsEntry(Base):
    __tablename__ = "sanctions_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("sanctions_list.id", ondelete="CASCADE"), index=True)
    uid: Mapped[str] = mapped_column(String(40))  # ent_num in the SDN file, or the line number
    name: Mapped[str] = mapped_column(String(400))
    name_key: Mapped[str] = mapped_column(String(400))
    entry_type: Mapped[str | None] = mapped_column(String(40))
    program: Mapped[str | None] = mapped_column(String(200))


class ScreeningHit(Base):
    """A vendor name or alias that matched a sanctions entry above the threshold."""

    __tablename__ = "vendor_screening_hit"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("sanctions_list.id"), index=True)
    list_source: Mapped[str] = mapped_column(String(40))
    entry_uid: Mapped[str] = mapped_column(String(40))
    entry_name: Mapped[str] = mapped_column(String(400))
    matched_name: Mapped[str] = mapped_column(String(300))
    score: Mapped[Decimal] = mapped_column(Exact(5, 1))  # 0-100 similarity
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open, cleared
    found_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cleared_by: Mapped[str | None] = mapped_column(String(120))
    cleared_by_id: Mapped[int | None] = mapped_column(Integer)
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)


class VendorConflict(Base):
    """A field sent by a system that does not own it: queued for the owner, never applied silently."""

    __tablename__ = "vendor_conflict"
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))  # the system that sent it (procurement)
    owner: Mapped[str] = mapped_column(String(20))  # the system that owns the field (legal)
    in_triad: Mapped[str | None] = mapped_column(Text)  # the value Triad holds (text form)
    incoming: Mapped[str | None] = mapped_column(Text)  # the value the other system sent
    filename: Mapped[str | None] = mapped_column(String(255))
    line: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # accepted, rejected
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)


class VendorDuplicate(Base):
    """Two vendor records that look like the same supplier: flagged by the import, never merged there; a
    reviewer dismisses the flag or merges the two deliberately (triad.vendors.merge)."""

    __tablename__ = "vendor_duplicate"
    __table_args__ = (UniqueConstraint("vendor_id", "other_vendor_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    other_vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(40))  # similar_name, same_bank_account
    score: Mapped[Decimal | None] = mapped_column(Exact(5, 1))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, dismissed, merged
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the reviewer's decision (triad.vendors.merge): who, when, why
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_by_id: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)


def _business_unit_ids(self: Vendor) -> list[int]:
    return [b.business_unit_id for b in self.business_units]


Vendor.business_unit_ids = property(_business_unit_ids)  # type: ignore[attr-defined]
