"""Reading the pipe-delimited formats (LEDES 1998B and 98BI) into one column-oriented frame.

The file is never turned into a Python object per field: lines are loaded into a polars
column, split in bulk, and checked with vectorised expressions (``checks.py``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import polars as pl

from triad.ledes.fields import FIELDS_98BI, FIELDS_1998B, HEADERS_98BI, Field
from triad.ledes.problems import Problem, problem

FORMAT_1998B = "LEDES1998B"
_FREE_TEXT = {"invoice_description", "line_item_description"}
FORMAT_98BI = "LEDES98BI"


def decode(data: bytes) -> tuple[bytes, list[Problem]]:
    """UTF-8 bytes without a BOM; Windows-1252 files are converted with a warning."""
    problems: list[Problem] = []
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            problems.append(problem("LEDES-007", line, None, None,
                                    f"line {line} is not valid UTF-8; the file was read as Windows-1252"))
            data = data.decode("cp1252", errors="replace").encode("utf-8")
    return data, problems


def _lines(data: bytes) -> pl.Series:
    """One string per physical line (CR of CRLF removed), blank lines kept as null/empty."""
    if b"\x1f" in data or b"\x00" in data:
        text = data.decode("utf-8", errors="replace").replace("\x00", "")
        return pl.Series("l", text.split("\n"), dtype=pl.String).str.strip_suffix("\r")
    df = pl.read_csv(io.BytesIO(data), has_header=False, separator="\x1f", quote_char=None,
                     schema={"l": pl.String}, infer_schema=False,
                     truncate_ragged_lines=True, raise_if_empty=False)
    return df.get_column("l").str.strip_suffix("\r")


def _header(data: bytes, fmt: str, header_line: str, problems: list[Problem]) -> int | None:
    """Check the header and field-name records; returns the line number of the first record, or
    None when the file has no records at all."""
    fields = FIELDS_1998B if fmt == FORMAT_1998B else FIELDS_98BI
    head = data[:200_000].split(b"\n", 50)
    numbered = [(i, ln.decode("utf-8", errors="replace").rstrip("\r").rstrip()) for i, ln in
                enumerate(head[:-1], start=1)]
    numbered = [(i, t) for i, t in numbered if t.strip()]
    if not numbered:
        problems.append(problem("LEDES-001", None, None, None, "the file has no records"))
        return None
    hline, htext = numbered[0]
    if htext.strip() != header_line:
        expected = header_line if fmt == FORMAT_1998B else " or ".join(HEADERS_98BI)
        problems.append(problem("LEDES-002", hline, None, htext[:60], f"the first record must be {expected}"))
    first_data = hline + 1
    if len(numbered) > 1:
        nline, ntext = numbered[1]
        first_data = nline
        if ntext.strip().upper().startswith("INVOICE_DATE"):
            first_data = nline + 1
            got = ntext.strip().removesuffix("[]").split("|")
            if not ntext.strip().endswith("[]") or [g.strip().upper() for g in got] != [f.name.upper() for f in fields]:
                problems.append(_names_problem(nline, got, fields, ntext.strip()))
        else:
            names_expected = "|".join(f.name for f in fields)
            problems.append(problem("LEDES-003", nline, None, ntext[:60],
                                    f"the second record must name the {len(fields)} fields: "
                                    f"{names_expected[:80]}…[]"))
    return first_data


def read(data: bytes, fmt: str, header_line: str) -> tuple[pl.DataFrame, list[Problem]]:
    """Parse a 1998B/98BI file into a frame with one row per line item.

    Columns: the format's fields (``Field.col``, strings, null when empty) plus ``_line``, the
    1-based line number in the file. Records with the wrong number of fields are reported and
    left out.
    """
    problems: list[Problem] = []
    fields: tuple[Field, ...] = FIELDS_1998B if fmt == FORMAT_1998B else FIELDS_98BI
    first_data = _header(data, fmt, header_line, problems)
    if first_data is None:
        return _empty(fields), problems
    start = _offset_of_line(data, first_data - 1)
    fast = _fast(data[start:], fields, first_data) if start < len(data) else None
    if fast is not None:
        df, blank_lines, _ = fast
        if df.height == 0:
            problems.append(problem("LEDES-011", None, None, None, "the file has no invoice lines"))
            return _empty(fields), problems
        _blank_warnings(blank_lines, df.get_column("_line").max(), problems)
        return df, problems
    return _slow(data, fields, fmt, first_data, problems)


class CarefulReadNeeded(Exception):  # noqa: N818 - a signal, not an error
    """A record is malformed: the whole file must go through the careful line-by-line path."""


def start_of_records(head: bytes, fmt: str, header_line: str, problems: list[Problem]) -> tuple[int, int] | None:
    """(line number, byte offset) of the first record after the header, found in the file's first
    bytes; None when the file has no records. Header problems are appended to ``problems``."""
    first_data = _header(head, fmt, header_line, problems)
    if first_data is None:
        return None
    return first_data, _offset_of_line(head, first_data - 1)


def blocks_of(data: bytes, start: int, chunk_bytes: int) -> Iterator[bytes]:
    """``data[start:]`` in pieces of about ``chunk_bytes`` that end at line ends."""
    pos = start
    while pos < len(data):
        end = data.find(b"\n", min(pos + chunk_bytes, len(data)))
        end = len(data) if end < 0 else end + 1
        yield data[pos:end]
        pos = end


def blocks_of_file(fh, start: int, chunk_bytes: int) -> Iterator[bytes]:
    """The same, reading an open binary file from byte ``start``: never the whole file in memory.
    Each block is read once, at its exact size (no copies to join or cut pieces)."""
    fd = fh.fileno()
    size = os.fstat(fd).st_size
    pos = start
    while pos < size:
        end = min(pos + chunk_bytes, size)
        while end < size:  # extend the block to the end of its last line
            window = os.pread(fd, 1 << 16, end)
            if not window:
                end = size
                break
            cut = window.find(b"\n")
            if cut >= 0:
                end += cut + 1
                break
            end += len(window)
        block = os.pread(fd, end - pos, pos)
        if not block:
            return
        yield block
        pos += len(block)


def iter_chunks(blocks: Iterator[bytes], fmt: str, first_line: int,
                problems: list[Problem]) -> Iterator[tuple[pl.DataFrame, bool]]:
    """Yield (line items, block is ASCII) for each block, so a large file is never held as one wide
    frame. Raises ``CarefulReadNeeded`` on the first malformed record (before or after yielding);
    the caller then uses ``read``. Encoding and blank-line warnings go to ``problems``."""
    fields: tuple[Field, ...] = FIELDS_1998B if fmt == FORMAT_1998B else FIELDS_98BI
    line = first_line
    blanks: list[int] = []
    last_data = 0
    rows = 0
    warned = False
    for block in blocks:
        ascii_only = block.isascii()
        if not ascii_only:
            try:
                block.decode("utf-8")
            except UnicodeDecodeError as exc:
                if not warned:
                    bad = line + block.count(b"\n", 0, exc.start)
                    problems.append(problem("LEDES-007", bad, None, None,
                                            f"line {bad} is not valid UTF-8; the file was read as Windows-1252"))
                    warned = True
                block = block.decode("cp1252", errors="replace").encode("utf-8")
        fast = _fast(block, fields, line, ascii_only)
        if fast is None:
            raise CarefulReadNeeded
        df, blank_lines, physical = fast
        blanks += blank_lines.to_list()
        if df.height:
            last_data = df.get_column("_line").max()
            rows += df.height
            yield df, ascii_only
        # the reader makes one row of every line, blank ones included
        line += physical if block.endswith(b"\n") else block.count(b"\n")
    if rows == 0:
        problems.append(problem("LEDES-011", None, None, None, "the file has no invoice lines"))
    _blank_warnings(pl.Series(blanks, dtype=pl.Int64), last_data, problems)


def _blank_warnings(blank_lines: pl.Series, last_data: int | None, problems: list[Problem]) -> None:
    for ln in blank_lines.filter(blank_lines < (last_data or 0)).head(100).to_list():
        problems.append(problem("LEDES-008", ln, None, None, "blank line between records; ignored"))


# The ASCII characters polars' ``strip_chars()`` removes (Unicode White_Space): a field of an ASCII
# block can only be padded with these. Space is everywhere; the others are looked for in the bytes.
_ASCII_BLANKS = (b"\t", b"\x0b", b"\x0c", b"\r")


def _fast(body: bytes, fields: tuple[Field, ...], first_line: int,
          ascii_only: bool | None = None) -> tuple[pl.DataFrame, pl.Series, int] | None:
    """Let polars' CSV reader split the records of ``body`` (which starts at line ``first_line``).
    Returns the frame, the numbers of blank lines and the number of lines read, or None when a
    record is malformed (wrong number of fields, not ending in [], NUL bytes) so the careful path
    can report it precisely. ``ascii_only``: whether ``body`` is ASCII (found out when not given)."""
    if b"\x00" in body:
        return None
    if ascii_only is None:
        ascii_only = body.isascii()
    n = len(fields)
    try:  # a record with too many fields is an error here
        df = pl.read_csv(body, has_header=False, separator="|", quote_char=None,
                         schema={f.col: pl.String for f in fields}, infer_schema=False, raise_if_empty=False)
    except pl.exceptions.PolarsError:  # anything odd: the careful path reports it precisely
        return None
    physical = df.height
    last = fields[-1].col
    blank = pl.all_horizontal([pl.col(f.col).is_null() for f in fields])
    closed = pl.col(last).str.strip_chars_end(" \t")
    value = {f.col: pl.col(f.col) for f in fields}
    value[last] = closed.str.strip_suffix("[]")
    # Surrounding blanks are tolerated: every field except the free-text descriptions (trimmed
    # when invoices are built) is trimmed of white space (as Unicode defines it), then empty means
    # absent. Trimming is the costly part, so in an ASCII block only the columns that hold a value
    # starting or ending in a blank are trimmed (the same result); a non-ASCII block may hold
    # other blanks (no-break space, ...), so all its columns are trimmed.
    trim = [f.col for f in fields if f.col not in _FREE_TEXT]
    blanks = [" "] + [b.decode() for b in _ASCII_BLANKS if b in body] if ascii_only else []
    n_blank, all_closed, *padded = df.select(
        blank.sum().alias("blank"),
        # a record with too few fields has a null last field, so it is not closed either
        pl.col(last).str.ends_with("[]").fill_null(False).all().alias("closed"),
        *[pl.any_horizontal([value[c].str.starts_with(b) | value[c].str.ends_with(b) for b in blanks]).any()
          .alias(f"p{i}") for i, c in enumerate(trim) if blanks],
    ).row(0)
    if not all_closed:  # blank lines, or "[]" followed by blanks: the exact test
        all_closed = df.select((blank | closed.str.ends_with("[]")).fill_null(False).all()).item()
        if not all_closed:
            return None
    df = df.with_row_index("_line", offset=first_line).with_columns(pl.col("_line").cast(pl.Int64))
    if n_blank:
        # a line of bare separators reads as blank too: only true blank lines may be left out
        if body.count(b"|") != (physical - n_blank) * (n - 1):
            return None
        blank_lines = df.filter(blank).get_column("_line")
        df = df.filter(~blank)
    else:
        blank_lines = pl.Series("_line", [], dtype=pl.Int64)
    df = df.with_columns(value[last].alias(last))
    strip = [c for c, p in zip(trim, padded, strict=True) if p] if ascii_only else list(trim)
    if strip:
        df = df.with_columns([pl.col(c).str.strip_chars() for c in strip])
    if last not in strip:  # only the last field can have become empty (a bare "[]")
        strip.append(last)
    df = df.with_columns([pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in strip])
    return df.select("_line", *[f.col for f in fields]), blank_lines, physical


def _offset_of_line(data: bytes, n: int) -> int:
    pos = 0
    for _ in range(n):
        pos = data.index(b"\n", pos) + 1
    return pos


def _slow(data: bytes, fields: tuple[Field, ...], fmt: str, first_line: int, problems: list[Problem]):
    lines = _lines(data)
    frame = pl.DataFrame({"raw": lines}).with_row_index("_line", offset=1).with_columns(
        pl.col("_line").cast(pl.Int64), pl.col("raw").str.strip_chars_end(" \t"))
    blank = pl.col("raw").is_null() | (pl.col("raw").str.strip_chars() == "")
    body = frame.filter((pl.col("_line") >= first_line) & ~blank)
    if body.height == 0:
        problems.append(problem("LEDES-011", None, None, None, "the file has no invoice lines"))
        return _empty(fields), problems
    last_data = body.get_column("_line").max()
    inner = frame.filter(blank & (pl.col("_line") > first_line) & (pl.col("_line") < last_data))
    for ln in inner.get_column("_line").head(100).to_list():
        problems.append(problem("LEDES-008", ln, None, None, "blank line between records; ignored"))
    n_fields = len(fields)
    body = body.with_columns(
        pl.col("raw").str.ends_with("[]").alias("_closed"),
        pl.col("raw").str.strip_suffix("[]").alias("raw"),
    ).with_columns(pl.col("raw").str.count_matches("|", literal=True).alias("_pipes"))
    for row in body.filter(~pl.col("_closed")).select("_line", "raw").head(1000).iter_rows():
        problems.append(problem("LEDES-004", row[0], None, row[1][-30:], "the record must end in []"))
    bad_count = body.filter(pl.col("_pipes") != n_fields - 1)
    for ln, pipes in bad_count.select("_line", "_pipes").head(1000).iter_rows():
        problems.append(problem("LEDES-005", ln, None, str(pipes + 1),
                                f"the record has {pipes + 1} fields; {fmt} records have {n_fields}"))
    good = body.filter(pl.col("_pipes") == n_fields - 1)
    split = good.select(
        "_line",
        pl.col("raw").str.split_exact("|", n_fields - 1).struct.rename_fields([f.col for f in fields]).alias("s"),
    ).unnest("s")
    split = split.with_columns([pl.col(f.col).str.strip_chars() for f in fields]).with_columns(
        [pl.when(pl.col(f.col) == "").then(None).otherwise(pl.col(f.col)).alias(f.col) for f in fields])
    return split.select("_line", *[f.col for f in fields]), problems


def _names_problem(line: int, got: list[str], fields: tuple[Field, ...], raw: str) -> Problem:
    if len(got) != len(fields):
        return problem("LEDES-003", line, None, raw[:60],
                       f"the field-name record has {len(got)} names; expected {len(fields)}")
    for i, (g, f) in enumerate(zip(got, fields, strict=True), start=1):
        if g.strip().upper() != f.name.upper():
            return problem("LEDES-003", line, f.name, g, f"field {i} must be named {f.name}, not {g.strip()!r}")
    return problem("LEDES-003", line, None, raw[-10:], "the field-name record must end in []")


def _empty(fields: tuple[Field, ...] = FIELDS_98BI) -> pl.DataFrame:
    return pl.DataFrame(schema={"_line": pl.Int64, **{f.col: pl.String for f in fields}})
