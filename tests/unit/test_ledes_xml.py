"""LEDES XML 2.x: reading into the shared frame, the shared checks on it, safety, and writing."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from triad import ledes
from triad.ledes import build, sample, xml
from triad.ledes.model import Invoice

# Two invoices; the first has two matters, fees with tksum, an expense, a matter-level credit and an
# invoice-level discount. Arithmetic (with 10 % tax on fee 2) is right.
SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<ledesxmlebilling lxnsversion="2.1">
  <!-- produced by hand -->
  <firm>
    <lf_vendor_id>V-100</lf_vendor_id>
    <lf_tax_id>13-4924710</lf_tax_id>
    <lf_name>Hale &amp; Lowe LLP</lf_name>
    <lf_address>
      <address_1>1 Main Street</address_1>
      <city>New York</city>
      <state_province>NY</state_province>
      <zip_postal_code>10001</zip_postal_code>
      <country>US</country>
    </lf_address>
    <client>
      <cl_id>TRIADCO</cl_id>
      <cl_name>Triad Co</cl_name>
      <cl_tax_id>98-7654321</cl_tax_id>
      <cl_address>
        <address_1>9 Harbour Road</address_1>
        <address_2>Floor 3</address_2>
        <city>Boston</city>
        <state_province>MA</state_province>
        <zip_postal_code>02110</zip_postal_code>
        <country>US</country>
      </cl_address>
      <invoice>
        <inv_id>INV-2026-001</inv_id>
        <inv_date>2026-02-05</inv_date>
        <inv_due_date>2026-03-05</inv_due_date>
        <inv_currency>USD</inv_currency>
        <inv_desc>Legal services, January 2026</inv_desc>
        <inv_start_date>2026-01-01</inv_start_date>
        <inv_end_date>2026-01-31</inv_end_date>
        <inv_total_net_due>4195.25</inv_total_net_due>
        <inv_tax_total>157.75</inv_tax_total>
        <inv_net_total>4037.50</inv_net_total>
        <po_number>PO-77</po_number>
        <inv_disc_cred>
          <disc_cred_id>9</disc_cred_id>
          <disc_cred_type>fee</disc_cred_type>
          <disc_cred_date>2026-01-31</disc_cred_date>
          <disc_cred_amount>-100.00</disc_cred_amount>
          <disc_cred_desc>Courtesy discount</disc_cred_desc>
        </inv_disc_cred>
        <matter>
          <lf_matter_id>HL-1001</lf_matter_id>
          <cl_matter_id>M-2026-0001</cl_matter_id>
          <matter_name>Acme v. Triad</matter_name>
          <tksum>
            <tk_id>TK001</tk_id>
            <tk_lname>Whitaker</tk_lname>
            <tk_fname>Ann</tk_fname>
            <tk_level>PARTNR</tk_level>
            <tk_rate>850.00</tk_rate>
          </tksum>
          <tksum>
            <tk_id>TK002</tk_id>
            <tk_lname>Reyes</tk_lname>
            <tk_fname>Lucia</tk_fname>
            <tk_level>ASSOC</tk_level>
            <tk_rate>465.00</tk_rate>
          </tksum>
          <fee>
            <fee_id>1</fee_id>
            <tk_id>TK001</tk_id>
            <charge_date>2026-01-10</charge_date>
            <acca_task>L110</acca_task>
            <acca_activity>A101</acca_activity>
            <charge_desc>Review complaint</charge_desc>
            <units>2.0</units>
            <rate>850.00</rate>
            <base_amount>1700.00</base_amount>
            <total_amount>1700.00</total_amount>
          </fee>
          <fee>
            <fee_id>2</fee_id>
            <tk_id>TK002</tk_id>
            <charge_date>2026-01-12</charge_date>
            <acca_task>L120</acca_task>
            <acca_activity>A102</acca_activity>
            <charge_desc>Research removal</charge_desc>
            <units> 3.5 </units>
            <rate>465.00</rate>
            <base_amount>1627.50</base_amount>
            <discount_amount>50.00</discount_amount>
            <tax_rate>0.10</tax_rate>
            <tax_on_charge>157.75</tax_on_charge>
            <total_amount>1735.25</total_amount>
          </fee>
          <expense>
            <exp_id>3</exp_id>
            <charge_date>2026-01-15</charge_date>
            <acca_expense>E101</acca_expense>
            <charge_desc>Copying</charge_desc>
            <units>100</units>
            <rate>0.15</rate>
            <base_amount>15.00</base_amount>
            <total_amount>15.00</total_amount>
          </expense>
          <matter_disc_cred>
            <disc_cred_id>4</disc_cred_id>
            <disc_cred_type>expense</disc_cred_type>
            <disc_cred_date>2026-01-31</disc_cred_date>
            <disc_cred_amount>-5.00</disc_cred_amount>
            <disc_cred_desc>Copy credit</disc_cred_desc>
          </matter_disc_cred>
        </matter>
        <matter>
          <lf_matter_id>HL-1002</lf_matter_id>
          <cl_matter_id>M-2026-0002</cl_matter_id>
          <matter_name>Triad lease review</matter_name>
          <tksum>
            <tk_id>TK001</tk_id>
            <tk_lname>Whitaker</tk_lname>
            <tk_fname>Ann</tk_fname>
            <tk_level>PARTNR</tk_level>
          </tksum>
          <fee>
            <fee_id>5</fee_id>
            <tk_id>TK001</tk_id>
            <charge_date>2026-01-20</charge_date>
            <acca_task>L130</acca_task>
            <acca_activity>A104</acca_activity>
            <charge_desc>Lease analysis</charge_desc>
            <units>1.0</units>
            <rate>850.00</rate>
            <total_amount>850.00</total_amount>
          </fee>
        </matter>
      </invoice>
      <invoice>
        <inv_id>INV-2026-002</inv_id>
        <inv_date>2026-03-05</inv_date>
        <inv_currency>USD</inv_currency>
        <inv_start_date>2026-02-01</inv_start_date>
        <inv_end_date>2026-02-28</inv_end_date>
        <inv_total_net_due>425.00</inv_total_net_due>
        <matter>
          <lf_matter_id>HL-1001</lf_matter_id>
          <cl_matter_id>M-2026-0001</cl_matter_id>
          <matter_name>Acme v. Triad</matter_name>
          <tksum>
            <tk_id>TK002</tk_id>
            <tk_lname>Reyes</tk_lname>
            <tk_fname>Lucia</tk_fname>
            <tk_level>ASSOC</tk_level>
          </tksum>
          <fee>
            <fee_id>1</fee_id>
            <tk_id>TK002</tk_id>
            <charge_date>2026-02-03</charge_date>
            <acca_task>L120</acca_task>
            <acca_activity>A104</acca_activity>
            <charge_desc>Draft memo</charge_desc>
            <units>1.0</units>
            <rate>465.00</rate>
            <discount_amount>40.00</discount_amount>
            <total_amount>425.00</total_amount>
          </fee>
        </matter>
      </invoice>
    </client>
  </firm>
</ledesxmlebilling>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ledesxmlebilling><firm><lf_name>&lol9;</lf_name></firm></ledesxmlebilling>
"""


def _line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth occurrence of needle in text."""
    pos = -1
    for _ in range(nth):
        pos = text.index(needle, pos + 1)
    return text.count("\n", 0, pos) + 1


def _codes(report: ledes.Report) -> set[str]:
    return {p.code for p in report.problems}


def _comparable(invoices: list[Invoice]) -> dict:
    """Invoices by key, lines by number; source lines dropped. Writing groups invoices by firm and
    client and a matter's lines by element kind, so order is compared per key, not overall."""
    out = {}
    for inv in invoices:
        d = dataclasses.asdict(inv)
        d["lines"] = {ln["line_no"]: {k: v for k, v in ln.items() if k != "source_line"} for ln in d["lines"]}
        out[(inv.law_firm.id, inv.invoice_number)] = d
    return out


def test_valid_sample() -> None:
    report = ledes.validate(SAMPLE.encode())
    assert report.format == "LEDES XML"
    assert report.problems == []
    assert report.valid
    assert (report.invoices, report.lines) == (2, 7)


def test_frame_mapping() -> None:
    frame, problems = xml.read(SAMPLE.encode())
    assert problems == []
    rows = {(r["invoice_number"], r["line_item_number"]): r for r in frame.iter_rows(named=True)}
    assert list(frame.get_column("line_item_number")) == ["9", "1", "2", "3", "4", "5", "1"]  # document order
    first = rows[("INV-2026-001", "1")]
    assert first["_line"] == _line_of(SAMPLE, "<fee>")
    assert first["law_firm_id"] == "13-4924710" and first["law_firm_name"] == "Hale & Lowe LLP"
    assert first["invoice_date"] == "20260205" and first["billing_end_date"] == "20260131"
    assert first["invoice_total"] == "4195.25" and first["invoice_currency"] == "USD"
    assert first["client_postcode"] == "02110" and first["client_stateorregion"] == "MA"
    assert first["timekeeper_name"] == "Whitaker, Ann" and first["timekeeper_classification"] == "PARTNR"
    assert first["line_item_adjustment_amount"] is None
    fee2 = rows[("INV-2026-001", "2")]
    assert fee2["line_item_adjustment_amount"] == "-50.00" and fee2["line_item_number_of_units"] == "3.5"
    assert rows[("INV-2026-001", "3")]["exp_fee_inv_adj_type"] == "E"
    assert rows[("INV-2026-001", "3")]["line_item_expense_code"] == "E101"
    credit = rows[("INV-2026-001", "4")]
    assert (credit["exp_fee_inv_adj_type"], credit["line_item_total"]) == ("IE", "-5.00")
    discount = rows[("INV-2026-001", "9")]
    assert (discount["exp_fee_inv_adj_type"], discount["line_item_adjustment_amount"]) == ("IF", "-100.00")
    assert discount["law_firm_matter_id"] == "HL-1001" and discount["client_matter_id"] == "M-2026-0001"
    assert discount["line_item_number_of_units"] is None and discount["line_item_unit_cost"] is None


def test_wrong_fee_total_points_at_the_fee() -> None:
    text = SAMPLE.replace("<total_amount>1700.00</total_amount>", "<total_amount>1800.00</total_amount>")
    report = ledes.validate(text.encode(), keep_frame=True)
    assert not report.valid
    wrong = [p for p in report.problems if p.code == "LEDES-030"]
    assert [p.line for p in wrong] == [_line_of(text, "<fee>")]
    assert wrong[0].value == "1800.00"


def test_impossible_date() -> None:
    text = SAMPLE.replace("<charge_date>2026-01-10</charge_date>", "<charge_date>2026-02-30</charge_date>")
    report = ledes.validate(text.encode(), keep_frame=True)
    bad = [p for p in report.problems if p.code == "LEDES-022"]
    assert [(p.line, p.field) for p in bad] == [(_line_of(text, "<fee>"), "LINE_ITEM_DATE")]


def test_date_not_iso_is_passed_on() -> None:
    text = SAMPLE.replace("<inv_date>2026-02-05</inv_date>", "<inv_date>05/02/2026</inv_date>")
    report = ledes.validate(text.encode(), keep_frame=True)
    assert any(p.code == "LEDES-022" and p.value == "05/02/2026" for p in report.problems)


def test_billion_laughs_refused_quickly() -> None:
    started = time.perf_counter()
    report = ledes.validate(BILLION_LAUGHS)
    assert time.perf_counter() - started < 1
    assert [(p.code, p.line) for p in report.problems] == [("LEDES-009", 2)]
    assert report.lines == 0


def test_external_entity_refused() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ledesxmlebilling>&e;' \
           b"</ledesxmlebilling>"
    report = ledes.validate(data)
    assert _codes(report) == {"LEDES-009"}


def test_malformed() -> None:
    text = SAMPLE.replace("</fee_id>", "</fee_idx>", 1)
    report = ledes.validate(text.encode(), keep_frame=True)
    assert [p.code for p in report.problems] == ["LEDES-009"]
    assert report.problems[0].line == _line_of(text, "</fee_idx>")


def test_tk_sum_spelling_and_case() -> None:
    text = SAMPLE.replace("<tksum>", "<TK_SUM>").replace("</tksum>", "</TK_SUM>")
    report = ledes.validate(text.encode(), keep_frame=True)
    assert report.valid, report.problems
    assert report.frame is not None
    assert report.frame.get_column("timekeeper_name").to_list()[1:3] == ["Whitaker, Ann", "Reyes, Lucia"]


def test_namespaces() -> None:
    text = re.sub(r"<(/?)([a-z_0-9]+)", r"<\1l:\2", SAMPLE)
    text = text.replace("<l:ledesxmlebilling ", '<l:ledesxmlebilling xmlns:l="urn:example:ledes" ', 1)
    report = ledes.validate(text.encode(), keep_frame=True)
    assert report.valid, report.problems
    assert (report.invoices, report.lines) == (2, 7)
    default_ns = SAMPLE.replace("<ledesxmlebilling ", '<ledesxmlebilling xmlns="http://www.ledes.org/2.1" ', 1)
    assert ledes.validate(default_ns.encode()).valid


def test_structure_problems() -> None:
    text = SAMPLE.replace("<inv_id>INV-2026-002</inv_id>", "").replace(
        "<total_amount>850.00</total_amount>", "")
    report = ledes.validate(text.encode(), keep_frame=True)
    structural = {(p.field, p.line) for p in report.problems if p.code == "LEDES-010"}
    assert ("inv_id", _line_of(text, "<invoice>", 2)) in structural
    assert ("total_amount", _line_of(text, "<fee>", 3)) in structural
    empty = """<ledesxmlebilling><firm><client><invoice><inv_id>1</inv_id><inv_date>2026-01-01</inv_date>
    <matter><lf_matter_id>X</lf_matter_id></matter></invoice><invoice><inv_id>2</inv_id></invoice>
    </client></firm></ledesxmlebilling>"""
    report = ledes.validate(empty.encode())
    assert {(p.code, p.field) for p in report.problems} == {
        ("LEDES-010", "matter"), ("LEDES-010", "inv_date"), ("LEDES-011", None)}


def test_wrong_root() -> None:
    report = ledes.validate(b"<html><body/></html>")
    assert [p.code for p in report.problems] == ["LEDES-010"]


def test_round_trip() -> None:
    invoices, problems = ledes.parse(SAMPLE.encode())
    assert problems == []
    out = xml.write(invoices)
    assert out.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ledesxmlebilling lxnsversion="2.1">')
    frame, problems = xml.read(out)
    assert problems == []
    again = build.invoices(frame)
    assert _comparable(again) == _comparable(invoices)
    assert ledes.validate(out).valid


def test_round_trip_from_pipe_format() -> None:
    invoices, problems = ledes.parse(sample.generate_1998b(invoices=3, lines_per_invoice=20))
    assert problems == []
    for inv in invoices:
        inv.currency = "USD"
    out = xml.write(invoices, version="2.2")
    report = ledes.validate(out, keep_frame=True)
    assert report.valid, report.problems[:3]
    assert (report.invoices, report.lines) == (3, sum(len(i.lines) for i in invoices))
    # 1998B has only TIMEKEEPER_NAME; XML stores the name split, so the split parts are new
    again = _comparable(build.invoices(report.frame))
    for d in again.values():
        for ln in d["lines"].values():
            ln["timekeeper_last_name"] = ln["timekeeper_first_name"] = None
    assert again == _comparable(invoices)


def test_write_needs_a_currency_and_a_known_version() -> None:
    invoices, _ = ledes.parse(sample.generate_1998b(invoices=1, lines_per_invoice=3))
    with pytest.raises(ValueError, match="currency"):
        xml.write(invoices)
    invoices[0].currency = "EUR"
    with pytest.raises(ValueError, match="version"):
        xml.write(invoices, version="3.0")


def test_undated_discount_takes_the_billing_end_date() -> None:
    text = SAMPLE.replace("<disc_cred_date>2026-01-31</disc_cred_date>", "")
    report = ledes.validate(text.encode(), keep_frame=True)
    assert report.valid, report.problems
    assert report.frame is not None
    discounts = report.frame.filter(report.frame["exp_fee_inv_adj_type"].is_in(["IF", "IE"]))
    assert discounts.get_column("line_item_date").to_list() == ["20260131", "20260131"]
