"""Writes the LEDES conformance cases in this folder: one file per case plus a sidecar
``<case>.expected.json`` with the problems a correct validator must report (code + line).

The expectations below are written by hand from the LEDES rules, not produced by running
Triad. Re-run after editing: ``.venv/bin/python tests/data/ledes/build_cases.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent

NAMES_1998B = ("INVOICE_DATE|INVOICE_NUMBER|CLIENT_ID|LAW_FIRM_MATTER_ID|INVOICE_TOTAL|BILLING_START_DATE|"
               "BILLING_END_DATE|INVOICE_DESCRIPTION|LINE_ITEM_NUMBER|EXP/FEE/INV_ADJ_TYPE|LINE_ITEM_NUMBER_OF_UNITS|"
               "LINE_ITEM_ADJUSTMENT_AMOUNT|LINE_ITEM_TOTAL|LINE_ITEM_DATE|LINE_ITEM_TASK_CODE|LINE_ITEM_EXPENSE_CODE|"
               "LINE_ITEM_ACTIVITY_CODE|TIMEKEEPER_ID|LINE_ITEM_DESCRIPTION|LAW_FIRM_ID|LINE_ITEM_UNIT_COST|"
               "TIMEKEEPER_NAME|TIMEKEEPER_CLASSIFICATION|CLIENT_MATTER_ID[]")
NAMES_98BI = NAMES_1998B.removesuffix("[]") + (
    "|PO_NUMBER|CLIENT_TAX_ID|MATTER_NAME|INVOICE_TAX_TOTAL|INVOICE_NET_TOTAL|INVOICE_CURRENCY|TIMEKEEPER_LAST_NAME|"
    "TIMEKEEPER_FIRST_NAME|ACCOUNT_TYPE|LAW_FIRM_NAME|LAW_FIRM_ADDRESS_1|LAW_FIRM_ADDRESS_2|LAW_FIRM_CITY|"
    "LAW_FIRM_STATEorREGION|LAW_FIRM_POSTCODE|LAW_FIRM_COUNTRY|CLIENT_NAME|CLIENT_ADDRESS_1|CLIENT_ADDRESS_2|"
    "CLIENT_CITY|CLIENT_STATEorREGION|CLIENT_POSTCODE|CLIENT_COUNTRY|LINE_ITEM_TAX_RATE|LINE_ITEM_TAX_TOTAL|"
    "LINE_ITEM_TAX_TYPE|INVOICE_REPORTED_TAX_TOTAL|INVOICE_TAX_CURRENCY[]")
F = {n: i for i, n in enumerate(NAMES_98BI.removesuffix("[]").split("|"))}

# Two invoices; INV-2001 covers two matters. Totals: 750 + 540 + 15 + 250 = 1555; 1350 - 135 = 1215.
BASE_1998B = [
    "LEDES1998B[]",
    NAMES_1998B,
    "20260205|INV-2001|ACME|HL-100|1555.00|20260101|20260131|January 2026 services|1|F|1.5|0|750.00|20260105|L110||"
    "A102|TK01|Review complaint and exhibits|13-4924710|500.00|Whitaker, Ann|PARTNR|M-2026-0001[]",
    "20260205|INV-2001|ACME|HL-100|1555.00|20260101|20260131|January 2026 services|2|F|2.0|-60.00|540.00|20260112|"
    "L120||A104|TK02|Strategy memo; courtesy discount|13-4924710|300.00|Nakamura, Ken|ASSOC|M-2026-0001[]",
    "20260205|INV-2001|ACME|HL-100|1555.00|20260101|20260131|January 2026 services|3|E|100|0|15.00|20260114||E101||"
    "|Copies of pleadings|13-4924710|0.15|||M-2026-0001[]",
    "20260205|INV-2001|ACME|HL-101|1555.00|20260101|20260131|January 2026 services|4|F|0.5|0|250.00|20260120|L210||"
    "A103|TK01|Draft answer|13-4924710|500.00|Whitaker, Ann|PARTNR|M-2026-0002[]",
    "20260205|INV-2002|ACME|HL-102|1215.00|20260101|20260131|January 2026 services|1|F|3.0|0|1350.00|20260121|"
    "L310||A103|TK03|Prepare written discovery|13-4924710|450.00|Osei, Kwame|PARTNR|M-2026-0003[]",
    "20260205|INV-2002|ACME|HL-102|1215.00|20260101|20260131|January 2026 services|2|IF|1|0|-135.00|20260131|||||"
    "Volume discount 10%|13-4924710|-135.00|||M-2026-0003[]",
]

# One invoice with tax. Net 200 + 25 = 225; tax 40 + 5 = 45; total 270.
_R98 = ("20260205|GB-77|ACME|AP-9|270.00|20260101|20260131|January services|{n}|{t}|{u}|0|{tot}|{d}|{task}|{exp}|"
        "{act}|{tk}|{desc}|GB980780684|{cost}|{tkn}|{cls}|M-2026-0004|PO-1|US-13-1|Data protection advice|45.00|225.00|"
        "GBP|{last}|{first}|O|Ashdown Pryce LLP|1 Wood Street||London||EC2V 7HH|GB|Triad Co|5 Main St||New York|NY|"
        "10017|US|0.20|{tax}|VAT|45.00|GBP[]")
BASE_98BI = [
    "LEDES98BI V2[]",
    NAMES_98BI,
    _R98.format(n=1, t="F", u="2.0", tot="240.00", d="20260110", task="C300", exp="", act="A104", tk="AP01",
                desc="Advice on transfer mechanism", cost="100.00", tkn="Pryce, Ada", cls="PARTNR", last="Pryce",
                first="Ada", tax="40.00"),
    _R98.format(n=2, t="E", u="1", tot="30.00", d="20260111", task="", exp="E106", act="", tk="",
                desc="Online research", cost="25.00", tkn="", cls="", last="", first="", tax="5.00"),
]


def set_field(line: str, name: str, value: str) -> str:
    closed = line.endswith("[]")
    parts = line.removesuffix("[]").split("|")
    parts[F[name]] = value
    return "|".join(parts) + ("[]" if closed else "")


def edit(base: list[str], changes: dict[int, dict[str, str]]) -> list[str]:
    """Change fields by 1-based file line number."""
    out = list(base)
    for ln, fields in changes.items():
        for name, value in fields.items():
            out[ln - 1] = set_field(out[ln - 1], name, value)
    return out


def text(lines: list[str], eol: str = "\n", final: bool = True) -> bytes:
    return (eol.join(lines) + (eol if final else "")).encode("utf-8")


CASES: dict[str, tuple[bytes, list[tuple[str, int | None]]]] = {}


def case(name: str, data: bytes, expected: list[tuple[str, int | None]]) -> None:
    CASES[name] = (data, expected)


B = BASE_1998B
# --- valid files: the layouts real files arrive in ------------------------------------------
case("valid-1998b-multi-invoice-multi-matter", text(B), [])
case("valid-1998b-crlf", text(B, "\r\n"), [])
case("valid-1998b-no-final-newline", text(B, final=False), [])
case("valid-1998b-bom-trailing-blank-lines", b"\xef\xbb\xbf" + text(B) + b"\n\n\r\n", [])
case("valid-1998b-loose-numbers", text(edit(B, {3: {"LINE_ITEM_UNIT_COST": "500.", "LINE_ITEM_NUMBER_OF_UNITS": "1.50"},
                                                5: {"LINE_ITEM_UNIT_COST": "0.150", "LINE_ITEM_NUMBER_OF_UNITS": "+100"}})),
     [])
case("valid-1998b-adjustment-in-adjustment-field",
     text(edit(B, {8: {"LINE_ITEM_NUMBER_OF_UNITS": "", "LINE_ITEM_UNIT_COST": "", "LINE_ITEM_ADJUSTMENT_AMOUNT": "-135.00"}})),
     [])
# blanks around fields are tolerated whatever kind of blank they are (here a no-break space and an
# ideographic space), also when no other field of the file is padded
case("valid-1998b-unicode-blanks-around-fields",
     text(edit(B, {3: {"LINE_ITEM_TASK_CODE": "\u00a0L110"}, 4: {"EXP/FEE/INV_ADJ_TYPE": "F\u3000"}})), [])
case("valid-98bi-v2", text(BASE_98BI, "\r\n"), [])
case("valid-98bi-v5", text(["LEDES98BI V5[]"] + BASE_98BI[1:]), [])

# --- one case per problem code ----------------------------------------------------------------
case("001-not-ledes", b"INVOICE,AMOUNT\nINV-1,100.00\n", [("LEDES-001", 1)])
case("001-empty", b"", [("LEDES-001", None)])
case("002-header-without-brackets", text(["LEDES1998B"] + B[1:]), [("LEDES-002", 1)])
case("003-field-name-wrong", text([B[0], B[1].replace("TIMEKEEPER_NAME", "TK_NAME")] + B[2:]), [("LEDES-003", 2)])
case("003-field-name-record-missing", text([B[0]] + B[2:]), [("LEDES-003", 2)])
case("004-record-not-closed", text(B[:4] + [B[4].removesuffix("[]")] + B[5:]), [("LEDES-004", 5)])
# the last field is empty and the record stops at its separator: still not closed
case("004-record-ends-in-separator", text(B[:4] + [B[4].removesuffix("M-2026-0001[]")] + B[5:]), [("LEDES-004", 5)])
# line 4 loses a field, so it is left out: INV-2001's remaining lines no longer add up to its total
case("005-field-missing", text(B[:3] + [B[3].replace("|Nakamura, Ken|", "|")] + B[4:]),
     [("LEDES-005", 4), ("LEDES-032", 3)])
case("006-non-ascii", text(edit(B, {3: {"LINE_ITEM_DESCRIPTION": "Réunion with client in Zürich"}})), [("LEDES-006", 3)])
case("007-windows-1252", text(B).replace(b"Strategy memo", b"Strat\xe9gy memo"), [("LEDES-007", 4), ("LEDES-006", 4)])
case("008-blank-line", text(B[:5] + [""] + B[5:]), [("LEDES-008", 6)])
case("011-no-lines", text(B[:2]), [("LEDES-011", None)])
case("020-required-empty", text(edit(B, {4: {"LINE_ITEM_DATE": ""}})), [("LEDES-020", 4)])
case("020-units-missing-on-fee", text(edit(B, {3: {"LINE_ITEM_NUMBER_OF_UNITS": ""}})), [("LEDES-020", 3)])
case("021-too-long", text(edit(B, {3: {"TIMEKEEPER_ID": "TK" + "0" * 23}})), [("LEDES-021", 3)])
case("022-not-a-date", text(edit(B, {4: {"LINE_ITEM_DATE": "20260230"}})), [("LEDES-022", 4)])
case("023-not-a-number", text(edit(B, {3: {"LINE_ITEM_UNIT_COST": "500,00"}})), [("LEDES-023", 3)])
case("024-bad-line-type", text(edit(B, {5: {"EXP/FEE/INV_ADJ_TYPE": "X"}})), [("LEDES-024", 5)])
case("025-line-number-zero", text(edit(B, {3: {"LINE_ITEM_NUMBER": "0"}})), [("LEDES-025", 3)])
case("030-line-total-wrong", text(edit(B, {4: {"LINE_ITEM_TOTAL": "541.00"}})), [("LEDES-030", 4), ("LEDES-032", 3)])
# amounts large enough that binary floating point cannot tell 128.00 from 128.02:
# 900000000 x 900000000 - 809999999999999871.98 = 128.02 exactly
case("030-line-total-wrong-large-amounts",
     text(edit(edit(B, {ln: {"INVOICE_TOTAL": "933.00"} for ln in (3, 4, 5, 6)}),
               {3: {"LINE_ITEM_NUMBER_OF_UNITS": "900000000", "LINE_ITEM_UNIT_COST": "900000000",
                    "LINE_ITEM_ADJUSTMENT_AMOUNT": "-809999999999999871.98", "LINE_ITEM_TOTAL": "128.00"}})),
     [("LEDES-030", 3)])
case("031-invoice-total-differs", text(edit(B, {5: {"INVOICE_TOTAL": "1556.00"}})), [("LEDES-031", 5)])
case("032-invoice-total-not-sum", text(edit(B, {7: {"INVOICE_TOTAL": "1300.00"}, 8: {"INVOICE_TOTAL": "1300.00"}})),
     [("LEDES-032", 7)])
# a line total of 1e9 or more is added up from its text (exactly), the others from the line pass
_BIG_LINE = {"LINE_ITEM_NUMBER_OF_UNITS": "1", "LINE_ITEM_UNIT_COST": "1000000000.01", "LINE_ITEM_TOTAL": "1000000000.01"}
case("032-invoice-total-not-sum-large-line",
     text(edit(B, {7: {**_BIG_LINE, "INVOICE_TOTAL": "999999865.03"}, 8: {"INVOICE_TOTAL": "999999865.03"}})),
     [("LEDES-032", 7)])
case("valid-1998b-large-line-total-within-a-cent",
     text(edit(B, {7: {**_BIG_LINE, "INVOICE_TOTAL": "999999865.02"}, 8: {"INVOICE_TOTAL": "999999865.02"}})), [])
case("033-invoice-date-differs", text(edit(B, {4: {"INVOICE_DATE": "20260206"}})), [("LEDES-033", 4)])
case("034-duplicate-line-number", text(edit(B, {4: {"LINE_ITEM_NUMBER": "1"}})), [("LEDES-034", 4)])
case("035-period-reversed", text(edit(B, {7: {"BILLING_START_DATE": "20260201"}, 8: {"BILLING_START_DATE": "20260201"}})),
     [("LEDES-035", 7)])
case("036-line-outside-period", text(edit(B, {6: {"LINE_ITEM_DATE": "20260215"}})), [("LEDES-036", 6)])
case("040-unknown-task", text(edit(B, {3: {"LINE_ITEM_TASK_CODE": "L999"}})), [("LEDES-040", 3)])
case("041-unknown-activity", text(edit(B, {3: {"LINE_ITEM_ACTIVITY_CODE": "A120"}})), [("LEDES-041", 3)])
case("042-unknown-expense", text(edit(B, {5: {"LINE_ITEM_EXPENSE_CODE": "E199"}})), [("LEDES-042", 5)])
case("043-mixed-code-sets", text(edit(B, {4: {"LINE_ITEM_TASK_CODE": "B110"}})), [("LEDES-043", 4)])
case("044-expense-code-on-fee", text(edit(B, {3: {"LINE_ITEM_EXPENSE_CODE": "E101"}})), [("LEDES-044", 3)])
case("050-unknown-classification", text(edit(B, {3: {"TIMEKEEPER_CLASSIFICATION": "PARTNER"}})), [("LEDES-050", 3)])
case("051-name-not-last-first", text(edit(B, {3: {"TIMEKEEPER_NAME": "Ann Whitaker"}})), [("LEDES-051", 3)])
case("052-fee-without-timekeeper", text(edit(B, {7: {"TIMEKEEPER_ID": ""}})), [("LEDES-052", 7)])
R = BASE_98BI
case("060-unknown-currency", text(edit(R, {3: {"INVOICE_CURRENCY": "GBX"}, 4: {"INVOICE_CURRENCY": "GBX"}})),
     [("LEDES-060", 3), ("LEDES-060", 4)])
case("061-line-tax-wrong", text(edit(R, {3: {"LINE_ITEM_TAX_RATE": "0.25"}})), [("LEDES-061", 3)])
case("062-invoice-tax-aggregates", text(edit(R, {3: {"INVOICE_TAX_TOTAL": "46.00"}, 4: {"INVOICE_TAX_TOTAL": "46.00"}})),
     [("LEDES-062", 3), ("LEDES-062", 3)])
case("063-unknown-country", text(edit(R, {3: {"LAW_FIRM_COUNTRY": "XX"}, 4: {"LAW_FIRM_COUNTRY": "XX"}})),
     [("LEDES-063", 3), ("LEDES-063", 4)])


# --- LEDES XML 2.1 ---------------------------------------------------------------------------
XML_OK = """<?xml version="1.0" encoding="UTF-8"?>
<ledesxmlebilling lxnsversion="2.1">
 <firm>
  <lf_tax_id>13-4924710</lf_tax_id>
  <client>
   <cl_id>ACME</cl_id>
   <invoice>
    <inv_id>INV-3001</inv_id>
    <inv_date>2026-02-05</inv_date>
    <inv_currency>USD</inv_currency>
    <inv_start_date>2026-01-01</inv_start_date>
    <inv_end_date>2026-01-31</inv_end_date>
    <inv_total_net_due>1100.00</inv_total_net_due>
    <matter>
     <lf_matter_id>HL-100</lf_matter_id>
     <cl_matter_id>M-2026-0001</cl_matter_id>
     <tksum><tk_id>TK01</tk_id><tk_lname>Whitaker</tk_lname><tk_fname>Ann</tk_fname><tk_level>PARTNR</tk_level></tksum>
     <fee>
      <fee_id>1</fee_id><tk_id>TK01</tk_id><charge_date>2026-01-05</charge_date><acca_task>L110</acca_task>
      <acca_activity>A102</acca_activity><charge_desc>Review complaint</charge_desc><units>1.5</units>
      <rate>500.00</rate><total_amount>750.00</total_amount>
     </fee>
     <expense>
      <exp_id>2</exp_id><charge_date>2026-01-06</charge_date><acca_expense>E101</acca_expense>
      <charge_desc>Copies</charge_desc><units>100</units><rate>0.50</rate><total_amount>50.00</total_amount>
     </expense>
    </matter>
    <matter>
     <lf_matter_id>HL-101</lf_matter_id>
     <cl_matter_id>M-2026-0002</cl_matter_id>
     <tk_sum><tk_id>TK01</tk_id><tk_lname>Whitaker</tk_lname><tk_fname>Ann</tk_fname><tk_level>PARTNR</tk_level></tk_sum>
     <fee>
      <fee_id>3</fee_id><tk_id>TK01</tk_id><charge_date>2026-01-20</charge_date><acca_task>L210</acca_task>
      <acca_activity>A103</acca_activity><charge_desc>Draft answer</charge_desc><units>0.7</units>
      <rate>500.00</rate><total_amount>350.00</total_amount>
     </fee>
     <matter_disc_cred>
      <disc_cred_id>4</disc_cred_id><disc_cred_type>fee</disc_cred_type><disc_cred_date>2026-01-31</disc_cred_date>
      <disc_cred_amount>-50.00</disc_cred_amount><disc_cred_desc>Courtesy credit</disc_cred_desc>
     </matter_disc_cred>
    </matter>
   </invoice>
  </client>
 </firm>
</ledesxmlebilling>
"""
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<ledesxmlebilling><firm><lf_tax_id>&lol3;</lf_tax_id></firm></ledesxmlebilling>
"""
XML_CASES = {
    "valid-xml-2.1-two-matters": (XML_OK, []),
    "009-xml-doctype-entities": (BILLION_LAUGHS, [("LEDES-009", 2)]),
    "009-xml-not-well-formed": ('<?xml version="1.0"?>\n<ledesxmlebilling>\n <firm>\n</ledesxmlebilling>\n',
                                [("LEDES-009", 4)]),
    # the invoice (line 7) lacks <inv_id>; its four items (one line higher without it: 17, 22, 31, 36)
    # then have no INVOICE_NUMBER either
    "010-xml-invoice-without-id": (XML_OK.replace("    <inv_id>INV-3001</inv_id>\n", ""),
                                   [("LEDES-010", 7), ("LEDES-020", 17), ("LEDES-020", 22), ("LEDES-020", 31),
                                    ("LEDES-020", 36)]),
    # the fee on line 32 bills 0.7 x 500.00 as 360.00, so the invoice (first item on line 18) no longer adds up
    "030-xml-fee-total-wrong": (XML_OK.replace("<total_amount>350.00</total_amount>",
                                               "<total_amount>360.00</total_amount>"),
                                [("LEDES-030", 32), ("LEDES-032", 18)]),
}


def main() -> None:
    for old in HERE.glob("*.ledes"):
        old.unlink()
    for old in HERE.glob("*.expected.json"):
        old.unlink()
    for old in HERE.glob("*.xml"):
        old.unlink()
    for name, (xml_text, expected) in XML_CASES.items():
        (HERE / f"{name}.xml").write_text(xml_text)
        body = {"valid": not any(_is_error(c) for c, _ in expected),
                "problems": [{"code": c, "line": ln} for c, ln in expected]}
        (HERE / f"{name}.expected.json").write_text(json.dumps(body, indent=1) + "\n")
    for name, (data, expected) in CASES.items():
        (HERE / f"{name}.ledes").write_bytes(data)
        body = {"valid": not any(_is_error(c) for c, _ in expected),
                "problems": [{"code": c, "line": ln} for c, ln in expected]}
        (HERE / f"{name}.expected.json").write_text(json.dumps(body, indent=1) + "\n")


def _is_error(code: str) -> bool:
    return code not in {"LEDES-006", "LEDES-007", "LEDES-008", "LEDES-050", "LEDES-051", "LEDES-062"}


if __name__ == "__main__":
    main()
