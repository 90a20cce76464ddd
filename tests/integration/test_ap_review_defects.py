"""Three AP defects found by review (docs/ap.md): an open sanctions hit stops payment, a zero-due invoice
never holds up its route, and the export CLI never says "nothing was exported" once the batch is committed.
Run on SQLite and PostgreSQL (TRIAD_TEST_DB=postgres), the CLI ones on a database of their own."""

from __future__ import annotations

import pathlib
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from tests.integration.test_ap_cycle import _approve, _route
from triad.ap import service as ap
from triad.ap.models import ApBatch, ApBatchItem
from triad.audit.service import Actor
from triad.core.errors import ValidationFailed
from triad.invoices.models import Invoice
from triad.vendors.models import ScreeningHit
from triad.vendors.screening import clear_hit, load_list, screen_vendor

ACTOR = Actor("defect-test")


@pytest.fixture
def w(db):
    return factories.world(db)


def _hit(db, w):
    """An open sanctions screening hit on firm A's vendor (its legal name is on a loaded list)."""
    vendor = w.a.firm.vendor
    load_list(session=db, data=f"uid,name\n{uuid.uuid4().hex[:8]},{vendor.legal_name}\n".encode(),
              filename="list.csv", fmt="names", actor=ACTOR, source=f"test-{uuid.uuid4().hex[:6]}")
    screen_vendor(session=db, vendor=vendor, actor=ACTOR)
    hits = db.scalars(sa.select(ScreeningHit).where(ScreeningHit.vendor_id == vendor.id,
                                                    ScreeningHit.status == "open")).all()
    assert hits, "the vendor's name should match its own list entry"
    return hits


def test_an_open_sanctions_hit_refuses_the_batch_naming_the_invoice_until_cleared(db, w):
    _route(db)
    for fw in (w.a, w.b):
        _approve(db, w, fw.invoice)
    hits = _hit(db, w)
    with pytest.raises(ValidationFailed) as exc:
        ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert [(e["invoice"], e["field"]) for e in exc.value.errors] == [(w.a.invoice.invoice_number, "vendor")]
    assert "open sanctions screening hit" in exc.value.errors[0]["message"]
    assert w.a.firm.vendor.legal_name in exc.value.errors[0]["message"]
    assert w.a.invoice.state == "approved" and w.b.invoice.state == "approved"  # nothing changed
    assert db.scalar(sa.select(sa.func.count(ApBatch.id))) == 0
    for h in hits:
        clear_hit(session=db, hit=h, reviewer=w.users["legal_ops"], reason="a different company (checked register)")
    res = ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert sorted(i["invoice_id"] for i in res.invoices) == sorted([w.a.invoice.id, w.b.invoice.id])


def test_a_zero_due_invoice_with_other_errors_is_skipped_and_does_not_hold_up_the_route(db, w):
    _route(db)
    for fw in (w.a, w.b):
        _approve(db, w, fw.invoice)
    ap.add_credit(session=db, invoice=w.a.invoice, kind="write_down", amount=Decimal("900.00"), reason="settled",
                  actor=ACTOR)
    w.a.invoice.allocations[0].amount = Decimal("899.99")  # would refuse the batch if it were to be paid
    db.flush()
    res = ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert [i["invoice_id"] for i in res.invoices] == [w.b.invoice.id]
    assert res.skipped == [{"invoice_id": w.a.invoice.id, "invoice_number": w.a.invoice.invoice_number,
                            "reason": "nothing is due: credits cover the approved amount"}]
    assert w.a.invoice.state == "approved" and w.b.invoice.state == "sent_to_ap"


def test_zero_due_is_skipped_but_other_invoices_errors_still_refuse(db, w):
    _route(db)
    inv_c = factories.invoice(db, w.b.firm, w.b.matter, w.b.timekeeper, w.cc, w.gl, "Charlie services")
    for inv in (w.a.invoice, w.b.invoice, inv_c):
        _approve(db, w, inv)
    # A approved at zero (its only line adjusted to 0), and its allocation left as billed: skipped anyway
    line = w.a.invoice.lines[0]
    line.decision, line.approved_total = "adjusted", Decimal("0")
    w.b.invoice.allocations[0].amount = Decimal("1.00")  # B cannot go
    db.flush()
    with pytest.raises(ValidationFailed) as exc:
        ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert [e["invoice"] for e in exc.value.errors] == [w.b.invoice.invoice_number]
    assert all(inv.state == "approved" for inv in (w.a.invoice, w.b.invoice, inv_c))
    w.b.invoice.allocations[0].amount = Decimal("900.00")
    db.flush()
    res = ap.export(session=db, route_name="main", fmt="csv", actor=ACTOR)
    assert sorted(i["invoice_id"] for i in res.invoices) == sorted([w.b.invoice.id, inv_c.id])
    assert res.skipped == [{"invoice_id": w.a.invoice.id, "invoice_number": w.a.invoice.invoice_number,
                            "reason": "nothing is due: the approved amount is zero"}]


# ---------------------------------------------------------------- the export CLI and its file


@pytest.fixture
def cli_any_db(tmp_path, monkeypatch, db_url):
    """A migrated database of the run's backend for the CLI (it commits): a file of its own on SQLite,
    a database of its own on PostgreSQL."""
    from typer.testing import CliRunner

    from triad.config import get_settings
    from triad.core import db as core_db
    from triad.core.migrate import upgrade

    drop = None
    if db_url.startswith("postgresql"):
        name = f"triad_cli_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(db_url).set(database=name).render_as_string(hide_password=False)

        def drop():
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TRIAD_DATABASE_URL", url)
    get_settings.cache_clear()
    core_db.configure(url)
    upgrade(core_db.get_engine())
    try:
        yield CliRunner(), core_db
    finally:
        get_settings.cache_clear()
        core_db.get_engine().dispose()
        if drop is not None:
            drop()


def _ready_invoice(core_db):
    from triad.ap.models import ApRoute
    from triad.invoices.approvals import approve
    from triad.invoices.service import transition

    with core_db.transaction() as s:
        w = factories.world(s)
        s.add(ApRoute(name="main", ap_system="Oracle AP", priority=1))
        transition(session=s, invoice=w.a.invoice, to="in_review", actor=Actor("t"))
        approve(session=s, invoice=w.a.invoice, user=w.users["legal_ops"])
        return w.a.invoice.id


def test_a_file_that_cannot_be_named_after_the_commit_says_the_batch_was_exported(cli_any_db, tmp_path, monkeypatch):
    import json

    from triad.cli import app

    runner, core_db = cli_any_db
    inv_id = _ready_invoice(core_db)
    out = tmp_path / "batch.csv"
    real_rename = pathlib.Path.rename

    def refuse(self, target):
        if str(self).endswith(".part"):
            raise PermissionError(13, "Permission denied")
        return real_rename(self, target)

    monkeypatch.setattr(pathlib.Path, "rename", refuse)
    r = runner.invoke(app, ["ap", "export", "--route", "main", "--out", str(out), "--json"])
    assert r.exit_code == 3, r.output
    body = json.loads(r.stdout)
    batch_id = body["batch_id"]
    assert body["file"] == f"/api/v1/ap/batches/{batch_id}/file"
    assert f"batch {batch_id} was exported" in body["file_error"] and "Do not export again" in body["file_error"]
    assert "nothing was exported" not in r.output
    assert not out.exists() and not (tmp_path / "batch.csv.part").exists()
    with core_db.transaction() as s:  # committed: the invoice is sent, the file can be downloaded by batch id
        assert s.get(Invoice, inv_id).state == "sent_to_ap"
        assert s.scalar(sa.select(ApBatchItem.batch_id).where(ApBatchItem.invoice_id == inv_id)) == batch_id
        stored = ap.batch_file(session=s, batch_id=batch_id)
        assert stored.sha256 == body["sha256"] and str(inv_id).encode() in stored.content
    plain = runner.invoke(app, ["ap", "export", "--route", "main", "--out", str(tmp_path / "b2.csv")])
    assert plain.exit_code == 0 and "Nothing is ready" in plain.stdout  # exported once, never twice


def test_a_file_that_cannot_be_written_before_the_commit_exports_nothing(cli_any_db, tmp_path, monkeypatch):
    from triad.ap import cli as ap_cli
    from triad.cli import app

    runner, core_db = cli_any_db
    inv_id = _ready_invoice(core_db)

    def full_disk(path, content):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ap_cli, "_write_synced", full_disk)
    r = runner.invoke(app, ["ap", "export", "--route", "main", "--out", str(tmp_path / "batch.csv")])
    assert r.exit_code == 2 and "nothing was exported" in r.output
    with core_db.transaction() as s:
        assert s.get(Invoice, inv_id).state == "approved"
        assert s.scalar(sa.select(sa.func.count(ApBatch.id))) == 0
