"""Large files are checked chunk by chunk; the result must not depend on where the chunks fall."""

from __future__ import annotations

from pathlib import Path

import pytest

import triad.ledes as ledes
from triad.ledes.sample import generate_1998b

DATA = Path(__file__).parent.parent / "data" / "ledes"


def _problems(report):
    return [(p.code, p.line, p.field, p.message) for p in report.problems]


@pytest.mark.parametrize("chunk_bytes", [1, 700, 5000])
def test_chunking_changes_nothing(monkeypatch, chunk_bytes):
    files = sorted(DATA.glob("*.ledes"))
    big = generate_1998b(invoices=30, lines_per_invoice=20, seed=3)
    # errors on both sides of chunk boundaries: a wrong line total, a duplicate line number, a bad date
    lines = big.split(b"\n")
    lines[40] = lines[40].replace(b"|F|", b"|X|", 1)
    lines[333] = lines[333].replace(b"|2026", b"|2025", 1)
    broken = b"\n".join(lines)
    whole = {f.name: _problems(ledes.validate(f.read_bytes(), keep_frame=True)) for f in files}
    whole["big"] = _problems(ledes.validate(broken, keep_frame=True))
    assert {p[0] for p in whole["big"]} >= {"LEDES-024"}, whole["big"]
    monkeypatch.setattr(ledes, "CHUNK_BYTES", chunk_bytes)
    for f in files:
        assert _problems(ledes.validate(f.read_bytes())) == whole[f.name], f.name
    chunked = ledes.validate(broken)
    assert _problems(chunked) == whole["big"]
    assert chunked.lines == ledes.validate(broken, keep_frame=True).lines
    assert chunked.frame is None


@pytest.mark.parametrize("chunk_bytes", [64, 4096])
def test_file_reading_block_by_block_gives_the_same_report(tmp_path, monkeypatch, chunk_bytes):
    monkeypatch.setattr(ledes, "CHUNK_BYTES", chunk_bytes)
    for f in sorted(DATA.glob("*")):
        if f.suffix not in (".ledes", ".xml"):
            continue
        from_bytes = ledes.validate(f.read_bytes(), keep_frame=True)
        from_file = ledes.validate_file(f)
        assert _problems(from_file) == _problems(from_bytes), f.name
        assert (from_file.format, from_file.invoices, from_file.lines) == (
            from_bytes.format, from_bytes.invoices, from_bytes.lines), f.name
