"""The Why page in a real browser (Debian chromium via Playwright): strokes drawn on the real
canvas are replayed from Fabric.js's JSON (which AppTest cannot produce), the replay's last
step reads what the Draw page read, and the share link opens the same drawing in a new
session on the Draw page."""
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

if not paths.NEIGHBOURS.is_file():
    pytest.skip("model/artifacts/neighbours.npz missing: run python -m model.explain.neighbours --write",
                allow_module_level=True)

from canvas_driver import draw_stroke, prediction_value, wait_for_prediction  # noqa: E402

SEVEN = [[(0.55, 0.2), (0.42, 0.85)], [(0.27, 0.2), (0.73, 0.2)]]    # the stem, then the bar


def test_strokes_are_replayed_and_the_share_link_opens_the_drawing(page, new_context, app_url):
    for stroke in SEVEN:
        draw_stroke(page, stroke)
    wait_for_prediction(page, "7", timeout_ms=60_000)
    page.get_by_role("link", name="Why").first.click()
    expect(page.get_by_text("Stroke replay", exact=True)).to_be_visible(timeout=120_000)
    captions = page.get_by_text(re.compile(r"^stroke \d+: "))
    expect(captions).to_have_count(2, timeout=120_000)
    assert captions.nth(1).inner_text().startswith("stroke 2: 7")
    code = page.locator("code").filter(has_text="?digit=").first.inner_text().strip()
    assert code.startswith("?digit=1") and len(code) < 1000

    other = new_context().new_page()
    other.goto(app_url.rstrip("/") + "/" + code)
    expect(other.get_by_text("Explaining your shared drawing")).to_be_visible(timeout=90_000)
    expect(prediction_value(other)).to_have_text("7", timeout=60_000)
