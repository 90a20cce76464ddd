"""Procurement sync by file: field authority and the conflict queue, matching, duplicates, idempotence,
bad rows, the gate on imports, export round trip; sanctions list files; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from tests.integration.test_vendor_master import activate
from triad.audit.models import AuditEvent
from triad.audit.service import Actor
from triad.core.errors import Conflict, ValidationFailed
from triad.vendors import screening, service, sync
from triad.vendors.models import Vendor, VendorConflict, VendorDuplicate, VendorPendingChange

DATA = Path(__file__).parent.parent / "data" / "vendors"
HEADER = ("legal_name,country,tax_scheme,tax_id,iban,bic,routing_number,account_number,bank_currency,"
          "address_line1,address_city,address_country,status,risk_tier,business_units\n")
PROC = Actor("cli:procurement")


@pytest.fixture
def w(db):
    return factories.world(db)


def _import(db, text: str, **kw) -> sync.ImportReport:
    return sync.import_vendors(session=db, data=text.encode(), filename="proc.csv", source="procurement",
                               actor=PROC, **kw)


def _count(db, model) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(model))


def _events(db) -> int:
    return _count(db, AuditEvent)


def test_new_vendors_start_as_draft_and_status_goes_to_the_conflict_queue(db, w):
    text = HEADER + (
        "Echo Partners LLP,GB,gb_vat,GB980780684,GB29NWBK60161331926819,NWBKGB2L,,,GBP,1 Fleet St,London,GB,"
        f"active,,{w.bu.code}\n"
        "Foxtrot Consulting Inc,US,us_ein,27-1502384,,,026009593,550193847,USD,,,,,,\n")
    report = _import(db, text)
    assert report.ok and report.applied
    assert (report.created, report.updated, report.conflicts) == (2, 0, 1)
    echo = db.get(Vendor, report.outcomes[0].vendor_id)
    assert (echo.status, echo.onboarding_pathway, echo.tax_ids[0].value) == ("draft", "procurement", "GB980780684")
    assert echo.business_unit_ids == [w.bu.id]
    conflict = db.scalar(sa.select(VendorConflict).where(VendorConflict.vendor_id == echo.id))
    assert (conflict.field, conflict.in_triad, conflict.incoming, conflict.owner, conflict.line) == (
        "status", "draft", "active", "legal", 2)
    # the same file again: nothing changes, no audit event, no second conflict
    n = _events(db)
    again = _import(db, text)
    assert (again.created, again.updated, again.unchanged, again.conflicts) == (0, 0, 2, 0)
    assert _events(db) == n
    assert _count(db, VendorConflict) == 1
    # accepting the conflict goes through the lifecycle table and the gate
    with pytest.raises(Conflict, match="is draft; it can move to: deactivated, pending_review"):
        sync.resolve_conflict(session=db, conflict=conflict, accept=True, user=w.users["legal_ops"])
    service.transition(session=db, vendor=echo, to="pending_review", actor=Actor.of(w.users["procurement"]))
    with pytest.raises(Conflict, match="cannot be activated: legal_review: no completed legal review"):
        sync.resolve_conflict(session=db, conflict=conflict, accept=True, user=w.users["legal_ops"])
    sync.resolve_conflict(session=db, conflict=conflict, accept=False, user=w.users["legal_ops"],
                          reason="onboarding has not started")
    assert conflict.status == "rejected" and echo.status == "pending_review"


def test_bad_rows_are_all_listed_and_nothing_is_applied(db, w):
    text = HEADER + (
        "Good One Ltd,GB,gb_crn,09446231,,,,,,,,,,,\n"
        "Bad Bank Ltd,GB,,,GB28NWBK60161331926819,,,,GBP,,,,,,\n"
        "Bad Country,XX,,,,,,,,,,,,,\n"
        "Bad Tax Inc,US,us_ein,12-345678,,,,,,,,,,urgent,\n")
    n_vendors, n_events = _count(db, Vendor), _events(db)
    report = _import(db, text)
    assert not report.applied
    assert [(e["file"], e["line"], e["field"]) for e in report.errors] == [
        ("proc.csv", 3, "iban"), ("proc.csv", 4, "country"), ("proc.csv", 5, "tax_id"), ("proc.csv", 5, "risk_tier")]
    assert "not a valid IBAN" in report.errors[0]["message"]
    assert (_count(db, Vendor), _events(db)) == (n_vendors, n_events)
    partial = _import(db, text, partial=True)
    assert partial.applied and partial.created == 1 and len(partial.errors) == 4
    assert _count(db, Vendor) == n_vendors + 1


def test_matching_by_tax_id_then_name_and_procurement_fields_apply(db, w):
    a = w.a.firm.vendor
    b = w.b.firm.vendor
    text = ("legal_name,country,tax_scheme,tax_id,address_line1,address_city\n"
            f"Alpha Law LLP (renamed),US,us_ein,{a.tax_ids[0].value.replace('-', '')},5 Main St,Boston\n"
            "BRAVO LAW L.L.P.,US,,,9 Side St,Denver\n")
    report = _import(db, text)
    assert [(o.vendor_id, o.matched_by, o.action) for o in report.outcomes] == [(a.id, "tax_id", "updated"),
                                                                                (b.id, "name", "updated")]
    assert a.legal_name == "Alpha Law LLP (renamed)" and a.addresses[0].city == "Boston"
    assert b.legal_name == "BRAVO LAW L.L.P." and b.addresses[0].line1 == "9 Side St"


def test_bank_change_to_active_vendor_from_import_is_held(db, w):
    v = w.a.firm.vendor
    activate(db, w, v)
    old = service.payable_bank_account(v).account_key
    text = ("legal_name,country,tax_scheme,tax_id,routing_number,account_number,bank_currency\n"
            f"{v.legal_name},US,us_ein,{v.tax_ids[0].value},026009593,44445555,USD\n")
    report = _import(db, text)
    assert report.outcomes[0].held_for_approval == ["bank_accounts"]
    assert service.payable_bank_account(v).account_key == old
    assert _import(db, text).held_for_approval == 0  # the same file twice: still one held change
    assert _count(db, VendorPendingChange) == 1


def test_likely_duplicates_are_flagged_never_merged(db, w):
    b = w.b.firm.vendor
    bank = b.bank_accounts[0]
    text = ("legal_name,country,routing_number,account_number,bank_currency\n"
            "Alpha Laws LLC,US,,,\n"
            f"Zulu Holdings Inc,US,{bank.routing_number},{bank.account_number},USD\n")
    report = _import(db, text)
    assert report.created == 2
    new_alpha, new_zulu = (o.vendor_id for o in report.outcomes)
    flags = {(d.vendor_id, d.other_vendor_id, d.reason) for d in db.scalars(sa.select(VendorDuplicate))}
    assert flags == {(new_alpha, w.a.firm.vendor_id, "similar_name"), (new_zulu, b.id, "same_bank_account")}
    assert db.get(Vendor, w.a.firm.vendor_id).legal_name == "Alpha Law LLP"  # nothing merged
    assert _import(db, text).duplicates_flagged == 0


def test_dry_run_changes_nothing(db, w):
    n_vendors, n_events = _count(db, Vendor), _events(db)
    report = _import(db, HEADER + "Golf Ltd,GB,,,,,,,,,,,active,,\n", dry_run=True)
    assert report.created == 1 and report.conflicts == 1 and not report.applied
    assert (_count(db, Vendor), _events(db), _count(db, VendorConflict)) == (n_vendors, n_events, 0)


def test_export_shows_panel_changes_and_reimports_as_no_change(db, w):
    w.b.firm.panel_member = False
    db.flush()
    rows = {r["vendor_id"]: r for r in sync.export_rows(db)}
    assert rows[str(w.b.firm.vendor_id)]["panel_member"] == "no"
    assert rows[str(w.a.firm.vendor_id)]["panel_member"] == "yes"
    assert rows[str(w.spare_vendor.id)]["panel_member"] == ""
    assert rows[str(w.a.firm.vendor_id)]["tax_id"] == w.a.firm.ledes_firm_id
    n = _events(db)
    for fmt, name in (("csv", "export.csv"), ("json", "export.json")):
        report = sync.import_vendors(session=db, data=sync.export_text(db, fmt).encode(), filename=name,
                                     source="procurement", actor=PROC)
        assert report.ok and report.unchanged == report.rows == len(rows), report.errors
        assert report.conflicts == 0 and report.duplicates_flagged == 0
    assert _events(db) == n
    doc = json.loads(sync.export_text(db, "json"))
    assert doc["columns"] == sync.COLUMNS


def test_unknown_column_is_refused(db, w):
    with pytest.raises(ValidationFailed, match="unknown column"):
        _import(db, "legal_name,colour\nX,red\n")


# ------------------------------------------------------------------ sanctions lists


def test_sdn_layout_is_read():
    entries = screening.parse((DATA / "sdn_sample.csv").read_bytes(), filename="sdn.csv", fmt="ofac_sdn")
    assert [(e.uid, e.name, e.entry_type, e.program) for e in entries] == [
        ("36", "AEROCARIBBEAN AIRLINES", None, "CUBA"), ("173", "ANGLO-CARIBBEAN CO., LTD.", None, "CUBA"),
        ("9001", "ORIENT RIVER TRADING COMPANY LIMITED", None, "SDGT"),
        ("9002", "PETROV, Ivan", "individual", "UKRAINE-EO13661")]


def test_bad_list_lines_are_all_listed():
    with pytest.raises(ValidationFailed) as exc:
        screening.parse((DATA / "sdn_bad.csv").read_bytes(), filename="sdn_bad.csv", fmt="ofac_sdn")
    assert [(e["line"], e["field"]) for e in exc.value.errors] == [(2, "ent_num"), (3, "SDN_Name")]


def test_new_list_rescreens_active_vendors_and_reports_new_hits(db, w):
    v = w.spare_vendor
    v.other_names = ["Orient River Trading Co Ltd"]
    screening.load_list(session=db, data=(DATA / "names_sample.csv").read_bytes(), filename="n.csv", fmt="names",
                        actor=PROC)
    activate(db, w, v)
    result = screening.load_list(session=db, data=(DATA / "sdn_sample.csv").read_bytes(), filename="sdn.csv",
                                 fmt="ofac_sdn", actor=PROC)
    assert result.rescreened == 1
    assert [(h["vendor_id"], h["matched_name"], h["entry_uid"]) for h in result.new_hits] == [
        (v.id, "Orient River Trading Co Ltd", "9001")]
    assert v.screening_status == "hit"
    again = screening.load_list(session=db, data=(DATA / "sdn_sample.csv").read_bytes(), filename="sdn.csv",
                                fmt="ofac_sdn", actor=PROC)
    assert again.already_loaded and again.new_hits == []


# ------------------------------------------------------------------ CLI (its own committed database)


def test_cli_import_and_gate(cli_db, tmp_path):
    runner, core_db = cli_db
    from triad.cli import app
    from triad.demo.loader import load

    with core_db.transaction() as s:
        load(session=s)
    path = tmp_path / "proc.csv"
    path.write_text(HEADER + "Hotel Advisory Ltd,GB,gb_crn,01234567,,,,,,,,,active,,\n"
                             "Broken Ltd,GB,gb_vat,GB000,,,,,,,,,,,\n")
    r = runner.invoke(app, ["vendors", "import", str(path), "--source", "procurement", "--json"])
    assert r.exit_code == 1
    body = json.loads(r.stdout)
    assert body["applied"] is False and body["errors"][0]["line"] == 3 and body["errors"][0]["field"] == "tax_id"
    r = runner.invoke(app, ["vendors", "import", str(path), "--partial", "--json"])
    body = json.loads(r.stdout)
    assert r.exit_code == 1 and body["applied"] and body["created"] == 1 and body["conflicts"] == 1
    vid = body["outcomes"][0]["vendor_id"]
    r = runner.invoke(app, ["vendors", "transition", str(vid), "--to", "pending_review", "--as", "procurement"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["vendors", "transition", str(vid), "--to", "active", "--as", "legal_ops"])
    assert r.exit_code == 1 and "no completed legal review" in r.output
    r = runner.invoke(app, ["vendors", "review", str(vid), "--as", "procurement"])
    assert r.exit_code == 1 and "cannot record a legal review" in r.output
    assert runner.invoke(app, ["vendors", "review", str(vid), "--as", "legal_ops"]).exit_code == 0
    r = runner.invoke(app, ["vendors", "transition", str(vid), "--to", "active", "--as", "legal_ops"])
    assert r.exit_code == 1 and "screening" in r.output
    r = runner.invoke(app, ["vendors", "screening", "load", str(DATA / "sdn_bad.csv")])
    assert r.exit_code == 1 and "line 2" in r.output and "line 3" in r.output
    r = runner.invoke(app, ["vendors", "export", "--format", "csv"])
    assert r.exit_code == 0 and "Hotel Advisory Ltd" in r.stdout and "Broken Ltd" not in r.stdout


# ------------------------------------------------------------------ CSV export: no formulas, exact round trip


@pytest.mark.parametrize("value", ["=1+1", "+44 Ltd", "-minus", "@team", "'=already quoted", "''+two", "'plain",
                                   "plain", "", "a=b", "=", "'"])
def test_csv_cell_round_trip(value):
    from triad.vendors.csv_cells import export_cell, import_cell

    cell = export_cell(value)
    assert not cell.startswith(("=", "+", "-", "@"))
    assert import_cell(cell) == value


def test_csv_export_neutralises_formulas_and_reimports_as_no_change(db, w):
    import csv
    import io

    v = w.spare_vendor
    service.update_vendor(session=db, obj=v, actor=PROC, data=service.VendorUpdate(
        legal_name='=HYPERLINK("http://evil.example","Charlie")', other_names=["+44 Holdings", "'-quoted", "@ops"],
        addresses=[{"line1": "-1 Minus Road", "city": "@City", "country": "GB"}],
        contacts=[{"name": "=cmd|' /C calc'!A0", "email": "ops@example.com"}]))
    db.flush()
    text = sync.export_text(db, "csv")
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["vendor_id"] == str(v.id))
    assert row["legal_name"] == """'=HYPERLINK("http://evil.example","Charlie")"""
    assert row["other_names"] == "'+44 Holdings;'-quoted;@ops"
    assert (row["address_line1"], row["address_city"], row["contact_name"]) == (
        "'-1 Minus Road", "'@City", "'=cmd|' /C calc'!A0")
    for r in csv.DictReader(io.StringIO(text)):  # no cell a spreadsheet would run
        assert not [c for c in r.values() if c.startswith(("=", "+", "-", "@", "\t", "\r"))], r
    n = _events(db)
    report = sync.import_vendors(session=db, data=text.encode(), filename="export.csv", source="procurement",
                                 actor=PROC)
    assert report.ok and report.unchanged == report.rows, (report.errors, report.outcomes)
    assert _events(db) == n
    db.refresh(v)
    assert v.legal_name.startswith("=HYPERLINK") and v.other_names == ["+44 Holdings", "'-quoted", "@ops"]
    assert (v.addresses[0].line1, v.contacts[0].name) == ("-1 Minus Road", "=cmd|' /C calc'!A0")
    # JSON carries the values as they are
    doc = json.loads(sync.export_text(db, "json"))
    assert next(r for r in doc["vendors"] if r["vendor_id"] == str(v.id))["legal_name"].startswith("=HYPERLINK")


def test_cli_activation_succeeds_when_the_gate_is_satisfied(cli_db, tmp_path):
    """The success path of the gate from the command line: request, legal review by another user,
    screening, then `triad vendors transition --to active` activates (exit 0) and the export shows it."""
    runner, core_db = cli_db
    from triad.cli import app
    from triad.demo.loader import load

    with core_db.transaction() as s:
        load(session=s)
    path = tmp_path / "proc.csv"
    path.write_text(HEADER + "India Analytics Ltd,GB,gb_vat,GB434031494,GB06NWBK60161300004242,NWBKGB2L,,,GBP,"
                             "1 Fleet St,London,GB,,,\n")
    r = runner.invoke(app, ["vendors", "import", str(path), "--json", "--as", "procurement"])
    assert r.exit_code == 0, r.output
    vid = json.loads(r.stdout)["outcomes"][0]["vendor_id"]
    assert runner.invoke(app, ["vendors", "transition", str(vid), "--to", "pending_review",
                               "--as", "procurement"]).exit_code == 0
    assert runner.invoke(app, ["vendors", "review", str(vid), "--as", "legal_ops"]).exit_code == 0
    r = runner.invoke(app, ["vendors", "screening", "load", str(DATA / "names_sample.csv"), "--format", "names"])
    assert r.exit_code in (0, 3), r.output
    r = runner.invoke(app, ["vendors", "screen", str(vid), "--as", "procurement"])
    assert r.exit_code == 1 and "cannot screen" in r.output
    r = runner.invoke(app, ["vendors", "screen", str(vid), "--as", "legal_ops"])
    assert r.exit_code == 0 and "clear" in r.output, r.output
    r = runner.invoke(app, ["vendors", "transition", str(vid), "--to", "active", "--as", "procurement"])
    assert r.exit_code == 1 and "cannot move a vendor to active" in r.output
    r = runner.invoke(app, ["vendors", "transition", str(vid), "--to", "active", "--as", "legal_ops"])
    assert r.exit_code == 0, r.output
    assert f"vendor {vid} is now active" in r.output
    with core_db.session_factory()() as s:
        v = s.get(Vendor, vid)
        assert (v.status, v.activated_at is not None) == ("active", True)
    r = runner.invoke(app, ["vendors", "export", "--format", "json"])
    row = next(x for x in json.loads(r.stdout)["vendors"] if x["vendor_id"] == str(vid))
    assert (row["status"], row["legal_review"], row["screening_status"]) == ("active", "completed", "clear")
    # legal's own file sets legal's fields, as a named legal user only
    legal = tmp_path / "legal.csv"
    legal.write_text("legal_name,country,tax_scheme,tax_id,risk_tier\nIndia Analytics Ltd,GB,gb_vat,GB434031494,high\n")
    r = runner.invoke(app, ["vendors", "import", str(legal), "--source", "legal"])
    assert r.exit_code == 1 and "named legal user" in r.output
    r = runner.invoke(app, ["vendors", "import", str(legal), "--source", "legal", "--as", "legal_ops", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["updated"] == 1, r.output
    with core_db.session_factory()() as s:
        assert s.get(Vendor, vid).risk_tier == "high"


# ------------------------------------------------------------------ legal's own file (--source legal)


def _legal(db, w, text: str, user: str = "legal_ops", **kw) -> sync.ImportReport:
    return sync.import_vendors(session=db, data=text.encode(), filename="legal.csv", source="legal",
                               actor=Actor.of(w.users[user]), **kw)


def test_legal_file_applies_legal_fields_and_queues_procurement_fields(db, w):
    from tests.integration.test_vendor_master import _with_list

    a = w.a.firm.vendor
    proc = w.users["procurement"]
    service.transition(session=db, vendor=a, to="pending_review", actor=Actor.of(proc), user=proc)
    _with_list(db)
    screening.screen_vendor(session=db, vendor=a, actor=Actor("test"))
    old_city = a.addresses[0].city if a.addresses else None
    text = ("legal_name,tax_scheme,tax_id,country,address_line1,address_city,legal_review,status,risk_tier,"
            "panel_member\n"
            f"{a.legal_name},us_ein,{a.tax_ids[0].value},US,7 Court Sq,Boston,completed,active,high,no\n")
    n_events = _events(db)
    report = _legal(db, w, text)
    assert report.ok and report.applied, report.errors
    out = report.outcomes[0]
    assert (out.action, out.matched_by, out.changed) == (
        "updated", "tax_id", ["legal_review", "panel_member", "risk_tier", "status"])
    assert (a.legal_review, a.status, a.risk_tier, w.a.firm.panel_member) == ("completed", "active", "high", False)
    assert a.legal_reviewed_by_id == w.users["legal_ops"].id
    # procurement's field (the address) is not applied: it waits for procurement
    assert (a.addresses[0].city if a.addresses else None) == old_city
    conflict = db.scalar(sa.select(VendorConflict).where(VendorConflict.vendor_id == a.id))
    assert (conflict.field, conflict.owner, conflict.source, report.conflicts) == ("address", "procurement", "legal", 1)
    assert _events(db) > n_events
    # the same file again changes nothing
    n_events = _events(db)
    again = _legal(db, w, text)
    assert (again.updated, again.unchanged, again.conflicts) == (0, 1, 0)
    assert _events(db) == n_events and _count(db, VendorConflict) == 1
    # legal cannot decide procurement's field; procurement accepts it through the vendor service
    with pytest.raises(Exception, match="procurement's field"):
        sync.resolve_conflict(session=db, conflict=conflict, accept=True, user=w.users["legal_ops"])
    sync.resolve_conflict(session=db, conflict=conflict, accept=True, user=proc)
    assert (a.addresses[0].line1, a.addresses[0].city, conflict.status) == ("7 Court Sq", "Boston", "accepted")
    # and the export, imported back as legal's file, changes nothing
    n_events = _events(db)
    back = sync.import_vendors(session=db, data=sync.export_text(db, "csv").encode(), filename="export.csv",
                               source="legal", actor=Actor.of(w.users["legal_ops"]))
    assert back.ok and back.unchanged == back.rows and back.conflicts == 0, (back.errors, back.outcomes)
    assert _events(db) == n_events


def test_legal_bank_field_accepted_by_procurement_waits_for_four_eyes_on_active_vendor(db, w):
    v = w.a.firm.vendor
    activate(db, w, v)
    old = service.payable_bank_account(v).account_key
    text = ("legal_name,tax_scheme,tax_id,country,routing_number,account_number,bank_currency\n"
            f"{v.legal_name},us_ein,{v.tax_ids[0].value},US,026009593,44445555,USD\n")
    report = _legal(db, w, text)
    assert report.conflicts == 1 and report.outcomes[0].action == "unchanged"
    conflict = db.scalar(sa.select(VendorConflict).where(VendorConflict.vendor_id == v.id))
    assert conflict.field == "bank"
    sync.resolve_conflict(session=db, conflict=conflict, accept=True, user=w.users["procurement"])
    held = db.scalar(sa.select(VendorPendingChange).where(VendorPendingChange.vendor_id == v.id))
    assert held.kind == "bank_accounts" and held.status == "pending"
    assert service.payable_bank_account(v).account_key == old


def test_legal_file_rows_obey_the_gate_all_or_nothing(db, w):
    a, b = w.a.firm.vendor, w.b.firm.vendor
    text = ("legal_name,tax_scheme,tax_id,country,status,risk_tier,address_line1,address_city\n"
            f"{a.legal_name},us_ein,{a.tax_ids[0].value},US,,low,,\n"
            f"{b.legal_name},us_ein,{b.tax_ids[0].value},US,active,high,9 New St,Denver\n")
    tiers = (a.risk_tier, b.risk_tier)
    n_events = _events(db)
    report = _legal(db, w, text)
    assert not report.applied
    assert [(e["line"], e["field"]) for e in report.errors] == [(3, "status")]
    assert "it can move to" in report.errors[0]["message"]  # draft cannot become active
    assert (a.risk_tier, b.risk_tier, b.status) == (*tiers, "draft") and _events(db) == n_events
    partial = _legal(db, w, text, partial=True)
    assert partial.applied and [o.action for o in partial.outcomes] == ["updated", "error"]
    assert (a.risk_tier, b.risk_tier, b.status) == ("low", tiers[1], "draft")
    assert _count(db, VendorConflict) == 0  # the refused row queues nothing either


def test_legal_file_needs_a_named_legal_user(db, w):
    text = f"legal_name,country,risk_tier\n{w.a.firm.vendor.legal_name},US,low\n"
    with pytest.raises(ValidationFailed, match="named legal user"):
        sync.import_vendors(session=db, data=text.encode(), filename="legal.csv", source="legal", actor=PROC)
    from triad.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="cannot import legal's vendor file"):
        _legal(db, w, text, user="procurement")
    assert _legal(db, w, text).updated == 1
