"""UTBMS code lists must match the ABA reference lists in tests/data/utbms exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from triad.ledes import utbms

DATA_DIR = Path(__file__).parent.parent / "data" / "utbms"

EXPECTED_COUNTS = {
    "litigation": 34,
    "counseling": 4,
    "project": 16,
    "bankruptcy": 25,
    "activities": 11,
    "expenses": 24,
}


def _read_csv(list_id: str) -> dict[str, str]:
    with (DATA_DIR / f"{list_id}.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["code", "name"]
        rows = list(reader)
    result = {row["code"]: row["name"] for row in rows}
    assert len(result) == len(rows), f"duplicate codes in {list_id}.csv"
    return result


def _module_list(list_id: str) -> dict[str, str]:
    if list_id == "activities":
        return utbms.ACTIVITIES
    if list_id == "expenses":
        return utbms.EXPENSES
    return utbms.CODE_SETS[list_id]


@pytest.mark.parametrize("list_id", sorted(EXPECTED_COUNTS))
def test_module_matches_reference_csv(list_id: str) -> None:
    reference = _read_csv(list_id)
    data = _module_list(list_id)
    missing = sorted(set(reference) - set(data))
    extra = sorted(set(data) - set(reference))
    assert not missing, f"codes missing from module: {missing}"
    assert not extra, f"codes in module but not in reference: {extra}"
    for code, ref_name in reference.items():
        assert data[code] == ref_name, code
        assert utbms.name(code) == ref_name, code
    assert data == reference


@pytest.mark.parametrize(("list_id", "count"), sorted(EXPECTED_COUNTS.items()))
def test_counts(list_id: str, count: int) -> None:
    assert len(_module_list(list_id)) == count
    assert len(_read_csv(list_id)) == count


def test_code_sets_keys() -> None:
    assert set(utbms.CODE_SETS) == {"litigation", "counseling", "project", "bankruptcy"}


def test_l130_is_experts_consultants() -> None:
    assert utbms.CODE_SETS["litigation"]["L130"] == "Experts/Consultants"
    assert utbms.name("L130") == "Experts/Consultants"


def test_litigation_tasks_map_to_their_hundred() -> None:
    for code in utbms.CODE_SETS["litigation"]:
        assert utbms.PHASES[code] == code[:2] + "00", code
    assert utbms.PHASES["L110"] == "L100"
    assert utbms.PHASES["L470"] == "L400"
    assert utbms.PHASES["L530"] == "L500"
    assert utbms.PHASES["L100"] == "L100"


def test_other_phase_mappings() -> None:
    assert utbms.PHASES["B185"] == "B100"
    assert utbms.PHASES["B195"] == "B100"
    assert utbms.PHASES["P230"] == "P200"
    assert utbms.PHASES["P100"] == "P100"
    assert utbms.PHASES["P800"] == "P800"
    assert utbms.PHASES["C300"] == "C300"


def test_phases_and_task_set_cover_every_task_code() -> None:
    all_codes = {code for codes in utbms.CODE_SETS.values() for code in codes}
    assert set(utbms.PHASES) == all_codes
    assert set(utbms.TASK_SET) == all_codes
    for code, phase in utbms.PHASES.items():
        assert utbms.PHASES[phase] == phase
        assert utbms.TASK_SET[phase] == utbms.TASK_SET[code]


def test_code_set_of() -> None:
    assert utbms.code_set_of("L210") == "litigation"
    assert utbms.code_set_of("B110") == "bankruptcy"
    assert utbms.code_set_of("C100") == "counseling"
    assert utbms.code_set_of("P210") == "project"
    assert utbms.code_set_of("X999") is None


def test_kind_predicates() -> None:
    assert utbms.is_activity("A111") is True
    assert utbms.is_activity("A112") is False
    assert utbms.is_expense("E124") is True
    assert utbms.is_expense("E125") is False
    assert utbms.is_task("L110") is True
    assert utbms.is_task("A101") is False
    assert utbms.is_task("X999") is False


def test_name_any_kind() -> None:
    assert utbms.name("A105") == "Communicate (in firm)"
    assert utbms.name("E110") == "Out-of-town travel"
    assert utbms.name("L100") == "Case Assessment, Development and Administration"
    assert utbms.name("X999") is None
