"""Column-wise checks of a vendor file's common shapes (polars), before the row-by-row checks.

A procurement file is mostly rows of a few shapes: a US EIN, a US routing number with an account number, a
remit-to address. This module decides, over whole columns at once, which rows are plainly valid in those
shapes and gives their normalised values; every other row (another tax scheme, an IBAN or BIC, anything odd
or invalid) is left to ``sync._check_row``, which checks it value by value and gives the precise message
(file, line, field, reason). A row valid in those shapes whose other columns need nothing checked (no vendor id,
other names, contact or business units; legal values empty or allowed) is "plain": ``sync._checked_rows`` makes
its row from the columns without ``sync._check_row``; every other row goes through ``sync._check_row``. Values
that repeat (countries, currencies, routing numbers, EIN prefixes, legal values) are looked up once per
distinct value with the same functions the row checks use (pycountry through ``core.schemas``, python-stdnum,
``str.lower``).

``read_csv`` reads a plain CSV file into such columns directly (decision 0034); any other file is read row by
row by ``sync._csv_rows`` and its columns made from the rows' dicts.

The fast path may only ever accept less, never something different: tests/unit/test_vendor_import_checks.py
holds its results equal to the row-by-row checks on seeded valid and invalid values, and
tests/unit/test_vendor_import_read.py the column-wise reading equal to csv.reader's.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import polars as pl
from stdnum import exceptions as stdnum_exc

from triad.vendors import validation
from triad.vendors.csv_cells import import_cell

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



# ---------------------------------------------------------------- reading a plain CSV file column-wise

# Every character Python's str.strip() and str.isspace() treat as white space (tests/unit/test_vendor_import_checks.py
# holds this equal to a scan of every code point).
WHITE_SPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
               "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_ASCII_WHITE = "".join(ch for ch in WHITE_SPACE if ch.isascii())
_BOM = b"\xef\xbb\xbf"


def read_csv(data: bytes, text: str) -> tuple[list[str], pl.DataFrame, frozenset[str]] | None:
    """A CSV file's header and its rows as a frame of text columns, exactly what ``sync.read_rows``' reading with
    ``csv.reader`` gives (cells stripped, the export's formula neutralisation undone; data lines numbered from 2),
    and the columns with no cell that has white space at either end (all but those where an apostrophe was
    undone: it may uncover a tab); or None when the file is not plain enough to be sure of that: then it is read
    row by row.

    Plain means: no double quote (csv's quote character), no NUL, a carriage return only before a newline (where
    csv.reader ends the record as at a newline, and polars drops it); at least two columns with
    distinct names; every line (the last may lack its newline) has exactly the header's number of commas, so
    there are no blank, short or long records and every cell is the text between two separators. ``text`` is
    ``data`` decoded as UTF-8 with one leading BOM dropped. polars' reading is checked, not trusted: same
    header, one row per line, and the cells' bytes add up to the file's bytes less separators and newlines."""
    body = data[len(_BOM):] if data.startswith(_BOM) else data  # ``text``, encoded
    if b'"' in body or b"\x00" in body:
        return None
    end = text.find("\n")
    if end < 0:
        return None
    # counted on the bytes (an ASCII byte in UTF-8 is always that character)
    octets = np.frombuffer(body, np.uint8)
    crlf = 0
    if b"\r" in body:  # csv.reader ends a record at "\r\n" as at "\n"; a "\r" anywhere else: row by row
        at = np.flatnonzero(octets == 13)
        if at[-1] + 1 >= len(octets) or not (octets[at + 1] == 10).all():
            return None
        crlf = len(at)
    header_cr = text[end - 1:end] == "\r"
    header = text[:end - 1 if header_cr else end].split(",")
    width = len(header)
    ends_with_newline = text.endswith("\n")
    lines = int(np.count_nonzero(octets == 10)) + (not ends_with_newline)  # the header's line included
    if width < 2 or len(set(header)) != width or lines < 2 or \
            int(np.count_nonzero(octets == 44)) != (width - 1) * lines:
        return None
    try:
        df = pl.read_csv(body, has_header=True, infer_schema=False, quote_char=None, truncate_ragged_lines=False,
                         raise_if_empty=True)
    except pl.exceptions.PolarsError:
        return None
    df = df.with_columns(pl.all().fill_null(""))  # an empty cell (null, without null_values nothing else is)
    records = lines - 1
    if df.columns != header or df.height != records or df.dtypes != [pl.String] * width:
        return None
    body_bytes = len(body) - (body.find(b"\n") + 1)
    separators = (width - 1) * records + records - (not ends_with_newline) + crlf - header_cr
    # a cell with white space at either end (as str.strip() sees it): in an ASCII file, a cell that starts or ends
    # with one of the white space characters the file has; else a cell that strip_chars(WHITE_SPACE) shortens
    col = pl.col
    if text.isascii():
        white = [ch for ch in _ASCII_WHITE if ch not in "\r\n" and ch in text]
        edges = [(col(c).str.starts_with(ch) | col(c).str.ends_with(ch)).any() for c in header for ch in white]
    else:
        edges = [(col(c).str.strip_chars(WHITE_SPACE).str.len_bytes() != col(c).str.len_bytes()).any()
                 for c in header]
    total, longest, edge = df.select(
        pl.sum_horizontal(pl.all().str.len_bytes().sum()).alias("total"),
        pl.max_horizontal(pl.all().str.len_bytes().max()).alias("longest"),
        pl.any_horizontal(False, *edges).alias("edge"),
    ).row(0)
    if total != body_bytes - separators or longest > csv.field_size_limit():
        return None  # (csv.reader refuses a field longer than its limit: let it say so)
    if edge:
        df = df.with_columns(pl.all().str.strip_chars(WHITE_SPACE))
    quoted = []
    if "'" in text:  # the export's formula neutralisation undone, as csv_cells.import_cells does it
        quoted = [c for c in header if df[c].str.starts_with("'").any()]
        if quoted:
            df = df.with_columns(pl.Series(c, [import_cell(v) for v in df[c].to_list()], pl.String) for c in quoted)
    return header, df, frozenset(header).difference(quoted)


# ---------------------------------------------------------------- checking the common shapes column-wise

# read by sync._check_row besides the common shapes and the legal values: a row with all of them empty is plain
_REST = ("vendor_id", "other_names", "contact_name", "business_units")


def frame_of(dicts: list[dict[str, str]], columns: tuple[str, ...]) -> pl.DataFrame:
    """``columns`` of row dicts as a frame of text ("" where a row has no such cell)."""
    present = [c for c in columns if dicts and c in dicts[0]]
    values = None
    # only when the first row has every column asked for (the rows of a CSV file all have the header's keys):
    # a column the first row lacks may still be in a later row (JSON objects need not share their keys)
    if len(present) > 1 and len(present) == len(columns):
        try:  # one pass of C-level item getting; a later row without one of the keys: row by row below
            values = list(map(itemgetter(*present), dicts))
        except KeyError:
            values = None
    if values is None:
        data = {c: [r.get(c, "") for r in dicts] for c in columns}
    else:
        out = dict(zip(present, zip(*values, strict=True), strict=True)) if values else dict.fromkeys(present, ())
        missing = [""] * len(dicts)
        data = {c: list(out[c]) if c in out else missing for c in columns}
    return pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String))


@dataclass
class Checked:
    """The column-wise checks' results, one list entry per row.

    ``pre``: the row's name, country, tax ID, bank account and address are valid in the common shapes; then
    ``cc``, ``tax``, ``bank``, ``address`` and ``tax_key`` are what ``sync._check_row`` builds for them (the
    dicts are new for each row; None where the row has no such part, and for every part of a row not ``pre``).
    ``plain``: ``pre`` and nothing else to check: no vendor id, other names, contact or business units, and every
    legal column empty or an allowed value; ``legal`` is then the row's legal values, lower-cased."""

    pre: list[bool]
    plain: list[bool]
    name: list[str]
    cc: list
    tax: list
    bank: list
    address: list
    tax_key: list
    legal: list[dict[str, str]]

    def parts(self, i: int) -> tuple | None:
        """Row i's ``(country, tax, bank, address)`` as ``sync._check_row`` builds them, or None (not ``pre``)."""
        return (self.cc[i], self.tax[i], self.bank[i], self.address[i]) if self.pre[i] else None


def _few(s: pl.Series) -> list:
    """A column of few distinct values as a list (one shared value when there is only one)."""
    return [s[0]] * len(s) if len(s) and s.n_unique() == 1 else s.to_list()


# the columns whose values the common shapes take (the holder is bank_holder or else legal_name)
_EDGE_COLS = ("legal_name", "tax_id", "bank_holder", "account_number", "routing_number", "address_line1",
              "address_city", "address_postal_code")


def checked(df: pl.DataFrame, checks: Any, legal_values: dict[str, set[str]], names: list[str] | None = None,
            edge_free: frozenset[str] = frozenset()) -> Checked:
    """The common shapes checked over whole columns (``df``: text columns, absent ones count as empty).
    ``checks``: the import's ``sync._Checks`` (country/currency caches); ``legal_values``: the allowed values
    of each legal column (``sync.LEGAL_VALUES``); ``names``: the legal_name column as a list, when at hand;
    ``edge_free``: columns the reader has stripped (no cell with white space at either end: not looked at again).
    """
    n = df.height
    c = pl.col
    need = (*_COLS, *_REST, *legal_values)
    df = df.select([c(k) if k in df.columns else pl.repeat("", n, dtype=pl.String).alias(k) for k in need])
    # each distinct value of the repeating columns, looked up once with the row checks' own functions
    mapped = ("country", "tax_country", "address_country", "bank_currency", "routing_number", *legal_values)
    distinct = df.select(*(c(k).unique().implode() for k in mapped),
                         c("tax_id").str.slice(0, 2).unique().implode().alias("ein_prefix"),
                         (c("bank_holder") != "").any().alias("holder_set"),
                         *((c(k) != "").any().alias(f"{k} set") for k in legal_values)).row(0, named=True)

    def lookup(col: str, fn: Any) -> pl.Expr:
        return c(col).replace_strict({v: fn(v) for v in distinct[col]}, default=None, return_dtype=pl.String)

    ein_ok = {p: "1" if p.isascii() and p.isdigit() and validation._ein_prefix_valid(p) else None
              for p in distinct["ein_prefix"] if p is not None}
    # the legal columns: Python's lower() once per distinct value, as _check_row applies it
    lowered = {key: {v: v.lower() for v in distinct[key]} for key in legal_values}
    legal = [key for key in legal_values if distinct[f"{key} set"]]
    # one lazy query in steps, each value computed once: the looked-up columns, then the shapes, then the results
    lf = df.lazy().with_columns(
        lookup("country", lambda v: checks.country(v.upper())).alias("cc"),
        lookup("bank_currency", checks.currency).alias("cur"),
        pl.when(c("routing_number").str.len_chars() <= 9).then(lookup("routing_number", _routing)).alias("rtn"),
        pl.when(c("bank_holder") != "").then(c("bank_holder")).otherwise(c("legal_name")).alias("holder"),
    ).with_columns(
        # the tax and address countries default to the row's (checked) country, as in _check_row
        pl.when(c("tax_country") != "").then(lookup("tax_country", checks.country)).otherwise(c("cc")).alias("tax_cc"),
        pl.when(c("address_country") != "").then(lookup("address_country", checks.country)).otherwise(c("cc"))
        .alias("addr_cc"),
    )
    edge = [c(k).str.contains(_EDGE_SPACE) for k in _EDGE_COLS if k not in edge_free]
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
    fast = name_ok & c("cc").is_not_null() & (tax_none | tax_ok) & (bank_none | bank_ok) & (addr_none | addr_ok)
    if edge:
        fast = fast & ~pl.any_horizontal(edge)
    legal_ok = [c(key).is_in([v for v, low in lowered[key].items() if not low or low in legal_values[key]])
                for key in legal_values]
    lf = lf.with_columns(fast.fill_null(False).alias("pre"))
    first, last = c("tax_id").str.slice(0, 2), c("tax_id").str.slice(-7)
    out = lf.select(
        "pre", (c("pre") & pl.all_horizontal(*(c(k) == "" for k in _REST), *legal_ok)).alias("plain"),
        pl.when(c("pre")).then(c("cc")).alias("cc"),
        pl.when(c("pre") & (c("tax_id") != "")).then(pl.concat_str(first, pl.lit("-"), last)).alias("tax_value"),
        "holder",
        pl.when(c("pre") & (c("account_number") != "")).then(c("account_number")).alias("number"), "rtn", "cur",
        pl.when(c("pre") & (c("address_line1") != "")).then(c("address_line1")).alias("line1"), "address_city",
        pl.when(c("address_postal_code") != "").then(c("address_postal_code")).alias("postal"), "addr_cc",
        *(c(key).replace_strict(lowered[key], return_dtype=pl.String) for key in legal),
    ).collect()
    names = names if names is not None else df["legal_name"].to_list()
    holders = out["holder"].to_list() if distinct["holder_set"] else names
    # what _check_row builds (Checks.tax/bank/address for these shapes), made here for the rows that have them
    values = out["tax_value"].to_list()
    tax = [{"scheme": "us_ein", "value": v, "country": "US"} if v is not None else None for v in values]
    tax_key = [v.replace("-", "") if v is not None else None for v in values]  # validation.tax_key of 12-3456789
    bank = [{"holder_name": h, "iban": None, "bic": None, "account_number": number, "routing_number": rtn,
             "currency": cur, "is_primary": True, "account_key": f"{rtn}:{number}"} if number is not None else None
            for h, number, rtn, cur in zip(holders, out["number"].to_list(), _few(out["rtn"]), _few(out["cur"]),
                                           strict=True)]
    address = [{"kind": "remit_to", "line1": line1, "line2": None, "city": city, "region": None,
                "postal_code": postal, "country": country} if line1 is not None else None
               for line1, city, postal, country in zip(out["line1"].to_list(), _few(out["address_city"]),
                                                        _few(out["postal"]), _few(out["addr_cc"]), strict=True)]
    if len(legal) == 1:  # e.g. a status column
        key = legal[0]
        legal_dicts = [{key: v} if v else {} for v in out[key].to_list()]
    else:
        legal_dicts = [{} for _ in range(n)]
        for key in legal:  # in LEGAL_VALUES' order, as _check_row adds them
            for d, v in zip(legal_dicts, out[key].to_list(), strict=True):
                if v:
                    d[key] = v
    return Checked(out["pre"].to_list(), out["plain"].to_list(), names, _few(out["cc"]), tax, bank, address,
                   tax_key, legal_dicts)


def precheck(rows: list[tuple[int, dict[str, str]]], checks: Any) -> list[tuple | None]:
    """For each row, ``(country, tax, bank, address)`` as ``sync._check_row`` would build them, or None when
    the row must be checked row by row. ``checks``: the import's ``sync._Checks`` (country/currency caches)."""
    if not rows:
        return []
    done = checked(frame_of([r for _, r in rows], _COLS), checks, {})
    return [done.parts(i) for i in range(len(rows))]
