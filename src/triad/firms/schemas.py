from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from triad.core.schemas import AmountIn, CurrencyCode, ReadSchema, Schema, check_minor_units

# LEDES timekeeper classifications.
CLASSIFICATIONS = ("PARTNR", "ASSOC", "OFCNSL", "PARLGL", "LGLAST", "OTHR")
CLASS_PATTERN = "^(" + "|".join(CLASSIFICATIONS) + ")$"


class LawFirmCreate(Schema):
    vendor_id: int
    name: str = Field(min_length=1, max_length=300)
    ledes_firm_id: str = Field(min_length=1, max_length=40)
    default_currency: CurrencyCode
    panel_member: bool = True


class LawFirmUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    default_currency: CurrencyCode | None = None
    panel_member: bool | None = None


class LawFirmRead(ReadSchema):
    id: int
    vendor_id: int
    name: str
    ledes_firm_id: str
    default_currency: str
    panel_member: bool
    vendor_status: str


class RateIn(Schema):
    rate: AmountIn
    currency: CurrencyCode
    effective_from: dt.date
    effective_to: dt.date | None = None

    @model_validator(mode="after")
    def _check(self) -> RateIn:
        if self.rate < 0:
            raise ValueError("rate must not be negative")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        check_minor_units(self.rate, self.currency, "rate")
        return self


class RateRead(ReadSchema):
    id: int
    rate: AmountIn
    currency: str
    effective_from: dt.date
    effective_to: dt.date | None


class TimekeeperCreate(Schema):
    firm_id: int
    tk_id: str = Field(min_length=1, max_length=20)
    last_name: str = Field(min_length=1, max_length=100)
    first_name: str = Field(min_length=1, max_length=100)
    classification: str = Field(pattern=CLASS_PATTERN)
    is_active: bool = True
    rates: list[RateIn] = Field(default_factory=list)


class TimekeeperUpdate(Schema):
    last_name: str | None = Field(default=None, min_length=1, max_length=100)
    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    classification: str | None = Field(default=None, pattern=CLASS_PATTERN)
    is_active: bool | None = None
    rates: list[RateIn] | None = None


class TimekeeperRead(ReadSchema):
    id: int
    firm_id: int
    tk_id: str
    last_name: str
    first_name: str
    classification: str
    is_active: bool
    rates: list[RateRead]
