"""The Draw page in a real browser (Debian chromium via Playwright): mouse and touch strokes on
the canvas give the right Prediction, a blank or cleared canvas gives none, a phone-sized
screen keeps the canvas whole, independent sessions drawing at once each see their own
digit, and a bad upload shows an error while the page keeps working."""
from __future__ import annotations

import os

import pytest

try:
    from playwright.sync_api import expect
except ImportError:      # in CI (REQUIRE_BROWSER=1) a missing package is an error, not a skip
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

from canvas_driver import (
    DIGITS,
    PHONE,
    canvas,
    canvas_box,
    draw_digit,
    draw_stroke,
    open_draw_page,
    prediction_metric,
    prediction_value,
    reset_canvas,
    wait_for_prediction,
)

PROMPT = "Draw a digit 0-9 on the black canvas."


def test_blank_canvas_shows_a_prompt_and_no_prediction(page):
    expect(page.get_by_text(PROMPT)).to_be_visible()
    expect(prediction_metric(page)).to_have_count(0)


def test_drawn_digits_are_read(page):
    for i, digit in enumerate(["1", "7", "0"]):
        if i:
            reset_canvas(page)
            expect(page.get_by_text("The canvas is empty")).to_be_visible()
            expect(prediction_metric(page)).to_have_count(0)
        draw_digit(page, digit)
        wait_for_prediction(page, digit)
    # the 28x28 image the model saw is shown beside the drawing
    expect(page.get_by_text("Model input, 28x28")).to_be_visible()


def test_a_dot_is_not_a_digit(page):
    draw_stroke(page, [(0.5, 0.5), (0.51, 0.5)])
    expect(page.get_by_text("looks like a dot")).to_be_visible()
    expect(prediction_metric(page)).to_have_count(0)


def test_submit_mode_predicts_only_on_submit(page):
    page.get_by_text("Live prediction").click()
    submit = page.get_by_role("button", name="Submit")
    expect(submit).to_be_visible()
    draw_digit(page, "1")
    expect(page.get_by_text("Press Submit")).to_be_visible()
    expect(prediction_metric(page)).to_have_count(0)
    submit.click()
    wait_for_prediction(page, "1")


def test_phone_viewport_canvas_whole_and_touch_drawing_works(new_context, app_url):
    page = open_draw_page(new_context(**PHONE), app_url)
    box = canvas_box(page)
    width, height = PHONE["viewport"]["width"], PHONE["viewport"]["height"]
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, box     # scrolled into view, whole
    draw_digit(page, "1", touch=True)
    wait_for_prediction(page, "1")
    # the result stacks below the canvas on a narrow screen
    result = prediction_metric(page).bounding_box()
    assert result is not None and result["y"] >= box["y"] + box["height"], (result, box)


def test_concurrent_sessions_each_see_their_own_digit(new_context, app_url):
    digits = ["1", "7", "0"]
    pages = [open_draw_page(new_context(), app_url) for _ in digits]
    # interleave the strokes so the server handles the sessions' reruns at the same time
    for k in range(max(len(DIGITS[d]) for d in digits)):
        for page, digit in zip(pages, digits):
            if k < len(DIGITS[digit]):
                draw_stroke(page, DIGITS[digit][k])
    for page, digit in zip(pages, digits):
        wait_for_prediction(page, digit)


def test_bad_upload_shows_an_error_and_the_page_keeps_working(page):
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "digit.png", "mimeType": "image/png", "buffer": b"this is not an image"}])
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("not a readable image")
    expect(prediction_metric(page)).to_have_count(0)
    expect(canvas(page)).to_be_visible()
    draw_digit(page, "1")
    wait_for_prediction(page, "1")
    expect(prediction_value(page)).to_have_text("1")
