"""LEDES e-billing files: read, check and write LEDES 1998B, 98BI and XML 2.x.

A pure package: bytes in, invoices and problems out; no database, no clock, no I/O.

    invoices, problems = parse(data)
    report = validate(data)          # faster: no Invoice objects are built
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from triad.ledes import checks
from triad.ledes.fields import HEADER_1998B, HEADERS_98BI
from triad.ledes.model import Invoice, Line, Party
from triad.ledes.pipe import FORMAT_98BI, FORMAT_1998B, decode
from triad.ledes.problems import CHECKS, ERROR, Problem, problem

FORMAT_XML = "LEDES XML"
CHUNK_BYTES = 16 << 20  # how much of a pipe-format file is checked at a time (two blocks are in flight)

__all__ = ["CHECKS", "Invoice", "Line", "Party", "Problem", "Report", "detect", "parse", "validate", "validate_file"]


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


def validate(data: bytes, *, keep_frame: bool = False) -> Report:
    """Check a file; returns the format, counts and every problem (in file order).

    ``keep_frame``: keep the line-item frame on the report (``parse`` and intake need it). Without
    it, a pipe-format file is read in chunks and only a compact summary of each is kept, so a
    large file is checked in bounded memory.
    """
    fmt, header = detect(data)
    if fmt is None:
        first = data[:60].decode("utf-8", errors="replace").splitlines()[0] if data.strip() else ""
        return Report(None, 0, 0, [problem("LEDES-001", 1 if data.strip() else None, None, first or None,
                                           "not a LEDES file: expected LEDES1998B[], LEDES98BI V2[] or LEDES XML"
                                           if data.strip() else "the file is empty")])
    data, problems = decode(data)
    ascii_only = data.isascii()
    if fmt != FORMAT_XML and not keep_frame:
        report = _validate_chunked(data, fmt, header, problems)
        if report is not None:
            return report
    if fmt == FORMAT_XML:
        from triad.ledes import xml

        frame, more = xml.read(data)
        check_fmt = FORMAT_98BI
    else:
        from triad.ledes import pipe

        frame, more = pipe.read(data, fmt, header)
        check_fmt = fmt
    problems += more
    problems += checks.check(frame, fmt=check_fmt, ascii_only=ascii_only, numeric_line_ids=fmt != FORMAT_XML)
    problems.sort(key=lambda p: (p.line is None, p.line or 0, p.code))
    n_invoices = frame.select(pl.struct(checks.KEY).n_unique()).item() if frame.height else 0
    return Report(fmt, n_invoices, frame.height, problems, frame if keep_frame else None)


def _validate_chunked(data: bytes, fmt: str, header: str, problems: list[Problem]) -> Report | None:
    from triad.ledes import pipe

    found: list[Problem] = []
    start = pipe.start_of_records(data[:200_000], fmt, header, found)
    if start is None:
        return Report(fmt, 0, 0, sorted(problems + found, key=_order))
    first_line, offset = start
    return _check_blocks(pipe.blocks_of(data, offset, CHUNK_BYTES), fmt, first_line, problems + found)


def validate_file(path: str | os.PathLike) -> Report:
    """``validate`` for a file on disk, reading pipe-format files block by block so that memory
    stays bounded whatever the file's size (the whole file is read at once only for XML, or when
    a malformed record calls for the careful path)."""
    from triad.ledes import pipe

    with open(path, "rb") as fh:
        head = fh.read(200_000)
        fmt, header = detect(head)
        bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
        if fmt not in (FORMAT_1998B, FORMAT_98BI):
            return validate(head + fh.read())
        found: list[Problem] = []
        start = pipe.start_of_records(head[bom:], fmt, header, found)
        if start is None:
            return Report(fmt, 0, 0, found)
        first_line, offset = start
        report = _check_blocks(pipe.blocks_of_file(fh, bom + offset, CHUNK_BYTES), fmt, first_line, found)
    return report if report is not None else validate(Path(path).read_bytes())


def _check_blocks(blocks, fmt: str, first_line: int, problems: list[Problem]) -> Report | None:
    """Per-line checks on each block's frame, invoice checks on the compact frame of all blocks.
    Returns None when a record is malformed (the caller then reads the whole file carefully).

    The next block is read and split by a helper thread while the current one is checked: both
    mostly run inside polars, which releases the GIL, so reading overlaps checking."""
    from concurrent.futures import ThreadPoolExecutor

    from triad.ledes import pipe

    found: list[Problem] = []
    collector = checks.Collector()
    compacts = []
    chunks = pipe.iter_chunks(blocks, fmt, first_line, found)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledes-read") as reader:
        try:
            pending = reader.submit(next, chunks, None)
            while (item := pending.result()) is not None:
                pending = reader.submit(next, chunks, None)
                chunk, ascii_only = item
                outputs = checks.check_lines(chunk, collector, fmt=fmt, ascii_only=ascii_only)
                compacts.append(checks.compact(chunk, fmt, outputs))
                del item, chunk, outputs  # free the block's frame before the next one is checked
        except pipe.CarefulReadNeeded:
            return None
    cframe = pl.concat(compacts) if compacts else None
    del compacts
    n_invoices = checks.check_invoices(cframe, collector, fmt=fmt) if cframe is not None else 0
    all_problems = sorted(problems + found + collector.problems, key=_order)
    return Report(fmt, n_invoices, cframe.height if cframe is not None else 0, all_problems)


def _order(p: Problem) -> tuple:
    return (p.line is None, p.line or 0, p.code)


def parse(data: bytes) -> tuple[list[Invoice], list[Problem]]:
    """The invoices in a file and every problem found. Invoices are built even when there are
    problems (so a caller can show them); callers must not store a file whose problems include errors."""
    from triad.ledes import build

    report = validate(data, keep_frame=True)
    invs = build.invoices(report.frame) if report.frame is not None and report.frame.height else []
    return invs, report.problems
