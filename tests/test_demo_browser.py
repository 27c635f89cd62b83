"""The demo in a real browser: headless Chromium, driven by Playwright.

A visitor of ``pserve demo/development.ini`` (started as tests/test_demo.py
starts it, with its sessions in the suite's private redis-server) is welcomed,
flashes a message, logs in, reads the session page and the toolbar's "Redis
session" panel, and logs out; the test checks what each page shows, the
session cookie as the browser keeps it, and the keys in Redis.

It needs Playwright (the ``browser`` extra) and a Chromium: Playwright drives
the system's Chromium (``chromium`` on PATH, or ``$CHROMIUM_BIN``), never a
browser of its own.  ``bash scripts/browser.sh`` installs both (Chromium with
apt-get, as root on Debian); without them the test skips and says why.

On the way it takes the screenshots that the README and the docs show.  They
are written to a temporary directory and checked; ``UPDATE_SCREENSHOTS=1``
writes them over the committed ones in docs/images/ instead.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import redis

from pyramid_session_redis.testing.servers import RedisServer, free_port

from .test_demo import INI, PSERVE, ROOT, Server, demo_installed, only_key

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the `browser` extra is not installed
    sync_playwright = None

__all__ = ["demo_installed"]  # a fixture of tests/test_demo.py, used here too

IMAGES = ROOT / "docs" / "images"
# What the docs show: the home page after logging in, and the panel of the login request.
HOME_SHOT = "demo-logged-in.png"
PANEL_SHOT = "demo-toolbar-panel.png"
WIDTH = 1000
PANEL_ID = "#pDebugPanel-pyramid_session_redis"


def find_chromium() -> Optional[str]:
    """The Chromium (or Chrome) to drive: ``$CHROMIUM_BIN``, else the first one on PATH."""
    configured = os.environ.get("CHROMIUM_BIN")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if sync_playwright is None:
        pytest.skip("Playwright is not installed: `pip install -e '.[browser]'` (or `bash scripts/browser.sh`)")
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium: neither $CHROMIUM_BIN nor chromium on PATH "
                    "(`apt-get install chromium` on Debian, or `bash scripts/browser.sh` as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def demo_url(demo_installed: None, redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path) -> Iterator[str]:
    """``pserve demo/development.ini`` on a free port, its sessions in the (emptied) private redis-server."""
    port = free_port()
    command = [str(PSERVE), str(INI.relative_to(ROOT)), f"redis_url={redis_server.url}", f"http_port={port}"]
    server = Server(command, tmp_path / "pserve.log")
    try:
        server.wait_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        server.kill_leftovers()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return IMAGES
    return tmp_path


def png_size(path: Path) -> Tuple[int, int]:
    """Width and height of a whole PNG file (signature, header first, end chunk last)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    assert data.endswith(b"IEND\xaeB`\x82"), f"{path} is cut short"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def check_screenshot(path: Path) -> None:
    width, height = png_size(path)
    assert width == WIDTH and 300 <= height <= 4000, (width, height)
    assert path.stat().st_size > 10_000  # a page with text on it, not a blank


def session_cookie(context: Any) -> Dict[str, Any]:
    cookies = [cookie for cookie in context.cookies() if cookie["name"] == "session"]
    assert len(cookies) == 1, cookies
    return dict(cookies[0])


def table_rows(locator: Any) -> List[List[str]]:
    """The text of each body row's cells (a header row of <th> cells gives no row)."""
    return [row for row in locator.evaluate(
        "table => [...table.querySelectorAll('tr')].map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim()))"
    ) if row]


def submit(page: Any, button: str) -> None:
    """Press a form's button and wait until the page that the POST's redirect leads to has loaded."""
    with page.expect_event("load"):
        page.click(f"button:has-text('{button}')")


def test_a_visitor_in_chromium_flashes_logs_in_reads_the_toolbar_panel_and_logs_out(
    chromium, demo_url, redis_client, screenshots
):
    context = chromium.new_context(viewport={"width": WIDTH, "height": 460})
    context.set_default_timeout(10_000)
    page = context.new_page()
    flashes = page.locator(".flash")

    # The first visit: a new session, whose welcome is flashed once.
    page.goto(demo_url + "/")
    expect(flashes).to_have_text(["Welcome! This session lives in Redis."])
    expect(page.locator("#visits")).to_have_text("1")
    first = session_cookie(context)
    assert first["httpOnly"] and first["sameSite"] == "Lax" and not first["secure"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: the page's own scripts cannot read it
    anonymous_id = only_key(redis_client)

    # A message typed into the form comes back once, escaped, in the same session.
    page.fill("input[name=message]", "Hello from Chromium <b>")
    submit(page, "Flash it")
    expect(flashes).to_have_text(["Hello from Chromium <b>"])
    expect(page.locator("#visits")).to_have_text("2")
    assert session_cookie(context)["value"] == first["value"]
    assert only_key(redis_client) == anonymous_id

    # Logging in: the user is shown, and the session has a new id (regenerate_id) and a new cookie.
    page.fill("input[name=user]", "alice")
    submit(page, "Log in")
    expect(flashes).to_have_text(["Welcome, alice! You are logged in, and your session has a new id."])
    expect(page.locator("#user")).to_have_text("alice")
    expect(page.locator("#visits")).to_have_text("3")  # the contents moved to the new id
    logged_in = session_cookie(context)
    assert logged_in["value"] != first["value"]
    logged_in_id = only_key(redis_client)
    assert logged_in_id != anonymous_id and redis_client.exists(anonymous_id) == 0
    page.screenshot(path=str(screenshots / HOME_SHOT), full_page=True)

    # The session page: the new id, and the user among the contents.
    page.click("nav >> text=This session")
    expect(page.locator("#session-id")).to_have_text(logged_in_id)
    contents = dict(table_rows(page.locator("#contents")))
    assert contents["user"] == '"alice"' and contents["visits"] == "3"

    # The toolbar, opened from its tab on the page, then the "Redis session" panel of the login.
    with page.expect_popup() as opened:
        page.click("#pShowToolBarButton")
    toolbar = opened.value
    toolbar.set_viewport_size({"width": WIDTH, "height": 900})
    login = toolbar.locator("#requests a", has_text="/login")
    expect(login).to_have_count(1)
    login_page = login.get_attribute("href")
    login.click()
    toolbar.wait_for_url(login_page)
    tab = toolbar.locator(f"{PANEL_ID} a")
    expect(tab).to_contain_text("Redis session")
    expect(tab.locator(".badge")).to_have_text("3 commands")
    tab.click()
    panel = toolbar.locator(f"{PANEL_ID}-content")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("delete the old key (invalidated or regenerated), then create")
    command_table = panel.locator("h4:has-text('Redis commands (3)') + table")
    commands = table_rows(command_table)
    # The load, then regenerate_id's work: the old key deleted, the new one created (NX).
    assert [row[1:3] for row in commands] == [
        ["GETEX", anonymous_id], ["DEL", anonymous_id], ["SET", logged_in_id],
    ], commands
    assert commands[0][3] == "EX 1200" and commands[2][3].endswith("EX 1200 NX") and commands[2][4] == "True"
    expect(command_table.locator("tfoot")).to_contain_text("total")
    stored = dict(table_rows(panel.locator("h4:has-text('Contents') + p + table")))
    assert stored["user"] == "'alice'" and stored["visits"] == "2"  # the login counts no visit: its redirect's page does
    toolbar.mouse.move(0, 0)  # no hover effect in the picture
    toolbar.screenshot(path=str(screenshots / PANEL_SHOT), full_page=True)
    toolbar.close()

    # Logging out: the goodbye in a fresh session, the login form again, a new cookie.
    page.click("nav >> text=Home")
    submit(page, "Log out")
    # The fresh session counts its first visit, and so greets its visitor as new.
    expect(flashes).to_have_text(["You are logged out.", "Welcome! This session lives in Redis."])
    expect(page.locator("input[name=user]")).to_be_visible()
    expect(page.locator("#user")).to_have_count(0)
    expect(page.locator("#visits")).to_have_text("1")
    assert session_cookie(context)["value"] not in (first["value"], logged_in["value"])
    assert redis_client.exists(logged_in_id) == 0
    assert only_key(redis_client) not in (anonymous_id, logged_in_id)
    context.close()

    for name in (HOME_SHOT, PANEL_SHOT):
        check_screenshot(screenshots / name)


@pytest.mark.parametrize("name, pages", [
    (HOME_SHOT, ["README.md", "docs/getting_started.rst"]),
    (PANEL_SHOT, ["docs/debugtoolbar.rst"]),
])
def test_the_docs_show_the_committed_screenshots(name, pages):
    check_screenshot(IMAGES / name)
    for page in pages:
        path = "docs/images/" if page == "README.md" else "images/"
        assert path + name in (ROOT / page).read_text(encoding="utf-8"), f"{page} does not show {name}"
