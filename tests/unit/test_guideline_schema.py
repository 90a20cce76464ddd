from decimal import Decimal
from pathlib import Path

import pytest

from triad.guidelines.schema import DocumentError, load_text, merge, validate_document

EXAMPLE = Path(__file__).parent.parent.parent / "docs" / "examples" / "guidelines-company.yaml"


def test_example_document_is_valid():
    doc = validate_document(load_text(EXAMPLE.read_text()))
    assert doc.name and "rate_cap" in doc.rules
    assert doc.rules["rate_cap"]["by_classification"]["PARTNR"] == "950.00"


def test_yaml_numbers_are_exact():
    data = load_text("name: x\nrules:\n  rate_cap:\n    by_classification: {PARTNR: 550.10}\n")
    assert data["rules"]["rate_cap"]["by_classification"]["PARTNR"] == Decimal("550.10")
    doc = validate_document(data)
    assert doc.rules["rate_cap"]["by_classification"]["PARTNR"] == "550.10"


def test_errors_name_the_place():
    with pytest.raises(DocumentError) as exc:
        validate_document(load_text("""
name: bad
rules:
  rate_cap: {by_classification: {PARTNR: "abc"}, colour: red}
  no_such_rule: {}
  billing_increment: {severity: fatal}
"""))
    fields = {e["field"] for e in exc.value.errors}
    assert {"rules.rate_cap.by_classification.PARTNR", "rules.rate_cap.colour", "rules.no_such_rule",
            "rules.billing_increment.severity"} <= fields


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(DocumentError) as exc:
        load_text("name: x\nrules:\n  rate_cap: {by_classification: [\n")
    assert exc.value.errors[0]["field"].startswith("line ")


def test_merge_company_firm_engagement():
    company = {"rate_cap": {"by_classification": {"PARTNR": "900", "ASSOC": "600"}, "severity": "warning"},
               "travel_time": {"allowed_share": "0.5"}}
    firm = {"rate_cap": {"by_classification": {"PARTNR": "950"}}}
    engagement = {"travel_time": {"enabled": False}}
    merged = merge(company, firm, engagement)
    assert merged["rate_cap"]["by_classification"] == {"PARTNR": "950", "ASSOC": "600"}
    assert merged["rate_cap"]["severity"] == "warning"
    assert merged["travel_time"] == {"allowed_share": "0.5", "enabled": False}


def test_every_rule_documented():
    from triad.guidelines.registry import rules

    doc = (Path(__file__).parent.parent.parent / "docs" / "guidelines.md").read_text()
    assert [r for r in rules() if f"| `{r}` |" not in doc] == []
