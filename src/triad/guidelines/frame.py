"""Invoice lines as one polars frame, for the rules' vectorised pre-filters.

A pre-filter (``registry.prefilter``) names the rows of this frame on which its rule could
possibly report something; ``runner.evaluate_many`` then runs the rule's own Python code on those
rows only, so the rule still decides every finding, its text, facts and adjustment. A pre-filter
may name too many rows, never too few (tests/unit/test_guideline_prefilter.py compares both paths).

Columns, one row per invoice line, in invoice order then line order:

- ``row`` (position in the batch), ``inv`` (position of the invoice in the batch), ``inv_date``
- ``type``, ``date``, ``tk``, ``cls``, ``task``, ``act``, ``exp``, ``desc``, ``line_no``,
  ``source_line`` as on the line (a line number beyond Int64 is null there)
- ``units``, ``cost``, ``total``: exact amounts in millionths (Int64), null when the amount has
  more digits than that or is not a plain number; an invoice with such a line (``odd``) is
  screened line by line, every rule on every line
- ``ascii``: the description is plain ASCII, so polars' lower case is Python's; ``low`` is that
  lower case. Text pre-filters treat every non-ASCII description as a candidate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal, localcontext

import polars as pl

from triad.guidelines.model import InvoiceView, LineView

SCALE = 6
_PLAIN = r"^-?[0-9]{1,12}(\.[0-9]{0,6})?$"


def micro(value) -> int | None:
    """``value`` in exact millionths, or None when the frame cannot hold it exactly."""
    if value is None:
        return None
    try:
        d = Decimal(value)
    except (TypeError, ValueError, ArithmeticError):
        return None
    if not d.is_finite():
        return None
    with localcontext() as c:
        c.prec = 60
        scaled = d.scaleb(SCALE)
        if scaled != scaled.to_integral_value() or abs(scaled) >= 10 ** 18:
            return None
        return int(scaled)


def _exact(col: str) -> pl.Expr:
    """A plain number's text in millionths: at most 12 digits before the point and 6 after, so
    polars' decimal (38 digits, 6 after the point) holds it exactly and its integer fits Int64."""
    s = pl.col(col)
    millionths = s.cast(pl.Decimal(38, SCALE), strict=False).to_physical().cast(pl.Int64, strict=False)
    return pl.when(s.str.contains(_PLAIN)).then(millionths).otherwise(None).alias(col)


_EPOCH = dt.date(1970, 1, 1).toordinal()


def _days(days: list) -> pl.Series:
    """Dates as a polars Date column (through day numbers: much faster than converting dates)."""
    try:
        return pl.Series([d.toordinal() - _EPOCH for d in days], dtype=pl.Int32).cast(pl.Date)
    except (AttributeError, TypeError):  # a missing or odd date: let polars convert (None stays null)
        return pl.Series(days, dtype=pl.Date, strict=False)


def lines_frame(invoices: Sequence[InvoiceView], columns: pl.DataFrame | None = None
                ) -> tuple[pl.DataFrame, list[LineView]]:
    """One frame of every line of ``invoices`` and the lines in the same order.

    ``columns``: the lines' raw columns already made by the caller (``ledes_columns``), one row
    per line of ``invoices`` in the same order; without it they are read from the line objects."""
    lines = [ln for inv in invoices for ln in inv.lines]
    if columns is None:
        counts = [len(inv.lines) for inv in invoices]
        inv_idx = pl.Series("inv", range(len(invoices)), dtype=pl.UInt32)
        repeat = pl.Series("n", counts, dtype=pl.UInt32)
        inv_dates = pl.Series("inv_date", [inv.invoice_date for inv in invoices], dtype=pl.Date)
        numbers = pl.Series("number", [inv.invoice_number for inv in invoices], dtype=pl.String)
        frame = pl.DataFrame({
            "inv": inv_idx.repeat_by(repeat).explode() if lines else pl.Series("inv", [], dtype=pl.UInt32),
            "type": pl.Series([ln.line_type for ln in lines], dtype=pl.String),
            "date": _days([ln.date for ln in lines]),
            "units": pl.Series([str(ln.units) for ln in lines], dtype=pl.String),
            "cost": pl.Series([str(ln.unit_cost) for ln in lines], dtype=pl.String),
            "total": pl.Series([str(ln.total) for ln in lines], dtype=pl.String),
            "tk": pl.Series([ln.timekeeper_id for ln in lines], dtype=pl.String),
            "cls": pl.Series([ln.classification for ln in lines], dtype=pl.String),
            "task": pl.Series([ln.task_code for ln in lines], dtype=pl.String),
            "act": pl.Series([ln.activity_code for ln in lines], dtype=pl.String),
            "exp": pl.Series([ln.expense_code for ln in lines], dtype=pl.String),
            "desc": pl.Series([ln.description for ln in lines], dtype=pl.String),
            "line_no": pl.Series([ln.line_no for ln in lines], dtype=pl.Int64, strict=False),
            "source_line": pl.Series([ln.source_line for ln in lines], dtype=pl.Int64, strict=False),
        })
        frame = frame.with_columns(pl.lit(inv_dates).gather(pl.col("inv")).alias("inv_date") if lines
                                   else pl.lit(None, dtype=pl.Date).alias("inv_date"),
                                   pl.lit(numbers).gather(pl.col("inv")).alias("number") if lines
                                   else pl.lit(None, dtype=pl.String).alias("number"))
    else:
        frame = columns
    frame = frame.with_columns(_exact("units"), _exact("cost"), _exact("total"),
                               pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
                               (pl.col("desc").str.len_bytes() == pl.col("desc").str.len_chars())
                               .fill_null(False).alias("ascii"),
                               pl.col("desc").str.to_lowercase().alias("low"))
    odd = (pl.col("units").is_null() | pl.col("cost").is_null() | pl.col("total").is_null()
           | pl.col("date").is_null() | pl.col("desc").is_null() | pl.col("type").is_null())
    frame = frame.with_columns(odd.any().over("inv").alias("odd"))
    return frame, lines


_INVOICE_KEY = ("law_firm_id", "invoice_number")


def ledes_columns(ledes_frame: pl.DataFrame) -> pl.DataFrame | None:
    """The raw columns of ``lines_frame`` straight from a checked LEDES frame (``ledes.validate(...,
    keep_frame=True).frame``), without reading any line object: the lines of ``ledes_views`` of
    the same frame, in the same order (invoices by (LAW_FIRM_ID, INVOICE_NUMBER) in file order, as
    ``ledes.build.invoices`` groups them). An amount is read from its text (a leading "+" dropped);
    a text that is not a plain number makes its invoice odd, as a number the frame cannot hold
    does (screened line by line: the same findings). None when the frame holds something read
    differently by Python (a date not of 8 digits, a code or type that is not ASCII, a line number
    that is not plain digits): the caller then builds the frame from the lines."""
    f = ledes_frame
    if f.height == 0:
        return None
    upper = ("exp_fee_inv_adj_type", "timekeeper_classification", "line_item_task_code",
             "line_item_activity_code", "line_item_expense_code")

    def amount(col: str) -> pl.Expr:
        return pl.col(col).str.strip_prefix("+")

    needed = [*_INVOICE_KEY, *upper, "line_item_date", "line_item_number_of_units", "line_item_unit_cost",
              "line_item_total", "timekeeper_id", "line_item_description", "line_item_number", "_line",
              "invoice_date"]
    f = f.select(needed).with_row_index("_first").with_columns(pl.col("_first").min().over(*_INVOICE_KEY))
    if not f.select((pl.col("_first").diff().fill_null(0) >= 0).all()).item():  # invoices interleaved
        f = f.sort("_first", maintain_order=True)
    date_text = pl.col("line_item_date")
    out = f.select(
        pl.col("_first").rank("dense").cast(pl.UInt32).sub(1).alias("inv"),
        pl.col("exp_fee_inv_adj_type").str.to_uppercase().fill_null("").alias("type"),
        date_text.str.strptime(pl.Date, "%Y%m%d", strict=False).alias("date"),
        amount("line_item_number_of_units").fill_null("0").alias("units"),
        amount("line_item_unit_cost").fill_null("0").alias("cost"),
        amount("line_item_total").fill_null("0").alias("total"),
        pl.col("timekeeper_id").alias("tk"),
        pl.col("timekeeper_classification").str.to_uppercase().alias("cls"),
        pl.col("line_item_task_code").str.to_uppercase().alias("task"),
        pl.col("line_item_activity_code").str.to_uppercase().alias("act"),
        pl.col("line_item_expense_code").str.to_uppercase().alias("exp"),
        pl.col("line_item_description").fill_null("").alias("desc"),
        pl.col("line_item_number").cast(pl.Int64, strict=False).alias("line_no"),
        pl.col("_line").cast(pl.Int64).alias("source_line"),
        pl.col("invoice_date").first().over("_first").str.strptime(pl.Date, "%Y%m%d", strict=False)
        .alias("inv_date"),
        pl.col("invoice_number").fill_null("").alias("number"),
    )
    checks = f.select(
        (date_text.is_not_null() & ~date_text.str.contains(r"^[0-9]{8}$")).any().alias("date"),
        date_text.str.starts_with("0000").any().alias("year_0"),  # no year 0 in Python
        (pl.col("invoice_date").is_not_null() & ~pl.col("invoice_date").str.contains(r"^[0-9]{8}$")
         | pl.col("invoice_date").str.starts_with("0000")).any().alias("inv_date"),
        pl.any_horizontal([(pl.col(c).str.len_bytes() != pl.col(c).str.len_chars()).fill_null(False)
                           for c in upper]).any().alias("ascii"),
        (~pl.col("line_item_number").fill_null("").str.contains(r"^[0-9]{1,18}$")).any().alias("line_no"),
    )
    if any(checks.row(0)):
        return None
    return out


def ledes_views(invoices, currency: str) -> list[InvoiceView]:
    """Parsed LEDES invoices (``ledes.parse``) as the rules see them, as the file gives them: the
    file's classification, missing amounts as 0, ``currency`` for every invoice."""
    zero = Decimal(0)
    out = []
    for inv in invoices:
        lines = tuple(LineView(int(ln.line_no), ln.line_type, ln.date, zero if ln.units is None else ln.units,
                               zero if ln.unit_cost is None else ln.unit_cost, ln.total,
                               zero if ln.adjustment is None else ln.adjustment, ln.timekeeper_id,
                               ln.timekeeper_classification, ln.task_code, ln.activity_code, ln.expense_code,
                               ln.description or "", ln.source_line)
                      for ln in inv.lines)
        out.append(InvoiceView(inv.invoice_number, inv.invoice_date, inv.billing_start, inv.billing_end, currency,
                               inv.total, lines))
    return out


def fee() -> pl.Expr:
    return pl.col("type") == "F"


def expense() -> pl.Expr:
    return pl.col("type") == "E"


def blank(col: str) -> pl.Expr:
    """Python's ``not value`` for a code: None or empty."""
    return pl.col(col).is_null() | (pl.col(col) == "")


_META = set("\\.+*?()|[]{}^$#&-~")  # the regex crate's meta characters (``\<`` would be a word boundary)


def any_of(words: Iterable[str]) -> str:
    """A regular expression matching any of ``words`` as plain text. Polars' regex search over a
    literal alternation is several times faster than ``str.contains_any`` (Aho-Corasick) on
    descriptions; the regex meta characters are escaped, everything else is itself."""
    return "|".join("".join("\\" + c if c in _META else c for c in w) for w in words)


def contains_any(col: str, words: Iterable[str]) -> pl.Expr:
    """Rows whose ``col`` contains one of ``words`` (none: no row; an empty word: every row)."""
    words = list(words)
    if not words:
        return pl.lit(False)
    if any(w == "" for w in words):
        return pl.lit(True)
    return pl.col(col).str.contains(any_of(words))


def low_contains_any(words: Iterable[str]) -> pl.Expr:
    """Rows whose lower-cased description could contain one of ``words`` (exactly for ASCII
    descriptions; every non-ASCII description is a candidate)."""
    words = list(words)
    if not words:
        return pl.lit(False)
    return ~pl.col("ascii") | contains_any("low", words)


def above(col: str, amount) -> pl.Expr:
    """Rows where ``col`` > ``amount`` exactly (every row when ``amount`` is not exact here)."""
    m = micro(amount)
    return pl.lit(True) if m is None else pl.col(col) > m


def below(col: str, amount) -> pl.Expr:
    """Rows where ``col`` < ``amount`` exactly (every row when ``amount`` is not exact here)."""
    m = micro(amount)
    return pl.lit(True) if m is None else pl.col(col) < m


def group_sum_above(col: str, amount, *by: str, positive_only: bool = False) -> pl.Expr:
    """Rows of groups whose sum of ``col`` (its positive values only, if asked) may exceed
    ``amount``; summed as floats with a margin far above their rounding error."""
    m = micro(amount)
    if m is None:
        return pl.lit(True)
    v = pl.col(col).cast(pl.Float64)
    if positive_only:
        v = pl.when(v > 0).then(v).otherwise(0.0)
    return v.sum().over(*by) > float(m) - abs(float(m)) * 1e-9 - 1.0


def key_text(*parts: pl.Expr) -> pl.Expr:
    return pl.concat_str([p.cast(pl.String).fill_null("") for p in parts], separator="\x1f")


def iso_day(col: str) -> pl.Expr:
    """``date.isoformat()`` of a Date column; null outside years 1000-9999 (where the two could differ)."""
    d = pl.col(col)
    plain = (d >= dt.date(1000, 1, 1)) & (d <= dt.date(9999, 12, 31))
    return pl.when(plain).then(d.dt.strftime("%Y-%m-%d")).otherwise(None)


def day_text(day: dt.date) -> str:
    return day.isoformat()
