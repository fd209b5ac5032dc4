"""The Inside page in a real browser (Debian chromium via Playwright): with "Predict, then
reveal" on, clicking a patch of the digit (Streamlit's plotly selection event, which AppTest
cannot send) picks that patch as the guess, and Reveal shows the patching maps with the verdict."""
from __future__ import annotations

import os

import pytest

try:
    from playwright.sync_api import expect
except ImportError:      # in CI (REQUIRE_BROWSER=1) a missing package is an error, not a skip
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)


def test_clicking_a_patch_sets_the_guess_and_reveal_compares_it(new_context, app_url):
    page = new_context().new_page()
    page.goto(app_url.rstrip("/") + "/inside")
    page.get_by_text("Use a test image").click()
    page.wait_for_selector(".st-key-inside_heads_fig .js-plotly-plot", timeout=120_000)
    assert page.locator(".st-key-inside_patch_fig").count() == 1
    page.locator(".st-key-inside_predict_first").click()
    page.wait_for_selector(".st-key-inside_guess_fig .js-plotly-plot .nsewdrag", timeout=60_000)
    expect(page.locator(".st-key-inside_patch_fig")).to_have_count(0)
    box = page.locator(".st-key-inside_guess_fig .nsewdrag").first.bounding_box()
    # the plot area spans pixels -0.5..27.5 both ways; aim at the centre of patch row 2, column 6
    page.mouse.click(box["x"] + (5 * 4 + 2) / 28 * box["width"], box["y"] + (1 * 4 + 2) / 28 * box["height"])
    expect(page.get_by_text("Your guess so far: row 2, column 6.")).to_be_visible(timeout=30_000)
    page.locator(".st-key-inside_reveal button").click()
    expect(page.locator(".st-key-inside_patch_fig")).to_have_count(1, timeout=60_000)
    expect(page.get_by_text("You picked row 2, column 6")).to_be_visible()
