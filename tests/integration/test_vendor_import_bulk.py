"""The bulk import path keeps the vendor rules: audit before/after per vendor, review and screening voided
as the service does, four eyes through the service, ids matched to rows, refusals instead of crashes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from tests.integration.test_vendor_master import _ready, activate
from triad.audit.models import AuditEvent
from triad.audit.service import Actor, verify
from triad.vendors import service, sync
from triad.vendors.models import Vendor, VendorDuplicate, VendorPendingChange

PROC = Actor("cli:procurement")


@pytest.fixture
def w(db):
    return factories.world(db)


def _import(db, text: str, **kw) -> sync.ImportReport:
    return sync.import_vendors(session=db, data=text.encode(), filename="proc.csv", source="procurement",
                               actor=PROC, **kw)


def _ein(i: int) -> str:
    return f"13-{7000000 + i:07d}"


def test_many_new_vendors_get_their_own_rows_and_one_event_each(db, w):
    n = 250
    lines = ["legal_name,country,tax_scheme,tax_id,routing_number,account_number,bank_currency,address_line1,"
             "address_city"]
    lines += [f"Vendor {i:04d} Quillfeather Ltd,US,us_ein,{_ein(i)},021000021,{880000 + i},USD,{i} Elm St,Reno"
              for i in range(n)]
    before = db.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0
    report = _import(db, "\n".join(lines) + "\n")
    assert report.ok and report.created == n
    for i, out in enumerate(report.outcomes):
        v = db.get(Vendor, out.vendor_id)
        assert (v.legal_name, v.tax_ids[0].value, v.bank_accounts[0].account_number, v.addresses[0].line1) == (
            f"Vendor {i:04d} Quillfeather Ltd", _ein(i), str(880000 + i), f"{i} Elm St")
        assert v.status == "draft" and v.tax_ids[0].validated_on is not None
    events = db.scalars(sa.select(AuditEvent).where(AuditEvent.seq > before).order_by(AuditEvent.seq)).all()
    assert [e.action for e in events] == ["vendor_import.applied"]  # one event for the file, naming every vendor
    named = events[0].after["vendors"]
    assert [(x["vendor_id"], x["action"], x["after"]["legal_name"], x["after"]["line"]) for x in named] == [
        (o.vendor_id, "vendor.created", f"Vendor {i:04d} Quillfeather Ltd", i + 2)
        for i, o in enumerate(report.outcomes)]
    # each vendor's history finds the import event and its own part of it
    for i in (0, 9, 10, n - 1):
        history = service.audit_of_vendor(session=db, vendor_id=report.outcomes[i].vendor_id)
        assert [(ev.seq, part["after"]["legal_name"]) for ev, part in history] == [
            (events[0].seq, f"Vendor {i:04d} Quillfeather Ltd")]
    assert verify(db).ok
    again = _import(db, "\n".join(lines) + "\n")
    assert again.unchanged == n and again.created == again.updated == 0


def test_an_update_is_audited_with_before_and_after_and_voids_the_review(db, w):
    v = w.spare_vendor
    _ready(db, w, v)  # pending review, screened, legal review completed
    assert (v.legal_review, v.screening_status) == ("completed", "clear")
    old_bank = v.bank_accounts[0].account_key
    text = ("legal_name,country,tax_scheme,tax_id,routing_number,account_number,bank_currency,address_line1,"
            "address_city\n"
            f"Charlie Counsel Group LLP,US,us_ein,{v.tax_ids[0].value},026009593,44445555,USD,7 Oak Rd,Austin\n")
    report = _import(db, text)
    assert report.outcomes[0].changed == ["addresses", "bank_accounts", "legal_name"]
    db.refresh(v)
    assert (v.legal_name, v.bank_accounts[0].account_key, v.addresses[0].city) == (
        "Charlie Counsel Group LLP", "026009593:44445555", "Austin")
    assert (v.legal_review, v.screening_status, v.name_key) == ("none", "not_screened", "charlie counsel group")
    history = service.audit_of_vendor(session=db, vendor_id=v.id)
    ev, part = history[-1]  # the import, newest: its entry for this vendor
    assert (ev.action, ev.after["file"]) == ("vendor_import.applied", "proc.csv")
    assert [x["vendor_id"] for x in ev.after["vendors"]] == [v.id]
    assert part["before"]["legal_name"] == "Charlie Counsel LLP"
    assert part["before"]["bank_accounts"][0]["account_key"] == old_bank
    assert part["after"]["changed"]["legal_name"] == "Charlie Counsel Group LLP"
    assert part["after"]["notes"] == ["legal review voided: reviewed data changed", "screening voided: names changed"]
    assert [e.action for e, _ in history[:-1]] == [e.action for e in db.scalars(sa.select(AuditEvent).where(
        AuditEvent.entity_type == "vendor", AuditEvent.entity_id == str(v.id)).order_by(AuditEvent.seq))]
    assert verify(db).ok


def test_active_vendor_bank_change_is_held_while_its_address_applies(db, w):
    v = w.a.firm.vendor
    activate(db, w, v)
    other = w.spare_vendor
    text = ("legal_name,country,tax_scheme,tax_id,routing_number,account_number,bank_currency,address_line1,"
            "address_city\n"
            f"{v.legal_name},US,us_ein,{v.tax_ids[0].value},026009593,44445555,USD,,\n"
            f"{other.legal_name},US,us_ein,{other.tax_ids[0].value},,,,9 Pine Rd,Tulsa\n")
    report = _import(db, text)
    assert report.outcomes[0].held_for_approval == ["bank_accounts"] and report.outcomes[0].action == "updated"
    assert report.outcomes[1].changed == ["addresses"]
    db.refresh(v)
    db.refresh(other)
    assert v.status == "active" and v.bank_accounts[0].account_key != "026009593:44445555"
    assert other.addresses[0].city == "Tulsa"
    assert db.scalar(sa.select(sa.func.count()).select_from(VendorPendingChange)) == 1


def test_rows_that_would_break_the_master_are_refused_not_crashed(db, w):
    v = w.spare_vendor
    text = ("legal_name,country,tax_scheme,tax_id,business_units\n"
            f"{v.legal_name},US,us_ein,27-1502384,\n"  # matched by name, would take a new tax ID...
            "Newco Ltd,US,us_ein,27-1502384,\n"  # ...that this new vendor gives too
            f"Twice Ltd,US,,,{w.bu.code};{w.bu.code}\n"
            f"{'L' * 301},US,,,\n")
    n = db.scalar(sa.select(sa.func.count()).select_from(Vendor))
    report = _import(db, text)
    assert not report.applied
    assert [(e["line"], e["field"]) for e in report.errors] == [
        (4, "business_units"), (5, "legal_name"), (3, "tax_id")]
    assert "the same tax ID as line 2" in report.errors[2]["message"]
    assert db.scalar(sa.select(sa.func.count()).select_from(Vendor)) == n


def test_csv_rows_are_read_as_before_blank_lines_short_rows_extra_cells(db, w):
    text = ("legal_name,country,address_line1,address_city\n"
            "\n"
            "Shortrow Ltd,GB\n"
            "Extra Cells Ltd,GB,1 Strand,London,surplus\n"
            "Bad Place Ltd,XX,,\n")
    report = _import(db, text)
    assert [(e["line"], e["field"]) for e in report.errors] == [(4, "country")]
    partial = _import(db, text, partial=True)
    assert partial.created == 2
    assert db.get(Vendor, partial.outcomes[1].vendor_id).addresses[0].city == "London"


def test_unchanged_rows_are_not_checked_for_duplicates_again(db, w):
    a = w.a.firm.vendor
    text = f"legal_name,country\n{a.legal_name},US\nAlpha Laws LLC,US\n"
    first = _import(db, text)
    assert [d["reason"] for d in first.duplicates] == ["similar_name"]
    db.execute(sa.delete(VendorDuplicate))
    again = _import(db, text)  # nothing changed: no comparison, no flag
    assert again.unchanged == 2 and again.duplicates_flagged == 0


@pytest.mark.parametrize("scan_above", [0, 20_000])
def test_large_file_lookups_read_whole_tables_with_the_same_result(db, w, monkeypatch, scan_above):
    """Above _SCAN_ABOVE keys the import scans the indexed tables instead of IN batches: same outcome."""
    monkeypatch.setattr(sync, "_SCAN_ABOVE", scan_above)
    a, b = w.a.firm.vendor, w.b.firm.vendor
    text = ("legal_name,country,tax_scheme,tax_id,address_line1,address_city,status\n"
            f"{a.legal_name},US,us_ein,{a.tax_ids[0].value},1 New Rd,Boise,active\n"
            f"{b.legal_name.upper()},US,,,2 New Rd,Boise,\n"
            "Brand New Widgets Ltd,US,us_ein,27-1502384,3 New Rd,Boise,\n")
    report = _import(db, text)
    assert [(o.action, o.matched_by, o.changed) for o in report.outcomes] == [
        ("updated", "tax_id", ["addresses"]), ("updated", "name", ["addresses", "legal_name"]),
        ("created", None, ["created"])]
    assert report.conflicts == 1 and report.outcomes[0].conflicts == ["status"]
    db.refresh(a)
    assert a.addresses[0].city == "Boise"


def _child_rows(db, vendor_id: int) -> dict:
    from triad.vendors.models import VendorAddress, VendorBankAccount, VendorBusinessUnit, VendorContact

    def rows(*cols):
        return sorted(tuple(r) for r in db.execute(sa.select(*cols).where(cols[0].table.c.vendor_id == vendor_id)))

    return {"addresses": rows(VendorAddress.line1, VendorAddress.city),
            "contacts": rows(VendorContact.name, VendorContact.email),
            "banks": rows(VendorBankAccount.account_key),
            "business_units": rows(VendorBusinessUnit.business_unit_id)}


def test_replaced_child_rows_are_the_files_whether_or_not_the_vendor_had_some(db, w):
    """Child lists are replaced whole. A vendor without rows of a kind gets no DELETE for it (decision 0031); a
    vendor with rows loses them: either way each vendor ends with exactly the file's rows."""
    bu2 = factories.business_unit(db)
    x = w.spare_vendor
    y = factories.vendor(db, "Delta Dune Advisory LLP")
    header = ("legal_name,country,tax_scheme,tax_id,routing_number,account_number,bank_currency,address_line1,"
              "address_city,contact_name,contact_email,business_units\n")
    first = _import(db, header + f"{x.legal_name},US,us_ein,{x.tax_ids[0].value},021000021,5550001,USD,1 Old Rd,"
                                 f"Reno,Old Person,old@example.com,{w.bu.code}\n")
    assert first.ok and first.outcomes[0].changed == ["addresses", "bank_accounts", "business_unit_ids", "contacts"]
    assert _child_rows(db, y.id)["addresses"] == []
    report = _import(db, header + "".join(
        f"{v.legal_name},US,us_ein,{v.tax_ids[0].value},026009593,{n},USD,{n} New Rd,Boise,New Person,"
        f"new{n}@example.com,{bu2.code}\n" for v, n in ((x, 7770001), (y, 7770002))))
    assert report.ok and [o.action for o in report.outcomes] == ["updated", "updated"]
    for v, n in ((x, 7770001), (y, 7770002)):
        assert _child_rows(db, v.id) == {"addresses": [(f"{n} New Rd", "Boise")],
                                         "contacts": [("New Person", f"new{n}@example.com")],
                                         "banks": [(f"026009593:{n}",)], "business_units": [(bu2.id,)]}
    again = _import(db, header + "".join(
        f"{v.legal_name},US,us_ein,{v.tax_ids[0].value},026009593,{n},USD,{n} New Rd,Boise,New Person,"
        f"new{n}@example.com,{bu2.code}\n" for v, n in ((x, 7770001), (y, 7770002))))
    assert again.unchanged == 2


def test_bulk_reads_through_the_connection_are_the_orms_rows_and_see_pending_changes(db, w):
    """``sync._read`` (Core, decision 0031) gives what ``session.execute`` gives, types included (booleans, JSON),
    and flushes pending ORM changes first as the session's autoflush does."""
    from triad.firms.models import LawFirm

    v = w.spare_vendor
    v.name_key = "pending key not flushed"
    v.other_names = ["Pending Alias"]
    stmt = sa.select(Vendor.id, Vendor.name_key, Vendor.other_names, Vendor.created_at).order_by(Vendor.id)
    got = sync._read(db, stmt)
    assert (v.id, "pending key not flushed", ["Pending Alias"]) in [tuple(r[:3]) for r in got]
    assert got == db.execute(stmt).all()
    firms = sa.select(LawFirm.vendor_id, LawFirm.panel_member).order_by(LawFirm.id)
    core, orm = sync._read(db, firms), db.execute(firms).all()
    assert core == orm and [type(r[1]) for r in core] == [type(r[1]) for r in orm] == [bool] * len(orm)



def test_child_rows_planned_as_pairs_are_stored_as_the_dict_rows_were(db, w):
    """``_insert_children`` (tuples built from (vendor id, row) pairs) stores exactly the rows ``_insert_dicts``
    stores for the same rows with ``vendor_id`` (and a tax ID's ``validated_on``) added: a scheme validated by
    checksum and one that is not, rows of two shapes in one table, a row leaving out a column with a default
    (``kind``), and business units (one column)."""
    import datetime as dt

    from triad.vendors.models import VendorAddress, VendorBusinessUnit, VendorTaxId

    a, b = db.scalars(sa.select(Vendor.id).order_by(Vendor.id).limit(2)).all()
    bu = db.scalar(sa.select(sa.func.min(sa.text("id"))).select_from(sa.text("business_unit")))
    today = dt.date(2026, 11, 26)
    planned = {
        VendorTaxId.__table__: [(a, {"scheme": "us_ein", "value": "13-7777777", "country": "US"}),
                                (b, {"scheme": "other", "value": "X-1", "country": "US"})],
        VendorAddress.__table__: [(a, {"kind": "remit_to", "line1": "1 Main St", "line2": None, "city": "Troy",
                                       "region": None, "postal_code": None, "country": "US"}),
                                  (b, {"line1": "2 Main St", "city": "Troy", "country": "US"}),
                                  (b, {"city": "Rome", "line1": "3 Via", "country": "IT", "kind": "billing"})],
        VendorBusinessUnit.__table__: [(a, {"business_unit_id": bu})],
    }

    def stored(table):
        return sorted(tuple(r[1:]) for r in db.execute(sa.select(table).where(table.c.vendor_id.in_([a, b]))).all())

    for table, pairs in planned.items():
        db.execute(sa.delete(table).where(table.c.vendor_id.in_([a, b])))
        sync._insert_children(db, table, pairs, today)
        got = stored(table)
        db.execute(sa.delete(table).where(table.c.vendor_id.in_([a, b])))
        sync._insert_dicts(db, table, [{**row, "vendor_id": vid, **({"validated_on": today if row["scheme"] in (
            "us_ein",) else None} if table is VendorTaxId.__table__ else {})} for vid, row in pairs])
        assert got == stored(table) and len(got) == len(pairs), table.name
    taxes = dict(db.execute(sa.select(VendorTaxId.value, VendorTaxId.validated_on)
                            .where(VendorTaxId.vendor_id.in_([a, b]))).all())
    assert taxes == {"13-7777777": today, "X-1": None}


def test_new_vendor_rows_made_straight_are_the_dict_rows():
    """``_vendor_rows`` builds the new vendors' tuples without a dict per row, in an order it assumes: the same
    columns and values as ``_vendor_values``' dicts in the table's order (decision 0037)."""
    from operator import itemgetter

    rows = []
    for k, other in enumerate([None, ["Alias One", "Alias Two"], []]):
        rows.append(sync._Row(line=k + 2, raw={}, legal_name=f"Kestrel Arc {k} LLC", country="US", other_names=other,
                              tax=None, bank=None, address=None, contact=None, business_units=None, legal={},
                              tax_key=None))
    ids = [501, 502, 503]
    actor = Actor("cli:procurement", user_id=7)
    cols, tuples = sync._vendor_rows(rows, ids, "procurement", actor)
    values = sync._vendor_values(rows, "procurement", actor)
    assert cols == ["id", *sync._table_order(sync.Vendor.__table__, values[0])]
    now = tuples[0][cols.index("created_at")]
    for v in values:
        v["created_at"] = v["updated_at"] = now
    get = itemgetter(*cols[1:])
    assert tuples == [(i, *get(v)) for i, v in zip(ids, values, strict=True)]
    assert tuples[1][cols.index("other_names")] == ("Alias One", "Alias Two")


def test_booleans_bound_as_they_are_on_sqlite_are_stored_as_the_processor_would(db, w):
    """``ap.bulk.bound`` leaves a Boolean column of bools alone on SQLite (decision 0037): the driver stores
    True and False as the integers 1 and 0, exactly what the column's processor would have given it."""
    from triad.ap.bulk import bound, insert_rows
    from triad.vendors.models import VendorBankAccount

    bt = VendorBankAccount.__table__
    cols = ["vendor_id", "holder_name", "account_number", "routing_number", "currency", "is_primary", "account_key"]
    vid = db.scalar(sa.select(sa.func.min(Vendor.id)))
    rows = [(vid, "Holder", f"{7300000 + k}", "021000021", "USD", k % 2 == 0, f"021000021:{7300000 + k}")
            for k in range(4)]
    dialect = db.get_bind().dialect
    out = list(bound(dialect, bt, cols, rows))
    if dialect.name == "sqlite":
        assert out == rows and all(type(r[5]) is bool for r in out)
    insert_rows(db, bt, cols, rows)
    got = db.execute(sa.text("SELECT is_primary FROM vendor_bank_account WHERE account_number LIKE '73000%' "
                             "ORDER BY account_number")).scalars().all()
    assert [bool(v) for v in got] == [True, False, True, False]
    if dialect.name == "sqlite":
        kinds = db.execute(sa.text("SELECT DISTINCT typeof(is_primary) FROM vendor_bank_account "
                                   "WHERE account_number LIKE '73000%'")).scalars().all()
        assert kinds == ["integer"] and set(got) == {0, 1}
