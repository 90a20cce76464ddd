"""What the guideline rules look at and what they report: plain data, no database.

The service (``guidelines.service``) builds these views from stored invoices and engagement
data; tests build them inline.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

SEVERITIES = ("info", "warning", "reject-line", "reject-invoice")
ACTIONS = ("none", "reduce", "reject_line", "reject_invoice")


@dataclass(frozen=True)
class LineView:
    line_no: int
    line_type: str  # F, E, IF, IE
    date: dt.date
    units: Decimal
    unit_cost: Decimal
    total: Decimal
    adjustment: Decimal = Decimal(0)
    timekeeper_id: str | None = None  # the firm's TIMEKEEPER_ID
    classification: str | None = None  # PARTNR, ASSOC, ...
    task_code: str | None = None
    activity_code: str | None = None
    expense_code: str | None = None
    description: str = ""
    source_line: int | None = None

    @property
    def is_fee(self) -> bool:
        return self.line_type == "F"

    @property
    def is_expense(self) -> bool:
        return self.line_type == "E"


@dataclass(frozen=True)
class InvoiceView:
    invoice_number: str
    invoice_date: dt.date
    billing_start: dt.date
    billing_end: dt.date
    currency: str
    total: Decimal
    lines: tuple[LineView, ...]


@dataclass(frozen=True)
class ApprovedRate:
    timekeeper_id: str
    rate: Decimal
    currency: str
    effective_from: dt.date
    effective_to: dt.date | None = None

    def covers(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


@dataclass(frozen=True)
class EarlierLine:
    """A line of one of the firm's earlier invoices (duplicates, hours per day)."""

    invoice_number: str
    date: dt.date
    timekeeper_id: str | None
    units: Decimal
    total: Decimal
    description: str
    line_type: str = "F"
    expense_code: str | None = None


def line_key(date: dt.date, timekeeper: str | None, units: Decimal, total: Decimal, description: str | None,
             line_type: str, expense_code: str | None) -> tuple:
    """What makes two lines the same work: day, who, hours, amount, kind and the words billed."""
    words = " ".join(re.findall(r"[a-z0-9]+", (description or "").lower()))
    return (date, timekeeper or "", units.normalize(), total.normalize(), words, line_type, expense_code or "")


class _Hours:
    """Hours on one (timekeeper, day): the exact total, by invoice, with the exponents of the terms,
    so that "all but one invoice" is the same Decimal (value and digits shown) as adding the other
    invoices' hours one by one from 0, at the cost of one subtraction."""

    __slots__ = ("total", "exponents", "by_invoice")

    def __init__(self):
        self.total = Decimal(0)
        self.exponents: dict[int, int] = {}  # exponent -> number of terms with it
        self.by_invoice: dict[str | None, list] = {}  # number -> [hours, {exponent: terms}]

    def add(self, number: str | None, units: Decimal) -> None:
        exp = units.as_tuple().exponent
        self.total += units
        exps = self.exponents
        exps[exp] = exps.get(exp, 0) + 1
        own = self.by_invoice.get(number)
        if own is None:
            self.by_invoice[number] = [units, {exp: 1}]
        else:
            own[0] += units
            own[1][exp] = own[1].get(exp, 0) + 1

    def without(self, number: str) -> Decimal:
        total, exps = self.total, self.exponents
        own = self.by_invoice.get(number)
        if own is not None:
            total = total - own[0]
            live = [e for e, n in exps.items() if n > own[1].get(e, 0)]
        else:
            live = list(exps)
        return total.quantize(Decimal(1).scaleb(min([0, *live])))


class History:
    """The firm's earlier lines, indexed once per firm so that screening an invoice costs the size
    of the invoice, not of the firm's history."""

    def __init__(self, lines: Iterable[EarlierLine] = (),
                 hours: dict[tuple[str, dt.date], list[tuple[str | None, Decimal]]] | None = None):
        """``lines``: the earlier lines (duplicates; also hours per day unless ``hours`` is given).
        ``hours``: hours already summed per (timekeeper, day), as (invoice number, hours) pairs; a
        number of None stands for earlier invoices that are never excluded."""
        self._hours: dict[tuple[str, dt.date], _Hours] = {}
        self._keys: dict[tuple, list[str]] = defaultdict(list)
        for key, entries in (hours or {}).items():
            for number, units in entries:
                self._add_hours(key, number, units)
        for e in lines:
            if hours is None and e.line_type == "F" and e.timekeeper_id:
                self._add_hours((e.timekeeper_id, e.date), e.invoice_number, e.units)
            self._keys[line_key(e.date, e.timekeeper_id, e.units, e.total, e.description, e.line_type,
                                e.expense_code)].append(e.invoice_number)

    def _add_hours(self, key: tuple[str, dt.date], number: str | None, units: Decimal) -> None:
        h = self._hours.get(key)
        if h is None:
            h = self._hours[key] = _Hours()
        h.add(number, units)

    @property
    def has_hours(self) -> bool:
        return bool(self._hours)

    @property
    def has_lines(self) -> bool:
        return bool(self._keys)

    def hour_keys(self) -> list[tuple[str, dt.date]]:
        """The (timekeeper, day) pairs with hours on earlier invoices."""
        return list(self._hours)

    def earlier_keys(self):
        """Each earlier line's (day, timekeeper, total, type, expense code) with the invoice number."""
        for (day, tk, _units, total, _words, line_type, expense_code), numbers in self._keys.items():
            for number in dict.fromkeys(numbers):
                yield day, tk, total, line_type, expense_code, number

    def hours_on(self, timekeeper: str, day: dt.date, *, exclude_invoice: str) -> Decimal:
        h = self._hours.get((timekeeper, day))
        return h.without(exclude_invoice) if h is not None else Decimal(0)

    def billed_on(self, key: tuple, *, exclude_invoice: str) -> str | None:
        return next((n for n in self._keys.get(key, ()) if n != exclude_invoice), None)


@dataclass(frozen=True)
class Context:
    engagement_currency: str | None = None
    approved_rates: tuple[ApprovedRate, ...] = ()
    approved_timekeepers: frozenset[str] | None = None  # None: the engagement keeps no list
    known_timekeepers: frozenset[str] = frozenset()  # who billed this engagement before
    history: History = field(default_factory=History)  # the firm's earlier lines
    fiscal_year_start_month: int = 1

    def rates_by_timekeeper(self) -> dict[str, list[ApprovedRate]]:
        """The approved rates by timekeeper, in the order given (indexed once per context)."""
        index = self.__dict__.get("_rates_by_tk")
        if index is None:
            index = {}
            for r in self.approved_rates:
                index.setdefault(r.timekeeper_id, []).append(r)
            object.__setattr__(self, "_rates_by_tk", index)  # a cache, not state: the context stays frozen
        return index


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    message: str  # the facts, e.g. "billed 650.00/h, cap for PARTNR is 550.00/h from 2026-01-01"
    line_no: int | None = None
    source_line: int | None = None
    adjustment: Decimal = Decimal(0)  # suggested change to the amount billed (negative: reduce)
    action: str = "none"  # the auto-action the guideline asks for
    guideline_version: str | None = None
    clause: str | None = None


@dataclass
class Version:
    """One guideline document in force from ``effective_from`` (to ``effective_to``)."""

    label: str
    effective_from: dt.date
    effective_to: dt.date | None
    rules: dict[str, dict] = field(default_factory=dict)
    _settings: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def covers(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def settings(self, rule_id: str, model):
        """The rule's settings in this version, validated once (not once per invoice)."""
        key = (rule_id, model)
        if key not in self._settings:
            self._settings[key] = model.model_validate(self.rules[rule_id])
        return self._settings[key]
