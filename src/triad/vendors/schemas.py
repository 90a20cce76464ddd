from __future__ import annotations

import datetime as dt

from pydantic import Field

from triad.core.schemas import CountryCode, CurrencyCode, ReadSchema, Schema


class TaxIdIn(Schema):
    scheme: str = Field(pattern="^(us_ein|eu_vat|gb_vat|gb_crn|other)$")
    value: str = Field(min_length=1, max_length=40)
    country: CountryCode


class BankAccountIn(Schema):
    holder_name: str = Field(min_length=1, max_length=200)
    iban: str | None = Field(default=None, max_length=34)
    bic: str | None = Field(default=None, max_length=11)
    account_number: str | None = Field(default=None, max_length=34)
    routing_number: str | None = Field(default=None, max_length=9)
    currency: CurrencyCode
    is_primary: bool = True


class AddressIn(Schema):
    kind: str = Field(default="remit_to", pattern="^(remit_to|registered|billing|other)$")
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: CountryCode


class VendorCreate(Schema):
    legal_name: str = Field(min_length=1, max_length=300)
    other_names: list[str] = Field(default_factory=list)
    country: CountryCode
    risk_tier: str = Field(default="medium", pattern="^(low|medium|high)$")
    tax_ids: list[TaxIdIn] = Field(default_factory=list)
    bank_accounts: list[BankAccountIn] = Field(default_factory=list)
    addresses: list[AddressIn] = Field(default_factory=list)


class VendorUpdate(Schema):
    """Status, risk tier and screening are not here: legal owns them and changes them through the
    vendor lifecycle (legal review gate), not through procurement's record edits."""

    legal_name: str | None = Field(default=None, min_length=1, max_length=300)
    other_names: list[str] | None = None
    country: CountryCode | None = None
    tax_ids: list[TaxIdIn] | None = None
    bank_accounts: list[BankAccountIn] | None = None
    addresses: list[AddressIn] | None = None


class TaxIdRead(ReadSchema):
    id: int
    scheme: str
    value: str
    country: str


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


class VendorRead(ReadSchema):
    id: int
    legal_name: str
    other_names: list[str]
    country: str
    status: str
    risk_tier: str
    screening_status: str
    screened_at: dt.datetime | None
    tax_ids: list[TaxIdRead]
    bank_accounts: list[BankAccountRead]
    addresses: list[AddressRead]
