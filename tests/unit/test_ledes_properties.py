"""Property tests: no input makes the LEDES reader raise; writing then reading gives the same invoices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triad.ledes import parse, validate
from triad.ledes.model import Invoice, Line, Party
from triad.ledes.sample import generate_1998b
from triad.ledes.writers import convert, same_invoices, write_1998b

VALID = generate_1998b(invoices=3, lines_per_invoice=6, seed=7)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(data: bytes) -> None:
    invoices, problems = parse(data)
    assert isinstance(invoices, list) and isinstance(problems, list)
    for p in problems:
        assert p.code.startswith("LEDES-") and p.severity in ("error", "warning") and p.message


@FAST
@given(st.binary(max_size=2000))
def test_any_bytes_give_problems_not_exceptions(data):
    _outcome(data)


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_after_a_header(data):
    _outcome(b"LEDES1998B[]\n" + data)
    _outcome(b"LEDES98BI V2[]\r\n" + data)
    _outcome(b"<?xml version='1.0'?><ledesxmlebilling>" + data)


@FAST
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 3),
                          st.binary(min_size=0, max_size=8)), min_size=1, max_size=6))
def test_any_mutation_of_a_valid_file(edits):
    data = bytearray(VALID)
    for pos, op, chunk in edits:
        pos = min(pos, len(data))
        if op == 0:
            data[pos:pos] = chunk  # insert
        elif op == 1:
            del data[pos:pos + len(chunk) + 1]  # delete
        elif op == 2:
            data[pos:pos + len(chunk)] = chunk  # overwrite
        else:
            data[pos:pos] = b"|"  # an extra field separator
    _outcome(bytes(data))


def test_sample_is_valid():
    report = validate(VALID)
    assert report.valid, report.problems[:3]


money = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=2, allow_nan=False)
text = st.text(alphabet=st.characters(codec="ascii", exclude_characters="|\r\n[]", min_codepoint=32),
               min_size=1, max_size=30).map(str.strip).filter(bool)


@st.composite
def invoices(draw):
    out = []
    for n in range(draw(st.integers(1, 3))):
        lines = []
        start = dt.date(2026, 1, 1)
        for i in range(1, draw(st.integers(1, 5)) + 1):
            units = draw(st.decimals(min_value=Decimal("0.1"), max_value=Decimal("50"), places=1))
            cost = draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("2000"), places=2))
            adj = draw(money) if draw(st.booleans()) else Decimal("0")
            lines.append(Line(line_no=str(i), line_type="F", date=start + dt.timedelta(days=draw(st.integers(0, 30))),
                              units=units, unit_cost=cost, adjustment=adj, total=units * cost + adj,
                              law_firm_matter_id=draw(text)[:20].strip() or "LF",
                              client_matter_id=draw(text)[:20].strip() or "CM",
                              task_code="L110", activity_code="A101", timekeeper_id="TK1",
                              timekeeper_name="Doe, Jan", timekeeper_classification="ASSOC",
                              description=draw(text)))
        out.append(Invoice(invoice_number=f"INV{n}", invoice_date=dt.date(2026, 2, 5),
                           billing_start=start, billing_end=dt.date(2026, 1, 31),
                           total=sum((ln.total for ln in lines), Decimal(0)),
                           law_firm=Party(id="13-4924710"), client=Party(id="ACME"), description=draw(text),
                           lines=lines))
    return out


@settings(max_examples=60, deadline=None)
@given(invoices())
def test_write_then_parse_gives_the_same_invoices(invs):
    back, problems = parse(write_1998b(invs))
    assert [p for p in problems if p.severity == "error"] == []
    assert same_invoices(invs, back)


@settings(max_examples=40, deadline=None)
@given(invoices())
def test_98bi_round_trip_and_back_to_1998b(invs):
    as_98bi, problems = parse(convert(invs, "98bi", currency="EUR"))
    assert not [p for p in problems if p.severity == "error"]
    assert all(i.currency == "EUR" for i in as_98bi)
    back, _ = parse(convert(as_98bi, "1998b", allow_loss=True))
    for i in back:
        i.currency = None
    assert same_invoices(invs, back)
