"""Shared Pydantic types: exact amounts, ISO currency and country codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import pycountry
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from triad.core.money import D, currency, minor_units, quantize

MAX_SCALE = 6  # what the Amount column stores (triad.core.db.Amount)
MAX_INT_DIGITS = 22


def _amount(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError("send amounts as strings (e.g. \"1250.00\"), not JSON numbers with a fraction")
    try:
        d = D(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    _sign, digits, exp = d.as_tuple()
    if exp < -MAX_SCALE and d != d.quantize(Decimal(1).scaleb(-MAX_SCALE)):
        raise ValueError(f"at most {MAX_SCALE} decimal places")
    if len(digits) + exp > MAX_INT_DIGITS and any(digits):
        raise ValueError(f"at most {MAX_INT_DIGITS} digits before the decimal point")
    return d


def check_minor_units(amount: Decimal | None, code: str | None, field: str = "amount") -> None:
    """Refuse an amount finer than its currency allows (JPY 100.5, USD 1.005)."""
    if amount is None or code is None:
        return
    if quantize(amount, code) != amount:
        raise ValueError(f"{field} {amount} has more decimals than {code} allows ({minor_units(code)})")


def _currency(value: Any) -> str:
    try:
        return currency(value)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def _country(value: Any) -> str:
    if not isinstance(value, str) or pycountry.countries.get(alpha_2=value.strip().upper()) is None:
        raise ValueError(f"unknown ISO 3166 country code: {value!r}")
    return value.strip().upper()


# Amounts travel as strings both ways so no JSON parser turns them into floats.
AmountIn = Annotated[
    Decimal,
    BeforeValidator(_amount),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
CurrencyCode = Annotated[str, BeforeValidator(_currency)]
CountryCode = Annotated[str, BeforeValidator(_country)]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid", str_strip_whitespace=True)


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)
