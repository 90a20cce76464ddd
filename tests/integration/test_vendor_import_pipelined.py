"""The pipelined import (decision 0032: writes on a writer thread, duplicate detection in a worker process) gives
exactly what the sequential path gives: outcomes, counts, conflicts, flags, held changes, stored rows and the
audit event (text and hash). An error inside the writer reaches the caller and nothing is applied."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from tests.integration.test_vendor_master import activate
from triad.audit import service as audit_service
from triad.audit.models import AuditEvent
from triad.audit.service import Actor, verify
from triad.vendors import pipeline, service, sync
from triad.vendors.models import (
    Vendor,
    VendorAddress,
    VendorBankAccount,
    VendorBusinessUnit,
    VendorConflict,
    VendorContact,
    VendorDuplicate,
    VendorPendingChange,
    VendorTaxId,
)

PROC = Actor("cli:procurement")
TABLES = [Vendor, VendorTaxId, VendorBankAccount, VendorAddress, VendorContact, VendorBusinessUnit, VendorConflict,
          VendorDuplicate, VendorPendingChange]
TIMESTAMPS = {"created_at", "updated_at", "requested_at", "validated_on"}
HEADER = ("legal_name,other_names,country,tax_scheme,tax_id,routing_number,account_number,bank_currency,"
          "address_line1,address_city,contact_name,contact_email,business_units,status,risk_tier\n")


@pytest.fixture
def w(db):
    return factories.world(db)


def _ein(i: int) -> str:
    return f"13-{8100000 + i:07d}"


def _varied_file(db, w) -> str:
    """New vendors (some near copies of existing names, some paid into an existing account), updates of names,
    aliases, banks, addresses, contacts and business units, legal-owned fields (conflicts), an active vendor's
    bank change (held for four eyes, with its address applied), a deactivated vendor renamed, unchanged rows."""
    bu2 = factories.business_unit(db)
    existing = [factories.vendor(db, f"Orchard Quill Partners {c}{d} LLC", _ein(k))
                for k, (c, d) in enumerate((c, d) for c in "ABCDEFGH" for d in "KLMNP")]
    active = w.a.firm.vendor
    activate(db, w, active)
    gone = factories.vendor(db, "Saltmarsh Ferry Co LLC", _ein(700))
    service.transition(session=db, vendor=gone, to="deactivated", actor=Actor.of(w.users["legal_ops"]),
                       user=w.users["legal_ops"], reason="left the panel")
    db.flush()
    lines = []
    for k, v in enumerate(existing):
        tax = v.tax_ids[0].value
        kind = k % 8
        if kind == 0:  # renamed, new alias
            lines.append(f"{v.legal_name} Group,Alias {k},US,us_ein,{tax},,,,,,,,,,")
        elif kind == 1:  # new bank account and address
            lines.append(f"{v.legal_name},,US,us_ein,{tax},026009593,{7100000 + k},USD,{k} Birch Rd,Boise,,,,,")
        elif kind == 2:  # contact and business units
            lines.append(f"{v.legal_name},,US,us_ein,{tax},,,,,,Pat {k},pat{k}@example.com,"
                         f"{w.bu.code};{bu2.code},,")
        elif kind == 3:  # legal-owned fields: conflicts
            lines.append(f"{v.legal_name},,US,us_ein,{tax},,,,,,,,,active,high")
        elif kind == 4:  # unchanged
            lines.append(f"{v.legal_name},,US,us_ein,{tax},,,,,,,,,,")
        elif kind == 5:  # matched by name, given a new tax ID and an address
            lines.append(f"{v.legal_name.upper()},,US,us_ein,{_ein(500 + k)},,,,{k} Cedar Ave,Reno,,,,,")
        else:  # address only
            lines.append(f"{v.legal_name},,US,us_ein,{tax},,,,{k} Elm St,Tulsa,,,,,")
    lines.append(f"{gone.legal_name} Renamed,,US,us_ein,{gone.tax_ids[0].value},,,,,,,,,,")
    # the active vendor renamed (applied at once, through the ORM) to a near copy of another vendor's name: the
    # flag needs its name as the ORM left it
    near = existing[12].legal_name.replace("Quill", "Quil")
    lines.append(f"{near},,US,us_ein,{active.tax_ids[0].value},026009593,44445555,USD,5 Oak Rd,Austin,,,,,")
    for k in range(30):  # new vendors
        name = f"Lantern Ridge Freight {chr(65 + k % 26)}{k:02d} Ltd"
        account = f"{7200000 + k}"
        if k % 5 == 1:
            name = existing[k].legal_name.replace("LLC", "L.L.C.").replace("Partners", "Partnrs")  # near copy
        if k % 7 == 2:
            account = existing[9].bank_accounts[0].account_number  # an existing vendor's account
            lines.append(f"{name},,US,us_ein,{_ein(900 + k)},{existing[9].bank_accounts[0].routing_number},{account},"
                         f"USD,{k} Pier St,Seattle,,,{w.bu.code},,")
            continue
        lines.append(f"{name},,US,us_ein,{_ein(900 + k)},021000021,{account},USD,{k} Pier St,Seattle,,,,,")
    return HEADER + "\n".join(lines) + "\n"


def _reset_sequences(db) -> None:
    """PostgreSQL: every sequence of the tables written back to the tables' highest id, so both runs take the same
    ids (a rolled-back nextval is not given back)."""
    if db.get_bind().dialect.name != "postgresql":
        return
    for model in [*TABLES, AuditEvent]:
        table = model.__table__
        if "id" not in table.c:
            continue
        db.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                           f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"))


def _snapshot(db, since: int) -> dict:
    out = {}
    for model in TABLES:
        table = model.__table__
        cols = [c for c in table.c if c.name not in TIMESTAMPS]
        out[table.name] = [tuple(r) for r in db.execute(sa.select(*cols).order_by(table.c.id))]
    ev = AuditEvent.__table__
    out["audit"] = [tuple(r) for r in db.execute(
        sa.select(ev.c.seq, ev.c.action, ev.c.entity_type, ev.c.entity_id, ev.c.before, ev.c.after, ev.c.prev_hash,
                  ev.c.hash).where(ev.c.seq > since).order_by(ev.c.seq))]
    return out


def _run(db, monkeypatch, text: str, threshold: int, **kw) -> tuple[dict, dict]:
    monkeypatch.setattr(pipeline, "PIPELINE_ABOVE", threshold)
    since = db.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0
    outer = db.begin_nested()
    try:
        _reset_sequences(db)
        report = sync.import_vendors(session=db, data=text.encode(), filename="proc.csv", source="procurement",
                                     actor=PROC, **kw)
        snap = _snapshot(db, since)
        assert verify(db).ok
    finally:
        outer.rollback()
        db.expire_all()
    return report.as_dict(), snap


@pytest.fixture
def frozen(monkeypatch):
    """The audit clock stopped, so both runs' events (and hashes) can be compared."""
    at = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(audit_service, "utcnow", lambda: at)


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_pipelined_path_gives_exactly_the_sequential_paths_results(db, w, monkeypatch, frozen, dry_run):
    text = _varied_file(db, w)
    started = [t.name for t in threading.enumerate()]
    seq_report, seq_rows = _run(db, monkeypatch, text, threshold=10**9, dry_run=dry_run)
    pools = []
    real_pool = pipeline.DedupePool

    def counted(names):
        pools.append(real_pool(names))
        return pools[-1]

    monkeypatch.setattr(pipeline, "DedupePool", counted)
    pipe_report, pipe_rows = _run(db, monkeypatch, text, threshold=0, dry_run=dry_run)
    assert len(pools) == 1  # the pipelined path did run
    assert pipe_report == seq_report
    for table in seq_rows:
        assert pipe_rows[table] == seq_rows[table], table
    # the file exercises what it should
    assert seq_report["created"] == 30 and seq_report["conflicts"] >= 10 and seq_report["held_for_approval"] == 1
    active = w.a.firm.vendor.id
    assert any(active in (d["vendor_id"], d["other_vendor_id"]) for d in seq_report["duplicates"])
    reasons = {d["reason"] for d in seq_report["duplicates"]}
    assert reasons == {"similar_name", "same_bank_account"}
    assert [o["action"] for o in seq_report["outcomes"]].count("unchanged") >= 5
    if dry_run:
        assert not seq_report["applied"] and seq_rows["audit"] == []  # nothing visible after a dry run
    else:
        assert len(seq_rows["audit"]) >= 1 and seq_rows["audit"][-1][1] == "vendor_import.applied"
    # no thread or process left behind
    assert [t.name for t in threading.enumerate()] == started
    assert pools[0]._proc is None


def test_with_refused_rows_the_workers_name_keys_go_to_their_rows(db, w, monkeypatch, frozen):
    """The worker computes a name key for every row of the file; with rows refused by the checks (``partial``),
    each kept row still gets its own key (stored as the new vendors' name_key, used to match by name)."""
    text = _varied_file(db, w)
    head, *rows = text.splitlines()
    rows[1:1] = ["Bad Country Ltd,,XX,,,,,,,,,,,,", "Bad Unit Ltd,,US,,,,,,,,,,NOPE,,"]
    text = "\n".join([head, *rows]) + "\n"
    seq = _run(db, monkeypatch, text, threshold=10**9, partial=True)
    pipe = _run(db, monkeypatch, text, threshold=0, partial=True)
    assert len(seq[0]["errors"]) == 2 and seq[0]["created"] == 30
    assert pipe == seq


def test_the_pipelined_path_flags_against_a_master_with_rows_read_whole(db, w, monkeypatch, frozen):
    """Above ``_SCAN_ABOVE`` the state's whole-table scans are reused for duplicate detection: same results."""
    text = _varied_file(db, w)
    monkeypatch.setattr(sync, "_SCAN_ABOVE", 0)
    seq = _run(db, monkeypatch, text, threshold=10**9)
    pipe = _run(db, monkeypatch, text, threshold=0)
    assert pipe == seq


def test_an_error_in_the_writer_reaches_the_caller_and_nothing_is_applied(db, w, monkeypatch):
    """A constraint violation in a queued statement (new vendors given an id already taken) is raised by the
    import, and the savepoint rolls back every write, those of the four-eyes row made through the ORM too."""
    text = _varied_file(db, w)
    monkeypatch.setattr(pipeline, "PIPELINE_ABOVE", 0)
    taken = db.scalar(sa.select(sa.func.min(Vendor.id)))
    real = sync._take_ids
    monkeypatch.setattr(sync, "_take_ids", lambda session, n: [taken] + real(session, n)[1:])
    before = _snapshot(db, 0)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the driver's own IntegrityError, either driver
        sync.import_vendors(session=db, data=text.encode(), filename="proc.csv", source="procurement", actor=PROC)
    message = str(caught.value)  # the writer's own error (the vendor insert), not a later one it would cause
    assert "UNIQUE constraint failed: vendor.id" in message or ("Key (id)" in message and "COPY vendor," in message)
    db.expire_all()
    assert _snapshot(db, 0) == before
    assert [t for t in threading.enumerate() if t.name == "vendor-import-writer"] == []


def test_small_files_start_no_thread_and_no_process(db, w, monkeypatch):
    def refuse(names):
        raise AssertionError("a small file started the worker process")

    monkeypatch.setattr(pipeline, "DedupePool", refuse)
    text = HEADER + "Tiny Lamp Co Ltd,,US,,,,,,,,,,,,\n"
    report = sync.import_vendors(session=db, data=text.encode(), filename="p.csv", source="procurement", actor=PROC)
    assert report.created == 1


@pytest.mark.parametrize("executable", ["/nonexistent/python", "/bin/false"])
def test_without_a_working_worker_process_the_import_computes_the_same_itself(db, w, monkeypatch, frozen,
                                                                              executable):
    """The worker's answers (name keys, similar names) are pure: when it cannot start (a server whose
    ``sys.executable`` is not a Python) or dies, the import computes them in its own process, same results."""
    text = _varied_file(db, w)
    seq = _run(db, monkeypatch, text, threshold=10**9)
    monkeypatch.setattr(pipeline.sys, "executable", executable)
    pipe = _run(db, monkeypatch, text, threshold=0)
    assert pipe == seq


def test_the_pipelined_path_inside_an_api_request_and_the_cli(client, db, w, monkeypatch, cli_db, tmp_path):
    """The import is called inside a request (the server's worker thread) and by the CLI (its own committed
    database): the writer thread and the worker process start and end there too."""
    import json

    from triad.cli import app

    monkeypatch.setattr(pipeline, "PIPELINE_ABOVE", 0)
    text = _varied_file(db, w)
    token = {"Authorization": f"Bearer {w.tokens['procurement']}"}
    r = client.post("/api/v1/vendors/import", headers=token, files={"file": ("v.csv", text.encode())})
    assert r.status_code == 200, r.text
    assert (r.json()["applied"], r.json()["created"], r.json()["held_for_approval"]) == (True, 30, 1)
    runner, _ = cli_db
    path = tmp_path / "proc.csv"
    path.write_text(HEADER + "".join(f"Cobalt Wharf Supply {k:03d} Ltd,,US,us_ein,{_ein(300 + k)},021000021,"
                                     f"{7300000 + k},USD,{k} Dock St,Mobile,,,,,\n" for k in range(40)))
    out = runner.invoke(app, ["vendors", "import", str(path), "--source", "procurement", "--json"])
    assert out.exit_code == 0, out.stdout
    assert json.loads(out.stdout)["created"] == 40
    assert [t.name for t in threading.enumerate() if t.name.startswith("vendor-import")] == []


def test_the_writer_stops_at_the_first_error_and_a_close_runs_nothing_more(db, w):
    """``Writer`` (SQLite: a thread): statements run in order; after a failed one none runs, and ``join`` raises
    its error."""
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the writer runs inline: each call raises its own error")
    vt = Vendor.__table__
    cols = ["id", "legal_name", "other_names", "country", "status", "risk_tier", "screening_status", "created_at",
            "updated_at", "name_key", "onboarding_pathway", "legal_review"]
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    top = db.scalar(sa.select(sa.func.max(Vendor.id)))

    def row(vid: int, name: str) -> tuple:
        return (vid, name, [], "US", "draft", "medium", "not_screened", now, now, name.lower(), "procurement", "none")

    nested = db.begin_nested()
    writer = pipeline.Writer(db)
    writer.start()
    writer.insert(vt, cols, [row(top + 1, "First Writer Ltd")])
    writer.insert(vt, cols, [row(top, "Taken Id Ltd")])  # the id is taken: fails
    writer.insert(vt, cols, [row(top + 2, "After The Error Ltd")])
    with pytest.raises(Exception, match="UNIQUE constraint failed: vendor.id"):
        writer.join()
    writer.close()
    names = set(db.scalars(sa.select(Vendor.legal_name).where(Vendor.id > top)))
    assert names == {"First Writer Ltd"}  # before the error: run; after it: not
    nested.rollback()


@pytest.mark.parametrize("names_read_whole", [False, True])
def test_without_renames_the_first_search_is_kept_and_only_the_bank_changes_are_asked_for(db, w, monkeypatch,
                                                                                          frozen, names_read_whole):
    """No vendor renamed, some given a new bank account (one into another vendor's account): the duplicate
    search asked for when the writer starts is kept, a second one covers only the vendors with new accounts,
    and the merged pairs give exactly the sequential path's flags (decision 0036). When matching read every
    vendor's name, the first search is asked for before the state is read (decision 0037)."""
    if names_read_whole:
        monkeypatch.setattr(sync, "_SCAN_ABOVE", 0)
    existing = [factories.vendor(db, f"Juniper Vale Holdings {c}{d} LLC", _ein(300 + k))
                for k, (c, d) in enumerate((c, d) for c in "ABCD" for d in "KLM")]
    db.flush()
    lines = []
    for k, v in enumerate(existing):
        if k % 3 == 0:  # a new bank account (the third one: another vendor's account)
            account = existing[1].bank_accounts[0].account_number if k == 3 else f"{8800000 + k}"
            lines.append(f"{v.legal_name},,US,us_ein,{v.tax_ids[0].value},021000021,{account},USD,,,,,,,")
        else:
            lines.append(f"{v.legal_name},,US,us_ein,{v.tax_ids[0].value},,,,{k} Fir St,Omaha,,,,,")
    for k in range(12):  # new vendors, some near copies of existing names
        name = existing[k].legal_name.replace("Holdings", "Holding") if k % 4 == 0 else f"Quarry Lane {k:02d} Inc"
        lines.append(f"{name},,US,us_ein,{_ein(400 + k)},021000021,{8900000 + k},USD,{k} Ash St,Omaha,,,,,")
    text = HEADER + "\n".join(lines) + "\n"
    seq = _run(db, monkeypatch, text, threshold=10**9)
    asked: list[tuple[int, bool]] = []
    real = pipeline.DedupePool.similar_names

    state_read: list[bool] = []
    real_state = sync._load_state

    def spy(self, keys, new, replaces=False):
        asked.append((len(new), replaces, bool(state_read)))
        return real(self, keys, new, replaces)

    def load_state(*a, **k):
        state_read.append(True)
        return real_state(*a, **k)

    monkeypatch.setattr(pipeline.DedupePool, "similar_names", spy)
    monkeypatch.setattr(sync, "_load_state", load_state)
    pipe = _run(db, monkeypatch, text, threshold=0)
    assert pipe == seq
    # the new vendors first (before the state's reads when the names were read whole), then the four with new
    # accounts
    assert asked == [(12, False, not names_read_whole), (4, False, True)]
    reasons = {d["reason"] for d in seq[0]["duplicates"]}
    assert reasons == {"similar_name", "same_bank_account"}


def test_the_switch_interval_is_short_while_a_writer_runs_and_restored_after_the_last(db):
    """Decision 0037: 0.5 ms while any writer thread runs (counted across writers), the setting before after."""
    import sys

    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the writer runs inline: no thread")
    before = sys.getswitchinterval()
    assert before > pipeline.SWITCH_INTERVAL
    first, second = pipeline.Writer(db), pipeline.Writer(db)
    try:
        first.start()
        assert sys.getswitchinterval() == pipeline.SWITCH_INTERVAL
        second.start()
        first.join()
        assert sys.getswitchinterval() == pipeline.SWITCH_INTERVAL  # the second still runs
    finally:
        first.close()
        second.close()
    assert sys.getswitchinterval() == before
    second.close()  # closing again changes nothing
    assert sys.getswitchinterval() == before


@pytest.mark.parametrize("names_read_whole", [False, True])
def test_a_file_without_conflicts_or_flags_still_gets_its_audit_event(db, w, monkeypatch, frozen, names_read_whole):
    """New vendors with names and accounts like no other and address changes, no legal field: nothing to queue
    as a conflict, nothing to flag; the file's event is written all the same, the sequential path's."""
    if names_read_whole:
        monkeypatch.setattr(sync, "_SCAN_ABOVE", 0)
    existing = [factories.vendor(db, f"Tamarack Sound Traders {c} LLC", _ein(600 + k)) for k, c in enumerate("ABCD")]
    db.flush()
    lines = [f"{v.legal_name},,US,us_ein,{v.tax_ids[0].value},,,,{k} Spruce Ct,Helena,,,,," for k, v in
             enumerate(existing)]
    words = ["Obsidian", "Marigold", "Thistle", "Cormorant", "Basalt", "Heliotrope"]
    lines += [f"{word} {k * 7919 % 1000:03d} Quarry Works Inc,,US,us_ein,{_ein(650 + k)},021000021,{9400000 + k},USD,"
              f"{k} Larch Way,Bozeman,,,,," for k, word in enumerate(words)]
    text = HEADER + "\n".join(lines) + "\n"
    seq = _run(db, monkeypatch, text, threshold=10**9)
    pipe = _run(db, monkeypatch, text, threshold=0)
    assert pipe == seq
    report, snap = pipe
    assert (report["created"], report["updated"], report["conflicts"], report["duplicates_flagged"]) == (6, 4, 0, 0)
    applied = [e for e in snap["audit"] if e[1] == "vendor_import.applied"]
    assert len(applied) == 1


def test_an_error_after_the_writer_started_ends_it_and_restores_the_switch_interval(db, w, monkeypatch):
    """Decision 0037: ``_Pipelined`` queues the new vendors' child rows after starting its writer; an error there
    (here: any) ends the writer thread before it reaches the caller, and nothing is applied."""
    import sys

    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the writer runs inline: no thread")
    text = HEADER + "".join(f"Nightjar {k} Harbour Supply Inc,,US,us_ein,{_ein(700 + k)},021000021,{9500000 + k},"
                            f"USD,{k} Alder Rd,Butte,,,,,\n" for k in range(3))
    real = sync._insert_new_children

    def failing(session, fresh, ids, today, writer=None):
        if writer is not None:
            raise RuntimeError("while queuing the child rows")
        return real(session, fresh, ids, today, writer)

    monkeypatch.setattr(sync, "_insert_new_children", failing)
    monkeypatch.setattr(pipeline, "PIPELINE_ABOVE", 0)
    before = sys.getswitchinterval()
    top = db.scalar(sa.select(sa.func.max(Vendor.id))) or 0
    with pytest.raises(RuntimeError, match="while queuing the child rows"):
        sync.import_vendors(session=db, data=text.encode(), filename="proc.csv", source="procurement", actor=PROC)
    assert sys.getswitchinterval() == before
    assert not [t for t in threading.enumerate() if t.name == "vendor-import-writer"]
    assert db.scalar(sa.select(sa.func.count()).select_from(Vendor).where(Vendor.id > top)) == 0


def test_a_column_with_one_value_is_bound_once_per_statement_and_stores_the_same_rows(db, monkeypatch):
    """``Writer.insert`` binds a column whose rows all hold the same value once per statement (decision 0038):
    the rows stored equal those of the sequential path's insert (``ap.bulk.insert_rows``), statement by statement
    within the parameter limit; a column whose values only compare equal (1 and True) is bound row by row."""
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the writer runs inline (COPY)")
    assert pipeline._one_value(("a", "a")) and pipeline._one_value((None, None)) and pipeline._one_value((7, 7))
    assert not pipeline._one_value((1, True)) and not pipeline._one_value(("1", 1))
    assert not pipeline._one_value((1.0, 1.0)) and not pipeline._one_value(("a", "b"))
    vt = Vendor.__table__
    cols = ["id", "legal_name", "other_names", "country", "status", "risk_tier", "screening_status", "name_key",
            "onboarding_pathway", "legal_review", "created_at", "updated_at"]
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    top = db.scalar(sa.select(sa.func.max(Vendor.id))) or 0
    n = 2_000

    def rows(first: int) -> list[tuple]:
        return [(first + k, f"Constant Column Test {k:04d} Ltd", (), "US" if k % 3 else "GB", "draft", "medium",
                 "not_screened", f"constant column test {k:04d}", "procurement", "none", now, now) for k in range(n)]

    def stored(first: int) -> list[tuple]:
        table_cols = [vt.c[c] for c in cols if c != "id"]
        return [tuple(r) for r in db.execute(sa.select(*table_cols).where(vt.c.id.between(first, first + n - 1))
                                             .order_by(vt.c.id))]

    nested = db.begin_nested()
    try:
        from triad.ap.bulk import insert_rows

        insert_rows(db, vt, cols, rows(top + 1))
        monkeypatch.setattr(pipeline, "_MAX_PARAMS", 1_000)  # several statements
        statements = []
        writer = pipeline.Writer(db)
        real_put = writer._put
        monkeypatch.setattr(writer, "_put", lambda sql, params: statements.append((sql, len(params))) or
                            real_put(sql, params))
        writer.start()
        writer.insert(vt, cols, rows(top + 1 + n))
        writer.join()
        assert stored(top + 1 + n) == stored(top + 1) and len(stored(top + 1)) == n
        # id, legal_name, country and name_key vary; the other 8 columns are bound once per statement
        assert len(statements) > 1 and all("SELECT" in sql for sql, _ in statements)
        assert sum(count - 8 for _, count in statements) == 4 * n
        assert all(count <= 1_000 for _, count in statements)
    finally:
        nested.rollback()
