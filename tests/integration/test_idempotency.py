"""Idempotency-Key on POST routes (decision 0020), on whichever database the suite runs on.

Most tests go through the TestClient over the test transaction: the key's own transactions are then
SAVEPOINTs on the test connection, which exercises the same statements without leaving data behind.
Concurrency cannot be tested that way: the TestClient app shares one connection, so two "concurrent"
requests would interleave on it instead of racing as two transactions. The tests at the end therefore
run a real uvicorn server in a thread over a database of their own, with a connection pool: requests
from several client threads run in the server's thread pool on separate connections, i.e. as truly
concurrent transactions (on PostgreSQL) or competing connections serialised by SQLite's write lock.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
import uuid
from typing import Annotated

import httpx
import pydantic
import pytest
import sqlalchemy as sa
from fastapi import File, UploadFile
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from tests.factories import world as factories
from triad.audit.models import AuditEvent
from triad.auth.deps import CurrentUser, require
from triad.config import Settings, get_settings
from triad.core.db import utcnow
from triad.core.permissions import Perm
from triad.idempotency.api import idempotent
from triad.idempotency.models import IdempotencyRecord
from triad.invoices.models import Invoice, InvoiceLine, InvoiceStateChange

STILL_RUNNING = "a request with this Idempotency-Key is still being processed"
DIFFERENT_REQUEST = "this Idempotency-Key was used with a different request"


@pytest.fixture
def w(db):
    return factories.world(db)


def events(db) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def records(db, key: str) -> list[IdempotencyRecord]:
    return list(db.scalars(sa.select(IdempotencyRecord).where(IdempotencyRecord.key == key)
                           .execution_options(populate_existing=True)))


def headers(w, role: str, key: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {w.tokens[role]}"}
    if key is not None:
        h["Idempotency-Key"] = key
    return h


def in_review(db, inv: Invoice) -> None:
    inv.state = "in_review"
    db.commit()


def decision_url(inv: Invoice, line_no: int = 1) -> str:
    return f"/api/v1/invoices/{inv.id}/lines/{line_no}/decision"


ADJUST = {"decision": "adjusted", "approved_total": "700.00", "reason_code": "RATE", "comment": "rate above cap"}


# -- replay, mismatch, scope ------------------------------------------------------------------------

def test_repeat_with_same_key_and_body_replays_without_acting(client, db, w):
    inv = w.a.invoice
    in_review(db, inv)
    n = events(db)
    first = client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "adj-1"))
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "in_review"
    assert "idempotent-replayed" not in first.headers
    assert events(db) == n + 1
    (rec,) = records(db, "adj-1")
    assert (rec.status, rec.response_status, rec.method) == ("done", 200, "POST")
    assert rec.path == decision_url(inv)
    assert rec.response_headers == {"content-type": "application/json"}
    assert rec.expires_at - rec.created_at == dt.timedelta(hours=24)

    again = client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "adj-1"))
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == "application/json"
    assert again.content == first.content
    assert events(db) == n + 1  # no second audit event: the endpoint did not run
    line = db.scalar(sa.select(InvoiceLine).where(InvoiceLine.invoice_id == inv.id, InvoiceLine.line_no == 1)
                     .execution_options(populate_existing=True))
    assert (line.decision, line.approved_total, line.reason_code) == ("adjusted", 700, "RATE")


def test_transition_replay_is_not_a_second_move(client, db, w):
    inv = w.a.invoice
    body = {"to": "in_review"}
    first = client.post(f"/api/v1/invoices/{inv.id}/transitions", json=body, headers=headers(w, "admin", "mv-1"))
    assert first.status_code == 200, first.text
    again = client.post(f"/api/v1/invoices/{inv.id}/transitions", json=body, headers=headers(w, "admin", "mv-1"))
    assert (again.status_code, again.headers["idempotent-replayed"]) == (200, "true")
    assert again.content == first.content
    moves = db.scalars(sa.select(InvoiceStateChange).where(InvoiceStateChange.invoice_id == inv.id)).all()
    assert [(m.from_state, m.to_state) for m in moves] == [("submitted", "in_review")]
    # without the key the same request really is a second move, and the state table refuses it
    plain = client.post(f"/api/v1/invoices/{inv.id}/transitions", json=body, headers=headers(w, "admin"))
    assert plain.status_code == 409


def test_bulk_approve_replay(client, db, w):
    body = {"invoice_ids": [w.a.invoice.id, w.b.invoice.id]}
    n = events(db)
    first = client.post("/api/v1/invoices/bulk-approve", json=body, headers=headers(w, "admin", "bulk-1"))
    assert first.status_code == 200, first.text
    assert [o["outcome"] for o in first.json()] == ["approved", "approved"]
    assert events(db) == n + 2
    again = client.post("/api/v1/invoices/bulk-approve", json=body, headers=headers(w, "admin", "bulk-1"))
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()  # not "skipped: it is approved", as a second run would say
    assert events(db) == n + 2


def test_same_key_with_other_body_or_route_is_422_and_changes_nothing(client, db, w):
    inv = w.a.invoice
    in_review(db, inv)
    assert client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "k-1")).status_code == 200
    n = events(db)
    for url, body in ((decision_url(inv), {**ADJUST, "approved_total": "600.00"}),
                      (decision_url(inv), {"decision": "rejected", "reason_code": "RATE"}),
                      (f"/api/v1/invoices/{inv.id}/transitions", {"to": "on_hold", "reason": "wait"})):
        r = client.post(url, json=body, headers=headers(w, "legal_ops", "k-1"))
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["detail"] == DIFFERENT_REQUEST
        assert problem["errors"][0]["field"] == "Idempotency-Key"
        assert "idempotent-replayed" not in r.headers
    assert events(db) == n
    db.refresh(inv)
    assert inv.state == "in_review"
    line = db.scalar(sa.select(InvoiceLine).where(InvoiceLine.invoice_id == inv.id)
                     .execution_options(populate_existing=True))
    assert line.approved_total == 700


def test_same_key_whitespace_in_json_is_a_different_request(client, db, w):
    """The fingerprint is the raw body: equivalent JSON spelled differently is another request."""
    inv = w.a.invoice
    in_review(db, inv)
    h = {**headers(w, "legal_ops", "raw-1"), "content-type": "application/json"}
    assert client.post(decision_url(inv), content=b'{"decision":"accepted"}', headers=h).status_code == 200
    r = client.post(decision_url(inv), content=b'{"decision": "accepted"}', headers=h)
    assert (r.status_code, r.json()["detail"]) == (422, DIFFERENT_REQUEST)


def test_keys_belong_to_their_caller(client, db, w):
    """Two users sending the same key and body each act: neither sees the other's key."""
    inv = w.a.invoice
    in_review(db, inv)
    n = events(db)
    a = client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "shared"))
    b = client.post(decision_url(inv), json=ADJUST, headers=headers(w, "admin", "shared"))
    assert (a.status_code, b.status_code) == (200, 200)
    assert "idempotent-replayed" not in b.headers
    assert events(db) == n + 2
    assert sorted(r.user_id for r in records(db, "shared")) == sorted([w.users["legal_ops"].id, w.users["admin"].id])
    # and each user's repeat replays their own first response
    assert client.post(decision_url(inv), json=ADJUST,
                       headers=headers(w, "admin", "shared")).headers["idempotent-replayed"] == "true"
    assert events(db) == n + 2


def test_refusals_before_the_key_reserve_nothing(client, db, w):
    """A caller refused by the permission check (403) leaves no key behind."""
    inv = w.b.invoice
    in_review(db, inv)
    r = client.post("/api/v1/invoices/bulk-approve", json={"invoice_ids": [inv.id]},
                    headers=headers(w, "finance_ap", "no-perm"))
    assert r.status_code == 403
    assert records(db, "no-perm") == []


def test_client_errors_are_stored_and_replayed(client, db, w):
    """A 4xx answer is the answer: the repeat gets it again even after the world changed."""
    inv = w.a.invoice  # submitted: lines are decided while in review
    n = events(db)
    first = client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "early"))
    assert first.status_code == 409
    assert "lines are decided while it is in review" in first.json()["detail"]
    in_review(db, inv)
    again = client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "early"))
    assert (again.status_code, again.headers["idempotent-replayed"]) == (409, "true")
    assert again.headers["content-type"] == "application/problem+json"
    assert again.content == first.content
    assert events(db) == n
    # a new key is a new request, which now succeeds
    assert client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "later")).status_code == 200


def test_no_header_behaves_as_before(client, db, w):
    inv = w.a.invoice
    in_review(db, inv)
    n = events(db)
    for _ in range(2):
        r = client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops"))
        assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert events(db) == n + 2
    assert db.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)) == 0


# -- expiry and settings ----------------------------------------------------------------------------

def test_expired_key_acts_again(client, db, w):
    inv = w.a.invoice
    in_review(db, inv)
    n = events(db)
    assert client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "old")).status_code == 200
    (old,) = records(db, "old")
    db.execute(sa.update(IdempotencyRecord).where(IdempotencyRecord.id == old.id)
               .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    db.commit()
    r = client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "old"))
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert events(db) == n + 2
    (new,) = records(db, "old")
    assert new.status == "done" and new.expires_at > utcnow() + dt.timedelta(hours=23)


def test_ttl_setting(client, db, w, monkeypatch):
    with pytest.raises(pydantic.ValidationError, match="TRIAD_IDEMPOTENCY_TTL_HOURS must be at least 24"):
        Settings(idempotency_ttl_hours=23)
    monkeypatch.setenv("TRIAD_IDEMPOTENCY_TTL_HOURS", "12")
    with pytest.raises(pydantic.ValidationError, match="at least 24"):
        Settings()
    monkeypatch.setenv("TRIAD_IDEMPOTENCY_TTL_HOURS", "72")
    get_settings.cache_clear()
    try:
        inv = w.a.invoice
        in_review(db, inv)
        assert client.post(decision_url(inv), json=ADJUST, headers=headers(w, "admin", "ttl")).status_code == 200
        (rec,) = records(db, "ttl")
        assert rec.expires_at - rec.created_at == dt.timedelta(hours=72)
    finally:
        monkeypatch.delenv("TRIAD_IDEMPOTENCY_TTL_HOURS")
        get_settings.cache_clear()


# -- the header itself ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, why", [
    ("", "empty"),
    ("k" * 256, "longer than 255"),
    ("tab\there", "printable ASCII"),
    ("clé".encode(), "printable ASCII"),
    ("bell\x07", "printable ASCII"),
])
def test_invalid_key_is_400_naming_the_header(client, db, w, value, why):
    inv = w.a.invoice
    in_review(db, inv)
    n = events(db)
    h = headers(w, "legal_ops")
    h["Idempotency-Key"] = value
    r = client.post(decision_url(inv), json=ADJUST, headers=h)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert "Idempotency-Key" in problem["detail"] and why in problem["detail"]
    assert problem["errors"] == [{"field": "Idempotency-Key", "location": "header", "message": problem["detail"]}]
    assert events(db) == n
    assert db.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)) == 0


def test_two_key_headers_are_refused_and_longest_key_is_fine(client, db, w):
    inv = w.a.invoice
    in_review(db, inv)
    two = [("Authorization", f"Bearer {w.tokens['legal_ops']}"), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    r = client.post(decision_url(inv), json=ADJUST, headers=two)
    assert r.status_code == 400 and "one Idempotency-Key header" in r.json()["detail"]
    longest = "K" * 200 + " ~!-_.:" + "k" * 48
    assert len(longest) == 255
    r = client.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", longest))
    assert r.status_code == 200
    assert records(db, longest)[0].status == "done"


# -- server errors are not stored -------------------------------------------------------------------

def test_exception_releases_the_key(app, db, w, monkeypatch):
    import triad.invoices.router as router

    inv = w.a.invoice
    in_review(db, inv)
    real = router.decide_line

    def broken(**kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(router, "decide_line", broken)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        r = c.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "retry-me"))
        assert r.status_code == 500
        assert r.json()["title"] == "Internal error"
        assert records(db, "retry-me") == []
        monkeypatch.setattr(router, "decide_line", real)
        n = events(db)
        r = c.post(decision_url(inv), json=ADJUST, headers=headers(w, "legal_ops", "retry-me"))
        assert r.status_code == 200 and "idempotent-replayed" not in r.headers
        assert events(db) == n + 1
        assert records(db, "retry-me")[0].status == "done"


def test_5xx_response_releases_the_key_on_a_new_route(app, client, db, w):
    """A route written today gets the behaviour with one dependency; a 503 answer is not kept."""
    calls = []

    def flaky(user: CurrentUser):
        calls.append(user.id)
        return JSONResponse({"detail": "the bank is down"}, status_code=503)

    app.add_api_route("/api/v1/test-only/flaky", flaky, methods=["POST"],
                      dependencies=[require(Perm.invoices_read), idempotent()])
    for _ in range(2):
        r = client.post("/api/v1/test-only/flaky", headers=headers(w, "admin", "pay-1"))
        assert r.status_code == 503 and "idempotent-replayed" not in r.headers
        assert records(db, "pay-1") == []
    assert len(calls) == 2


def test_multipart_body_is_fingerprinted_by_its_raw_bytes(app, client, db, w):
    calls = []

    def upload(file: Annotated[UploadFile, File()], user: CurrentUser):
        data = file.file.read()
        calls.append(data)
        return JSONResponse({"call": len(calls), "bytes": len(data)}, status_code=201,
                            headers={"Location": f"/api/v1/test-only/uploads/{len(calls)}"})

    app.add_api_route("/api/v1/test-only/uploads", upload, methods=["POST"],
                      dependencies=[require(Perm.invoices_submit), idempotent()])

    def send(content: bytes, boundary: str = "fixed-boundary-1"):
        h = {**headers(w, "admin", "file-1"), "Content-Type": f"multipart/form-data; boundary={boundary}"}
        return client.post("/api/v1/test-only/uploads", files={"file": ("pay.csv", content)}, headers=h)

    first = send(b"iban,amount\nDE89,10.00\n")
    assert (first.status_code, first.json()) == (201, {"call": 1, "bytes": 23})
    again = send(b"iban,amount\nDE89,10.00\n")
    assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.headers["location"] == "/api/v1/test-only/uploads/1"
    assert again.content == first.content
    other = send(b"iban,amount\nDE89,99.00\n")
    assert (other.status_code, other.json()["detail"]) == (422, DIFFERENT_REQUEST)
    # the same form with another multipart boundary (clients choose one at random) is the same request
    framed = send(b"iban,amount\nDE89,10.00\n", boundary="another-boundary")
    assert (framed.status_code, framed.headers["idempotent-replayed"]) == (201, "true")
    assert len(calls) == 1


# -- real concurrency: a live server over a database of its own ---------------------------------------

@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(base URL, engine, world) for a uvicorn server over a freshly migrated database of its own."""
    import uvicorn
    from sqlalchemy.orm import Session, sessionmaker

    from triad.app import create_app
    from triad.core.db import make_engine
    from triad.core.migrate import upgrade

    admin = None
    if os.environ.get("TRIAD_TEST_DB", "sqlite") == "postgres":
        admin_url = os.environ.get("TRIAD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        name = f"triad_idem_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('idem') / 'live.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as s:
        world = factories.world(s)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    server = uvicorn.Server(uvicorn.Config(create_app(session_factory=factory), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", engine, world
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
        if admin is not None:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _new_invoice(engine, w) -> int:
    from sqlalchemy.orm import Session

    with Session(engine, expire_on_commit=False) as s:
        a = w.a
        inv = factories.invoice(s, a.firm, a.matter, a.timekeeper, w.cc, w.gl, "concurrency")
        s.commit()
        return inv.id


def _live_counts(engine, inv_id: int) -> tuple[int, str]:
    """(audit events in the live database, the invoice's state)."""
    with engine.connect() as c:
        n = c.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        state = c.scalar(sa.select(Invoice.state).where(Invoice.id == inv_id))
    return n, state


def test_simultaneous_duplicates_act_once(live):
    base, engine, w = live
    inv_id = _new_invoice(engine, w)
    n0, state0 = _live_counts(engine, inv_id)
    assert state0 == "submitted"
    threads_n = 6
    barrier = threading.Barrier(threads_n)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def fire():
        with httpx.Client(base_url=base, timeout=60) as c:
            barrier.wait(timeout=30)
            r = c.post("/api/v1/invoices/bulk-approve", json={"invoice_ids": [inv_id]},
                       headers=headers(w, "admin", f"race-{inv_id}"))
        with lock:
            results.append(r)

    threads = [threading.Thread(target=fire) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == threads_n
    acted = [r for r in results if r.status_code == 200 and "idempotent-replayed" not in r.headers]
    assert len(acted) == 1, [(r.status_code, r.headers.get("idempotent-replayed"), r.text) for r in results]
    assert acted[0].json() == [{"id": inv_id, "outcome": "approved", "state": "approved", "reason": None}]
    for r in results:
        if r is acted[0]:
            continue
        if r.status_code == 409:
            assert r.json()["detail"] == STILL_RUNNING
        else:
            assert (r.status_code, r.headers["idempotent-replayed"]) == (200, "true")
            assert r.content == acted[0].content
    n1, state1 = _live_counts(engine, inv_id)
    assert (n1 - n0, state1) == (1, "approved")  # one approval, one audit event
    with httpx.Client(base_url=base, timeout=60) as c:
        later = c.post("/api/v1/invoices/bulk-approve", json={"invoice_ids": [inv_id]},
                       headers=headers(w, "admin", f"race-{inv_id}"))
    assert later.headers["idempotent-replayed"] == "true" and later.content == acted[0].content


def test_repeat_while_first_is_running_gets_409(live, monkeypatch):
    """The first request is held inside the endpoint; a repeat then must get 409, not act."""
    import triad.invoices.router as router

    base, engine, w = live
    inv_id = _new_invoice(engine, w)
    n0, _ = _live_counts(engine, inv_id)
    entered, release = threading.Event(), threading.Event()
    real = router.bulk_approve

    def held(**kw):
        if kw["invoice_ids"] == [inv_id]:  # hold only the request on this test's invoice
            entered.set()
            if not release.wait(timeout=60):
                raise RuntimeError("never released")
        return real(**kw)

    monkeypatch.setattr(router, "bulk_approve", held)
    key = f"slow-{inv_id}"
    body = {"invoice_ids": [inv_id]}
    first: list[httpx.Response] = []

    def fire():
        with httpx.Client(base_url=base, timeout=90) as c:
            first.append(c.post("/api/v1/invoices/bulk-approve", json=body, headers=headers(w, "legal_ops", key)))

    t = threading.Thread(target=fire)
    t.start()
    try:
        assert entered.wait(timeout=60), "the first request never reached the endpoint"
        with httpx.Client(base_url=base, timeout=60) as c:
            dup = c.post("/api/v1/invoices/bulk-approve", json=body, headers=headers(w, "legal_ops", key))
            other_user = c.post("/api/v1/invoices/bulk-approve", json={"invoice_ids": [w.b.invoice.id]},
                                headers=headers(w, "admin", key))
    finally:
        release.set()
        t.join(timeout=90)
    assert dup.status_code == 409
    assert dup.headers["content-type"] == "application/problem+json"
    assert dup.json()["detail"] == STILL_RUNNING
    assert dup.json()["errors"][0]["field"] == "Idempotency-Key"
    # another user's identical key is not blocked (it acted on firm B's invoice while the first waited)
    assert other_user.status_code == 200 and other_user.json()[0]["outcome"] == "approved"
    assert first[0].status_code == 200 and first[0].json()[0]["outcome"] == "approved"
    n1, state1 = _live_counts(engine, inv_id)
    assert (n1 - n0, state1) == (2, "approved")  # B's approval and the first request's: nothing more
    with httpx.Client(base_url=base, timeout=60) as c:
        replay = c.post("/api/v1/invoices/bulk-approve", json=body, headers=headers(w, "legal_ops", key))
    assert replay.headers["idempotent-replayed"] == "true" and replay.content == first[0].content
