"""Every page in the navigation on a phone (390x844, touch, Debian chromium via Playwright),
with an MNIST test image as the current digit: nothing overflows horizontally, no link's label is
cut at the screen's edge (a learner's "Next: ..." step is a sentence), plot panels are
readable (median at least 150 px wide per page) and thumbnail grids keep at least 3 images per
row; on a desktop the grids keep their columns (4 attention maps, 6 thumbnails per row). The pages are read
from the page table ``dashboard.nav.TABLE``, so a page added later is covered
without changing this test. What is measured: tests/e2e/layout_probe.py."""
from __future__ import annotations

import os

import pytest
from canvas_driver import wait_idle
from layout_probe import (
    DESKTOP,
    PAGE_TIMEOUT_MS,
    PHONE,
    go_to,
    measure_page,
    navigation,
    open_with_test_image,
    session_alive,
)

from model import paths

try:
    from playwright.sync_api import expect  # noqa: F401  (the import checks that playwright is there)
except ImportError:      # in CI (REQUIRE_BROWSER=1) a missing package is an error, not a skip
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

if not paths.TEST_EVAL.is_file():
    pytest.skip("model/artifacts/test_eval.npz missing (the test image is opened through the Misclassified "
                "page): run python -m model.evaluate --write", allow_module_level=True)

MIN_MEDIAN_PANEL_PX = 150
MIN_THUMBS_PER_ROW = 3
WIDTH = PHONE["viewport"]["width"]


@pytest.fixture(scope="module")
def phone_session(new_context_module, app_url):
    """One phone session for the module (opening the test image on a phone costs a page run), its
    current digit a test image; see ``phone`` for what keeps the tests independent of each other."""
    return {"page": open_with_test_image(new_context_module(**PHONE), app_url)}


@pytest.fixture
def phone(phone_session, new_context_module, app_url):
    """The shared phone page, ready for the next test: if an earlier test left it closed or
    disconnected from its server session (and so without its current digit), a new session with
    the test image replaces it; otherwise wait until any run an earlier test started has ended."""
    page = phone_session["page"]
    if not session_alive(page):
        page = phone_session["page"] = open_with_test_image(new_context_module(**PHONE), app_url)
    wait_idle(page, PAGE_TIMEOUT_MS)
    return page


@pytest.fixture(scope="module")
def new_context_module(browser):
    contexts = []

    def make(**options):
        ctx = browser.new_context(**options)
        ctx.set_default_timeout(120_000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


def test_the_navigation_lists_pages():
    names = [name for name, _ in navigation()]
    assert names[0] == "draw" and len(names) == len(set(names)) >= 8


@pytest.mark.parametrize("name,title", navigation())
def test_page_reads_well_on_a_phone(phone, name, title):
    go_to(phone, title)
    m = measure_page(phone)
    assert m["exceptions"] == 0, f"{name}: the page shows an exception"
    assert m["overflow_px"] <= 0, f"{name}: the page is {m['overflow_px']} px wider than a {WIDTH} px phone"
    assert not m["cut_links"], f"{name}: link labels cut at the screen's edge: {m['cut_links']}"
    if m["panels"]:
        assert m["median_panel_px"] >= MIN_MEDIAN_PANEL_PX, (
            f"{name}: plot panels are {m['median_panel_px']:.0f} px wide (median), all: "
            f"{sorted(round(w) for w in m['panels'])}")
    if name in ("misclassified", "baseline"):
        assert m["thumbs_per_row"], f"{name}: no thumbnail grid found"
    for grid in m["thumbs_per_row"]:
        assert grid["first_row"] >= min(MIN_THUMBS_PER_ROW, grid["total"]), (
            f"{name}: a thumbnail grid shows {grid['first_row']} of its {grid['total']} images per row")


_PER_ROW_JS = """(sel) => {
  const tops = [...document.querySelectorAll(sel)].map(e => Math.round(e.getBoundingClientRect().top));
  return tops.filter(t => Math.abs(t - Math.min(...tops)) < 4).length;
}"""


def test_the_desktop_keeps_its_columns(new_context_module, app_url):
    page = open_with_test_image(new_context_module(**DESKTOP), app_url)
    go_to(page, "Attention")
    grid = ".st-key-attn_grid .js-plotly-plot"
    page.locator(grid).nth(3).wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)   # a loaded machine draws late
    measure_page(page)
    assert page.evaluate(_PER_ROW_JS, grid) == 4          # one layer per row
    go_to(page, "Misclassified")
    thumbs = "[class*='st-key-thumbs_'] [data-testid='stImage'] img"
    page.locator(thumbs).nth(5).wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)
    measure_page(page)
    assert page.evaluate(_PER_ROW_JS, thumbs) == 6
