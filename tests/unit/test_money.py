from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triad.core.money import CurrencyError, D, Money, allocate, currency, minor_units, quantize


def test_adding_different_currencies_raises():
    with pytest.raises(CurrencyError, match="USD and EUR"):
        Money.of("10", "USD") + Money.of("10", "EUR")
    with pytest.raises(CurrencyError):
        Money.of("10", "USD") - Money.of("1", "GBP")
    with pytest.raises(CurrencyError):
        _ = Money.of("10", "USD") < Money.of("1", "GBP")


def test_same_currency_arithmetic_is_exact():
    total = sum([Money.of("0.10", "USD")] * 3)
    assert total == Money(Decimal("0.30"), "USD")
    assert Money.of("19.99", "USD") * 3 == Money(Decimal("59.97"), "USD")


def test_floats_are_refused():
    with pytest.raises(TypeError, match="float"):
        D(0.1)
    with pytest.raises(TypeError):
        Money(0.1, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("code,digits", [("USD", 2), ("JPY", 0), ("BHD", 3), ("EUR", 2), ("KWD", 3)])
def test_rounding_follows_each_currency(code, digits):
    assert minor_units(code) == digits
    assert quantize(Decimal("1.23456"), code) == Decimal("1.23456").quantize(Decimal(1).scaleb(-digits),
                                                                             rounding="ROUND_HALF_UP")


def test_half_up_rounding():
    assert Money.of("2.345", "USD").amount == Decimal("2.35")
    assert Money.of("-2.345", "USD").amount == Decimal("-2.35")
    assert Money.of("2.5", "JPY").amount == Decimal("3")


@pytest.mark.parametrize("bad", ["XYZ", "usdd", "", "US", "12A"])
def test_unknown_currency_rejected(bad):
    with pytest.raises(CurrencyError):
        currency(bad)


def test_currency_normalised():
    assert currency(" eur ") == "EUR"


def test_allocate_uneven_split_sums_exactly():
    parts = allocate(Money.of("100.00", "USD"), [Decimal(1)] * 3)
    assert [p.amount for p in parts] == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert sum(parts) == Money.of("100.00", "USD")


def test_allocate_negative_credit():
    parts = allocate(Money.of("-10.00", "EUR"), [Decimal(1)] * 3)
    assert sum(parts) == Money.of("-10.00", "EUR")
    assert sorted(p.amount for p in parts) == [Decimal("-3.34"), Decimal("-3.33"), Decimal("-3.33")]


@given(
    cents=st.integers(min_value=-10**12, max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=12).filter(any),
)
def test_allocate_always_sums_to_total(cents, weights):
    total = Money(Decimal(cents).scaleb(-2), "USD")
    parts = allocate(total, [Decimal(w) for w in weights])
    assert sum(parts) == total
    for p, w in zip(parts, weights, strict=True):
        if w == 0:
            assert p.amount == 0
