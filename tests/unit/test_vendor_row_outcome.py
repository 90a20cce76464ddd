"""``sync.RowOutcome`` (decision 0037): its three lists made only when read or set, and the same dict, JSON and
equality as the dataclass it replaced."""

from __future__ import annotations

import json

from triad.vendors.sync import ImportReport, RowOutcome


def test_lists_are_made_when_read_or_set_and_appends_stick():
    out = RowOutcome(7, "updated", 12, "Larkspur Mills Ltd", "tax_id")
    assert out._changed is None and out._held_for_approval is None and out._conflicts is None
    out.conflicts.append("status")
    out.conflicts.append("risk_tier")
    assert out.conflicts == ["status", "risk_tier"]
    out.changed = ["addresses"]
    assert out.changed == ["addresses"] and out.held_for_approval == []
    assert out._held_for_approval == []  # read once: kept


def test_as_dict_has_the_dataclass_fields_in_order():
    out = RowOutcome(3, "created", 9, "Larkspur Mills Ltd", changed=["created"])
    assert list(out.as_dict()) == ["line", "action", "vendor_id", "legal_name", "matched_by", "changed",
                                   "held_for_approval", "conflicts"]
    assert out.as_dict() == {"line": 3, "action": "created", "vendor_id": 9, "legal_name": "Larkspur Mills Ltd",
                             "matched_by": None, "changed": ["created"], "held_for_approval": [], "conflicts": []}
    assert RowOutcome(4, "error").as_dict()["changed"] == []


def test_equality_and_the_report_dict():
    a = RowOutcome(2, "unchanged", 5, "Larkspur Mills Ltd", "name")
    b = RowOutcome(2, "unchanged", 5, "Larkspur Mills Ltd", "name", changed=[], conflicts=[])
    assert a == b and a != RowOutcome(2, "updated", 5, "Larkspur Mills Ltd", "name")
    report = ImportReport("f.csv", "procurement", False, False, rows=1, outcomes=[a],
                          errors=[{"file": "f.csv", "line": 3, "field": "tax_id", "message": "bad"}])
    d = report.as_dict()
    assert d["outcomes"] == [a.as_dict()] and d["errors"][0]["field"] == "tax_id" and d["ok"] is False
    assert list(d)[:3] == ["file", "source", "dry_run"] and "outcomes" in d
    assert json.loads(json.dumps(d))["outcomes"][0]["held_for_approval"] == []
    assert report.outcomes == [a]  # as_dict leaves the report as it was
    assert "held_for_approval=[]" in repr(a)


def test_a_shared_tuple_of_fields_becomes_the_rows_own_list():
    from triad.vendors.sync import shared_fields

    fields = shared_fields(("addresses", "contacts"))
    assert shared_fields(("addresses", "contacts")) is fields  # one tuple for every row with these fields
    a, b = RowOutcome(2, "updated", changed=fields), RowOutcome(3, "updated", changed=fields)
    assert a.as_dict()["changed"] == ["addresses", "contacts"]
    a.changed.append("legal_name")
    assert a.changed == ["addresses", "contacts", "legal_name"] and type(a.changed) is list
    assert b.changed == ["addresses", "contacts"] and fields == ("addresses", "contacts")
