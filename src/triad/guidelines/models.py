"""Guideline sets (company default, per firm, per engagement), their versions, and the findings
stored with each invoice (system of record: legal)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triad.core.db import Amount, Base, UTCDateTime, utcnow


class GuidelineSet(Base):
    __tablename__ = "guideline_set"
    __table_args__ = (UniqueConstraint("scope", "firm_id", "engagement_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))  # company, firm, engagement
    firm_id: Mapped[int | None] = mapped_column(ForeignKey("law_firm.id"))
    engagement_id: Mapped[int | None] = mapped_column(ForeignKey("engagement.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    versions: Mapped[list[GuidelineVersion]] = relationship(back_populates="guideline_set",
                                                            order_by="GuidelineVersion.version_no")

    @property
    def label(self) -> str:
        return {"company": "company", "firm": f"firm {self.firm_id}", "engagement": f"engagement {self.engagement_id}"
                }[self.scope]


class GuidelineVersion(Base):
    __tablename__ = "guideline_version"
    __table_args__ = (UniqueConstraint("set_id", "version_no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("guideline_set.id"), index=True)
    version_no: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # validated: {name, description, rules}
    source_text: Mapped[str] = mapped_column(Text)  # as loaded (YAML or JSON)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    guideline_set: Mapped[GuidelineSet] = relationship(back_populates="versions")

    @property
    def label(self) -> str:
        return f"{self.guideline_set.label} v{self.version_no}"


class InvoiceFinding(Base):
    """A guideline finding on a submitted invoice (one line, or the whole invoice)."""

    __tablename__ = "invoice_finding"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    line_no: Mapped[int | None] = mapped_column(Integer)  # the invoice line (unique per invoice); None: invoice
    source_line: Mapped[int | None] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    adjustment: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    guideline_version: Mapped[str | None] = mapped_column(String(200))
    clause: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
