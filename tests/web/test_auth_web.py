"""Login, sessions, cookies, CSRF, timeouts and throttling on the pages; API tokens."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.auth.models import ApiToken, WebSession
from triad.auth.service import token_digest
from triad.core.permissions import Role
from triad.web.common import NAV, nav_for


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username, password=factories.PASSWORD):
    token = _csrf(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


@pytest.fixture
def staff(db):
    u = factories.user(db, Role.legal_ops, username="lena")
    db.commit()
    return u


def test_password_is_hashed_with_argon2id(staff):
    assert staff.password_hash.startswith("$argon2id$")
    assert factories.PASSWORD not in staff.password_hash


def test_login_sets_safe_cookie_and_new_token_each_time(client, staff):
    r = login(client, "lena")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "triad_session=" in cookie
    for flag in ("HttpOnly", "Secure", "SameSite=lax"):
        assert flag.lower() in cookie.lower(), cookie
    first = client.cookies.get("triad_session")
    client.cookies.clear()
    login(client, "lena")
    assert client.cookies.get("triad_session") != first


def test_logout_ends_the_session_on_the_server(client, db, staff):
    login(client, "lena")
    cookie = client.cookies.get("triad_session")
    home = client.get("/")
    assert home.status_code == 200
    r = client.post("/logout", data={"csrf_token": _csrf(home.text)})
    assert r.status_code == 303
    ws = db.scalar(sa.select(WebSession).where(WebSession.token_hash == token_digest(cookie)))
    db.refresh(ws)
    assert ws.ended_at is not None
    client.cookies.set("triad_session", cookie)  # replaying the old cookie does not work
    assert client.get("/").status_code == 303


def test_csrf_is_enforced_on_form_posts(client, staff):
    # login form without the token
    r = client.post("/login", data={"username": "lena", "password": factories.PASSWORD})
    assert r.status_code == 403
    assert "triad_session" not in r.headers.get("set-cookie", "")
    login(client, "lena")
    # logout with a wrong token does not log out
    r = client.post("/logout", data={"csrf_token": "forged"}, headers={"accept": "text/html"})
    assert r.status_code == 403
    assert client.get("/").status_code == 200
    # the API with a session cookie refuses unsafe methods without X-CSRF-Token
    r = client.post("/api/v1/business-units", json={"code": "X1", "name": "X"})
    assert r.status_code == 403
    token = _csrf(client.get("/").text)
    r = client.post("/api/v1/auth/tokens", json={"name": "t"}, headers={"x-csrf-token": token})
    assert r.status_code == 201


def test_idle_and_absolute_timeouts(client, db, staff):
    login(client, "lena")
    ws = db.scalar(sa.select(WebSession).where(WebSession.user_id == staff.id))
    ws.last_seen_at = ws.last_seen_at - dt.timedelta(minutes=31)
    db.commit()
    assert client.get("/").status_code == 303
    client.cookies.clear()
    login(client, "lena")
    ws = db.scalar(sa.select(WebSession).where(WebSession.user_id == staff.id, WebSession.ended_at.is_(None)))
    ws.created_at = ws.created_at - dt.timedelta(hours=13)
    db.commit()
    assert client.get("/").status_code == 303


def test_repeated_failures_are_slowed_down(client, db, staff):
    for _ in range(3):
        assert login(client, "lena", "wrong password!").status_code == 401
    r = login(client, "lena", "wrong password!")
    assert r.status_code == 401
    db.refresh(staff)
    assert staff.locked_until is not None
    r = login(client, "lena")  # right password, but must wait
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    staff.locked_until = staff.locked_until - dt.timedelta(hours=1)
    db.commit()
    assert login(client, "lena").status_code == 303


def test_open_redirect_refused(client, staff):
    token = _csrf(client.get("/login").text)
    r = client.post("/login", data={"username": "lena", "password": factories.PASSWORD, "csrf_token": token,
                                    "next": "//evil.example/"})
    assert r.headers["location"] == "/"


def test_api_tokens_are_stored_hashed_and_work(client, db, staff):
    from triad.audit.service import Actor
    from triad.auth.service import create_api_token

    tok, plain = create_api_token(session=db, user=staff, name="x", expires_in_days=1, actor=Actor("t"))
    db.commit()
    row = db.get(ApiToken, tok.id)
    assert row.token_hash != plain and plain not in row.token_hash
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {plain}"}).json()["username"] == "lena"
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Bearer triad_nope"}).status_code == 401
    row.revoked_at = row.created_at
    db.commit()
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401


@pytest.mark.parametrize("role", list(Role))
def test_navigation_per_role(client, db, role):
    w_firm = factories.firm(db, "Nav LLP") if role == Role.outside_counsel else None
    u = factories.user(db, role, firm_id=w_firm.id if w_firm else None)
    db.commit()
    login(client, u.username)
    html = client.get("/").text
    shown = {n.label for n in NAV if f'href="{n.href}"' in html}
    assert shown == {n.label for n in nav_for(u)}
    if role == Role.outside_counsel:
        assert "Users" not in shown and "Vendors" in shown and "Audit trail" not in shown
    if role == Role.auditor:
        assert "Audit trail" in shown


def test_errors_are_problem_details(client, staff):
    r = client.get("/api/v1/matters")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 401 and body["title"] and body["detail"]
    login(client, "lena")
    token = _csrf(client.get("/").text)
    r = client.post("/api/v1/budgets", json={"amount": 1.5}, headers={"x-csrf-token": token})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"amount", "matter_id", "currency"} <= fields


def test_every_form_post_writes_exactly_one_audit_event(client, db, staff):
    from triad.audit.models import AuditEvent
    from triad.notifications.service import notify

    def events():
        return db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))

    n = events()
    login(client, "lena")
    assert events() == n + 1
    note = notify(session=db, user=staff, subject="s", body="b", email=False)
    db.commit()
    n = events()
    r = client.post(f"/notifications/{note.id}/read", data={"csrf_token": _csrf(client.get("/").text)})
    assert r.status_code == 303
    assert events() == n + 1
    n = events()
    client.post("/logout", data={"csrf_token": _csrf(client.get("/").text)})
    assert events() == n + 1


def test_unknown_and_known_usernames_answer_alike(client, db, staff):
    answers = {}
    for name in ("lena", "nobody-here"):
        codes = [login(client, name, "wrong password!").status_code for _ in range(5)]
        answers[name] = codes
    assert answers["lena"] == answers["nobody-here"]
    assert answers["lena"][-1] == 429


def test_success_does_not_clear_the_address_throttle(client, db, staff):
    other = factories.user(db, Role.auditor, username="mallory")
    db.commit()
    for i in range(9):
        login(client, f"victim{i}", "guess-guess-guess")  # spread over many usernames
    assert login(client, "mallory").status_code == 303  # a good login of the attacker's own...
    client.cookies.clear()
    assert login(client, "victim98", "guess").status_code == 401  # ...does not reset the counter:
    assert login(client, "victim99", "guess").status_code == 429  # the next guess must wait
    assert other.id


def test_password_change_revokes_api_tokens(db, staff):
    from triad.audit.service import Actor
    from triad.auth.schemas import UserUpdate
    from triad.auth.service import create_api_token, resolve_api_token, update_user

    _, plain = create_api_token(session=db, user=staff, name="x", expires_in_days=1, actor=Actor("t"))
    assert resolve_api_token(session=db, token=plain) is not None
    update_user(session=db, user=staff, data=UserUpdate(password="an entirely new password"), actor=Actor("t"))
    db.flush()
    db.expire_all()
    assert resolve_api_token(session=db, token=plain) is None
