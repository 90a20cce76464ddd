"""The invoices a LEDES file describes, independent of its format."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Party:
    id: str | None = None
    name: str | None = None
    tax_id: str | None = None
    address_1: str | None = None
    address_2: str | None = None
    city: str | None = None
    region: str | None = None
    postcode: str | None = None
    country: str | None = None


@dataclass
class Line:
    line_no: str
    line_type: str  # F, E, IF, IE
    date: dt.date | None
    units: Decimal | None
    unit_cost: Decimal | None
    adjustment: Decimal | None
    total: Decimal
    law_firm_matter_id: str | None = None
    client_matter_id: str | None = None
    matter_name: str | None = None
    task_code: str | None = None
    activity_code: str | None = None
    expense_code: str | None = None
    timekeeper_id: str | None = None
    timekeeper_name: str | None = None
    timekeeper_last_name: str | None = None
    timekeeper_first_name: str | None = None
    timekeeper_classification: str | None = None
    description: str | None = None
    tax_rate: Decimal | None = None
    tax_total: Decimal | None = None
    tax_type: str | None = None
    source_line: int | None = None  # 1-based line of the file


@dataclass
class Invoice:
    invoice_number: str
    invoice_date: dt.date | None
    billing_start: dt.date | None
    billing_end: dt.date | None
    total: Decimal
    law_firm: Party
    client: Party
    description: str | None = None
    currency: str | None = None  # 98BI / XML; 1998B has none (the engagement's currency applies)
    net_total: Decimal | None = None
    tax_total: Decimal | None = None
    reported_tax_total: Decimal | None = None
    tax_currency: str | None = None
    po_number: str | None = None
    account_type: str | None = None
    lines: list[Line] = field(default_factory=list)

    @property
    def matters(self) -> list[tuple[str | None, str | None]]:
        seen: dict[tuple[str | None, str | None], None] = {}
        for ln in self.lines:
            seen.setdefault((ln.law_firm_matter_id, ln.client_matter_id), None)
        return list(seen)
