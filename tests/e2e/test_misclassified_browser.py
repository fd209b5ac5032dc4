"""The Misclassified page in a real browser (Debian chromium via Playwright): clicking a
confusion-matrix cell filters the grid to that pair (Streamlit's plotly selection event, which
AppTest cannot send), picking an image puts it in the URL, and ``?image=`` links open the same
image or show a clear message for a bad value while the page keeps working.

Needs the stored test-set table (``python -m model.evaluate --write``); skipped without it."""
from __future__ import annotations

import os
import re

import pytest

from model import paths

try:
    from playwright.sync_api import expect
except ImportError:      # in CI (REQUIRE_BROWSER=1) a missing package is an error, not a skip
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

if not paths.TEST_EVAL.is_file():
    pytest.skip("model/artifacts/test_eval.npz missing: run python -m model.evaluate --write",
                allow_module_level=True)

from canvas_driver import click_plot, wait_idle  # noqa: E402

CELLS = ".js-plotly-plot .scatterlayer .trace"
HEADING = re.compile(r"([\d,]+) test images .* gets wrong(, true (\d))?(, predicted (\d))?")


def _open(new_context, app_url: str, query: str = ""):
    page = new_context().new_page()
    page.goto(app_url.rstrip("/") + "/misclassified" + query)
    page.wait_for_selector(f"{CELLS} path.point", timeout=90_000)
    wait_idle(page)
    return page


def _grid_heading(page) -> re.Match:
    for text in page.locator("h3").all_inner_texts():
        m = HEADING.search(text)
        if m:
            return m
    raise AssertionError(f"no grid heading among {page.locator('h3').all_inner_texts()}")


def test_clicking_a_confusion_cell_filters_the_grid(new_context, app_url):
    page = _open(new_context, app_url)
    labels = page.locator(CELLS).first.locator("text")     # trace 0: off-diagonal cells; a label per non-empty cell
    counts = labels.all_text_contents()
    assert counts, "the model makes no mistakes: nothing to click"
    k = max(range(len(counts)), key=lambda i: int(counts[i]))
    box = labels.nth(k).bounding_box()                      # the count sits at the centre of its cell
    area = page.locator(".st-key-misc_cm .nsewdrag").first.bounding_box()
    click_plot(page, ".st-key-misc_cm", (box["x"] + box["width"] / 2 - area["x"]) / area["width"],
               (box["y"] + box["height"] / 2 - area["y"]) / area["height"], hover_text=f": {counts[k]} images")
    expect(page.locator("h3").filter(has_text="predicted")).to_have_count(1, timeout=30_000)
    m = _grid_heading(page)
    assert m.group(3) is not None and m.group(5) is not None
    assert int(m.group(1).replace(",", "")) == int(counts[k])        # the grid holds exactly that cell's images


def test_picking_an_image_puts_it_in_the_url(new_context, app_url):
    page = _open(new_context, app_url)
    page.get_by_role("button", name="Pick").first.click()
    selected = page.get_by_text(re.compile(r"Selected: test image #\d+"))
    expect(selected).to_be_visible(timeout=30_000)
    index = re.search(r"#(\d+)", selected.inner_text()).group(1)
    page.wait_for_function("(i) => location.search === '?image=' + i", arg=index, timeout=30_000)
    expect(page.get_by_text("Open it on Attention")).to_be_visible()


def test_a_link_with_an_image_opens_it(new_context, app_url):
    page = _open(new_context, app_url, "?image=5")
    expect(page.get_by_text("Selected: test image #5")).to_be_visible(timeout=30_000)


@pytest.mark.parametrize("query, words", [("?image=abc", "not a whole number"), ("?image=-3", "negative"),
                                          ("?image=99999", "no test image 99999"),
                                          ("?image=1&image=2", "2 times")])
def test_a_bad_image_link_shows_a_message_and_the_page_works(new_context, app_url, query, words):
    page = _open(new_context, app_url, query)
    expect(page.get_by_text(words)).to_be_visible(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    _grid_heading(page)                                              # the grid is still there
