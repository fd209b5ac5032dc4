"""The Data page in a real browser (Debian chromium via Playwright): a digit drawn on the Draw
page is marked on the Data page's histograms with a sentence about it (session state carried
across pages), and on a phone the page fits the screen's width.

Needs the stored tables (``python -m data.features --write``); skipped without them."""
from __future__ import annotations

import os

import pytest
from canvas_driver import PHONE, draw_digit, open_draw_page, wait_for_prediction

from model import paths

try:
    from playwright.sync_api import expect
except ImportError:      # in CI (REQUIRE_BROWSER=1) a missing package is an error, not a skip
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

if not paths.DATA_TABLES.is_file():
    pytest.skip("model/artifacts/data_tables.npz missing: run python -m data.features --write",
                allow_module_level=True)

HEADING = "text=Distributions of six shape features"
PLOTS = ".js-plotly-plot"


def test_drawn_digit_is_marked_on_the_data_page(new_context, app_url):
    page = open_draw_page(new_context(), app_url)
    draw_digit(page, "7")
    wait_for_prediction(page, "7")
    page.get_by_role("link", name="Data").first.click()
    page.wait_for_selector(HEADING, timeout=90_000)
    expect(page.get_by_text("the model learned from").first).to_be_visible()
    expect(page.locator(PLOTS)).to_have_count(7, timeout=60_000)  # six histograms and the class balance
    # every histogram carries both markers: the digit as the model sees it, and before preprocessing
    expect(page.locator(PLOTS).filter(has_text="your digit")).to_have_count(6)
    expect(page.locator(PLOTS).filter(has_text="before preprocessing")).to_have_count(6)
    assert page.locator(".stException").count() == 0


def test_phone_viewport_fits_the_width(new_context, app_url):
    page = new_context(**PHONE).new_page()
    page.goto(app_url.rstrip("/") + "/dataset")
    page.wait_for_selector(HEADING, timeout=90_000)
    page.get_by_role("button", name="Reshuffle").scroll_into_view_if_needed()    # the page's end
    expect(page.locator(PLOTS)).to_have_count(7, timeout=60_000)
    width = PHONE["viewport"]["width"]
    for el in page.locator(f"{PLOTS}, [data-testid='stImage'] img").all():
        el.scroll_into_view_if_needed()
        box = el.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, box
    assert page.locator(".stException").count() == 0
