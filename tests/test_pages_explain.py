"""AppTest of the Attention and Attributions pages with the shipped model, with an injected
current digit (widgets exercised: knockout, query patch, target, every method, display modes,
faithfulness settings) and without one (a pointer to the Draw page and a test-image button)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.state import KEY, CurrentDigit
from data.mnist import load_mnist
from model import explain as E
from model import paths

ROOT = Path(__file__).resolve().parent.parent
ATTENTION = str(ROOT / "pages" / "attention.py")
ATTRIBUTIONS = str(ROOT / "pages" / "attributions.py")
TIMEOUT = 180

pytestmark = pytest.mark.skipif(not paths.VIT_WEIGHTS.is_file(), reason="ViT weights not trained yet")


@pytest.fixture(scope="module")
def digit() -> CurrentDigit:
    return CurrentDigit.from_test_image(*load_mnist("test"), 7)


def run_with(page: str, digit: CurrentDigit | None) -> AppTest:
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    if digit is not None:
        at.session_state[KEY] = digit
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure (as a dict) of the chart with user key ``key``."""
    import json

    for c in at.get("plotly_chart"):
        if c.proto.id.endswith("-" + key):
            return json.loads(c.proto.spec)
    raise KeyError(key)


def values(y) -> np.ndarray:
    """Plotly serialises numpy arrays as typed arrays ({"dtype", "bdata"}); decode either form."""
    import base64

    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"])).astype(float)
    return np.asarray(y, dtype=float)


def heat(at: AppTest, key: str) -> np.ndarray:
    """The z values of the last heatmap trace (the map; an overlay's digit comes first) of chart ``key``."""
    z = [t["z"] for t in chart(at, key)["data"] if t.get("type") == "heatmap"][-1]
    if isinstance(z, dict):
        return values(z)
    return np.asarray([values(row) for row in z], dtype=float)


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [x.value for x in at.success] + [x.value for x in at.warning] + [x.value for x in at.info]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page,prefix", [(ATTENTION, "attn_"), (ATTRIBUTIONS, "attr_")])
def test_without_a_digit_points_to_draw_and_offers_a_test_image(page, prefix):
    at = run_with(page, None)
    assert any("No digit yet" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    button = at.button(key=f"{prefix}use_test")
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[KEY].test_index == 0
    assert len(at.get("plotly_chart")) >= 2, "after picking a test image the page explains it"


def test_attention_page_renders_every_view(digit):
    at = run_with(ATTENTION, digit)
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert len(keys) >= 9
    body = texts(at)
    for phrase in ("Dosovitskiy", "Abnar & Zuidema", "Chefer", "Michel et al."):
        assert phrase in body, phrase
    for w in at.checkbox:
        assert w.key.startswith("attn_")
    assert "No head is off" in body


def test_attention_knockout_of_a_whole_layer_changes_the_probabilities(digit):
    at = run_with(ATTENTION, digit)
    for h in range(4):
        at.checkbox(key=f"attn_ko_0_{h}").check()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    body = texts(at)
    assert "No head is off" not in body
    original, knocked = (values(trace["y"]) for trace in chart(at, "attn_ko_fig")["data"])
    assert knocked.sum() == pytest.approx(1.0, abs=1e-4)
    assert np.abs(knocked - original).max() > 1e-4, "knocking out a whole layer changed nothing"
    at.button(key="attn_ko_clear").click().run()
    assert not at.exception
    assert all(not at.checkbox(key=f"attn_ko_0_{h}").value for h in range(4))
    assert "No head is off" in texts(at)
    original, restored = (values(trace["y"]) for trace in chart(at, "attn_ko_fig")["data"])
    np.testing.assert_allclose(restored, original, atol=1e-6)


def test_attention_query_patch_and_class_specific_target(digit):
    at = run_with(ATTENTION, digit)
    cls_query = heat(at, "attn_query_fig_0")
    relevance = heat(at, "attn_relevance_fig_0")
    rollout = heat(at, "attn_rollout_fig_0")
    scales = {(chart(at, f"attn_grid_{i}")["data"][-1].get("zmax")) for i in range(16)}
    assert len(scales) == 1, "one shared colour scale by default"
    at.radio(key="attn_query_kind").set_value("a patch").run()
    assert not at.exception, [e.value for e in at.exception]
    at.slider(key="attn_query_row").set_value(3)
    at.slider(key="attn_query_col").set_value(5)
    at.selectbox(key="attn_query_layer").set_value(0)
    at.selectbox(key="attn_relevance_target").set_value(3)
    at.selectbox(key="attn_rollout_fusion").set_value("max")
    at.slider(key="attn_rollout_discard").set_value(0.5)
    at.toggle(key="attn_grid_per_map").set_value(True)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # every change is visible: another query's map, another class's relevance, another rollout, own scales
    assert not np.allclose(heat(at, "attn_query_fig_0"), cls_query)
    assert not np.allclose(heat(at, "attn_relevance_fig_0"), relevance)
    assert chart(at, "attn_relevance_fig_0")["layout"]["annotations"][0]["text"] == "<b>relevance for 3</b>"
    assert not np.allclose(heat(at, "attn_rollout_fig_0"), rollout)
    assert len({chart(at, f"attn_grid_{i}")["data"][-1].get("zmax") for i in range(16)}) > 1
    assert chart(at, "attn_query_fig_0")["layout"].get("shapes"), "the query patch is outlined"


def test_attributions_page_every_method_and_faithfulness(digit):
    at = run_with(ATTRIBUTIONS, digit)
    at.multiselect(key="attr_methods").set_value(list(E.METHODS)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning or all("random order" in w.value for w in at.warning), [w.value for w in at.warning]
    body = texts(at)
    for spec in E.METHODS.values():
        assert spec.label in body and spec.source in body, spec.key
    assert "Petsiuk" in body
    labels = [m.label for m in at.metric]
    assert "Convergence delta" in labels
    verdicts = [x.value for x in at.success] + [x.value for x in at.warning]
    assert any("Most faithful" in v for v in verdicts)
    table = at.dataframe[-1].value   # the AUC table (the only table on the page)
    assert len(table) == len(E.METHODS) + 1   # every method and the random order
    assert table["deletion AUC (lower better)"].between(0, 1).all()
    # NoiseTunnel around Integrated Gradients, with its own step count
    at.selectbox(key="attr_noise_tunnel_base").set_value("integrated_gradients").run()
    at.slider(key="attr_nt_integrated_gradients_steps").set_value(8).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "16 x 8 = 128 gradient passes" in texts(at)


def test_attributions_page_target_views_and_settings(digit):
    at = run_with(ATTRIBUTIONS, digit)
    pred = at.selectbox(key="attr_target").value
    ig_pred = heat(at, "attr_maps_0")
    at.selectbox(key="attr_target").set_value((pred + 3) % 10).run()
    assert not at.exception
    assert f"Explaining **{(pred + 3) % 10}**" in texts(at)
    signed = heat(at, "attr_maps_0")
    assert not np.allclose(signed, ig_pred), "another class gets another map"
    assert signed.min() < 0 < signed.max() and np.abs(signed).max() <= 1 + 1e-9   # signed, scaled to [-1, 1]
    seen = {}
    for view in ("overlay", "masked", "heatmap"):
        for sign in ("positive", "negative", "absolute", "signed"):
            at.radio(key="attr_view").set_value(view)
            at.radio(key="attr_sign").set_value(sign).run()
            assert not at.exception, (view, sign, [e.value for e in at.exception])
            seen[view, sign] = heat(at, "attr_maps_0")
    for view in ("overlay", "heatmap"):
        pos, neg, ab = (seen[view, s] for s in ("positive", "negative", "absolute"))
        assert pos.min() >= 0 and neg.min() >= 0 and not np.allclose(pos, neg)
        assert np.array_equal(ab > 0, (pos > 0) | (neg > 0))    # |a| is nonzero where a+ or a- is (each scaled alone)
        np.testing.assert_allclose(seen[view, "signed"], signed)
    masked = seen["masked", "signed"]
    assert masked.min() >= 0 and masked.max() <= 1 and not np.allclose(masked, np.abs(signed))
    at.toggle(key="attr_normalise").set_value(False).run()
    raw = heat(at, "attr_maps_0")
    assert not np.allclose(raw, signed), "raw values are not the percentile-scaled ones"
    change = "Score change (digit - baseline)"
    before = {m.label: m.value for m in at.metric}[change]
    deletion = chart(at, "attr_faith_removed")
    at.slider(key="attr_integrated_gradients_steps").set_value(20)
    at.selectbox(key="attr_baseline").set_value("noise")
    at.radio(key="attr_faith_unit").set_value("patch")
    at.selectbox(key="attr_faith_baseline").set_value("blurred").run()
    assert not at.exception, [e.value for e in at.exception]
    after = {m.label: m.value for m in at.metric}[change]
    assert after != before, "the baseline choice must reach Integrated Gradients"
    assert len(at.dataframe[-1].value) == 5   # the 4 default methods and the random order
    patched = chart(at, "attr_faith_removed")
    assert "patch" in patched["layout"]["xaxis"]["title"]["text"]
    assert "pixel" in deletion["layout"]["xaxis"]["title"]["text"]
    by_patch, by_pixel = values(patched["data"][0]["y"]), values(deletion["data"][0]["y"])
    assert not np.allclose(by_patch[1:], by_pixel[1:len(by_patch)])


def test_attributions_page_reports_an_invalid_setting(digit):
    at = run_with(ATTRIBUTIONS, digit)
    at.slider(key="attr_occlusion_window").set_value(3)
    at.slider(key="attr_occlusion_stride").set_value(6).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("stride" in w.value for w in at.warning)
