from __future__ import annotations

import datetime as dt

from pydantic import Field, field_validator
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from triad.ap.formats import MULTI_COLUMNS
from triad.core.schemas import AmountIn, CurrencyCode, ReadSchema, Schema


def _columns(value: dict[str, str] | None) -> dict[str, str] | None:
    """Header renames for the CSV export: only columns the export writes, each to a distinct, non-empty name."""
    if value is None:
        return None
    unknown = sorted(k for k in value if k not in MULTI_COLUMNS)
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}; the export writes {', '.join(MULTI_COLUMNS)}")
    out = {k: v.strip() for k, v in value.items()}
    if any(not v or len(v) > 60 for v in out.values()):
        raise ValueError("every renamed header needs 1 to 60 characters")
    headers = [out.get(c, c) for c in MULTI_COLUMNS]
    if len(set(headers)) != len(headers):
        raise ValueError("two columns would get the same header")
    return out


def _iban(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return IBAN(value).compact
    except SchwiftyException as exc:
        raise ValueError(f"not a valid IBAN: {exc}") from None


def _bic(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return str(BIC(value))
    except SchwiftyException as exc:
        raise ValueError(f"not a valid BIC: {exc}") from None


class _RouteChecks(Schema):
    @field_validator("csv_columns", check_fields=False)
    @classmethod
    def _check_columns(cls, v):
        return _columns(v)

    @field_validator("debtor_iban", check_fields=False)
    @classmethod
    def _check_iban(cls, v):
        return _iban(v)

    @field_validator("debtor_bic", check_fields=False)
    @classmethod
    def _check_bic(cls, v):
        return _bic(v)


class ApRouteCreate(_RouteChecks):
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


class ApRouteUpdate(_RouteChecks):
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
