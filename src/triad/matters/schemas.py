from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from triad.core.schemas import AmountIn, CurrencyCode, ReadSchema, Schema, check_minor_units

MATTER_TYPES = "^(litigation|counseling|transactional|regulatory|employment|ip|bankruptcy|other)$"
MATTER_STATUSES = "^(open|on_hold|closed)$"


class AllocationIn(Schema):
    cost_center_id: int
    gl_account_id: int
    percent: AmountIn | None = None
    fixed_amount: AmountIn | None = None
    fixed_currency: CurrencyCode | None = None

    @model_validator(mode="after")
    def _one_basis(self) -> AllocationIn:
        if (self.percent is None) == (self.fixed_amount is None):
            raise ValueError("give either percent or fixed_amount")
        if self.percent is not None and not (Decimal(0) < self.percent <= Decimal(100)):
            raise ValueError("percent must be above 0 and at most 100")
        if self.fixed_amount is not None and self.fixed_currency is None:
            raise ValueError("fixed_amount needs fixed_currency")
        check_minor_units(self.fixed_amount, self.fixed_currency, "fixed_amount")
        return self


class AllocationRead(ReadSchema):
    id: int
    cost_center_id: int
    gl_account_id: int
    percent: AmountIn | None
    fixed_amount: AmountIn | None
    fixed_currency: str | None


def _check_allocations(allocs: list[AllocationIn] | None) -> None:
    if not allocs:
        return
    pct = [a.percent for a in allocs if a.percent is not None]
    if pct and len(pct) == len(allocs) and sum(pct) != Decimal(100):
        raise ValueError(f"allocation percentages add up to {sum(pct)}, not 100")
    if sum(pct, Decimal(0)) > Decimal(100):
        raise ValueError("allocation percentages add up to more than 100")


class MatterCreate(Schema):
    number: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=300)
    matter_type: str = Field(pattern=MATTER_TYPES)
    status: str = Field(default="open", pattern=MATTER_STATUSES)
    business_unit_id: int
    cost_center_id: int
    manager_id: int | None = None
    opened_on: dt.date
    closed_on: dt.date | None = None
    description: str | None = None
    allocations: list[AllocationIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> MatterCreate:
        if self.closed_on and self.closed_on < self.opened_on:
            raise ValueError("closed_on is before opened_on")
        _check_allocations(self.allocations)
        return self


class MatterUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    matter_type: str | None = Field(default=None, pattern=MATTER_TYPES)
    status: str | None = Field(default=None, pattern=MATTER_STATUSES)
    business_unit_id: int | None = None
    cost_center_id: int | None = None
    manager_id: int | None = None
    closed_on: dt.date | None = None
    description: str | None = None
    allocations: list[AllocationIn] | None = None

    @model_validator(mode="after")
    def _check(self) -> MatterUpdate:
        _check_allocations(self.allocations)
        return self


class MatterRead(ReadSchema):
    id: int
    number: str
    name: str
    matter_type: str
    status: str
    business_unit_id: int
    cost_center_id: int
    manager_id: int | None
    opened_on: dt.date
    closed_on: dt.date | None
    description: str | None
    allocations: list[AllocationRead]


class EngagementCreate(Schema):
    firm_id: int
    matter_id: int
    firm_matter_id: str | None = Field(default=None, max_length=40)
    currency: CurrencyCode
    status: str = Field(default="active", pattern="^(active|suspended|ended)$")
    starts_on: dt.date
    ends_on: dt.date | None = None
    billing_terms: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> EngagementCreate:
        if self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class EngagementUpdate(Schema):
    firm_matter_id: str | None = Field(default=None, max_length=40)
    currency: CurrencyCode | None = None
    status: str | None = Field(default=None, pattern="^(active|suspended|ended)$")
    ends_on: dt.date | None = None
    billing_terms: dict[str, Any] | None = None


class EngagementRead(ReadSchema):
    id: int
    firm_id: int
    matter_id: int
    firm_matter_id: str | None
    currency: str
    status: str
    starts_on: dt.date
    ends_on: dt.date | None
    billing_terms: dict[str, Any]
