"""Every problem Triad reports on a LEDES file, with a stable code.

Codes never change meaning; new checks get new codes. ``docs/ledes-errors.md`` documents
each one (a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Check:
    code: str
    severity: str
    title: str


CHECKS: dict[str, Check] = {c.code: c for c in (
    # file structure
    Check("LEDES-001", ERROR, "Not a LEDES file, or a format Triad does not read"),
    Check("LEDES-002", ERROR, "Header record missing or wrong"),
    Check("LEDES-003", ERROR, "Field-name record missing or wrong"),
    Check("LEDES-004", ERROR, "Record does not end in []"),
    Check("LEDES-005", ERROR, "Wrong number of fields in a record"),
    Check("LEDES-006", WARNING, "Non-ASCII characters"),
    Check("LEDES-007", WARNING, "File is not UTF-8; read as Windows-1252"),
    Check("LEDES-008", WARNING, "Blank line inside the file (ignored)"),
    Check("LEDES-009", ERROR, "XML is not well-formed, or uses a DTD or entities"),
    Check("LEDES-010", ERROR, "XML element missing or unexpected"),
    Check("LEDES-011", ERROR, "File contains no invoice lines"),
    # fields
    Check("LEDES-020", ERROR, "Required field is empty"),
    Check("LEDES-021", ERROR, "Field longer than allowed"),
    Check("LEDES-022", ERROR, "Not a real calendar date"),
    Check("LEDES-023", ERROR, "Not a clean number"),
    Check("LEDES-024", ERROR, "Line type is not F, E, IF or IE"),
    Check("LEDES-025", ERROR, "Line item number is not a positive whole number"),
    # arithmetic and consistency
    Check("LEDES-030", ERROR, "Line total is not units x unit cost + adjustment (+ tax)"),
    Check("LEDES-031", ERROR, "Invoice total differs between lines of one invoice"),
    Check("LEDES-032", ERROR, "Invoice total is not the sum of its lines"),
    Check("LEDES-033", ERROR, "Invoice-level field differs between lines of one invoice"),
    Check("LEDES-034", ERROR, "Line item number used twice in one invoice"),
    Check("LEDES-035", ERROR, "Billing period starts after it ends"),
    Check("LEDES-036", ERROR, "Line date outside the billing period"),
    # UTBMS codes
    Check("LEDES-040", ERROR, "Unknown UTBMS task code"),
    Check("LEDES-041", ERROR, "Unknown UTBMS activity code"),
    Check("LEDES-042", ERROR, "Unknown UTBMS expense code"),
    Check("LEDES-043", ERROR, "Task codes from more than one code set in one invoice"),
    Check("LEDES-044", ERROR, "Code of the wrong kind for the line type"),
    # timekeepers
    Check("LEDES-050", WARNING, "Timekeeper classification is not a LEDES code"),
    Check("LEDES-051", WARNING, "Timekeeper name is not written \"Last, First\""),
    Check("LEDES-052", ERROR, "Fee line without a timekeeper"),
    # 98BI
    Check("LEDES-060", ERROR, "Currency is not an ISO 4217 code"),
    Check("LEDES-061", ERROR, "Line tax total is not tax rate x (units x unit cost + adjustment)"),
    Check("LEDES-062", WARNING, "Invoice tax aggregates disagree with the lines"),
    Check("LEDES-063", ERROR, "Country is not an ISO 3166 code"),
)}


@dataclass(slots=True)
class Problem:
    code: str
    severity: str
    line: int | None
    field: str | None
    value: str | None
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def problem(code: str, line: int | None, field: str | None, value: object, message: str) -> Problem:
    check = CHECKS[code]
    shown = None if value is None else str(value)
    if shown is not None and len(shown) > 200:
        shown = shown[:200] + "…"
    return Problem(code, check.severity, line, field, shown, message)
