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
