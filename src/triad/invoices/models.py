"""Invoices, their lines and their cost allocations (system of record: legal until approval, then AP)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triad.auth.models import User
from triad.core.db import Amount, Base, Rate, TimestampMixin, UTCDateTime, utcnow
from triad.files.models import StoredFile
from triad.firms.models import LawFirm, Timekeeper
from triad.guidelines.models import InvoiceFinding
from triad.matters.models import Matter
from triad.org.models import CostCenter, GLAccount


class Invoice(TimestampMixin, Base):
    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("firm_id", "invoice_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("law_firm.id"), index=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id"), index=True)
    invoice_number: Mapped[str] = mapped_column(String(40))
    invoice_date: Mapped[dt.date] = mapped_column(Date)
    billing_start: Mapped[dt.date] = mapped_column(Date)
    billing_end: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    total_amount: Mapped[Decimal] = mapped_column(Amount())
    state: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    description: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"), index=True)
    source_format: Mapped[str | None] = mapped_column(String(20))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    firm: Mapped[LawFirm] = relationship()
    source_file: Mapped[StoredFile | None] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.line_no"
    )
    allocations: Mapped[list[InvoiceAllocation]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceAllocation.id"
    )
    findings: Mapped[list[InvoiceFinding]] = relationship(
        cascade="all, delete-orphan", order_by="(InvoiceFinding.line_no, InvoiceFinding.id)"
    )
    approvals: Mapped[list[InvoiceApproval]] = relationship(
        cascade="all, delete-orphan", order_by="InvoiceApproval.id"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_line"
    __table_args__ = (
        UniqueConstraint("invoice_id", "line_no"),
        # guideline screening: hours and duplicates per timekeeper and day; who billed a matter before
        Index("ix_invoice_line_timekeeper_day", "timekeeper_id", "work_date", "line_type", "units", "total",
              "invoice_id"),
        Index("ix_invoice_line_matter_timekeeper", "matter_id", "timekeeper_id", "invoice_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("matter.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    line_type: Mapped[str] = mapped_column(String(2))  # F, E, IF, IE
    work_date: Mapped[dt.date] = mapped_column(Date, index=True)
    timekeeper_id: Mapped[int | None] = mapped_column(ForeignKey("timekeeper.id"), index=True)
    task_code: Mapped[str | None] = mapped_column(String(10))
    activity_code: Mapped[str | None] = mapped_column(String(10))
    expense_code: Mapped[str | None] = mapped_column(String(10))
    units: Mapped[Decimal] = mapped_column(Rate())
    unit_cost: Mapped[Decimal] = mapped_column(Amount())
    adjustment: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    total: Mapped[Decimal] = mapped_column(Amount())
    description: Mapped[str | None] = mapped_column(Text)
    source_line: Mapped[int | None] = mapped_column(Integer)  # 1-based line in the submitted file
    # The review's outcome for the line (null until decided; auto-actions decide at submission)
    decision: Mapped[str | None] = mapped_column(String(20))  # accepted, adjusted, rejected
    approved_total: Mapped[Decimal | None] = mapped_column(Amount())
    reason_code: Mapped[str | None] = mapped_column(String(40))
    decided_by: Mapped[str | None] = mapped_column(String(120))
    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    matter: Mapped[Matter] = relationship()
    timekeeper: Mapped[Timekeeper | None] = relationship()


class InvoiceStateChange(Base):
    """Every move of an invoice between states: who, when, why."""

    __tablename__ = "invoice_state_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(120))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApprovalLevel(TimestampMixin, Base):
    """An approval step that invoices at or above ``min_amount`` (in ``currency``) need after review.

    The approver signs; while the approver is away (``User.away_until``) or inactive, the fallback
    approver signs on the approver's behalf."""

    __tablename__ = "approval_level"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    min_amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    approver_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    fallback_approver_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approver: Mapped[User] = relationship(foreign_keys=[approver_id])
    fallback_approver: Mapped[User | None] = relationship(foreign_keys=[fallback_approver_id])


class InvoiceApproval(Base):
    """One signature on an invoice: the reviewer's (``level_id`` null) or an approval level's.

    ``amount`` is what was signed for (in the invoice currency); a later line decision voids the
    signatures (``voided_at``), so an amount is never approved by someone who did not see it."""

    __tablename__ = "invoice_approval"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    level_id: Mapped[int | None] = mapped_column(ForeignKey("approval_level.id"))
    level_name: Mapped[str] = mapped_column(String(100))
    signed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    amount: Mapped[Decimal] = mapped_column(Amount())
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    signed_by: Mapped[User] = relationship(foreign_keys=[signed_by_id])
    on_behalf_of: Mapped[User | None] = relationship(foreign_keys=[on_behalf_of_id])


class InvoiceAllocation(Base):
    """Share of an invoice charged to a matter / cost center / GL account; kept through AP."""

    __tablename__ = "invoice_allocation"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("matter.id"))
    cost_center_id: Mapped[int] = mapped_column(ForeignKey("cost_center.id"))
    gl_account_id: Mapped[int] = mapped_column(ForeignKey("gl_account.id"))
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    invoice: Mapped[Invoice] = relationship(back_populates="allocations")
    cost_center: Mapped[CostCenter] = relationship()
    gl_account: Mapped[GLAccount] = relationship()
