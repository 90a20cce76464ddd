"""The import's direct checks (sync._Checks) give what the Pydantic schemas give: the same normalised values
for good input, and a refusal (then the schema's own message) for bad input."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest
from pydantic import ValidationError
from stdnum.us import ein as us_ein

from triad.vendors import sync, validation, vector_checks
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


def _seeded_rows(n: int, seed: int) -> list[tuple[int, dict[str, str]]]:
    """Rows mixing valid and invalid values of every column the column-wise checks look at."""
    rng = random.Random(seed)
    pools = {
        "legal_name": ["Acme Widgets Ltd", "Żółw & Co GmbH", "", "x" * 300, "x" * 301, " Edge Ltd", "Edge Ltd\x1c"],
        "country": ["US", "us", "GB", "DE", "XX", "", "U S"],
        "tax_scheme": ["us_ein", "us_ein", "eu_vat", "gb_vat", "", "US_EIN", "other"],
        "tax_id": ["13-4924710", "134924710", "00-4924710", "13-492471", "１３-4924710", "DE136695976", "",
                   "13-4924710 ", "07-1144442"],
        "tax_country": ["", "", "US", "us", "GB", "XX"],
        "bank_holder": ["Acme Treasury", "", "h" * 200, "h" * 201, " h"],
        "iban": ["", "", "", "GB29NWBK60161331926819", "GB28NWBK60161331926819"],
        "bic": ["", "", "", "NWBKGB2L"],
        "routing_number": ["021000021", "021000021", "011000015", "021000022", "", "02100002", "0210000210",
                           "021 000 021"],
        "account_number": ["000123", "12345678901234567", "123", "123456789012345678", "", "12-34", "１２３４"],
        "bank_currency": ["USD", "usd", "EUR", "XXZ", ""],
        "address_line1": ["1 Main St", "", "a" * 200, "a" * 201],
        "address_city": ["Reno", "", "c" * 100, "c" * 101],
        "address_postal_code": ["", "89501", "p" * 20, "p" * 21],
        "address_country": ["", "", "US", "gb", "XX"],
        "status": ["", "", "", "active", "bogus"],
    }
    rows = []
    for line in range(2, n + 2):
        row = {k: v[0] if rng.random() < 0.85 else rng.choice(v) for k, v in pools.items()}
        if rng.random() < 0.05:
            row["contact_name"] = "Ann"
        rows.append((line, row))
    return rows


def test_column_wise_checks_equal_the_row_checks():
    """Every row gets from the column-wise checks plus the rest of the row checks exactly what the row-by-row
    checks alone give it (the same row, or the same errors); a good share of rows takes the column-wise path."""
    rows = _seeded_rows(4000, seed=11)
    checks = sync._Checks({})
    pres = vector_checks.precheck(rows, checks)
    fast = 0
    for (line, raw), pre in zip(rows, pres, strict=True):
        precise, errors = sync._check_row(line, raw, "f.csv", {}, sync._Checks({}))
        got, got_errors = sync._check_row(line, raw, "f.csv", {}, checks, pre)
        assert got_errors == errors, raw
        if precise is None:
            assert got is None
            continue
        assert vars(got) == vars(precise), raw
        fast += pre is not None
    assert fast > 500


def test_column_wise_checks_accept_the_common_shape():
    row = {"legal_name": "Acme Ltd", "country": "us", "tax_scheme": "us_ein", "tax_id": "134924710",
           "routing_number": "021000021", "account_number": "000123", "bank_currency": "usd",
           "address_line1": "1 Main St", "address_city": "Reno"}
    (pre,) = vector_checks.precheck([(2, row)], sync._Checks({}))
    assert pre == ("US", {"scheme": "us_ein", "value": "13-4924710", "country": "US"},
                   {"holder_name": "Acme Ltd", "iban": None, "bic": None, "account_number": "000123",
                    "routing_number": "021000021", "currency": "USD", "is_primary": True,
                    "account_key": "021000021:000123"},
                   {"kind": "remit_to", "line1": "1 Main St", "line2": None, "city": "Reno", "region": None,
                    "postal_code": None, "country": "US"})


def test_tax_key_equals_dropping_every_non_alphanumeric():
    rng = random.Random(5)
    for _ in range(3000):
        value = "".join(rng.choice("0123456789abcXYZ- ./é１") for _ in range(rng.randrange(14)))
        assert validation.tax_key(value) == re.sub(r"[^0-9A-Za-z]", "", value).upper(), value
    assert validation.tax_key(None) == ""


BU = {"LIT": 1, "TAX": 2}
REST = {
    "other_names": ["Acme;Acme Corp", " ; ", "x", "x;x"],
    "contact_name": ["Ann", "x" * 201],
    "contact_email": ["ann@example.com", "bad"],
    "business_units": ["LIT", "LIT;TAX", "LIT;LIT", "NOPE", " ; "],
    "vendor_id": ["12", "x1"],
    "status": ["active", "ACTIVE", "Draft", "bogus", "İnactive"],
    "legal_review": ["completed", "None", "x"],
    "risk_tier": ["HIGH", "medium", "xx"],
    "panel_member": ["yes", "No", "maybe"],
    "onboarding_pathway": ["procurement"],
    "screening_status": ["cleared"],
}


def _full_rows(n: int, seed: int) -> list[tuple[int, dict[str, str]]]:
    """The seeded rows plus every other column _check_row reads, each mostly empty."""
    rng = random.Random(seed)
    rows = _seeded_rows(n, seed)
    for _, row in rows:
        row.pop("contact_name", None)
        for key, values in REST.items():
            row[key] = rng.choice(values) if rng.random() < 0.04 else ""
    return rows


def _fields(row: sync._Row) -> dict:
    return {f.name: getattr(row, f.name) for f in dataclasses.fields(sync._Row)}


def _row_by_row(pairs: list[tuple[int, dict[str, str]]]) -> tuple[list[dict], list[int], list[dict]]:
    """The reference: every row through _check_row alone."""
    rows, at, errors = [], [], []
    for i, (line, raw) in enumerate(pairs):
        row, refused = sync._check_row(line, raw, "f.csv", BU, sync._Checks(BU))
        errors += refused
        if row is not None:
            rows.append(_fields(row))
            at.append(i)
    return rows, at, errors


def _checked(file: sync._File) -> tuple[list[dict], list[int], list[dict]]:
    errors: list[dict] = []
    rows, at = sync._checked_rows(file, "f.csv", sync._Checks(BU), errors)
    return [_fields(r) for r in rows], at, errors


def test_checked_rows_equal_the_row_checks_for_rows_read_row_by_row():
    """Rows from a JSON file or a CSV file csv.reader had to read: the plain ones built from the columns, the
    rest through _check_row; the same rows (every field, raw included), positions and errors, in order."""
    pairs = _full_rows(4000, seed=17)
    file = sync._File(sorted(pairs[0][1]), pairs=pairs)
    assert _checked(file) == _row_by_row(pairs)
    plain = vector_checks.checked(file.frame, sync._Checks(BU), sync.LEGAL_VALUES).plain
    assert 500 < sum(plain) < len(pairs) - 500
    # JSON objects need not share their keys: an absent key counts as an empty cell, and raw stays the object
    rng = random.Random(3)
    sparse = [(line, {k: v for k, v in raw.items() if k == "legal_name" or v or rng.random() < 0.5})
              for line, raw in pairs]
    file = sync._File(sorted({k for _, raw in sparse for k in raw}), pairs=sparse)
    assert _checked(file) == _row_by_row(sparse)
    # the first object has fewer keys than every later one: the later ones' cells are still read
    first_short = [(pairs[0][0], {"legal_name": pairs[0][1]["legal_name"], "country": "US"}), *pairs[1:]]
    file = sync._File(sorted({k for _, raw in first_short for k in raw}), pairs=first_short)
    assert _checked(file) == _row_by_row(first_short)
    # stripped columns are not looked at again for white space: told so, the same results for stripped rows
    stripped = [(line, {k: v.strip() for k, v in raw.items()}) for line, raw in pairs]
    told = sync._File(sorted(pairs[0][1]), pairs=stripped, edge_free=frozenset(pairs[0][1]))
    assert _checked(told) == _row_by_row(stripped)


def _csv(pairs: list[tuple[int, dict[str, str]]], end: str = "\n") -> bytes:
    header = list(pairs[0][1])
    lines = [",".join(header)] + [",".join(raw[k] for k in header) for _, raw in pairs]
    return (end.join(lines) + end).encode()


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_checked_rows_of_a_file_read_column_wise_equal_the_row_checks(end):
    pairs = _full_rows(4000, seed=23)
    good = {k: "" for k in pairs[0][1]} | {"legal_name": "Acme Ltd", "country": "US", "tax_scheme": "us_ein",
                                           "tax_id": "13-4924710", "routing_number": "021000021",
                                           "account_number": "000123", "bank_currency": "USD"}
    pairs[5] = (7, good | {"legal_name": "'=Formula Ltd"})  # an apostrophe undone
    pairs[6] = (8, good | {"legal_name": "'\tTabbed Ltd", "tax_id": ""})  # it uncovers a tab: row by row
    data = _csv(pairs, end)
    file = sync._read_file(data, "f.csv")
    assert file.by_column
    reference = sync._csv_rows(data.decode())[1]
    assert file.pairs() == reference
    got = _checked(file)
    assert got == _row_by_row(reference)
    rows, at = sync._checked_rows(file, "f.csv", sync._Checks(BU), [])
    assert sum(isinstance(r, sync._FileRow) for r in rows) > 500
    assert rows[at.index(5)].legal_name == "=Formula Ltd" and isinstance(rows[at.index(5)], sync._FileRow)
    assert rows[at.index(6)].legal_name == "\tTabbed Ltd" and not isinstance(rows[at.index(6)], sync._FileRow)
    # a plain row's raw dict, made when read, is the row's own
    assert all(r.raw == reference[i][1] for r, i in zip(rows, at, strict=True))


def test_the_benchmarks_file_is_read_column_wise_and_checked_as_row_by_row():
    from benchmarks.vendors import procurement_file

    data = procurement_file(3000)
    file = sync._read_file(data, "f.csv")
    assert file.by_column
    rows, at = sync._checked_rows(file, "f.csv", sync._Checks(BU), [])
    assert len(rows) == 3000 and all(isinstance(r, sync._FileRow) for r in rows)
    assert _checked(file) == _row_by_row(sync._csv_rows(data.decode())[1])
