"""The import's direct checks (sync._Checks) give what the Pydantic schemas give: the same normalised values
for good input, and a refusal (then the schema's own message) for bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from stdnum.us import ein as us_ein

from triad.vendors import sync, validation
from triad.vendors.schemas import AddressIn, BankAccountIn, TaxIdIn


def _schema(model, **kw):
    try:
        return model(**kw).model_dump()
    except ValidationError:
        return None


@pytest.mark.parametrize(("scheme", "value", "country"), [
    ("us_ein", "13-4924710", "US"), ("us_ein", "134924710", "US"), ("us_ein", " 13 4924710", "US"),
    ("us_ein", "07-1144442", "US"), ("us_ein", "12-345678", "US"), ("us_ein", "13-4924710", "GB"),
    ("us_ein", "１３-4924710", "US"), ("eu_vat", "136695976", "DE"), ("eu_vat", "FR 40 303265045", "FR"),
    ("eu_vat", "DE136695977", "DE"), ("gb_vat", "980 7806 84", "GB"), ("gb_crn", "sc123456", "GB"),
    ("gb_crn", "1234567", "GB"), ("other", " X-1 ", "US"), ("bogus", "1", "US"), ("other", "x" * 41, "US"),
    ("us_ein", "13-4924710", "XX"), ("", "13-4924710", "US"),
])
def test_tax_ids(scheme, value, country):
    checks = sync._Checks({})
    assert checks.tax(scheme, value, country) == _schema(TaxIdIn, scheme=scheme, value=value, country=country)


def test_every_ein_prefix_as_stdnum_says():
    for p in range(100):
        number = f"{p:02d}-1234567"
        try:
            expected = us_ein.format(us_ein.validate(number))
        except Exception:  # noqa: BLE001 - any refusal
            expected = None
        try:
            got = validation.normalise_tax_id("us_ein", number, "US")
        except ValueError:
            got = None
        assert got == expected, number


@pytest.mark.parametrize("kw", [
    {"iban": "GB29NWBK60161331926819", "currency": "GBP"},
    {"iban": "gb29 nwbk 6016 1331 9268 19", "bic": "NWBKGB2L", "currency": "GBP"},
    {"iban": "GB29NWBK60161331926819", "bic": "DEUTDEFF", "currency": "GBP"},
    {"iban": "GB28NWBK60161331926819", "currency": "GBP"},
    {"routing": "021000021", "number": "000123", "currency": "USD"},
    {"routing": "021000022", "number": "000123", "currency": "USD"},
    {"routing": "021000021", "number": "12", "currency": "USD"},
    {"bic": "DEUTDEFF", "number": "12-34 56", "currency": "EUR"},
    {"number": "123456", "currency": "EUR"},
    {"routing": "021000021", "number": "000123", "currency": "XXZ"},
    {"routing": "021000021", "number": "000123", "currency": ""},
    {"routing": "021000021", "number": "000123", "currency": "USD", "holder": "h" * 201},
    {"routing": "0210000210", "number": "000123", "currency": "USD"},
])
def test_bank_accounts(kw):
    checks = sync._Checks({})
    holder = kw.get("holder", "Acme Ltd")
    fast = checks.bank(holder, kw.get("iban"), kw.get("bic"), kw.get("routing"), kw.get("number"), kw["currency"])
    assert fast == _schema(BankAccountIn, holder_name=holder, iban=kw.get("iban"), bic=kw.get("bic"),
                           routing_number=kw.get("routing"), account_number=kw.get("number"),
                           currency=kw["currency"])


@pytest.mark.parametrize(("line1", "city", "postal", "country"), [
    ("1 Main St", "Springfield", None, "US"), ("1 Main St", "Springfield", "12345", "us"),
    ("1 Main St", "", None, "US"), ("1 Main St", "Springfield", "1" * 21, "US"), ("1 Main St", "X", None, "ZZ"),
    ("x" * 201, "Springfield", None, "US"),
])
def test_addresses(line1, city, postal, country):
    checks = sync._Checks({})
    assert checks.address(line1, city, postal, country) == _schema(AddressIn, line1=line1, city=city,
                                                                   postal_code=postal, country=country)
