"""LEDES e-billing files: read, check and write LEDES 1998B, 98BI and XML 2.x.

A pure package: bytes in, invoices and problems out; no database, no clock, no I/O.

    invoices, problems = parse(data)
    report = validate(data)          # faster: no Invoice objects are built
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from triad.ledes import checks
from triad.ledes.fields import HEADER_1998B, HEADERS_98BI
from triad.ledes.model import Invoice, Line, Party
from triad.ledes.pipe import FORMAT_98BI, FORMAT_1998B, decode
from triad.ledes.problems import CHECKS, ERROR, Problem, problem

FORMAT_XML = "LEDES XML"

__all__ = ["CHECKS", "Invoice", "Line", "Party", "Problem", "Report", "detect", "parse", "validate"]


@dataclass
class Report:
    format: str | None
    invoices: int
    lines: int
    problems: list[Problem] = field(default_factory=list)
    frame: pl.DataFrame | None = None

    @property
    def valid(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)


def detect(data: bytes) -> tuple[str | None, str]:
    """The format of a file and its header text: LEDES1998B, LEDES98BI, LEDES XML, or None."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"<"):
        return FORMAT_XML, ""
    first = head.split(b"\n", 1)[0].strip().decode("utf-8", errors="replace")
    norm = first.upper().replace(" ", "")
    if norm.startswith("LEDES1998B"):
        return FORMAT_1998B, HEADER_1998B
    if norm.startswith("LEDES98BI"):
        for h in HEADERS_98BI:
            if first.upper() == h:
                return FORMAT_98BI, h
        return FORMAT_98BI, HEADERS_98BI[0]
    return None, ""


def validate(data: bytes) -> Report:
    """Check a file; returns the format, counts and every problem (in file order)."""
    fmt, header = detect(data)
    if fmt is None:
        first = data[:60].decode("utf-8", errors="replace").splitlines()[0] if data.strip() else ""
        return Report(None, 0, 0, [problem("LEDES-001", 1 if data.strip() else None, None, first or None,
                                           "not a LEDES file: expected LEDES1998B[], LEDES98BI V2[] or LEDES XML"
                                           if data.strip() else "the file is empty")])
    data, problems = decode(data)
    if fmt == FORMAT_XML:
        from triad.ledes import xml

        frame, more = xml.read(data)
        fmt_name = FORMAT_XML
        check_fmt = FORMAT_98BI
    else:
        from triad.ledes import pipe

        frame, more = pipe.read(data, fmt, header)
        fmt_name = fmt
        check_fmt = fmt
    problems += more
    problems += checks.check(frame, fmt=check_fmt, ascii_only=data.isascii(),
                             numeric_line_ids=fmt_name != FORMAT_XML)
    problems.sort(key=lambda p: (p.line is None, p.line or 0, p.code))
    n_invoices = frame.select(pl.struct(checks.KEY).n_unique()).item() if frame.height else 0
    return Report(fmt_name, n_invoices, frame.height, problems, frame)


def parse(data: bytes) -> tuple[list[Invoice], list[Problem]]:
    """The invoices in a file and every problem found. Invoices are built even when there are
    problems (so a caller can show them); callers must not store a file whose problems include errors."""
    from triad.ledes import build

    report = validate(data)
    invs = build.invoices(report.frame) if report.frame is not None and report.frame.height else []
    return invs, report.problems
