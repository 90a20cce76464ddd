"""Headless Chromium (Debian's, driven by Playwright) logs in and opens a matter page.

The server is real (uvicorn on a free loopback port) over a freshly migrated SQLite
database with the demo company loaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("TRIAD_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium stalls on a closed network.
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    import uvicorn
    from sqlalchemy.orm import Session, sessionmaker

    from triad.app import create_app
    from triad.core.db import make_engine
    from triad.core.migrate import upgrade
    from triad.demo.loader import load

    path = tmp_path_factory.mktemp("live") / "live.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with Session(engine) as s:
        load(session=s)
        s.commit()
        _flagged_invoice(s)
        s.commit()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(session_factory=factory), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _flagged_invoice(s) -> None:
    """Company guidelines, and an invoice from the first demo firm that breaks one of them."""
    import datetime as dt
    from decimal import Decimal
    from pathlib import Path

    from sqlalchemy import select

    from triad.audit.service import Actor
    from triad.firms.models import LawFirm
    from triad.guidelines.service import load as load_guidelines
    from triad.invoices.intake import import_file
    from triad.ledes.model import Invoice, Line, Party
    from triad.ledes.writers import write_1998b

    example = Path(__file__).parent.parent.parent / "docs" / "examples" / "guidelines-company.yaml"
    load_guidelines(session=s, text=example.read_text(), effective_from=dt.date(2026, 1, 1), actor=Actor("legal_ops"))
    firm = s.scalar(select(LawFirm).order_by(LawFirm.id))
    from triad.matters.models import Engagement

    eng = s.scalar(select(Engagement).where(Engagement.firm_id == firm.id).order_by(Engagement.id))
    tk = firm.timekeepers[0]
    rate = tk.rates[-1].rate
    line = Line(line_no="1", line_type="F", date=dt.date(2026, 10, 6), units=Decimal("2.0"), unit_cost=rate,
                adjustment=Decimal(0), total=Decimal("2.0") * rate, client_matter_id=eng.matter.number,
                law_firm_matter_id="X", task_code="L120", activity_code="A104", timekeeper_id=tk.tk_id,
                timekeeper_name=f"{tk.last_name}, {tk.first_name}", timekeeper_classification=tk.classification,
                description="Review")  # too vague for the guidelines
    inv = Invoice(invoice_number="BROWSER-1", invoice_date=dt.date(2026, 11, 2), billing_start=dt.date(2026, 10, 1),
                  billing_end=dt.date(2026, 10, 31), total=line.total, law_firm=Party(id=firm.ledes_firm_id),
                  client=Party(id="TRIADCO"), description="October", lines=[line])
    result = import_file(session=s, data=write_1998b([inv]), filename="browser.ledes", actor=Actor("counsel_1"))
    assert result.invoices[0].status == "stored", result.invoices[0].errors


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; .ci/run installs Debian's chromium")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


def test_login_and_open_a_matter(live_server, browser, tmp_path):
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(live_server + "/matters")
    assert "/login" in page.url  # not logged in yet
    page.fill("input[name=username]", "matter_manager")
    page.fill("input[name=password]", "triad-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url(live_server + "/matters")
    assert page.locator("h1").inner_text() == "Matters"
    first = page.locator("table tbody tr td a").first
    number = first.inner_text()
    first.click()
    page.wait_for_url(f"{live_server}/matters/*")
    heading = page.locator("h1").inner_text()
    assert heading.startswith(number)
    assert page.locator("text=Firms engaged").count() == 1
    page.screenshot(path=str(tmp_path / "matter.png"))
    # the session cookie is HttpOnly: page scripts cannot read it
    assert "triad_session" not in page.evaluate("document.cookie")
    # log out through the form; the matter page then needs a login again
    page.click("text=Log out")
    page.wait_for_url(live_server + "/login")
    page.goto(live_server + "/matters")
    assert "/login" in page.url
    page.close()


def test_outside_counsel_sees_only_own_firm(live_server, browser):
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(live_server + "/login")
    page.fill("input[name=username]", "counsel_1")
    page.fill("input[name=password]", "triad-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url(live_server + "/")
    nav = page.locator("header nav").inner_text()
    assert "Matters" in nav and "Users" not in nav and "Audit" not in nav
    page.goto(live_server + "/firms")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    page.close()


def _login(page, base, username):
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "triad-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def test_reviewer_adjusts_a_line_and_approves(live_server, browser):
    page = browser.new_page()
    page.set_default_timeout(15_000)
    _login(page, live_server, "legal_ops")
    page.goto(live_server + "/review")
    page.click("text=BROWSER-1")
    assert "Guideline findings" in page.content() and "vague description" in page.content()
    page.select_option("select[name=to]", "in_review")
    page.click("text=Apply")
    page.wait_for_selector("#state:has-text('in review')")
    page.select_option("select[aria-label='Decision for line 1']", "adjusted")
    page.fill("input[aria-label='Approved amount for line 1']", "100.00")
    page.select_option("select[aria-label='Reason for line 1']", "VAGUE")
    page.click("#line-1 button")
    page.wait_for_selector("#line-1:has-text('adjusted')")
    assert "100.00 (VAGUE)" in page.inner_text("#line-1")
    page.select_option("select[name=to]", "approved")
    page.click("text=Apply")
    page.wait_for_selector("#state:has-text('approved')")
    assert "every step is signed" in page.inner_text("#approval")
    page.click("text=Log out")
    _login(page, live_server, "auditor")
    page.goto(live_server + "/audit")
    trail = page.inner_text("table")
    for step in ("invoice.submitted", "invoice.state_changed", "invoice_line.decided", "invoice.approved"):
        assert step in trail, step
    page.close()


def test_procurement_requests_legal_reviews_then_activation(live_server, browser):
    """The gate in the pages: a vendor requested by procurement can be activated only after legal's review."""
    page = browser.new_page()
    page.set_default_timeout(15_000)
    _login(page, live_server, "procurement")
    page.goto(live_server + "/vendors")
    page.click("text=Request a vendor")
    page.fill("input[name=legal_name]", "Kilo Compliance Partners Ltd")
    page.fill("input[name=country]", "GB")
    page.select_option("select[name=tax_scheme]", "gb_vat")
    page.fill("input[name=tax_id]", "GB 123 4567 27")  # not on a demo vendor; spaces are normalised
    page.fill("input[name=iban]", "GB29 NWBK 6016 1331 9268 19")
    page.fill("input[name=bic]", "NWBKGB2L")
    page.fill("input[name=currency]", "GBP")
    page.click("text=Create draft vendor")
    page.wait_for_selector("#status:has-text('draft')")
    vendor_url = page.url
    assert "active" not in page.inner_text("select[name=to]")  # procurement cannot activate
    page.select_option("select[name=to]", "pending_review")
    page.click("#move button")
    page.wait_for_selector("#status:has-text('pending review')")
    page.click("text=Log out")
    _login(page, live_server, "legal_ops")
    page.goto(vendor_url)
    assert "no completed legal review" in page.inner_text("#gate")
    page.select_option("select[name=to]", "active")
    page.click("#move button")
    page.wait_for_selector("#error")
    assert "cannot be activated" in page.inner_text("#error")
    assert page.inner_text("#status") == "pending review"
    page.click("#screen button")
    page.wait_for_selector("#screening:has-text('clear')")
    page.select_option("select[name=outcome]", "completed")
    page.click("#review button")
    page.wait_for_selector("#legal-review:has-text('completed')")
    page.select_option("select[name=to]", "active")
    page.click("#move button")
    page.wait_for_selector("#status:has-text('active')")
    assert "legal review" in page.inner_text("text=Approval history >> xpath=..")
    page.close()
