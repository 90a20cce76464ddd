"""The conformance suite: every file in tests/data/ledes/ against its hand-written expectations."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from triad.ledes import CHECKS, validate

DATA = Path(__file__).parent.parent / "data" / "ledes"
CASES = sorted(p for p in DATA.iterdir() if p.suffix in (".ledes", ".xml"))


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_case(path: Path):
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    report = validate(path.read_bytes())
    got = Counter((p.code, p.line) for p in report.problems)
    want = Counter((p["code"], p["line"]) for p in expected["problems"])
    assert got == want, "\n".join(f"{p.code} line {p.line}: {p.message}" for p in report.problems)
    assert report.valid == expected["valid"]


def test_every_code_has_a_case():
    covered = set()
    for path in DATA.glob("*.expected.json"):
        covered |= {p["code"] for p in json.loads(path.read_text())["problems"]}
    assert sorted(set(CHECKS) - covered) == []


def test_severity_in_sidecars_matches_registry():
    for path in DATA.glob("*.expected.json"):
        body = json.loads(path.read_text())
        errors = [p for p in body["problems"] if CHECKS[p["code"]].severity == "error"]
        assert body["valid"] == (not errors), path.name
