"""Column-wise checks of a vendor file's common shapes (polars), before the row-by-row checks.

A procurement file is mostly rows of a few shapes: a US EIN, a US routing number with an account number, a
remit-to address. This module decides, over whole columns at once, which rows are plainly valid in those
shapes and gives their normalised values; every other row (another tax scheme, an IBAN or BIC, anything odd
or invalid) is left to ``sync._check_row``, which checks it value by value and gives the precise message
(file, line, field, reason). The other columns (names, contact, business units, legal fields) are checked by
``sync._check_row`` for every row. Values that repeat (countries, currencies, routing
numbers, EIN prefixes) are looked up once per distinct value with the same functions the row checks use
(pycountry through ``core.schemas``, python-stdnum).

The fast path may only ever accept less, never something different: tests/unit/test_vendor_import_checks.py
holds its results equal to the row-by-row checks on seeded valid and invalid values.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import polars as pl
from stdnum import exceptions as stdnum_exc

from triad.vendors import validation

_COLS = ("legal_name", "country", "tax_scheme", "tax_id", "tax_country", "bank_holder", "iban", "bic",
         "routing_number", "account_number", "bank_currency", "address_line1", "address_city",
         "address_postal_code", "address_country")
# Leading or trailing white space as Python's str.strip sees it (Unicode White_Space plus \x1c-\x1f): such a
# cell goes row by row, so the fast path never has to strip.
_EDGE_SPACE = r"^[\s\x1c-\x1f]|[\s\x1c-\x1f]$"


def _routing(number: str) -> str | None:
    try:
        return validation._routing(number)
    except stdnum_exc.ValidationError:
        return None


def _mapped(col: pl.Expr, values: pl.Series, fn: Any) -> pl.Expr:
    """``fn`` applied once per distinct value of the column (None when it refuses the value)."""
    mapping = {v: fn(v) for v in values.unique().to_list()}
    return col.replace_strict(mapping, default=None, return_dtype=pl.String)


def _columns(dicts: list[dict[str, str]]) -> dict[str, Any]:
    """The checked columns as lists ("" where a row has no such cell)."""
    present = [c for c in _COLS if c in dicts[0]]
    try:  # a CSV file: every row has the header's keys, so one pass of C-level item getting
        values = list(map(itemgetter(*present), dicts)) if len(present) > 1 else None
    except KeyError:
        values = None
    if values is None:
        return {c: [r.get(c, "") for r in dicts] for c in _COLS}
    out: dict[str, Any] = dict(zip(present, zip(*values, strict=True), strict=True))
    missing = [""] * len(dicts)
    return {c: list(out[c]) if c in out else missing for c in _COLS}


def precheck(rows: list[tuple[int, dict[str, str]]], checks: Any) -> list[tuple | None]:
    """For each row, ``(country, tax, bank, address)`` as ``sync._check_row`` would build them, or None when
    the row must be checked row by row. ``checks``: the import's ``sync._Checks`` (country/currency caches)."""
    if not rows:
        return []
    data = _columns([r for _, r in rows])
    df = pl.DataFrame(data, schema=dict.fromkeys(_COLS, pl.String))
    c = pl.col

    def valid_country(v: str) -> str | None:
        return checks.country(v.upper())

    country = _mapped(c("country"), df["country"], valid_country).alias("cc")
    df = df.with_columns(country)
    # the tax and address countries default to the row's (checked) country, as in _check_row
    df = df.with_columns(
        pl.when(c("tax_country") != "").then(_mapped(c("tax_country"), df["tax_country"], checks.country))
        .otherwise(c("cc")).alias("tax_cc"),
        pl.when(c("address_country") != "").then(
            _mapped(c("address_country"), df["address_country"], checks.country))
        .otherwise(c("cc")).alias("addr_cc"),
        _mapped(c("bank_currency"), df["bank_currency"], checks.currency).alias("cur"),
        pl.when(c("routing_number").str.len_chars() <= 9).then(
            _mapped(c("routing_number"), df["routing_number"], _routing)).alias("rtn"),
        pl.when(c("bank_holder") != "").then(c("bank_holder")).otherwise(c("legal_name")).alias("holder"),
    )
    prefixes = df["tax_id"].str.slice(0, 2)
    ein_ok = {p: "1" if p.isascii() and p.isdigit() and validation._ein_prefix_valid(p) else None
              for p in prefixes.unique().to_list() if p is not None}
    edge = [c(k).str.contains(_EDGE_SPACE) for k in ("legal_name", "tax_id", "holder", "account_number",
                                                        "routing_number", "address_line1", "address_city",
                                                        "address_postal_code")]
    name_ok = c("legal_name").str.len_chars().is_between(1, 300)
    tax_none = c("tax_id") == ""
    tax_ok = (c("tax_scheme") == "us_ein") & (c("tax_cc") == "US") & \
        c("tax_id").str.contains(r"^[0-9]{2}-?[0-9]{7}$") & \
        c("tax_id").str.slice(0, 2).replace_strict(ein_ok, default=None, return_dtype=pl.String).is_not_null()
    bank_none = (c("iban") == "") & (c("bic") == "") & (c("routing_number") == "") & (c("account_number") == "")
    bank_ok = (c("iban") == "") & (c("bic") == "") & c("rtn").is_not_null() & c("cur").is_not_null() & \
        c("account_number").str.contains(r"^[0-9]{4,17}$") & c("holder").str.len_chars().is_between(1, 200)
    addr_none = c("address_line1") == ""
    addr_ok = c("address_line1").str.len_chars().is_between(1, 200) & \
        c("address_city").str.len_chars().is_between(1, 100) & (c("address_postal_code").str.len_chars() <= 20) & \
        c("addr_cc").is_not_null()
    fast = name_ok & c("cc").is_not_null() & (tax_none | tax_ok) & (bank_none | bank_ok) & \
        (addr_none | addr_ok) & ~pl.any_horizontal(edge)
    out = df.select(fast.fill_null(False).alias("fast"), "cc", "tax_id", "rtn", "account_number", "holder", "cur",
                    "address_line1", "address_city", "address_postal_code", "addr_cc")
    result: list[tuple | None] = []
    for ok, cc, tax_id, rtn, number, holder, cur, line1, city, postal, addr_cc in out.iter_rows():
        if not ok:
            result.append(None)
            continue
        tax = {"scheme": "us_ein", "value": f"{tax_id[:2]}-{tax_id[-7:]}", "country": "US"} if tax_id else None
        bank = {"holder_name": holder, "iban": None, "bic": None, "account_number": number, "routing_number": rtn,
                "currency": cur, "is_primary": True, "account_key": f"{rtn}:{number}"} if number else None
        address = {"kind": "remit_to", "line1": line1, "line2": None, "city": city, "region": None,
                   "postal_code": postal or None, "country": addr_cc} if line1 else None
        result.append((cc, tax, bank, address))
    return result
