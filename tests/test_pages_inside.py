"""AppTest of the Inside page (issue 13) with the shipped model: every view renders with its
caption, the logit lens ends at the model's probabilities, the DLA check adds up, the class
picker and patching settings work, "predict, then reveal" hides the map until the guess, and
the previous digit can be the second digit."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.state import KEY, CurrentDigit
from data.mnist import load_mnist
from model import paths
from model.inference import headline, predict_proba
from model.interpret import answer_forms_at
from tests.test_pages_explain import chart, texts, values

ROOT = Path(__file__).resolve().parent.parent
INSIDE = str(ROOT / "pages" / "inside.py")
TIMEOUT = 180

pytestmark = pytest.mark.skipif(not paths.VIT_WEIGHTS.is_file(), reason="ViT weights not trained yet")


@pytest.fixture(scope="module")
def mnist():
    return load_mnist("test")


@pytest.fixture(scope="module")
def digit(mnist) -> CurrentDigit:
    return CurrentDigit.from_test_image(*mnist, 7)


def run_with(digit: CurrentDigit | None) -> AppTest:
    at = AppTest.from_file(INSIDE, default_timeout=TIMEOUT)
    if digit is not None:
        at.session_state[KEY] = digit
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_keys(at: AppTest) -> set[str]:
    return {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}


def test_without_a_digit_points_to_draw_and_offers_a_test_image():
    at = run_with(None)
    assert any("No digit yet" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    at.button(key="inside_use_test").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[KEY].test_index == 0
    assert "inside_lens_fig" in chart_keys(at)


def test_every_view_renders_with_its_caption_and_the_checks_hold(digit, shipped_vit):
    at = run_with(digit)
    assert {"inside_lens_fig", "inside_votes_fig_0", "inside_dla_fig", "inside_distance_fig", "inside_pos_fig",
            "inside_filters_fig", "inside_patch_fig_0", "inside_heads_fig"} <= chart_keys(at)
    body = texts(at)
    for phrase in ("nostalgebraist", "Elhage", "Dosovitskiy", "Xiao", "Meng", "Heimersheim", "cannot"):
        assert phrase in body, phrase
    assert body.count("How to read this") >= 7
    # the lens heatmap's last row is the model's own output
    lens = values(chart(at, "inside_lens_fig")["data"][0]["z"]).reshape(5, 10)
    probs = predict_proba(shipped_vit, digit.image)[0]
    np.testing.assert_allclose(lens[-1], probs, atol=1e-4)
    # the DLA check line: parts + bias = the model's logit
    check = next(m.value for m in at.markdown if m.value.startswith("**Check:**"))
    diff = float(re.search(r"difference ([0-9.e+-]+)\)", check).group(1))
    assert diff < 1e-4
    pred = int(probs.argmax())
    bars = values(chart(at, "inside_dla_fig")["data"][0]["y"])
    assert len(bars) == 1 + 4 * 5
    # the one calibrated headline, as on every other page (was an uncalibrated softmax here)
    head = headline(shipped_vit, digit.image)
    assert f"The transformer reads **{head.digit}** ({head.confidence:.1%}), calibrated confidence" in body
    assert head.digit == pred
    # the lens sentence names the stage from which the class token reads as the answer, with P by stage
    formed = answer_forms_at(lens, pred)
    stages = [s["y"] for s in chart(at, "inside_lens_fig")["data"]][0]
    assert f"first reads as a **{pred}** {stages[formed]} and stays one" in body
    assert ", ".join(f"{p:.0%}" for p in lens[:, pred]) in body
    # the stored test-set average is drawn beside this digit
    names = {t.get("name") for t in chart(at, "inside_distance_fig")["data"]}
    assert {"this digit", "test-set average"} <= names
    for w in list(at.selectbox) + list(at.radio) + list(at.toggle) + list(at.number_input):
        assert w.key.startswith("inside_"), w.key


def test_why_not_another_class_compares_two_logits(digit):
    at = run_with(digit)
    pred = at.selectbox(key="inside_dla_target").value
    other = (pred + 3) % 10
    at.selectbox(key="inside_dla_target").set_value(other).run()
    assert not at.exception, [e.value for e in at.exception]
    series = chart(at, "inside_dla_fig")["data"]
    assert [s["name"] for s in series] == [f"logit of {pred} (predicted)", f"logit of {other}",
                                           f"difference {pred} − {other}"]
    a, b, d = (values(s["y"]) for s in series)
    np.testing.assert_allclose(d, a - b, atol=1e-9)
    assert f"Why a {pred} and not a {other}" in texts(at)
    check = next(m.value for m in at.markdown if m.value.startswith("**Check:**"))
    assert f"logit of {other}" in check


def test_patching_measure_and_second_digit(digit, mnist):
    at = run_with(digit)
    before = chart(at, "inside_patch_fig_0")
    at.radio(key="inside_patch_metric").set_value("logit_diff").run()
    assert not at.exception, [e.value for e in at.exception]
    after = chart(at, "inside_patch_fig_0")
    assert after["data"][1]["z"] != before["data"][1]["z"]
    at.selectbox(key="inside_second_class").set_value(1)
    at.number_input(key="inside_second_n").set_value(2)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    _, labels = mnist
    i = int(np.flatnonzero(labels == 1)[1])
    assert f"test image #{i} (a 1)" in texts(at)


def test_predict_then_reveal_hides_the_map_until_the_guess(digit):
    at = run_with(digit)
    at.toggle(key="inside_predict_first").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    keys = chart_keys(at)
    assert "inside_patch_fig_0" not in keys and "inside_heads_fig" not in keys and "inside_guess_fig" in keys
    at.selectbox(key="inside_guess_row").set_value(2)
    at.selectbox(key="inside_guess_col").set_value(6)
    at.run()
    at.button(key="inside_reveal").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "inside_patch_fig_0" in chart_keys(at)
    verdict = " ".join(s.value for s in at.success)
    assert "You picked row 2, column 6" in verdict
    assert "Spot on" in verdict or re.search(r"ranks \d+ of 49", verdict)
    # a new measure asks for a new guess
    at.radio(key="inside_patch_metric").set_value("logit_diff").run()
    assert "inside_patch_fig_0" not in chart_keys(at)


def test_the_previous_digit_can_be_the_second_digit(digit, mnist):
    at = run_with(digit)
    assert at.radio(key="inside_second_source").options == ["a test image of another class"]
    at.session_state[KEY] = CurrentDigit.from_test_image(*mnist, 3)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "the previous digit" in at.radio(key="inside_second_source").options
    at.radio(key="inside_second_source").set_value("the previous digit").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "the previous digit (test image #7)" in texts(at)
