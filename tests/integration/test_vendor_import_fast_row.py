"""The compare loop's fast path for a row that can only change its vendor's address (decision 0038) gives exactly
what ``sync._diff_and_plan`` gives: outcomes, counts, conflicts, stored rows (ids included) and the audit event."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from tests.integration.test_vendor_import_pipelined import _reset_sequences, _snapshot, frozen  # noqa: F401
from tests.integration.test_vendor_master import activate
from triad.audit.models import AuditEvent
from triad.audit.service import Actor, verify
from triad.vendors import service, sync

PROC = Actor("cli:procurement")
HEADER = ("legal_name,country,tax_scheme,tax_id,routing_number,account_number,bank_currency,address_line1,"
          "address_city,address_postal_code,status\n")


@pytest.fixture
def w(db):
    return factories.world(db)


def _files(db, w) -> tuple[str, str]:
    """A first file that gives vendors addresses, then one whose rows are mostly address-only: the same address
    (unchanged), a new one (the old row replaced), a first one, with a legal-owned status (a conflict), on an
    active and a deactivated vendor, and rows the fast path must leave alone (a new bank account, a new name)."""
    vendors = [factories.vendor(db, f"Copperleaf Atlas Supply {c} LLC", f"13-{8300000 + k:07d}")
               for k, c in enumerate("ABCDEFGHIJKL")]
    active = vendors[0]
    activate(db, w, active)
    gone = vendors[1]
    service.transition(session=db, vendor=gone, to="deactivated", actor=Actor.of(w.users["legal_ops"]),
                       user=w.users["legal_ops"], reason="no longer used")
    db.flush()

    def line(v, address: str = "", city: str = "", postal: str = "", status: str = "", name: str | None = None,
             account: str | None = None) -> str:
        bank = v.bank_accounts[0]
        return (f"{name or v.legal_name},US,us_ein,{v.tax_ids[0].value},{bank.routing_number},"
                f"{account or bank.account_number},USD,{address},{city},{postal},{status}")

    first = [line(v, f"{k} Quarry Ln", "Omaha", "68102" if k % 2 else "") for k, v in enumerate(vendors[:8])]
    second = [
        line(vendors[0], "9 New Rd", "Omaha"),  # active: the address applies (not held)
        line(vendors[1], "1 Quarry Ln", "Omaha", "68102"),  # deactivated, the same address: unchanged
        line(vendors[2], "2 Quarry Ln", "Omaha"),  # the same address
        line(vendors[3], "3 Quarry Ln", "Lincoln", "68102"),  # another city: replaced
        line(vendors[4], "4 Quarry Ln", "Omaha", "", "active"),  # the same address and a conflict
        line(vendors[5], "55 Quarry Ln", "Omaha", "68102", "suspended"),  # replaced and a conflict
        line(vendors[6], "6 Quarry Ln", "Omaha", "68103"),  # another postal code
        line(vendors[7], "7 Quarry Ln", "Omaha", "68102", account="99887766"),  # a new bank account: not fast
        line(vendors[8], "8 Kiln St", "Tulsa"),  # a first address
        line(vendors[9], "", ""),  # no address: unchanged, not fast
        line(vendors[10], "10 Kiln St", "Tulsa", name=vendors[10].legal_name + " Group"),  # renamed: not fast
        line(vendors[11], "11 Kiln St", "Tulsa"),  # a first address
        "Brand New Vendor Ltd,US,us_ein,13-8399999,021000021,123456789,USD,1 Main St,Reno,,",  # created
    ]
    return HEADER + "\n".join(first) + "\n", HEADER + "\n".join(second) + "\n"


def _run(db, monkeypatch, text: str, fast: bool) -> tuple[dict, dict, int]:
    monkeypatch.setattr(sync, "FAST_ADDRESS_ROWS", fast)
    calls = []
    real = sync._diff_and_plan
    monkeypatch.setattr(sync, "_diff_and_plan", lambda *a, **k: calls.append(1) or real(*a, **k))
    since = db.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0
    outer = db.begin_nested()
    try:
        _reset_sequences(db)
        report = sync.import_vendors(session=db, data=text.encode(), filename="proc.csv", source="procurement",
                                     actor=PROC)
        snap = _snapshot(db, since)
        assert verify(db).ok
    finally:
        outer.rollback()
        db.expire_all()
    return report.as_dict(), snap, len(calls)


def test_an_address_only_row_gives_what_the_general_comparison_gives(db, w, monkeypatch, frozen):  # noqa: F811
    first, second = _files(db, w)
    report = sync.import_vendors(session=db, data=first.encode(), filename="first.csv", source="procurement",
                                 actor=PROC)
    assert report.ok and report.updated == 8
    db.flush()
    slow_report, slow_rows, slow_calls = _run(db, monkeypatch, second, fast=False)
    fast_report, fast_rows, fast_calls = _run(db, monkeypatch, second, fast=True)
    assert fast_report == slow_report
    for table in slow_rows:
        assert fast_rows[table] == slow_rows[table], table
    # every matched row went the general way without the fast path; with it, only the three it must leave alone
    assert slow_calls == 12 and fast_calls == 3
    # and the file exercises what it should
    by_line = {o["line"]: o for o in slow_report["outcomes"]}
    assert [by_line[n]["action"] for n in range(2, 15)] == [
        "updated", "unchanged", "unchanged", "updated", "unchanged", "updated", "updated", "updated", "updated",
        "unchanged", "updated", "updated", "created"]
    assert by_line[2]["changed"] == ["addresses"] and by_line[2]["held_for_approval"] == []
    assert by_line[6]["conflicts"] == ["status"] and by_line[7]["conflicts"] == ["status"]
    assert slow_report["conflicts"] == 2
