from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import EmailStr, Field, computed_field, model_validator

from triad.core.schemas import CountryCode, CurrencyCode, ReadSchema, Schema
from triad.vendors import validation

PATHWAYS = ("self_service", "procurement", "legal")


class TaxIdIn(Schema):
    scheme: str = Field(pattern="^(us_ein|eu_vat|gb_vat|gb_crn|other)$")
    value: str = Field(min_length=1, max_length=40)
    country: CountryCode

    @model_validator(mode="after")
    def _valid(self) -> TaxIdIn:
        self.value = validation.normalise_tax_id(self.scheme, self.value, self.country)
        return self


class BankAccountIn(Schema):
    holder_name: str = Field(min_length=1, max_length=200)
    iban: str | None = Field(default=None, max_length=42)
    bic: str | None = Field(default=None, max_length=11)
    account_number: str | None = Field(default=None, max_length=34)
    routing_number: str | None = Field(default=None, max_length=9)
    currency: CurrencyCode
    is_primary: bool = True

    @model_validator(mode="after")
    def _valid(self) -> BankAccountIn:
        norm = validation.normalise_bank(self.model_dump())
        self.iban, self.bic = norm["iban"], norm["bic"]
        self.account_number, self.routing_number = norm["account_number"], norm["routing_number"]
        return self

    @computed_field  # stored with the account: finds two vendors paid into one account
    @property
    def account_key(self) -> str:
        return validation.normalise_bank(self.model_dump(exclude={"account_key"}))["account_key"]


class AddressIn(Schema):
    kind: str = Field(default="remit_to", pattern="^(remit_to|registered|billing|other)$")
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: CountryCode


class ContactIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=40)
    role: str | None = Field(default=None, max_length=60)


class VendorCreate(Schema):
    legal_name: str = Field(min_length=1, max_length=300)
    other_names: list[str] = Field(default_factory=list)
    country: CountryCode
    risk_tier: str = Field(default="medium", pattern="^(low|medium|high)$")
    onboarding_pathway: str = Field(default="procurement", pattern="^(self_service|procurement|legal)$")
    tax_ids: list[TaxIdIn] = Field(default_factory=list)
    bank_accounts: list[BankAccountIn] = Field(default_factory=list)
    addresses: list[AddressIn] = Field(default_factory=list)
    contacts: list[ContactIn] = Field(default_factory=list)
    business_unit_ids: list[int] = Field(default_factory=list)


class VendorUpdate(Schema):
    """Status, legal review and screening are not here: legal owns them and changes them through the
    vendor lifecycle (legal review gate), not through procurement's record edits. Bank and tax changes
    to an active vendor wait for a second person's approval (four eyes)."""

    legal_name: str | None = Field(default=None, min_length=1, max_length=300)
    other_names: list[str] | None = None
    country: CountryCode | None = None
    tax_ids: list[TaxIdIn] | None = None
    bank_accounts: list[BankAccountIn] | None = None
    addresses: list[AddressIn] | None = None
    contacts: list[ContactIn] | None = None
    business_unit_ids: list[int] | None = None


class TaxIdRead(ReadSchema):
    id: int
    scheme: str
    value: str
    country: str
    validated_on: dt.date | None


class BankAccountRead(ReadSchema):
    id: int
    holder_name: str
    iban: str | None
    bic: str | None
    account_number: str | None
    routing_number: str | None
    currency: str
    is_primary: bool


class AddressRead(ReadSchema):
    id: int
    kind: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str


class ContactRead(ReadSchema):
    id: int
    name: str
    email: str | None
    phone: str | None
    role: str | None


class StatusChangeRead(ReadSchema):
    from_status: str
    to_status: str
    event: str
    actor: str
    reason: str | None
    at: dt.datetime


class VendorRead(ReadSchema):
    id: int
    legal_name: str
    other_names: list[str]
    country: str
    status: str
    risk_tier: str
    screening_status: str
    screened_at: dt.datetime | None
    onboarding_pathway: str
    legal_review: str
    legal_reviewed_at: dt.datetime | None
    activated_at: dt.datetime | None
    merged_into_id: int | None = None
    tax_ids: list[TaxIdRead]
    bank_accounts: list[BankAccountRead]
    addresses: list[AddressRead]
    contacts: list[ContactRead]
    business_unit_ids: list[int]
    status_changes: list[StatusChangeRead]


class TransitionIn(Schema):
    to: str = Field(pattern="^(draft|pending_review|active|suspended|deactivated)$")
    reason: str | None = Field(default=None, max_length=2000)


class ReviewIn(Schema):
    outcome: str = Field(pattern="^(completed|rejected)$")
    note: str | None = Field(default=None, max_length=2000)


class DecisionIn(Schema):
    approve: bool
    reason: str | None = Field(default=None, max_length=2000)


class ResolveIn(Schema):
    accept: bool
    reason: str | None = Field(default=None, max_length=2000)


class ClearHitIn(Schema):
    reason: str = Field(min_length=3, max_length=2000)


class PendingChangeRead(ReadSchema):
    id: int
    vendor_id: int
    kind: str
    proposed: list
    current: list
    status: str
    source: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None


class HitRead(ReadSchema):
    id: int
    vendor_id: int
    list_source: str
    entry_uid: str
    entry_name: str
    matched_name: str
    score: Decimal
    status: str
    found_at: dt.datetime
    cleared_by: str | None
    cleared_at: dt.datetime | None
    reason: str | None


class ConflictRead(ReadSchema):
    id: int
    vendor_id: int
    field: str
    source: str
    owner: str
    in_triad: str | None
    incoming: str | None
    filename: str | None
    line: int | None
    status: str
    created_at: dt.datetime
    resolved_by: str | None
    reason: str | None


class DuplicateRead(ReadSchema):
    id: int
    vendor_id: int
    other_vendor_id: int
    reason: str
    score: Decimal | None
    status: str
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decision_reason: str | None = None


class DismissIn(Schema):
    reason: str = Field(min_length=1, max_length=2000)


class MergeIn(Schema):
    survivor_id: int
    reason: str = Field(min_length=1, max_length=2000)


class MergeRead(Schema):
    duplicate: DuplicateRead
    survivor_id: int
    merged_id: int
    aliases_added: list[str]
    tax_ids_added: list[str]
    bank_accounts_added: list[str]
    skipped: list[dict]
    held_for_approval: list[int]
    moved: dict[str, int]
