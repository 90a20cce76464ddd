"""Money done one way: Decimal amounts, ISO 4217 currencies, per-currency rounding.

Never build an amount from a float. ``D()`` refuses floats; ``Money`` refuses to
add, subtract or compare amounts in different currencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

import pycountry
from babel.numbers import get_currency_precision


class CurrencyError(ValueError):
    """An unknown currency, or an operation mixing two currencies."""


@lru_cache(maxsize=512)
def _known(code: str) -> bool:
    return pycountry.currencies.get(alpha_3=code) is not None


def currency(code: str) -> str:
    """Return the normalised ISO 4217 code, or raise CurrencyError."""
    if not isinstance(code, str):
        raise CurrencyError(f"currency must be a 3-letter ISO 4217 code, got {code!r}")
    norm = code.strip().upper()
    if len(norm) != 3 or not norm.isalpha() or not _known(norm):
        raise CurrencyError(f"unknown ISO 4217 currency: {code!r}")
    return norm


@lru_cache(maxsize=512)
def minor_units(code: str) -> int:
    """Digits after the decimal point for the currency (USD 2, JPY 0, BHD 3)."""
    return get_currency_precision(currency(code))


def D(value: object) -> Decimal:  # noqa: N802 - the conventional short name
    """Build a Decimal from str, int or Decimal. Floats are refused."""
    if isinstance(value, bool):
        raise TypeError("a bool is not an amount")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    elif isinstance(value, float):
        raise TypeError("floats are not accepted for money; pass a string or Decimal")
    else:
        raise TypeError(f"cannot make a Decimal from {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def quantize(amount: Decimal, code: str) -> Decimal:
    """Round half-up to the currency's precision."""
    exp = Decimal(1).scaleb(-minor_units(code))
    return amount.quantize(exp, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", currency(self.currency))
        object.__setattr__(self, "amount", D(self.amount))

    @classmethod
    def of(cls, amount: object, code: str) -> Money:
        """Money rounded to the currency's precision."""
        return cls(quantize(D(amount), code), code)

    @classmethod
    def zero(cls, code: str) -> Money:
        return cls.of(0, code)

    def rounded(self) -> Money:
        return Money(quantize(self.amount, self.currency), self.currency)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyError(f"cannot combine {self.currency} and {other.currency}")
        return other

    def __add__(self, other: object) -> Money:
        o = self._same(other)
        return Money(self.amount + o.amount, self.currency)

    def __radd__(self, other: object) -> Money:
        if other == 0:  # lets sum() work
            return self
        return self.__add__(other)

    def __sub__(self, other: object) -> Money:
        o = self._same(other)
        return Money(self.amount - o.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, Money):
            raise TypeError("cannot multiply Money by Money")
        return Money(self.amount * D(factor), self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: object) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: object) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: object) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: object) -> bool:
        return self.amount >= self._same(other).amount

    def __str__(self) -> str:
        return f"{quantize(self.amount, self.currency):,} {self.currency}"


def allocate(total: Money, weights: list[Decimal]) -> list[Money]:
    """Split ``total`` in proportion to ``weights``; the parts sum exactly to the total.

    Largest-remainder rounding in the currency's minor unit.
    """
    if not weights:
        raise ValueError("need at least one weight")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    wsum = sum(weights, Decimal(0))
    if wsum == 0:
        raise ValueError("weights must not all be zero")
    unit = Decimal(1).scaleb(-minor_units(total.currency))
    cents = int((quantize(total.amount, total.currency) / unit).to_integral_value())
    sign = -1 if cents < 0 else 1
    cents = abs(cents)
    exact = [Decimal(cents) * w / wsum for w in weights]
    floors = [int(x) for x in exact]
    left = cents - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (exact[i] - floors[i], -i), reverse=True)
    for i in order[:left]:
        floors[i] += 1
    return [Money(sign * f * unit, total.currency) for f in floors]
