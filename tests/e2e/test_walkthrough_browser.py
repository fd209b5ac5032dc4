"""The Walkthrough page in a real browser (Debian chromium via Playwright): with no current digit it
follows MNIST test image #0; Next steps through every guided stage, each drawing its figure; the
attention animation plays through every block; free mode jumps straight to a stage."""
from __future__ import annotations

import os

import pytest

try:
    from playwright.sync_api import expect
except ImportError:      # in CI (REQUIRE_BROWSER=1) a missing package is an error, not a skip
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

STEPS = 10


def test_next_steps_through_every_stage_and_free_mode_jumps(new_context, app_url):
    page = new_context().new_page()
    page.goto(app_url.rstrip("/") + "/walkthrough")
    page.wait_for_selector(".st-key-walk_overview .js-plotly-plot", timeout=120_000)
    expect(page.get_by_text("this shows MNIST test image #0")).to_be_visible()
    for step in range(1, STEPS + 1):
        expect(page.get_by_text(f"Step {step} of {STEPS}", exact=True)).to_be_visible(timeout=60_000)
        page.wait_for_selector(f".st-key-walk_fig_{step - 1} .js-plotly-plot", timeout=60_000)
        if step == 6:       # the query token's attention, block by block: Play runs to the last block
            anim = page.locator(".st-key-walk_fig_5c")
            anim.locator(".updatemenu-button").first.click()
            expect(anim.locator(".gtitle")).to_contain_text("Block 4,", timeout=30_000)
        if step < STEPS:
            page.locator(".st-key-walk_next button").click()
    expect(page.locator(".st-key-walk_next button")).to_be_disabled()

    page.locator(".st-key-walk_mode button").filter(has_text="Free").click()
    page.locator(".st-key-walk_stage button").filter(has_text="Scores").click()
    expect(page.get_by_role("heading", name="6. Attention scores and softmax")).to_be_visible(timeout=60_000)
    page.wait_for_selector(".st-key-walk_fig_5 .js-plotly-plot", timeout=60_000)
    expect(page.locator(".st-key-walk_fig_9")).to_have_count(0)
