from __future__ import annotations

import datetime as dt

from pydantic import Field

from triad.core.schemas import AmountIn, CurrencyCode, ReadSchema, Schema


class ApRouteCreate(Schema):
    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9._-]+$")
    priority: int = Field(default=100, ge=0, le=100000)
    ap_system: str = Field(min_length=1, max_length=60)
    business_unit_id: int | None = None
    legal_entity: str | None = Field(default=None, max_length=100)
    currency: CurrencyCode | None = None
    csv_layout: str = Field(default="single", pattern="^(single|multi)$")
    csv_columns: dict[str, str] = Field(default_factory=dict)
    debtor_name: str | None = Field(default=None, max_length=140)
    debtor_iban: str | None = Field(default=None, max_length=34)
    debtor_bic: str | None = Field(default=None, max_length=11)
    is_active: bool = True


class ApRouteUpdate(Schema):
    priority: int | None = Field(default=None, ge=0, le=100000)
    ap_system: str | None = Field(default=None, min_length=1, max_length=60)
    business_unit_id: int | None = None
    legal_entity: str | None = Field(default=None, max_length=100)
    currency: CurrencyCode | None = None
    csv_layout: str | None = Field(default=None, pattern="^(single|multi)$")
    csv_columns: dict[str, str] | None = None
    debtor_name: str | None = Field(default=None, max_length=140)
    debtor_iban: str | None = Field(default=None, max_length=34)
    debtor_bic: str | None = Field(default=None, max_length=11)
    is_active: bool | None = None


class ApRouteRead(ReadSchema):
    id: int
    name: str
    priority: int
    ap_system: str
    business_unit_id: int | None
    legal_entity: str | None
    currency: str | None
    csv_layout: str
    csv_columns: dict[str, str]
    debtor_name: str | None
    debtor_iban: str | None
    debtor_bic: str | None
    is_active: bool


class ExportIn(Schema):
    route: str = Field(min_length=1, max_length=60)
    format: str = Field(default="csv", pattern="^(csv|json|pain001)$")
    dry_run: bool = False
    execution_date: dt.date | None = None


class ReopenIn(Schema):
    reason: str = Field(min_length=1, max_length=2000)


class CreditIn(Schema):
    kind: str = Field(pattern="^(credit_note|write_down)$")
    amount: AmountIn
    reason: str = Field(min_length=1, max_length=2000)
    reference: str | None = Field(default=None, max_length=100)


class SyncRunRead(ReadSchema):
    id: int
    kind: str
    status: str
    actor: str
    filename: str | None
    sha256: str | None
    message_id: str | None
    format: str | None
    counts: dict
    errors: list
    batch_id: int | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
