"""Vectorised checks over a LEDES frame (one row per line item; see ``pipe.read``).

All row-level checks are computed in one pass: a single ``select`` produces one boolean
column per check, which polars evaluates in parallel. Only the rows that fail are turned
into ``Problem`` objects, so a clean million-line file never builds a Python object per
field. The same checks run on every format: the XML reader builds the same frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import polars as pl

from triad.ledes import utbms
from triad.ledes.fields import BY_COL, FIELDS_1998B, INVOICE_LEVEL, LINE_TYPES, TK_CLASSIFICATIONS, Field
from triad.ledes.problems import Problem, problem

MAX_PER_CODE = 1000  # a broken million-line file must not produce a million problems
TOLERANCE = Decimal("0.01")
SCALE = 6
DEC = pl.Decimal(38, SCALE)
# ASCII digits only: polars' \d also matches other scripts' digits, which no amount parser reads.
# At most 22 digits before the point and 6 after: what every amount column stores exactly.
NUMBER = r"^[+-]?([0-9]{1,22}\.?[0-9]{0,6}|\.[0-9]{1,6})$"
DATE = r"^[0-9]{8}$"
NAME = r"^[^,]+,\s*\S.*$"
KEY = ["law_firm_id", "invoice_number"]
_COLS_1998B = {f.col for f in FIELDS_1998B}
TAX_NUMS = ["line_item_tax_total", "line_item_tax_rate", "invoice_tax_total", "invoice_net_total"]
LINE_NUMS = ["line_item_number_of_units", "line_item_unit_cost", "line_item_adjustment_amount", "line_item_total",
             "invoice_total"]


@lru_cache(maxsize=1)
def _currencies() -> list[str]:
    import pycountry  # only 98BI files need it: not loaded at start-up

    return sorted(c.alpha_3 for c in pycountry.currencies)


@lru_cache(maxsize=1)
def _countries() -> list[str]:
    import pycountry

    return sorted({c.alpha_2 for c in pycountry.countries} | {c.alpha_3 for c in pycountry.countries})


@dataclass(frozen=True)
class RowCheck:
    code: str
    field: str | None  # LEDES field name reported
    value: str | None  # frame column whose value is reported
    expr: pl.Expr  # True where the row fails
    message: Callable[[dict], str]
    extra: tuple[pl.Expr, ...] = ()  # columns the message needs, computed on the failing rows only
    confirm: Callable[[dict], bool] | None = None  # exact (Decimal) re-check of a vectorised pre-filter
    # window checks: an aggregate over one invoice, True when the check may fire on its lines (a
    # cheap screen; the check itself runs only when some invoice passes it)
    screen: pl.Expr | None = None
    # the check looks at this column's value only (and never fires on null): it is run once per
    # distinct value of the column, and the lines holding a failing value are then picked out
    column: str | None = None


class Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self._counts: dict[str, int] = {}

    def emit(self, rows: pl.DataFrame, code: str, field: str | None, value_col: str | None,
             message: Callable[[dict], str], confirm: Callable[[dict], bool] | None = None) -> None:
        if confirm is not None and rows.height:
            keep = [confirm(r) for r in rows.iter_rows(named=True)]
            rows = rows.filter(pl.Series(keep, dtype=pl.Boolean))
        if rows.height == 0:
            return
        seen = self._counts.get(code, 0)
        room = MAX_PER_CODE - seen
        self._counts[code] = seen + rows.height
        if room <= 0:
            return
        for row in rows.head(room).iter_rows(named=True):
            value = row.get(value_col) if value_col else None
            self.problems.append(problem(code, row["_line"], field, value, message(row)))
        if rows.height > room:
            self.problems.append(problem(code, None, field, None, f"{rows.height - room} more {code} problems "
                                                                  "not listed"))

    def sorted(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.line is None, p.line or 0, p.code))


SCALE_UP = 10**SCALE  # millionths x SCALE_UP: 1e-12 units


def _not_plain(col: str) -> pl.Expr:
    """True where the column holds something other than a plain number (LEDES-023)."""
    return pl.col(col).is_not_null() & ~pl.col(col).str.contains(NUMBER)


_LIMIT = 10**15  # 1e9 in millionths: a product of two values below it stays below 1e30, inside Int128


def _arith_cols(is_98bi: bool) -> list[str]:
    cols = ["line_item_number_of_units", "line_item_unit_cost", "line_item_adjustment_amount", "line_item_total"]
    return cols + (["line_item_tax_total", "line_item_tax_rate"] if is_98bi else [])


def _helpers(frame_cols: list[str], is_98bi: bool) -> list[pl.Expr]:
    """Columns the per-line checks share, computed once per chunk.

    Arithmetic is exact and vectorised: every plain number (LEDES-023's pattern, so at most 6
    decimals) is read as a whole number of millionths (``_m_*``, Int128, 0 when absent). A value
    that is not a plain number (``_odd_*``), or 1e9 or more (``_big``: products could leave
    Int128), makes its line a candidate. Candidates are then decided with Decimal; the vectorised
    margin (0.009) stays below the 0.01 tolerance, so Decimal's 28-digit rounding cannot hide a
    problem either.
    """
    cols = [col for col in _arith_cols(is_98bi) if col in frame_cols]
    raw = {col: pl.col(col).cast(DEC, strict=False).to_physical() for col in cols}
    return [
        *[_not_plain(col).alias(f"_odd_{col}") for col in cols],
        *[pl.when(m.abs() < _LIMIT).then(m).otherwise(0).fill_null(0).alias(f"_m_{col}") for col, m in raw.items()],
        pl.any_horizontal([(m.abs() >= _LIMIT).fill_null(False) for m in raw.values()]).alias("_big"),
        # LINE_ITEM_TOTAL for the invoice totals (see ``line_outputs``): the value where it is exact
        *[pl.when(~_not_plain(col) & (m.abs() < _LIMIT)).then(m).otherwise(None).cast(pl.Int64).alias("_lt")
          for col, m in raw.items() if col == "line_item_total"],
    ]


def _name(col: str) -> str:
    return BY_COL[col].name


def _dec(col: str) -> pl.Expr:
    """The column as an exact decimal; null where it is empty or not a clean number."""
    return pl.col(col).str.strip_prefix("+").str.to_decimal(scale=SCALE)


def _fmt(d: Decimal | None) -> str:
    if d is None:
        return "?"
    cents = d.quantize(Decimal("0.01"))
    return format(cents if cents == d else d.normalize(), "f")


def _field_checks(fields: list[Field], ascii_only: bool = False) -> list[RowCheck]:
    out: list[RowCheck] = []
    for f in fields:
        c = pl.col(f.col)
        if f.required:
            out.append(RowCheck("LEDES-020", f.name, None, c.is_null(), lambda r, f=f: f"{f.name} is required"))
        if f.max_len:
            # in ASCII text, characters are bytes: the length is read off without scanning the text
            length = c.str.len_bytes() if ascii_only else c.str.len_chars()
            out.append(RowCheck("LEDES-021", f.name, f.col, length > f.max_len,
                                lambda r, f=f: f"{f.name} has {len(r[f.col])} characters; at most {f.max_len} "
                                               "are allowed"))
        if f.kind == "date":
            out.append(RowCheck("LEDES-022", f.name, f.col, c.is_not_null() & (
                ~c.str.contains(DATE) | c.str.to_date("%Y%m%d", strict=False).is_null()),
                lambda r, f=f: f"{f.name} {r[f.col]!r} is not a real calendar date", column=f.col))
        elif f.kind == "num":
            # the amounts of the line arithmetic are read by the shared helpers anyway (``_odd_*``)
            helper = f.col in _arith_cols(True)
            out.append(RowCheck("LEDES-023", f.name, f.col, pl.col(f"_odd_{f.col}") if helper else _not_plain(f.col),
                                lambda r, f=f: f"{f.name} {r[f.col]!r} is not a plain number (digits 0-9, one "
                                               "'.', optional sign; at most 22 digits before the point and 6 "
                                               "after)", column=None if helper else f.col))
        elif f.kind == "int":
            out.append(RowCheck("LEDES-025", f.name, f.col, c.is_not_null() & (
                ~c.str.contains(r"^[0-9]{1,9}$") | (c.str.strip_chars_start("0") == "")),
                lambda r, f=f: f"{f.name} {r[f.col]!r} must be a positive whole number of at most 9 digits",
                column=f.col))
        elif f.kind == "type":
            out.append(RowCheck("LEDES-024", f.name, f.col,
                                c.is_not_null() & ~c.str.to_uppercase().is_in(LINE_TYPES),
                                lambda r, f=f: f"{f.name} {r[f.col]!r} must be F, E, IF or IE", column=f.col))
        elif f.kind == "currency":
            out.append(RowCheck("LEDES-060", f.name, f.col,
                                c.is_not_null() & ~c.str.to_uppercase().is_in(_currencies()),
                                lambda r, f=f: f"{f.name} {r[f.col]!r} is not an ISO 4217 currency code",
                                column=f.col))
        elif f.kind == "country":
            out.append(RowCheck("LEDES-063", f.name, f.col,
                                c.is_not_null() & ~c.str.to_uppercase().is_in(_countries()),
                                lambda r, f=f: f"{f.name} {r[f.col]!r} is not an ISO 3166 country code",
                                column=f.col))
    return out


def _line_checks(fields: list[Field], is_98bi: bool, present: set[str]) -> list[RowCheck]:
    typ = pl.col("exp_fee_inv_adj_type").str.to_uppercase()
    fee = typ == "F"
    task = pl.col("line_item_task_code").str.to_uppercase()
    act = pl.col("line_item_activity_code").str.to_uppercase()
    exp = pl.col("line_item_expense_code").str.to_uppercase()
    cls = pl.col("timekeeper_classification").str.to_uppercase()
    out = [
        RowCheck("LEDES-052", "TIMEKEEPER_ID", None, fee & pl.col("timekeeper_id").is_null(),
                 lambda r: "a fee line (F) must name its timekeeper in TIMEKEEPER_ID"),
        RowCheck("LEDES-020", "LINE_ITEM_NUMBER_OF_UNITS", None,
                 typ.is_in(["F", "E"]) & pl.col("line_item_number_of_units").is_null(),
                 lambda r: "LINE_ITEM_NUMBER_OF_UNITS is required on fee and expense lines"),
        RowCheck("LEDES-020", "LINE_ITEM_UNIT_COST", None,
                 typ.is_in(["F", "E"]) & pl.col("line_item_unit_cost").is_null(),
                 lambda r: "LINE_ITEM_UNIT_COST is required on fee and expense lines"),
        RowCheck("LEDES-040", "LINE_ITEM_TASK_CODE", "line_item_task_code",
                 task.is_not_null() & ~task.is_in(list(utbms.TASK_SET)),
                 lambda r: f"{r['line_item_task_code']!r} is not a UTBMS task code (litigation, counseling, "
                           "project or bankruptcy code set)", column="line_item_task_code"),
        RowCheck("LEDES-041", "LINE_ITEM_ACTIVITY_CODE", "line_item_activity_code",
                 act.is_not_null() & ~act.is_in(list(utbms.ACTIVITIES)),
                 lambda r: f"{r['line_item_activity_code']!r} is not a UTBMS activity code (A101–A111)",
                 column="line_item_activity_code"),
        RowCheck("LEDES-042", "LINE_ITEM_EXPENSE_CODE", "line_item_expense_code",
                 exp.is_not_null() & ~exp.is_in(list(utbms.EXPENSES)),
                 lambda r: f"{r['line_item_expense_code']!r} is not a UTBMS expense code (E101–E124)",
                 column="line_item_expense_code"),
        RowCheck("LEDES-044", "LINE_ITEM_EXPENSE_CODE", "line_item_expense_code", fee & exp.is_not_null(),
                 lambda r: "a fee line (F) carries an expense code; fee lines take task and activity codes"),
        RowCheck("LEDES-044", "LINE_ITEM_ACTIVITY_CODE", "line_item_activity_code", (typ == "E") & act.is_not_null(),
                 lambda r: "an expense line (E) carries an activity code; expense lines take an expense code"),
        RowCheck("LEDES-050", "TIMEKEEPER_CLASSIFICATION", "timekeeper_classification",
                 cls.is_not_null() & ~cls.is_in(TK_CLASSIFICATIONS),
                 lambda r: f"{r['timekeeper_classification']!r} is not one of {', '.join(TK_CLASSIFICATIONS)}",
                 column="timekeeper_classification"),
        RowCheck("LEDES-051", "TIMEKEEPER_NAME", "timekeeper_name",
                 pl.col("timekeeper_name").is_not_null() & ~pl.col("timekeeper_name").str.contains(NAME),
                 lambda r: f"{r['timekeeper_name']!r} should be written \"Last, First\"",
                 column="timekeeper_name"),
        RowCheck("LEDES-006", None, None,
                 pl.any_horizontal([pl.col(f.col).str.contains(r"[^\x00-\x7F]") for f in fields if f.kind == "str"]),
                 lambda r: "the record contains non-ASCII characters; some e-billing systems reject them"),
    ]

    # arithmetic: line total = units x unit cost + adjustment (+ line tax in 98BI).
    # Candidates are found exactly, in one vectorised pass over integers: every plain number
    # (LEDES-023's pattern: at most 6 decimals) is read as a whole number of millionths. A value
    # that is not a plain number, or too large for the products to stay exact, always goes on.
    # Each candidate is then decided with Decimal; the vectorised margin (0.009) stays below the
    # 0.01 tolerance, so Decimal's 28-digit rounding cannot hide a problem either.
    arith = _arith_cols(is_98bi)
    odd = pl.any_horizontal([pl.col(f"_odd_{col}") for col in arith])
    units, cost = pl.col("_m_line_item_number_of_units"), pl.col("_m_line_item_unit_cost")
    adj, total = pl.col("_m_line_item_adjustment_amount") * SCALE_UP, pl.col("_m_line_item_total") * SCALE_UP
    tax = pl.col("_m_line_item_tax_total") * SCALE_UP if is_98bi else pl.lit(0, dtype=pl.Int128)
    base = units * cost + adj  # in 1e-12 units
    near = 9 * 10**9  # 0.009 in 1e-12 units
    adj_line = typ.is_in(["IF", "IE"])
    alt_ok = adj_line & (((total - (cost * SCALE_UP + adj + tax)).abs() <= near)
                         | ((total - (adj + tax)).abs() <= near))
    out.append(RowCheck("LEDES-030", "LINE_ITEM_TOTAL", "line_item_total",
                        pl.col("line_item_total").is_not_null()
                        & (odd | pl.col("_big") | (((total - base - tax).abs() > near) & ~alt_ok.fill_null(False))),
                        lambda r: f"LINE_ITEM_TOTAL is {r['line_item_total']} but units x unit cost + adjustment"
                                  f"{' + tax' if is_98bi else ''} = {_fmt(_line_expected(r, is_98bi)[0])}",
                        confirm=lambda r: _line_total_wrong(r, is_98bi)))
    if is_98bi:
        # with every value below 1e6: base (1e-12 units, below 1e24) x rate (millionths, below
        # 1e12) stays below 1e36, inside Int128; larger values are candidates
        tlim = 10**12
        tcols = [*arith, "line_item_tax_rate"]
        rate, ltax = pl.col("_m_line_item_tax_rate"), pl.col("_m_line_item_tax_total")
        big = pl.any_horizontal([pl.col(f"_m_{col}").abs() >= tlim for col in tcols]) | pl.col("_big")
        out.append(RowCheck("LEDES-061", "LINE_ITEM_TAX_TOTAL", "line_item_tax_total",
                            pl.col("line_item_tax_rate").is_not_null() & pl.col("line_item_tax_total").is_not_null()
                            & (pl.any_horizontal([pl.col(f"_odd_{col}") for col in tcols]) | big
                               | ((ltax * SCALE_UP**2 - base * rate).abs() > near * SCALE_UP)),
                            lambda r: f"LINE_ITEM_TAX_TOTAL is {r['line_item_tax_total']} but tax rate "
                                      f"{r['line_item_tax_rate']} x {_fmt(_line_expected(r, False)[0])} = "
                                      f"{_fmt(_line_tax(r))}",
                            confirm=lambda r: _tax_wrong(r)))

    # consistency within an invoice (window expressions over the invoice key)
    first_total = pl.col("invoice_total").first().over("_inv")
    out.append(RowCheck("LEDES-031", "INVOICE_TOTAL", "invoice_total",
                        pl.col("invoice_total").is_not_null() & (pl.col("invoice_total") != first_total),
                        lambda r: f"INVOICE_TOTAL {r['invoice_total']} differs from {r['_first']} on the invoice's "
                                  "first line", (first_total.alias("_first"),), screen=_varies("invoice_total"),
                        confirm=lambda r: None not in (_num(r["invoice_total"]), _num(r["_first"]))
                        and _num(r["invoice_total"]) != _num(r["_first"])))
    for col in INVOICE_LEVEL:
        if col not in present or (not is_98bi and col not in _COLS_1998B):
            continue
        ref = pl.col(col).first().over("_inv")
        out.append(RowCheck("LEDES-033", _name(col), col, ~pl.col(col).eq_missing(ref),
                            lambda r, col=col: f"{_name(col)} differs between lines of invoice {r['invoice_number']} "
                                               f"(first line has {r['_first']!r})", (ref.alias("_first"),),
                            screen=_varies(col)))
    out.append(RowCheck("LEDES-034", "LINE_ITEM_NUMBER", "line_item_number",
                        pl.col("line_item_number").is_not_null()
                        & ~pl.col("line_item_number").is_first_distinct().over("_inv"),
                        lambda r: f"line item number {r['line_item_number']} already used in invoice "
                                  f"{r['invoice_number']}",
                        screen=pl.col("line_item_number").drop_nulls().n_unique() < pl.col("line_item_number").count()))
    start = pl.col("billing_start_date").str.to_date("%Y%m%d", strict=False)
    end = pl.col("billing_end_date").str.to_date("%Y%m%d", strict=False)
    day = pl.col("line_item_date").str.to_date("%Y%m%d", strict=False)
    out.append(RowCheck("LEDES-036", "LINE_ITEM_DATE", "line_item_date",
                        ((start <= end) & ((day < start) | (day > end))).fill_null(False),
                        lambda r: f"LINE_ITEM_DATE {r['line_item_date']} is outside the billing period "
                                  f"{r['billing_start_date']}–{r['billing_end_date']}"))
    # the code set is named by the task code's letter: L, C, P or B. min/max over the invoice
    # ignore nulls, so they find mixed invoices cheaply; the rows to report are then picked exactly.
    # (``_set`` is computed with the per-line checks: see ``code_set``)
    code_set = pl.col("_set")
    mixed = code_set.min().over("_inv") != code_set.max().over("_inv")
    first_set = code_set.drop_nulls().first().over("_inv")
    out.append(RowCheck("LEDES-043", "LINE_ITEM_TASK_CODE", "line_item_task_code",
                        (mixed & code_set.is_not_null()).fill_null(False),
                        lambda r: f"task code {r['line_item_task_code']} is from the "
                                  f"{_SET_NAMES.get(r['_set'])} code set but invoice {r['invoice_number']} started "
                                  f"with the {_SET_NAMES.get(r['_first_set'])} code set",
                        (first_set.alias("_first_set"),),
                        screen=(code_set.to_physical().min() != code_set.to_physical().max()).fill_null(False),
                        confirm=lambda r: r["_set"] != r["_first_set"]))
    return out


_SET_NAMES = {"L": "litigation", "C": "counseling", "P": "project", "B": "bankruptcy"}
_SETS = pl.Enum(sorted({code[0] for code in utbms.TASK_SET}))


def code_set() -> pl.Expr:
    """The code set of a line's task code, named by its letter (L, C, P or B); null when the
    line has no known task code."""
    task = pl.col("line_item_task_code").str.to_uppercase()
    return pl.when(task.is_in(list(utbms.TASK_SET))).then(task.str.head(1)).cast(_SETS).alias("_set")


def _varies(col: str) -> pl.Expr:
    """Screen: the column does not hold one value (or null throughout) on every line of the invoice."""
    phys = pl.col(col).to_physical()
    nulls = pl.col(col).null_count()
    return (phys.min() != phys.max()).fill_null(False) | ((nulls > 0) & (nulls < pl.len()))


def _num(v: str | None) -> Decimal | None:
    if v is None:
        return None
    try:
        d = Decimal(v.strip().removeprefix("+"))
    except ArithmeticError:
        return None
    return d if d.is_finite() else None


def _line_expected(r: dict, with_tax: bool) -> tuple[Decimal | None, Decimal | None]:
    units, cost = _num(r["line_item_number_of_units"]), _num(r["line_item_unit_cost"])
    adj = _num(r["line_item_adjustment_amount"]) or Decimal(0)
    tax = (_num(r.get("line_item_tax_total")) or Decimal(0)) if with_tax else Decimal(0)
    base = (units or Decimal(0)) * (cost or Decimal(0)) + adj
    return base + tax, tax


def _unclean(r: dict, cols: tuple[str, ...]) -> bool:
    """A value that is present but not a number (reported by LEDES-023, so no arithmetic on it)."""
    return any(r.get(c) is not None and _num(r[c]) is None for c in cols)


_ARITH = ("line_item_number_of_units", "line_item_unit_cost", "line_item_adjustment_amount", "line_item_total",
          "line_item_tax_total")


def _line_total_wrong(r: dict, with_tax: bool) -> bool:
    total = _num(r["line_item_total"])
    if total is None or _unclean(r, _ARITH):
        return False
    typ = (r["exp_fee_inv_adj_type"] or "").upper()
    if typ in ("F", "E") and (r["line_item_number_of_units"] is None or r["line_item_unit_cost"] is None):
        return False  # reported as a missing required field
    expected, tax = _line_expected(r, with_tax)
    if abs(total - expected) <= TOLERANCE:
        return False
    if (r["exp_fee_inv_adj_type"] or "").upper() in ("IF", "IE"):
        cost = _num(r["line_item_unit_cost"]) or Decimal(0)
        adj = _num(r["line_item_adjustment_amount"]) or Decimal(0)
        if abs(total - (cost + adj + tax)) <= TOLERANCE or abs(total - (adj + tax)) <= TOLERANCE:
            return False
    return True


def _line_tax(r: dict) -> Decimal | None:
    rate = _num(r["line_item_tax_rate"])
    return None if rate is None else _line_expected(r, False)[0] * rate


def _tax_wrong(r: dict) -> bool:
    if _unclean(r, (*_ARITH, "line_item_tax_rate")):
        return False
    ltax, expected = _num(r["line_item_tax_total"]), _line_tax(r)
    return ltax is not None and expected is not None and abs(ltax - expected) > TOLERANCE


# Checks that compare a line with the other lines of its invoice; they run on the compact frame
# of all chunks together. Every other row check looks at one line only and runs chunk by chunk.
WINDOW_CODES = frozenset({"LEDES-031", "LEDES-033", "LEDES-034", "LEDES-043"})


def _row_checks(frame: pl.DataFrame, fmt: str, ascii_only: bool, numeric_line_ids: bool) -> list[RowCheck]:
    is_98bi = fmt != "LEDES1998B"
    fields = [f for f in BY_COL.values() if is_98bi or f.col in _COLS_1998B]
    checks = _field_checks(fields, ascii_only) + _line_checks(fields, is_98bi, set(frame.columns))
    skip = set()
    if ascii_only:
        skip.add("LEDES-006")
    if not numeric_line_ids:
        skip |= {"LEDES-025", "LEDES-034"}
    return [rc for rc in checks if rc.code not in skip]


def _run(frame: pl.DataFrame, row_checks: list[RowCheck], c: Collector, helpers: list[pl.Expr] = (),
         outputs: list[pl.Expr] = ()) -> pl.DataFrame | None:
    """Run the checks; returns the ``outputs`` columns, computed in the same pass."""
    if frame.height == 0 or not (row_checks or outputs):
        return None
    # checks of one column's value run on its distinct values (each repeats on many lines)
    by_value = {i: rc for i, rc in enumerate(row_checks) if rc.column is not None}
    by_line = [i for i in range(len(row_checks)) if i not in by_value]
    # lazily, so that sub-expressions shared by several checks are computed once
    flags = frame.lazy().with_columns(*helpers).select(
        *[row_checks[i].expr.fill_null(False).alias(f"c{i}") for i in by_line], *outputs).collect()
    fired = dict(zip(by_line, flags.select(pl.col(f"c{i}").any() for i in by_line).row(0) if by_line else (),
                     strict=True))
    bad_values = _failing_values(frame, by_value)
    for i, rc in enumerate(row_checks):
        if i in by_value:
            bad = bad_values.get(i)
            if bad is None:
                continue
            mask = pl.col(rc.column).is_in(bad.implode())
        elif fired[i]:
            mask = flags.get_column(f"c{i}")
        else:
            continue
        # extra columns may be window expressions, so compute them before filtering
        rows = (frame.with_columns(*rc.extra) if rc.extra else frame).filter(mask)
        c.emit(rows, rc.code, rc.field, rc.value, rc.message, rc.confirm)
    return flags.select(*[o.meta.output_name() for o in outputs])


def _failing_values(frame: pl.DataFrame, checks: dict[int, RowCheck]) -> dict[int, pl.Series]:
    """For each check of one column's value (``RowCheck.column``), the distinct values it fails on;
    checks that fail on no value are left out."""
    if not checks:
        return {}
    cols = list(dict.fromkeys(rc.column for rc in checks.values()))
    # every column's distinct values, in one frame (shorter columns padded with nulls, on which
    # these checks never fire)
    uniq = frame.lazy().select(pl.col(c).unique().implode() for c in cols).collect()
    values = pl.concat([pl.DataFrame(s.explode()) for s in uniq.iter_columns()], how="diagonal")
    flags = values.lazy().select(*[rc.expr.fill_null(False).alias(f"c{i}") for i, rc in checks.items()]).collect()
    fired = flags.select(pl.col(f"c{i}").any() for i in checks).row(0)
    return {i: values.get_column(rc.column).filter(flags.get_column(f"c{i}"))
            for (i, rc), hit in zip(checks.items(), fired, strict=True) if hit}


def check_lines(frame: pl.DataFrame, c: Collector, *, fmt: str, ascii_only: bool = False,
                numeric_line_ids: bool = True) -> pl.DataFrame | None:
    """The checks that need one line at a time (run on each chunk of a large file). Returns, computed
    in the same pass, what ``compact`` needs of each line (``line_outputs``)."""
    checks = [rc for rc in _row_checks(frame, fmt, ascii_only, numeric_line_ids) if rc.code not in WINDOW_CODES]
    return _run(frame, checks, c, _helpers(frame.columns, fmt != "LEDES1998B"), line_outputs(helpers=True))


def line_outputs(*, helpers: bool = False) -> list[pl.Expr]:
    """Per line: its code set (``code_set``) and its LINE_ITEM_TOTAL read once, for the invoice
    totals: ``_lt``, whole millionths, where the value is a plain number below 1e9; otherwise
    ``_lt_odd``, the text (null when absent), read exactly with ``_dec`` by the invoice checks.
    ``helpers``: the ``_helpers`` columns are there to reuse."""
    total = pl.col("line_item_total")
    if helpers:
        exact = pl.col("_lt")
    else:
        m = total.cast(DEC, strict=False).to_physical()
        exact = pl.when(~_not_plain("line_item_total") & (m.abs() < _LIMIT)).then(m).otherwise(None).cast(pl.Int64)
    return [code_set(), exact.alias("_lt"), pl.when(exact.is_null()).then(total).otherwise(None).alias("_lt_odd")]


def compact(frame: pl.DataFrame, fmt: str, outputs: pl.DataFrame | None = None) -> pl.DataFrame:
    """What the invoice-level checks need, small: repeated invoice-level text becomes categorical.
    ``outputs``: the lines' ``line_outputs`` as ``check_lines`` returned them (computed here when
    absent)."""
    is_98bi = fmt != "LEDES1998B"
    repeated = [col for col in dict.fromkeys([*KEY, "invoice_total", "billing_start_date", "billing_end_date",
                                               *INVOICE_LEVEL])
                if col in frame.columns and (is_98bi or col in _COLS_1998B)]
    keep = ["line_item_number", "line_item_task_code"] + (["line_item_tax_total"] if is_98bi else [])
    cols = [pl.col(col).cast(pl.Categorical) for col in repeated]
    if outputs is None:
        return frame.select("_line", *cols, *keep, *line_outputs())
    return frame.select("_line", *cols, *keep).hstack(outputs)


def check_invoices(cframe: pl.DataFrame, c: Collector, *, fmt: str, numeric_line_ids: bool = True) -> int:
    """The checks that compare lines of one invoice, on the compact frame of the whole file.
    Returns the number of invoices."""
    if cframe.height == 0:
        return 0
    cframe = cframe.with_columns(_invoice_id().alias("_inv"))
    checks = [rc for rc in _row_checks(cframe, fmt, True, numeric_line_ids) if rc.code in WINDOW_CODES]
    screened = [rc for rc in checks if rc.screen is not None]
    inv = _invoices(cframe, fmt != "LEDES1998B", [rc.screen.alias(f"_s{i}") for i, rc in enumerate(screened)])
    if screened:
        may_fire = inv.select(pl.col(f"_s{i}").any() for i in range(len(screened))).row(0)
        skip = {id(rc) for rc, fire in zip(screened, may_fire, strict=True) if not fire}
        checks = [rc for rc in checks if id(rc) not in skip]
    _run(cframe, checks, c)
    _invoice_checks(inv, c, fmt != "LEDES1998B")
    return inv.height


def _invoice_id() -> pl.Expr:
    """One number per invoice key (LAW_FIRM_ID, INVOICE_NUMBER): the two categorical codes side by
    side (polars' categorical codes are shared by every frame in the process)."""
    firm, number = (pl.col(col).cast(pl.Categorical).to_physical().cast(pl.UInt64).fill_null(2**32 - 1) for col in KEY)
    return firm * 2**32 + number


def check(frame: pl.DataFrame, *, fmt: str, ascii_only: bool = False, numeric_line_ids: bool = True) -> list[Problem]:
    """Run every check on a whole frame; returns the problems in file order."""
    c = Collector()
    if frame.height:
        outputs = check_lines(frame, c, fmt=fmt, ascii_only=ascii_only, numeric_line_ids=numeric_line_ids)
        check_invoices(compact(frame, fmt, outputs), c, fmt=fmt, numeric_line_ids=numeric_line_ids)
    return c.sorted()


def _invoices(frame: pl.DataFrame, is_98bi: bool, screens: list[pl.Expr]) -> pl.DataFrame:
    """One row per invoice (in file order): what the invoice checks need, and the ``screens``."""
    def text(col: str) -> pl.Expr:
        return pl.col(col).first().cast(pl.String)

    odd = _dec("_lt_odd")
    aggs = [
        pl.col("_line").first(), text("invoice_total").alias("invoice_total"),
        # the lines' total in whole millionths: the plain values read by the line checks, the rest here
        (pl.col("_lt").cast(pl.Int128).sum() + odd.to_physical().sum().fill_null(0)).alias("_sum_m"),
        pl.len().alias("_n"),
        (pl.col("_lt_odd").is_not_null() & odd.is_null()).sum().alias("_unclean"),
        text("billing_start_date").alias("billing_start_date"), text("billing_end_date").alias("billing_end_date"),
        text("invoice_number").alias("invoice_number"),
    ]
    if is_98bi:
        aggs += [text("invoice_tax_total").alias("invoice_tax_total"),
                 text("invoice_net_total").alias("invoice_net_total"),
                 _dec("line_item_tax_total").sum().alias("_sum_tax")]
    inv = frame.group_by("_inv", maintain_order=True).agg(*aggs, *screens).with_columns(
        _dec("invoice_total").alias("_inv_total"))
    if is_98bi:
        inv = inv.with_columns(_dec("invoice_tax_total").alias("_itax"), _dec("invoice_net_total").alias("_inet"))
    return inv


def _millionths(m: int) -> Decimal:
    return Decimal(m).scaleb(-SCALE)


def _invoice_checks(inv: pl.DataFrame, c: Collector, is_98bi: bool) -> None:
    """Checks on whole invoices: totals against the lines, the billing period, tax aggregates."""
    tol = pl.lit(TOLERANCE).cast(DEC)
    c.emit(inv.filter(pl.col("_inv_total").is_not_null() & (pl.col("_unclean") == 0)
                      & ((pl.col("_inv_total").to_physical() - pl.col("_sum_m")).abs() > int(TOLERANCE * SCALE_UP))),
           "LEDES-032", "INVOICE_TOTAL", "invoice_total",
           lambda r: f"invoice {r['invoice_number']}: INVOICE_TOTAL is {r['invoice_total']} but its {r['_n']} lines "
                     f"add up to {_fmt(_millionths(r['_sum_m']))}")
    start = pl.col("billing_start_date").str.to_date("%Y%m%d", strict=False)
    end = pl.col("billing_end_date").str.to_date("%Y%m%d", strict=False)
    c.emit(inv.filter((start > end).fill_null(False)), "LEDES-035", "BILLING_START_DATE", "billing_start_date",
           lambda r: f"billing period {r['billing_start_date']}–{r['billing_end_date']} starts after it ends")
    if is_98bi:
        c.emit(inv.filter(pl.col("_itax").is_not_null() & ((pl.col("_itax") - pl.col("_sum_tax")).abs() > tol)),
               "LEDES-062", "INVOICE_TAX_TOTAL", "invoice_tax_total",
               lambda r: f"INVOICE_TAX_TOTAL {r['invoice_tax_total']} but the lines' tax adds up to "
                         f"{_fmt(r['_sum_tax'])}")
        c.emit(inv.filter(pl.col("_itax").is_not_null() & pl.col("_inet").is_not_null()
                          & ((pl.col("_inet") + pl.col("_itax") - pl.col("_inv_total")).abs() > tol)),
               "LEDES-062", "INVOICE_NET_TOTAL", "invoice_tax_total",
               lambda r: f"INVOICE_NET_TOTAL {_fmt(r['_inet'])} + INVOICE_TAX_TOTAL {_fmt(r['_itax'])} is not "
                         f"INVOICE_TOTAL {_fmt(r['_inv_total'])}")
