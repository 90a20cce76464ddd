"""Accounts payable: routes to AP systems, export batches, payment confirmations, credits and
write-downs, and the record of every sync run (system of record: finance / the AP system)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triad.core.db import Amount, Base, Rate, TimestampMixin, UTCDateTime, utcnow


class ApRoute(TimestampMixin, Base):
    """Which approved invoices go to which AP system. Routes are tried in ``priority`` order (lowest
    first); a condition left empty matches anything, so a route with none is the catch-all."""

    __tablename__ = "ap_route"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    ap_system: Mapped[str] = mapped_column(String(60))
    business_unit_id: Mapped[int | None] = mapped_column(ForeignKey("business_unit.id"))
    legal_entity: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str | None] = mapped_column(String(3))
    csv_layout: Mapped[str] = mapped_column(String(10), default="single")  # single: per invoice; multi: per allocation
    csv_columns: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # our column -> the AP system's header
    debtor_name: Mapped[str | None] = mapped_column(String(140))  # the paying account, for pain.001
    debtor_iban: Mapped[str | None] = mapped_column(String(34))
    debtor_bic: Mapped[str | None] = mapped_column(String(11))
    is_active: Mapped[bool] = mapped_column(default=True)


class ApBatch(Base):
    """One export: a content-hashed file and the invoices it carried."""

    __tablename__ = "ap_batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("ap_route.id"), index=True)
    format: Mapped[str] = mapped_column(String(10))  # csv, json, pain001
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    invoice_count: Mapped[int] = mapped_column(Integer)
    totals: Mapped[dict[str, str]] = mapped_column(JSON)  # currency -> amount
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    route: Mapped[ApRoute] = relationship()
    items: Mapped[list[ApBatchItem]] = relationship(back_populates="batch", order_by="ApBatchItem.id")


class ApBatchItem(Base):
    """An invoice in a batch, with the idempotency key the AP system and the bank see (the
    end-to-end id of a pain.001 transfer). Re-opening an invoice (audited) ends the item."""

    __tablename__ = "ap_batch_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ap_batch.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(35), unique=True)
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    reopened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reopened_by: Mapped[str | None] = mapped_column(String(120))
    reopen_reason: Mapped[str | None] = mapped_column(Text)
    batch: Mapped[ApBatch] = relationship(back_populates="items")


class Payment(TimestampMixin, Base):
    """A payment confirmation (or a rejection or reversal of one) applied to an invoice.

    ``entry_ref`` identifies the entry in its source (end-to-end id / bank reference and status), so
    the same entry never applies twice, whichever file brings it."""

    __tablename__ = "payment"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    paid_on: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    fx_rate: Mapped[Decimal | None] = mapped_column(Rate())
    reference: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="paid")  # paid, rejected, reversed
    entry_ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id"), index=True)
    source_line: Mapped[int | None] = mapped_column(Integer)


class InvoiceCredit(Base):
    """A credit note or write-down against an invoice: its own document, reducing what is due."""

    __tablename__ = "invoice_credit"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # credit_note, write_down
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SyncRun(Base):
    """Every export and import: who, when, which file, what happened (sync monitoring)."""

    __tablename__ = "sync_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # ap_export, ap_import
    status: Mapped[str] = mapped_column(String(20))  # applied, partial, duplicate, rejected, failed
    actor: Mapped[str] = mapped_column(String(120))
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    message_id: Mapped[str | None] = mapped_column(String(100))
    format: Mapped[str | None] = mapped_column(String(20))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("ap_batch.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ImportedPaymentFile(Base):
    """A payment file that was applied: recognised again by its content hash or its message id."""

    __tablename__ = "ap_imported_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    format: Mapped[str] = mapped_column(String(20))
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_run.id"))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
