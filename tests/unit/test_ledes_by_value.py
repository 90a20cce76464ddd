"""Checks of one field's value run once per distinct value (``RowCheck.column``); they must report
exactly what running them on every line reports. And the console script's light path ends the
process with the same output and status as ``main``."""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys

import polars as pl
import pytest

from triad.ledes import checks
from triad.ledes.pipe import FORMAT_1998B, read
from triad.ledes.sample import generate_1998b

BAD = {
    "invoice_date": ["20260231", "2026-01-01", "x"],
    "line_item_date": ["20261301", "1", "20260230"],
    "invoice_total": ["1,000.00", "abc", "1e3"],
    "line_item_number": ["0", "00", "1.5", "1234567890"],
    "exp_fee_inv_adj_type": ["X", "FE"],
    "line_item_task_code": ["L999", "Z100"],
    "line_item_activity_code": ["A999"],
    "line_item_expense_code": ["E999"],
    "timekeeper_classification": ["BOSS"],
    "timekeeper_name": ["Nobody"],
}


def _problems(frame, by_value: bool):
    c = checks.Collector()
    real = checks._row_checks

    def row_checks(*args, **kwargs):
        found = real(*args, **kwargs)
        return found if by_value else [dataclasses.replace(rc, column=None) for rc in found]

    orig, checks._row_checks = checks._row_checks, row_checks
    try:
        checks.check_lines(frame, c, fmt=FORMAT_1998B, ascii_only=True)
    finally:
        checks._row_checks = orig
    return [(p.code, p.line, p.field, p.value, p.message) for p in c.problems]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_by_value_reports_what_every_line_reports(seed):
    rng = random.Random(seed)
    lines = generate_1998b(invoices=12, lines_per_invoice=30, seed=seed).split(b"\n")
    frame, _ = read(b"\n".join(lines), FORMAT_1998B, "LEDES1998B[]")
    assert any(rc.column for rc in checks._row_checks(frame, FORMAT_1998B, True, True))
    # the same bad values on many lines, some columns untouched
    for col, values in BAD.items():
        rows = rng.sample(range(frame.height), rng.randint(0, 40))
        series = frame.get_column(col).to_list()
        for r in rows:
            series[r] = rng.choice(values)
        frame = frame.with_columns(pl.Series(col, series, dtype=pl.String))
    by_value = _problems(frame, True)
    assert by_value == _problems(frame, False)
    assert {"LEDES-022", "LEDES-024", "LEDES-040"} <= {p[0] for p in by_value}


def test_by_value_respects_the_cap_per_code(monkeypatch):
    frame, _ = read(generate_1998b(invoices=4, lines_per_invoice=30, seed=7), FORMAT_1998B, "LEDES1998B[]")
    frame = frame.with_columns(frame.get_column("invoice_date").set(frame.get_column("_line") % 3 == 0, "20260230"))
    monkeypatch.setattr(checks, "MAX_PER_CODE", 5)
    found = _problems(frame, True)
    assert found == _problems(frame, False)
    assert [p[0] for p in found].count("LEDES-022") == 6  # five listed, one "more ... not listed"


def test_98bi_currency_checked_by_value():
    frame = pl.DataFrame({"invoice_currency": ["USD", "XXQ", "usd", None, "XXQ"], "_line": [3, 4, 5, 6, 7]})
    field = checks.BY_COL["invoice_currency"]
    currency = next(rc for rc in checks._field_checks([field]) if rc.code == "LEDES-060")
    assert currency.column == "invoice_currency"
    assert checks._failing_values(frame, {0: currency})[0].to_list() == ["XXQ"]
    c = checks.Collector()
    checks._run(frame, [currency], c)
    assert [(p.code, p.line, p.value) for p in c.problems] == [("LEDES-060", 4, "XXQ"), ("LEDES-060", 7, "XXQ")]


@pytest.mark.parametrize("case", ["020-required-empty.ledes", "022-not-a-date.ledes", "no-such-file.ledes"])
def test_console_light_path_same_output_and_status(case):
    from pathlib import Path

    path = str(Path(__file__).parent.parent / "data" / "ledes" / case)
    run = [sys.executable, "-c", "import sys; from triad.entry import {}; sys.argv[0] = 'triad'; {}()"]
    fast = subprocess.run([*run[:2], run[2].format("console", "console"), "ledes", "validate", path, "--json"],
                          capture_output=True, text=True)
    full = subprocess.run([*run[:2], run[2].format("main", "main"), "ledes", "validate", path, "--json"],
                          capture_output=True, text=True)
    assert fast.stdout == full.stdout and json.loads(fast.stdout)["files"]
    assert fast.returncode == full.returncode != 0
