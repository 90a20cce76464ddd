from __future__ import annotations

import datetime as dt

from pydantic import Field

from triad.core.schemas import AmountIn, CurrencyCode, ReadSchema, Schema


class InvoiceLineRead(ReadSchema):
    id: int
    line_no: int
    matter_id: int
    line_type: str
    work_date: dt.date
    timekeeper_id: int | None
    task_code: str | None
    activity_code: str | None
    expense_code: str | None
    units: AmountIn
    unit_cost: AmountIn
    adjustment: AmountIn
    total: AmountIn
    description: str | None
    source_line: int | None
    decision: str | None
    approved_total: AmountIn | None
    reason_code: str | None
    decided_by: str | None


class AllocationRead(ReadSchema):
    id: int
    matter_id: int
    cost_center_id: int
    gl_account_id: int
    amount: AmountIn
    currency: str


class FindingRead(ReadSchema):
    rule: str
    severity: str
    action: str
    line_no: int | None
    source_line: int | None
    message: str
    adjustment: AmountIn
    currency: str
    guideline_version: str | None
    clause: str | None


class SignatureRead(ReadSchema):
    level_name: str
    level_id: int | None
    signed_by_id: int
    on_behalf_of_id: int | None
    amount: AmountIn
    at: dt.datetime
    voided_at: dt.datetime | None


class InvoiceRead(ReadSchema):
    id: int
    firm_id: int
    vendor_id: int
    invoice_number: str
    invoice_date: dt.date
    billing_start: dt.date
    billing_end: dt.date
    currency: str
    total_amount: AmountIn
    state: str
    description: str | None
    source_file_id: int | None
    source_format: str | None
    lines: list[InvoiceLineRead]
    allocations: list[AllocationRead]
    findings: list[FindingRead]
    approvals: list[SignatureRead]


class ApprovalLevelCreate(Schema):
    name: str = Field(min_length=1, max_length=100)
    min_amount: AmountIn = Field(ge=0)
    currency: CurrencyCode
    approver_id: int
    fallback_approver_id: int | None = None


class ApprovalLevelUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    min_amount: AmountIn | None = Field(default=None, ge=0)
    currency: CurrencyCode | None = None
    approver_id: int | None = None
    fallback_approver_id: int | None = None


class ApprovalLevelRead(ReadSchema):
    id: int
    name: str
    min_amount: AmountIn
    currency: str
    approver_id: int
    fallback_approver_id: int | None
