"""The import's matching and state reads (decision 0035: driver reads, tax IDs matched without making every
formatted form, the names read once, bank accounts read whole only where the file changes them) give what the
reads before it gave (``vendor_reads_before``, main's code kept verbatim): the same plan and errors, the same
state, and, through a whole import, the same results, rows and audit event."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from tests.integration import vendor_reads_before as before
from tests.integration.test_vendor_import_pipelined import HEADER, _run, _varied_file
from triad.audit import service as audit_service
from triad.core.db import utcnow
from triad.firms.models import LawFirm
from triad.org.models import BusinessUnit
from triad.vendors import sync, validation
from triad.vendors.models import (
    Vendor,
    VendorAddress,
    VendorBankAccount,
    VendorBusinessUnit,
    VendorContact,
    VendorTaxId,
)

SCANS = [0, 16, 20_000]  # every read whole; a mix (the tax IDs and vendors whole, the rest in batches); batches


@pytest.fixture
def w(db):
    return factories.world(db)


def _ein(k: int) -> str:
    return f"13-95{k:05d}"


def _seed(db, w) -> dict:
    """Vendors written directly (any status, both stored tax forms, shared keys): every kind of child row or none,
    names shared by two vendors, deactivated, active and reviewed vendors, law firms with and without a panel."""
    now = utcnow()
    vt = Vendor.__table__
    names = [f"Reads Harbor {k:02d} Supply LLC" for k in range(40)]
    names += ["Twin Lantern Goods LLC", "TWIN LANTERN GOODS LLC", "Key Holder One LLC", "Key Holder Two LLC",
              "Other Key One LLC", "Other Key Two LLC"]
    statuses = ["draft", "active", "deactivated", "suspended", "pending_review"]
    ids = []
    for k, name in enumerate(names):
        ids.append(db.execute(sa.insert(vt).values(
            legal_name=name, name_key=validation.name_key(name), other_names=[f"Alias {k}"] if k % 3 == 0 else [],
            country="US", status=statuses[k % 5], risk_tier=("low", "medium", "high")[k % 3],
            screening_status="clear" if k % 4 == 0 else "not_screened", onboarding_pathway="procurement",
            legal_review="completed" if k % 6 == 0 else "none", created_at=now, updated_at=now)
            .returning(vt.c.id)).scalar_one())
    taxes, banks, addresses, contacts, units = [], [], [], [], []
    for k, vid in enumerate(ids[:40]):
        if k % 4 != 3:  # EINs stored formatted (the usual form) or compact (written by hand or an old import)
            value = _ein(k) if k % 4 != 1 else _ein(k).replace("-", "")
            taxes.append({"vendor_id": vid, "scheme": "us_ein", "value": value, "country": "US"})
        for n in range(k % 3):  # none, one, or two accounts (the second not primary)
            number = f"{880000 + 10 * k + n}"
            banks.append({"vendor_id": vid, "holder_name": names[k], "routing_number": "021000021",
                          "account_number": number, "account_key": f"021000021:{number}", "currency": "USD",
                          "is_primary": n == 0})
        for n in range(1 if k % 2 == 0 else 0) if k % 6 else range(2):
            addresses.append({"vendor_id": vid, "kind": "remit_to", "line1": f"{k} Quay {n}", "city": "Reno",
                              "postal_code": "89501" if n else None, "country": "US"})
        if k % 3 == 1:
            contacts.append({"vendor_id": vid, "name": f"Kim {k}", "email": f"kim{k}@example.com"})
        if k % 4 == 1:
            units.append({"vendor_id": vid, "business_unit_id": w.bu.id})
    # one tax key held in both stored forms by two vendors (the last read wins), and an "other" scheme key likewise
    taxes += [{"vendor_id": ids[42], "scheme": "us_ein", "value": "139512345", "country": "US"},
              {"vendor_id": ids[43], "scheme": "us_ein", "value": "13-9512345", "country": "US"},
              {"vendor_id": ids[44], "scheme": "other", "value": "XK-7788", "country": "US"},  # not a stored form
              {"vendor_id": ids[44], "scheme": "other", "value": "XK7788", "country": "US"},
              {"vendor_id": ids[45], "scheme": "other", "value": "XK7788", "country": "US"},
              # hyphens where a formatted EIN has digits: never a stored form of a key
              {"vendor_id": ids[41], "scheme": "other", "value": "1--9512345", "country": "US"},
              {"vendor_id": ids[41], "scheme": "other", "value": "-1-9512345", "country": "US"}]
    for table, rows in ((VendorTaxId, taxes), (VendorBankAccount, banks), (VendorAddress, addresses),
                        (VendorContact, contacts), (VendorBusinessUnit, units)):
        db.execute(sa.insert(table.__table__), rows)
    w.b.firm.panel_member = True
    db.flush()
    return {"ids": ids, "names": names}


def _file(db, w, seeded: dict) -> str:
    """Rows matched by tax ID in either form, by name, ambiguous, new, repeated; banks new and known; other
    names, addresses, contacts, business units; legal-owned fields."""
    ids, names = seeded["ids"], seeded["names"]
    bu2 = factories.business_unit(db)
    lines = []
    for k in range(40):
        name = names[k]
        tax = f"us_ein,{_ein(k)}" if k % 4 != 3 else ","
        if k % 4 == 1 and k % 8 == 1:
            tax = f"us_ein,{_ein(k).replace('-', '')}"  # given compact, stored compact
        if k % 5 == 4:
            name = name.upper()  # matched by tax ID, or by name where the vendor has none
        bank = f"021000021,{880000 + 10 * k},USD" if k % 7 == 0 else (f"026009593,{770000 + k},USD" if k % 7 in (1, 2)
                                                                   else ",,")
        address = f"{k} Quay 0,Reno" if k % 5 == 0 else (f"{k} New Rd,Boise" if k % 5 == 1 else ",")
        contact = f"Kim {k},kim{k}@example.com" if k % 6 == 1 else (f"Lee {k},lee{k}@example.com" if k % 6 == 2
                                                                   else ",")
        units = {0: "", 1: w.bu.code, 2: f"{w.bu.code};{bu2.code}"}[k % 3]
        others = {0: f"Alias {k}", 4: f"New Alias {k}"}.get(k % 9, "")  # the same, new, or not given
        status = "active" if k % 11 == 0 else ""
        lines.append(f"{name},{others},US,{tax},{bank},{address},{contact},{units},{status},")
    lines.append(f"{names[5]},,US,us_ein,{_ein(5)},,,,,,,,,,")  # the same vendor again
    lines.append("Twin Lantern Goods LLC,,US,,,,,,,,,,,,")  # two vendors have this name
    lines.append("Key Holder Three LLC,,US,us_ein,13-9512345,,,,,,,,,,")  # a key stored in both forms
    lines.append("Other Key Three LLC,,US,other,xk 7788,,,,,,,,,,")  # an "other" key stored in both ways
    lines.append(f"Other Key One LLC,,US,us_ein,{_ein(600)},,,,,,,,,,")  # matched by name, given a tax ID...
    lines.append(f"Fresh Claimant Ltd,,US,us_ein,{_ein(600)},,,,,,,,,,")  # ... that this new row gives too
    for k in range(6):  # new vendors, one of them twice (by tax ID), one without a tax ID twice (by name)
        lines.append(f"Fresh Meadow {k} Trading Ltd,,US,us_ein,{_ein(500 + k)},021000021,{660000 + k},USD,,,,,,,")
    lines.append(f"Fresh Meadow 9 Trading Ltd,,US,us_ein,{_ein(501)},,,,,,,,,,")
    lines += ["Nameless Newcomer Ltd,,US,,,,,,,,,,,,", "NAMELESS NEWCOMER LTD,,US,,,,,,,,,,,,"]
    lines.append(f"{names[7]} Renamed,,US,us_ein,{_ein(7)},,,,,,,,,,")  # vendor 7 again (by tax ID)
    for f in (w.a.firm, w.b.firm):  # law firms' vendors (one on the panel)
        lines.append(f"{f.vendor.legal_name},,US,us_ein,{f.vendor.tax_ids[0].value},,,,{f.id} Firm Rd,Boise,,,,,high")
    assert ids
    return HEADER + "\n".join(lines) + "\n"


def _rows(db, text: str) -> list:
    bu_codes = dict(db.execute(sa.select(BusinessUnit.code, BusinessUnit.id)).all())
    checks = sync._Checks(bu_codes)
    out = []
    for line, raw in sync.read_rows(text.encode(), "reads.csv"):
        row, errors = sync._check_row(line, raw, "reads.csv", bu_codes, checks)
        assert not errors, errors
        out.append(row)
    return out


def _plan(plan: list) -> list:
    return [(r.line, vid, how) for r, vid, how in plan]


@pytest.mark.parametrize("scan_above", SCANS)
def test_matching_gives_the_plan_and_errors_the_reads_before_gave(db, w, monkeypatch, scan_above):
    monkeypatch.setattr(sync, "_SCAN_ABOVE", scan_above)
    seeded = _seed(db, w)
    rows = _rows(db, _file(db, w, seeded))
    old_report, new_report = (sync.ImportReport("reads.csv", "procurement", False, False) for _ in range(2))
    old = before._match(db, rows, old_report, "reads.csv")
    new = sync._match(db, rows, new_report, "reads.csv")
    assert _plan(new) == _plan(old)
    assert new_report.errors == old_report.errors
    # the file exercises what it should: both forms and both ways of matching, the shared keys, every refusal
    hows = [how for _, _, how in old]
    assert hows.count("tax_id") >= 25 and hows.count("name") >= 3 and hows.count(None) >= 6
    ids = seeded["ids"]
    planned = {r.legal_name: vid for r, vid, _ in old}
    assert planned["Key Holder Three LLC"] in (ids[42], ids[43])
    assert planned["Other Key Three LLC"] in (ids[44], ids[45])
    messages = {e["message"].split(" line")[0].split(" vendors")[0] for e in old_report.errors}
    assert messages == {"the same vendor as", "matches 2", "the same tax ID as"}
    if scan_above == 0:  # the whole vendor table's names were read while matching, for the state
        assert sorted(new.names) == sorted(tuple(r) for r in db.execute(sa.select(Vendor.id, Vendor.name_key,
                                                                                   Vendor.status)))


def _bank_keys(children: dict) -> dict:
    return {vid: [b["account_key"] for b in rows] for vid, rows in children.items()}


@pytest.mark.parametrize("keep_all", [False, True])
@pytest.mark.parametrize("scan_above", SCANS)
def test_the_state_is_what_the_reads_before_gave(db, w, monkeypatch, scan_above, keep_all):
    monkeypatch.setattr(sync, "_SCAN_ABOVE", scan_above)
    seeded = _seed(db, w)
    rows = _rows(db, _file(db, w, seeded))
    plan = sync._match(db, rows, sync.ImportReport("reads.csv", "procurement", False, False), "reads.csv")
    called = {}
    old = before._load_state(db, list(plan), keep_all, lambda n, a: called.setdefault("old", (n, a)))
    new = sync._load_state(db, plan, keep_all, lambda n, a: called.setdefault("new", (n, a)))
    assert new.vendors == old.vendors
    assert [list(map(type, v.values())) for v in new.vendors.values()] == [
        list(map(type, v.values())) for v in old.vendors.values()]
    for key in ("tax_ids", "addresses", "contacts"):
        assert new.children[key] == old.children[key], key
    assert new.business_units == old.business_units and new.firms == old.firms
    # bank accounts: every vendor's keys; whole rows (types too) for the vendors the file gives a new one
    old_banks = old.children["bank_accounts"]
    assert new.bank_keys == _bank_keys(old_banks)
    changed = {vid for r, vid, _ in plan if vid and sync._new_bank(r, new.bank_keys.get(vid, ()))}
    assert changed and set(new.children["bank_accounts"]) == changed & set(old_banks)
    for vid in {vid for _, vid, _ in plan if vid}:
        if vid in changed:
            assert new.bank_rows(vid) == old_banks.get(vid, [])
            assert [list(map(type, b.values())) for b in new.bank_rows(vid)] == [
                list(map(type, b.values())) for b in old_banks.get(vid, [])]
        elif vid in old_banks:
            with pytest.raises(KeyError):  # not read whole: asking for them is an error, never a wrong before
                new.bank_rows(vid)
    # duplicate detection's reads (the pipelined path): the same names (as a set: read in scan order) and accounts
    matched = {vid for _, vid, _ in plan if vid}
    if scan_above == 16:  # the mix: the vendors read whole, the bank accounts of the changed ones in batches
        assert len(matched) > 16 >= len(changed)
    if keep_all and len(matched) > scan_above:
        assert new.all_names is not None and sorted(new.all_names) == sorted(old.all_names)
        assert new.all_accounts == old.all_accounts
    else:
        assert new.all_names is old.all_names is None and new.all_accounts is old.all_accounts is None
    assert called["new"][1] == called["old"][1] and sorted(called["new"][0] or []) == sorted(called["old"][0] or [])
    # the seed exercises what it should: a second account (not primary) read whole, vendors with two, law firms
    assert any(b["is_primary"] is False for rows in new.children["bank_accounts"].values() for b in rows)
    assert any(len(v) == 2 for v in new.bank_keys.values()) and old.firms


def test_driver_reads_are_the_core_reads_values_and_types(db, w):
    """``sync._fetch`` gives ``sync._read``'s rows as tuples, types included (booleans and JSON on SQLite, timestamps,
    the driver's JSON text), and flushes pending ORM changes first."""
    _seed(db, w)
    v = w.spare_vendor
    v.name_key = "pending key not flushed"
    vt, ba, ft = Vendor.__table__, VendorBankAccount.__table__, LawFirm.__table__
    stmts = [sa.select(vt.c.id, vt.c.name_key, vt.c.status), sa.select(VendorTaxId.vendor_id, VendorTaxId.value),
             sa.select(*[sync.driver_value(vt.c[c]) if c == "other_names" else vt.c[c] for c in sync._VENDOR_COLS]),
             sa.select(vt.c.id, vt.c.other_names, vt.c.created_at, vt.c.screened_at),
             sync._child_stmt(ba), sync._child_stmt(ba, ["account_key"]), sa.select(ft.c.vendor_id, ft.c.panel_member),
             sync._child_stmt(VendorAddress.__table__).where(VendorAddress.vendor_id.in_([1, 2, 3]))]
    ids = [r[0] for r in db.execute(sa.select(vt.c.id).order_by(vt.c.id))]
    stmts.append(stmts[2].where(sync.among(db.connection(), vt.c.id, ids[::2])))
    for stmt in stmts:
        got = sync._fetch(db, stmt)
        want = [tuple(r) for r in db.execute(stmt)]
        assert sorted(got, key=repr) == sorted(want, key=repr), stmt
        assert sorted(map(repr, got)) == sorted(map(repr, want))  # the same types (True is not 1)
        assert all(type(r) is tuple for r in got)
    assert (v.id, "pending key not flushed", v.status) in sync._fetch(db, stmts[0])
    assert {type(r[8]) for r in sync._fetch(db, stmts[4])} == {bool}


def _old_reads(monkeypatch) -> None:
    """The import with the reads before decision 0035 (the bank accounts' whole rows for every vendor)."""

    def load_state(session, plan, keep_all=False, then=None):
        old = before._load_state(session, list(plan), keep_all, then)
        return sync._State(old.vendors, old.children, old.business_units, old.firms,
                           _bank_keys(old.children["bank_accounts"]), old.all_names, old.all_accounts)

    monkeypatch.setattr(sync, "_match", before._match)
    monkeypatch.setattr(sync, "_load_state", load_state)


@pytest.mark.parametrize(("threshold", "scan_above"), [(10**9, 20_000), (10**9, 0), (0, 20_000), (0, 0)])
def test_a_whole_import_gives_what_it_gave_with_the_reads_before(db, w, monkeypatch, threshold, scan_above):
    """Both paths (sequential, pipelined), reads in batches and whole: report, every vendor table and the audit
    events (text and hash) are those of the import with the reads before."""
    at = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(audit_service, "utcnow", lambda: at)
    monkeypatch.setattr(sync, "_SCAN_ABOVE", scan_above)
    text = _varied_file(db, w)
    text += _file(db, w, _seed(db, w)).split("\n", 1)[1]  # the same header
    new = _run(db, monkeypatch, text, threshold=threshold, partial=True)
    with monkeypatch.context() as m:
        _old_reads(m)
        old = _run(db, monkeypatch, text, threshold=threshold, partial=True)
    assert new[0] == old[0]
    for table in old[1]:
        assert new[1][table] == old[1][table], table
    assert new[0]["errors"] and new[0]["updated"] >= 30 and new[0]["held_for_approval"] >= 1
