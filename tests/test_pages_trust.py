"""AppTest of the Trust page with the shipped model: with a current digit (verdict and ranking,
per-test table, cascade rows, the similarity chart, raw scores, captions citing the papers; fewer
methods; another class; an old-format test-set summary) and without one (a pointer to the Draw page
and a test-image button)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.state import KEY, CurrentDigit
from data.mnist import load_mnist
from model import explain as E
from model import paths
from model.explain import trust as T

ROOT = Path(__file__).resolve().parent.parent
TRUST = str(ROOT / "pages" / "trust.py")
TIMEOUT = 300

pytestmark = pytest.mark.skipif(not paths.VIT_WEIGHTS.is_file(), reason="ViT weights not trained yet")


@pytest.fixture(scope="module")
def digit() -> CurrentDigit:
    return CurrentDigit.from_test_image(*load_mnist("test"), 7)


def run_with(digit: CurrentDigit | None) -> AppTest:
    at = AppTest.from_file(TRUST, default_timeout=TIMEOUT)
    if digit is not None:
        at.session_state[KEY] = digit
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> dict[str, dict]:
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [x.value for x in at.success] + [x.value for x in at.warning] + [x.value for x in at.info]
    return "\n".join(str(p) for p in parts)


def array(v) -> np.ndarray:
    """A plotly array from the figure's JSON: a nested list, or numpy's typed-array encoding."""
    import base64

    if isinstance(v, dict):
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).astype(float)
        return a.reshape([int(n) for n in str(v["shape"]).split(",")]) if "shape" in v else a
    return np.asarray(v, dtype=float)


def cascade_rows(figs: dict[str, dict]) -> dict[str, list[dict]]:
    """{method: its cascade row's maps in order}: the map grid's charts are trust_cascade_<method>_<i>."""
    rows: dict[str, list[tuple[int, dict]]] = {}
    for k, v in figs.items():
        if k.startswith("trust_cascade_"):
            m, i = k[len("trust_cascade_"):].rsplit("_", 1)
            rows.setdefault(m, []).append((int(i), v))
    return {m: [v for _, v in sorted(maps, key=lambda t: t[0])] for m, maps in rows.items()}


def test_without_a_digit_points_to_draw_and_offers_a_test_image(shipped_vit):
    at = run_with(None)
    assert any("No digit yet" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    at.button(key="trust_use_test").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[KEY].test_index == 0
    # a row of maps per method (the original and every step), the similarity chart and the evidence chart
    assert len(at.get("plotly_chart")) == len(T.TRUST_METHODS) * (1 + len(T.cascade_steps(shipped_vit))) + 2


def test_every_method_gets_a_cascade_a_badge_a_score_row_and_a_verdict(digit, shipped_vit):
    at = run_with(digit)
    figs = charts(at)
    rows = cascade_rows(figs)
    assert set(rows) == set(T.TRUST_METHODS)
    steps = T.cascade_steps(shipped_vit)
    for m in T.TRUST_METHODS:
        maps = rows[m]
        assert len(maps) == 1 + len(steps)                                # the original and every step
        assert all(len(f["data"]) == 1 for f in maps)                     # one heatmap each, no subplots
        assert "original" in maps[0]["layout"]["annotations"][0]["text"]
        assert steps[-1] in maps[-1]["layout"]["annotations"][0]["text"]
        z = array(maps[0]["data"][0]["z"])
        assert z.shape == (28, 28) and z.min() >= 0 and z.max() == pytest.approx(1.0)   # |map| / 98th pct.
    sim = [v for k, v in figs.items() if k.startswith("trust_similarity")]
    assert len(sim) == 1 and len(sim[0]["data"]) == 2 * len(T.TRUST_METHODS)   # |map| and signed per method
    body = texts(at)
    for phrase in ("Adebayo", "Binder", "Hedström", "Sixt", "Bhatt", "Yeh", "Chalasani", "Petsiuk", "Quantus", T.RULE,
                   T.RANK_RULE, "What no test can tell", "How to read this"):
        assert phrase in body, phrase
    # the page's verdict and ranking are the model's: the same report as the command line computes
    rep = T.trust_report(shipped_vit, digit.image, int(at.selectbox(key="trust_target").value))
    assert rep.verdict in [x.value for x in at.success]
    tests = at.dataframe[0].value
    assert list(tests["method"]) == [E.METHODS[m].label for m in rep.ranking]
    assert all(str(v)[-1] in "✓✗" for v in tests["sMPRT ρ ↓"])
    table = at.dataframe[1].value
    assert list(table["method"]) == [E.METHODS[m].label for m in rep.ranking]
    assert table["deletion AUC ↓"].between(0, 1).all() and table["sparseness"].between(0, 1).all()
    assert table["IG |delta|"].notna().sum() == 1              # Integrated Gradients only
    ig = rep.methods["integrated_gradients"]
    row = table[table["method"] == "Integrated Gradients"].iloc[0]
    assert row["random-logit ρ"] == pytest.approx(ig.random_logit_spearman)
    assert row["sMPRT ↓"] == pytest.approx(ig.smprt) and row["eMPRT ↑"] == pytest.approx(ig.emprt)
    assert row["faithfulness corr. ↑"] == pytest.approx(ig.scores["faithfulness_correlation"])
    assert row["max-sensitivity ↓"] == pytest.approx(ig.max_sensitivity)
    if paths.TRUST_SUMMARY.is_file():   # the committed test-set summary (old or new format), one row per method
        summary = json.loads(paths.TRUST_SUMMARY.read_text())
        assert len(at.dataframe[2].value) == len(summary["methods"])
        assert f"first {summary['n_images']} MNIST test digits" in body
    else:
        assert "python -m model.analyze --trust" in body
    # one line per method, best first, its box coloured by the tests it passes (as its badge), not by the
    # original MPRT alone (which nearly every method fails on this model: nine yellow boxes)
    boxes = {"good": at.success, "mixed": at.info, "weak": at.warning}
    lines = [(k, x.value) for k, xs in boxes.items() for x in xs]
    for m in T.TRUST_METHODS:
        r = rep.methods[m]
        assert (T.standing(r), T.verdict(r)) in lines, m
    assert {T.standing(r) for r in rep.methods.values()} != {"weak"}
    assert T.STANDING_RULE in body


def test_old_format_summary_shows_empty_new_columns():
    from dashboard.trust_plots import summary_frame

    old = {"methods": {"saliency": {"label": "Saliency", "pass_rate": 0.5, "median_random_logit_spearman": 0.3}}}
    f = summary_frame(old)
    assert f.loc[0, "MPRT |map| pass"] == 0.5
    assert np.isnan(f.loc[0, "sMPRT pass"]) and np.isnan(f.loc[0, "ranked first"])


def test_fewer_methods_and_another_class(digit):
    at = run_with(digit)
    pred = at.selectbox(key="trust_target").value
    at.multiselect(key="trust_methods").set_value(["saliency", "attention_rollout"])
    at.selectbox(key="trust_target").set_value((pred + 1) % 10).run()
    assert not at.exception, [e.value for e in at.exception]
    assert set(cascade_rows(charts(at))) == {"saliency", "attention_rollout"}
    assert len(at.dataframe[0].value) == 2 and len(at.dataframe[1].value) == 2
    at.multiselect(key="trust_methods").set_value([]).run()
    assert not at.exception
    assert any("Choose at least one method" in i.value for i in at.info)


def test_attributions_page_shows_a_trust_badge_beside_every_map(digit, shipped_vit):
    """Trust beside every map: one badge line per shown method, its count the method's passed checks."""
    at = AppTest.from_file(str(ROOT / "pages" / "attributions.py"), default_timeout=TIMEOUT)
    at.session_state[KEY] = digit
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    target = int(at.selectbox(key="attr_target").value)
    lines = [m.value for m in at.markdown if ":material/verified: trust" in m.value]
    shown = [m for m in E.METHODS if any(f"**{E.METHODS[m].label}**:" in v for v in lines)]
    assert shown and len(lines) == len(shown)
    for m in shown:
        r = T.method_trust(shipped_vit, digit.image, target, m)
        line = next(v for v in lines if f"**{E.METHODS[m].label}**:" in v)
        assert f"trust {sum(r.tests().values())}/5]" in line and T.how_to_read(r) in line
    assert any("Trust page" in c.value for c in at.caption)
