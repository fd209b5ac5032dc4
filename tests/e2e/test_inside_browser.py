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

from canvas_driver import click_plot, run_and_wait_idle  # noqa: E402


def test_clicking_a_patch_sets_the_guess_and_reveal_compares_it(new_context, app_url):
    page = new_context().new_page()
    page.goto(app_url.rstrip("/") + "/inside")
    run_and_wait_idle(page, page.get_by_text("Use a test image").click)
    # charts are drawn after the run that sent them: on a busy machine that takes seconds, not expect's default 5
    expect(page.locator(".st-key-inside_heads_fig .js-plotly-plot")).to_have_count(1, timeout=60_000)
    expect(page.locator(".st-key-inside_patch_fig")).to_have_count(1)
    run_and_wait_idle(page, page.locator(".st-key-inside_predict_first").click)
    expect(page.locator(".st-key-inside_patch_fig")).to_have_count(0)
    expect(page.get_by_text("Your guess so far: row 4, column 4.")).to_be_visible()
    # the plot area spans pixels -0.5..27.5 both ways; aim at the centre of patch row 2, column 6. The click
    # waits for the chart to take it: a click on a chart whose handlers are not yet bound, or that is still
    # moving or off screen, is lost and the guess stays at the default (row 4, column 4).
    click_plot(page, ".st-key-inside_guess_fig", (5 * 4 + 2) / 28, (1 * 4 + 2) / 28, hover_text="patch row 2, col 6")
    expect(page.get_by_text("Your guess so far: row 2, column 6.")).to_be_visible(timeout=60_000)
    run_and_wait_idle(page, page.locator(".st-key-inside_reveal button").click)
    expect(page.locator(".st-key-inside_patch_fig")).to_have_count(1, timeout=60_000)
    expect(page.get_by_text("You picked row 2, column 6")).to_be_visible()
