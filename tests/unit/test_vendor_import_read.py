"""The column-wise reading of a plain CSV file (vector_checks.read_csv) gives exactly what reading it row by
row with csv.reader gives (sync._csv_rows: cells stripped, blank records skipped, short ones padded, the
export's apostrophes undone, data lines numbered from 2), or declines and leaves the file to that reading."""

from __future__ import annotations

import csv
import dataclasses
import random

import polars as pl
import pytest

from triad.core.errors import ValidationFailed
from triad.vendors import sync, vector_checks


def _reference(data: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]] | str:
    try:
        return sync._csv_rows(data.decode("utf-8-sig"))
    except csv.Error as exc:
        return f"csv.Error: {exc}"


def _column_wise(data: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]] | None:
    got = vector_checks.read_csv(data, data.decode("utf-8-sig"))
    if got is None:
        return None
    header, frame, edge_free = got
    file = sync._File(header, frame=frame, edge_free=edge_free)
    pairs = file.pairs()
    # what the checks are told: no cell of an edge-free column has white space at either end
    for _, row in pairs:
        for key in edge_free:
            assert row[key] == row[key].strip(), (key, row[key])
    assert file.names() == [row.get("legal_name", "") for _, row in pairs]
    assert [file.raw(i) for i in range(file.n)] == [row for _, row in pairs]
    return header, pairs


def _same(data: bytes) -> bool:
    """The column-wise reading equals the reference whenever it does not decline; True when it was taken."""
    got = _column_wise(data)
    if got is not None:
        assert got == _reference(data), data
    return got is not None


HEAD = "legal_name,country,tax_id,address_line1\n"


@pytest.mark.parametrize(("text", "taken"), [
    (HEAD + "Acme Ltd,US,13-4924710,1 Main St\nBeta LLC,GB,,\n", True),
    (HEAD + "Acme Ltd,US,13-4924710,1 Main St\nBeta LLC,GB,,", True),  # no newline at the end
    (HEAD.replace("\n", "\r\n") + "Acme Ltd,US,1,x\r\nBeta LLC,GB,,\r\n", True),  # CRLF
    (HEAD.replace("\n", "\r\n") + "Acme Ltd,US,1,x\nBeta LLC,GB,,\r\n", True),  # mixed line ends
    (HEAD + "Acme\rLtd,US,1,x\n", False),  # a carriage return inside a cell: csv.reader refuses it
    (HEAD + "Acme Ltd,US,1,x\r", False),
    (HEAD + "Acme Ltd,US,1,x\r\r\n", False),
    (HEAD + '"Acme, Ltd",US,1,x\n', False),  # quotes
    (HEAD + 'Acme "Q" Ltd,US,1,x\n', False),
    (HEAD + "Acme Ltd,US,1,x\n\nBeta LLC,GB,,\n", False),  # a blank line (csv.reader skips it, uncounted)
    (HEAD + "Acme Ltd,US,1,x\n\n", False),
    (HEAD + "Acme Ltd,US\nBeta LLC,GB,,\n", False),  # short record (padded)
    (HEAD + "Acme Ltd,US,1,x,extra\nBeta LLC,GB,,\n", False),  # long record (extras dropped)
    (HEAD + "Acme Ltd,US,1,x,\nBeta LLC,GB\n", False),  # one long, one short: the comma count alone agrees
    (HEAD + "Acme Ltd,US,1,x,\n\n", False),
    ("legal_name,country\nA,B,\n\nC,D\n", False),  # a blank line and an extra empty cell: counts agree
    ("\ufeff" + HEAD + "Acme Ltd,US,1,x\n", True),  # BOM
    ("\ufeff\ufeff" + HEAD + "Acme Ltd,US,1,x\n", False),  # a second BOM is part of the first column's name
    (HEAD + "Żółw & Co GmbH,DE,,Straße 1\n名前 株式会社,JP,,東京\n", True),  # non-ASCII
    (HEAD + "\u3000Wide Ltd\xa0,US,\u2028,\x85x\x85\n", True),  # Unicode white space at the edges
    (HEAD + "a\u2028b,US,\x0bc\x0c,\x1cd\x1f\n", True),
    (HEAD + "  Acme Ltd  ,\tUS\t, 1 ,x \n", True),  # leading and trailing spaces and tabs
    (HEAD + "Acme Ltd,US,1,x\n Beta,GB,2,y\n", True),
    (HEAD + "'=SUM(A1),US,'+1,'-x\n''=y,'@z,'\tt,'plain\n", True),  # formula-neutralised cells
    (HEAD + "O'Brien Ltd,US,1,x'\n' Lead,'',',x\n", True),
    (HEAD + " '=x ,US,1,x\n", True),  # stripped first, then the apostrophe undone
    (HEAD + ",,,\n,,,\n", True),  # every cell empty (a record, not a blank line)
    (HEAD + "Acme\x00,US,1,x\n", False),  # NUL
    ("", False),  # empty file
    (HEAD, False),  # header only
    (HEAD.rstrip("\n"), False),
    ("legal_name\nAcme Ltd\n\nBeta\n", False),  # one column
    ("legal_name,legal_name\nA,B\n", False),  # a repeated column name
    ("legal_name, country\nA,B\n", True),  # header cells are not stripped
    ("legal_name,\nA,B\n", True),  # an empty column name
])
def test_column_wise_reading_equals_csv_reader(text, taken):
    assert _same(text.encode()) is taken


def test_a_field_longer_than_csv_allows_is_left_to_csv_reader():
    limit = csv.field_size_limit()
    long = HEAD + "x" * (limit + 1) + ",US,1,x\n"
    assert _column_wise(long.encode()) is None
    assert _reference(long.encode()).startswith("csv.Error")
    assert _same((HEAD + "x" * limit + ",US,1,x\n").encode())


def test_random_files_read_column_wise_equal_csv_reader():
    """Files made of separators, line ends, quotes, apostrophes, formula characters, white space of several
    kinds and text: whenever the column-wise reading takes one, it gives the reference's rows."""
    rng = random.Random(13)
    cells = ["a", "Acme Ltd", "é", "名", "'", "'=", "''+1", "'\t", "=", " ", "\t", "\xa0", "\u3000", "\x1c",
             "\u2028", "\x85", "\x0b", "", "", "", "O'B", "-"]
    rare = ['"', "\r", "\n", ",", "\r\n", "\x00"]
    taken = 0
    for _ in range(1500):
        width = rng.randint(1, 4)
        header = [f"c{j}" for j in range(width)]
        if rng.random() < 0.3:
            header[0] = "legal_name"
        lines = [",".join(header)]
        for _ in range(rng.randint(0, 5)):
            row = ["".join(rng.choice(cells) for _ in range(rng.randint(0, 3))) for _ in range(width)]
            if rng.random() < 0.1:
                row = row[:rng.randint(0, width)] if rng.random() < 0.5 else [*row, "x"]
            line = ",".join(row)
            if rng.random() < 0.1:
                at = rng.randint(0, len(line))
                line = line[:at] + rng.choice(rare) + line[at:]
            lines.append(line)
        end = rng.choice(["\n", "\n", "\r\n"])
        text = end.join(lines) + rng.choice([end, end, ""])
        if rng.random() < 0.1:
            text = "\ufeff" + text
        taken += _same(text.encode())
    assert taken > 300


def test_read_rows_gives_the_reference_rows_and_refusals():
    data = (HEAD + " Acme Ltd ,US,1,'=x\r\n").encode()
    assert sync.read_rows(data, "f.csv") == [(2, {"legal_name": "Acme Ltd", "country": "US", "tax_id": "1",
                                                   "address_line1": "=x"})]
    assert sync._read_file(data, "f.csv").by_column
    for bad in (b"legal_name,colour\nA,red\n", b"country,tax_id\nUS,1\n", b""):
        with pytest.raises(ValidationFailed) as exc:
            sync.read_rows(bad, "f.csv")
        assert exc.value.errors[0]["line"] == 1


def test_a_plain_rows_raw_dict_is_made_when_read():
    data = b"legal_name,country,address_line1,address_city\nAcme Ltd,US,1 Main St,Reno\nBeta LLC,US,2 Main St,Reno\n"
    file = sync._read_file(data, "f.csv")
    errors: list = []
    rows, at = sync._checked_rows(file, "f.csv", sync._Checks({}), errors)
    assert at == [0, 1] and not errors and all(isinstance(r, sync._FileRow) for r in rows)
    assert "raw" not in vars(rows[1]) and rows[1]._raw is file
    assert rows[1].raw == {"legal_name": "Beta LLC", "country": "US", "address_line1": "2 Main St",
                           "address_city": "Reno"}
    assert rows[1].raw is rows[1].raw  # made once


def test_polars_refuses_a_long_record_rather_than_cutting_it():
    """What read_csv relies on when a blank line and an extra empty cell make every count agree (the case
    above): polars raises instead of dropping the extra cell, so the file is read by csv.reader."""
    with pytest.raises(pl.exceptions.PolarsError):
        pl.read_csv(b"legal_name,country\nA,B,\n\nC,D\n", infer_schema=False, quote_char=None,
                    truncate_ragged_lines=False)


def test_white_space_is_what_str_strip_removes():
    every = "".join(ch for ch in map(chr, range(0x110000)) if ch.isspace())
    assert every == vector_checks.WHITE_SPACE
    # polars with that set strips what str.strip() strips; the checks' edge pattern finds exactly those
    chars = [chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF]
    cells = pl.Series([f"{ch}x{ch}" for ch in chars])
    assert cells.str.strip_chars(vector_checks.WHITE_SPACE).to_list() == [c.strip() for c in cells.to_list()]
    assert cells.str.contains(vector_checks._EDGE_SPACE).to_list() == [ch.isspace() for ch in chars]


def test_a_file_row_sets_every_field_of_a_row():
    data = b"legal_name,country\nAcme Ltd,US\n"
    file = sync._read_file(data, "f.csv")
    (row,), _ = sync._checked_rows(file, "f.csv", sync._Checks({}), [])
    assert isinstance(row, sync._FileRow)
    assert set(vars(row)) == {f.name for f in dataclasses.fields(sync._Row)} - {"raw"} | {"_raw"}
    reference, _ = sync._check_row(2, {"legal_name": "Acme Ltd", "country": "US"}, "f.csv", {})
    assert {f.name: getattr(row, f.name) for f in dataclasses.fields(sync._Row)} == {
        f.name: getattr(reference, f.name) for f in dataclasses.fields(sync._Row)}
