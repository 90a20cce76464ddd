from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from triad.core.schemas import AmountIn, CurrencyCode, ReadSchema, Schema, check_minor_units

PERIOD = r"^FY\d{4}(-Q[1-4]|-M(0[1-9]|1[0-2]))?$"
CODE = r"^(\*|[A-Z]\d{3})$"


class BudgetCreate(Schema):
    matter_id: int
    vendor_id: int
    utbms_code: str = Field(default="*", pattern=CODE, description="UTBMS phase or task code, * for all")
    fiscal_period: str = Field(pattern=PERIOD, description="FY2026, FY2026-Q1 or FY2026-M01")
    amount: AmountIn
    currency: CurrencyCode

    @field_validator("amount")
    @classmethod
    def _positive(cls, v):
        if v < 0:
            raise ValueError("budget amount must not be negative")
        return v

    @model_validator(mode="after")
    def _precision(self) -> BudgetCreate:
        check_minor_units(self.amount, self.currency)
        return self


class BudgetUpdate(Schema):
    amount: AmountIn | None = None
    currency: CurrencyCode | None = None

    @field_validator("amount")
    @classmethod
    def _positive(cls, v):
        if v is not None and v < 0:
            raise ValueError("budget amount must not be negative")
        return v

    @model_validator(mode="after")
    def _precision(self) -> BudgetUpdate:
        check_minor_units(self.amount, self.currency)
        return self


class BudgetRead(ReadSchema):
    id: int
    matter_id: int
    vendor_id: int
    utbms_code: str
    fiscal_period: str
    amount: AmountIn
    currency: str
