"""`triad ap export` and `triad ap import` against a database of their own (the CLI commits)."""

from __future__ import annotations

import json

from tests.factories import world as factories
from triad.ap.models import ApRoute
from triad.audit.service import Actor
from triad.cli import app
from triad.invoices.approvals import approve
from triad.invoices.service import transition


def test_export_then_import_on_the_command_line(cli_db, tmp_path):
    runner, core_db = cli_db
    with core_db.transaction() as s:
        w = factories.world(s)
        s.add(ApRoute(name="main", ap_system="Oracle AP", priority=1))
        transition(session=s, invoice=w.a.invoice, to="in_review", actor=Actor("t"))
        approve(session=s, invoice=w.a.invoice, user=w.users["legal_ops"])
        inv_id, number = w.a.invoice.id, w.a.invoice.invoice_number
    out = tmp_path / "batch.csv"
    assert runner.invoke(app, ["ap", "export", "--route", "main"]).exit_code == 2  # --out or --dry-run
    dry = runner.invoke(app, ["ap", "export", "--route", "main", "--out", str(out), "--dry-run", "--json"])
    assert dry.exit_code == 0 and json.loads(dry.stdout)["count"] == 1 and not out.exists()
    real = runner.invoke(app, ["ap", "export", "--route", "main", "--out", str(out), "--json"])
    assert real.exit_code == 0, real.stdout
    assert number in out.read_text() and not (tmp_path / "batch.csv.part").exists()
    assert runner.invoke(app, ["ap", "export", "--route", "main", "--out", str(out)]).exit_code == 2  # exists
    again = runner.invoke(app, ["ap", "export", "--route", "main", "--out", str(tmp_path / "b2.csv")])
    assert again.exit_code == 0 and "Nothing is ready" in again.stdout and not (tmp_path / "b2.csv").exists()
    missing = runner.invoke(app, ["ap", "export", "--route", "nope", "--out", str(tmp_path / "b3.csv")])
    assert missing.exit_code == 1 and not (tmp_path / "b3.csv.part").exists()

    feed = tmp_path / "pay.csv"
    feed.write_text(f"invoice_id,payment_date,amount,currency,payment_reference,status\n"
                    f"{inv_id},2026-11-20,900.00,USD,WIRE-1,paid\n")
    first = runner.invoke(app, ["ap", "import", str(feed), "--json"])
    assert first.exit_code == 0 and json.loads(first.stdout)["status"] == "applied"
    second = runner.invoke(app, ["ap", "import", str(feed), "--json"])
    assert second.exit_code == 0 and json.loads(second.stdout)["status"] == "duplicate"
    bad = tmp_path / "bad.csv"
    bad.write_text("invoice_id,payment_date,amount,currency,payment_reference,status\n1,2026-02-30,1,USD,R,paid\n")
    refused = runner.invoke(app, ["ap", "import", str(bad)])
    assert refused.exit_code == 1 and "payment_date" in refused.stdout
    assert runner.invoke(app, ["ap", "import", str(tmp_path / "nope.csv")]).exit_code == 2
