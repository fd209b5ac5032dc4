"""Fixtures for the real-browser tests: one app server per test session (``streamlit run
dashboard/app.py`` on a free port, as a subprocess), Debian's chromium through Playwright.

Never ``playwright install``: the tests use /usr/bin/chromium. Without chromium (or the
playwright package) the tests skip, unless REQUIRE_BROWSER=1 (CI), where they fail instead.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from canvas_driver import (
    CHROMIUM,
    DESKTOP,
    free_port,
    launch_browser,
    open_draw_page,
    start_server,
    stop_server,
    wait_healthy,
)


def _browser_missing(reason: str) -> None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright_instance():
    if not Path(CHROMIUM).exists():
        _browser_missing(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _browser_missing("the playwright package is not installed")
    # expect() waits 5 s by default; a chart is drawn after the run that sent it, which on a busy
    # 2-core machine takes longer: wait as long as the contexts' actions do (new_context below)
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    b = launch_browser(playwright_instance)
    yield b
    b.close()


@pytest.fixture(scope="session")
def app_url(playwright_instance):
    """Base URL of a running app; the server is stopped at the end of the session."""
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"e2e_streamlit_{port}.log"
    proc = start_server(port, log)
    try:
        wait_healthy(port, proc)
    except Exception:
        stop_server(proc)
        raise RuntimeError(f"the app did not start; its log:\n{log.read_text()[-3000:]}") from None
    yield f"http://127.0.0.1:{port}/"
    stop_server(proc)


@pytest.fixture
def new_context(browser):
    """Factory for independent browser contexts (one Streamlit session each), all closed afterwards."""
    contexts = []

    def make(**options):
        ctx = browser.new_context(**(options or {"viewport": DESKTOP}))
        ctx.set_default_timeout(60_000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(new_context, app_url):
    """The Draw page in a fresh desktop session, canvas on screen."""
    return open_draw_page(new_context(), app_url)
