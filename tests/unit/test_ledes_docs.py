from pathlib import Path

from triad.ledes import CHECKS

DOC = Path(__file__).parent.parent.parent / "docs" / "ledes-errors.md"


def test_every_code_documented_with_its_severity():
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in DOC.read_text().splitlines() if line.startswith("| LEDES-")}
    assert set(rows) == set(CHECKS), set(rows) ^ set(CHECKS)
    for code, check in CHECKS.items():
        assert rows[code] == check.severity, code
