"""AppTest of the Data page (pages/dataset.py) against tables built by data.features from 600
training images in a temporary folder: without a current digit, with an MNIST test image,
with a drawing (before and after preprocessing), and without the tables."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.state import KEY, CurrentDigit
from data import features as F
from data.mnist import load_mnist
from model import paths

ROOT = Path(__file__).resolve().parent.parent
N_TRAIN = 600


@pytest.fixture(scope="module")
def tables_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data_tables")
    images, labels = load_mnist("train")
    _, test_labels = load_mnist("test")
    np.savez_compressed(out / paths.DATA_TABLES.name, **F.build_tables(images[:N_TRAIN], labels[:N_TRAIN], test_labels))
    return out


def _point(monkeypatch, folder: Path, weights: bool) -> None:
    monkeypatch.setattr(paths, "ARTIFACTS", folder)
    monkeypatch.setattr(paths, "DATA_TABLES", folder / paths.DATA_TABLES.name)
    if not weights:                      # no model: the page compares with the true label
        monkeypatch.setattr(paths, "VIT_WEIGHTS", folder / "no-weights.safetensors")
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def tables(tables_dir, monkeypatch):
    _point(monkeypatch, tables_dir, weights=False)
    yield tables_dir
    st.cache_data.clear()


@pytest.fixture
def tables_with_model(tables_dir, monkeypatch):
    assert paths.VIT_WEIGHTS.is_file()
    _point(monkeypatch, tables_dir, weights=True)
    yield tables_dir
    st.cache_data.clear()


def _run(current: CurrentDigit | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "dataset.py"), default_timeout=60)
    if current is not None:
        at.session_state[KEY] = current
    return at.run()


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("info", "warning", "markdown", "caption") for e in getattr(at, kind))


def _charts(at: AppTest) -> dict[str, dict]:
    return {json.loads(c.proto.spec)["layout"]["xaxis"]["title"]["text"]: json.loads(c.proto.spec)
            for c in at.get("plotly_chart")}


def _arr(v) -> np.ndarray:
    """A plotly array from the figure's JSON: a list, or numpy's typed-array encoding (dtype + bdata)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v, dtype=float)


def _frame(at: AppTest, column: str):
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    raise AssertionError(f"no dataframe with a {column!r} column")


def test_without_digit_shows_the_data(tables):
    at = _run()
    assert not at.exception
    text = _texts(at)
    assert "No digit yet" in text
    charts = _charts(at)
    assert set(F.LABELS.values()) <= set(charts)
    bars = charts[F.LABELS["holes"]]["data"][0]
    assert _arr(bars["y"]).sum() == N_TRAIN                     # every training digit counted once
    assert not any("your digit" in json.dumps(c["layout"].get("annotations", [])) for c in charts.values())
    _, labels = load_mnist("train")
    counts = np.bincount(labels[:N_TRAIN], minlength=10)
    lo, hi = int(counts.argmin()), int(counts.argmax())
    assert f"{counts[hi]:,} {hi}s and {counts[lo]:,} {lo}s" in text   # class balance from the tables
    assert len(at.get("image")) == 3                      # mean, spread, samples


def _sample_url(at: AppTest) -> str:
    """The media URL of the sample mosaic (the last image): Streamlit names a media file by a hash
    of its bytes, so another URL means another picture."""
    return at.get("image")[-1].proto.imgs[0].url


def test_reshuffle_draws_another_sample(tables):
    at = _run()
    first = at.session_state["data_seed"]
    cap = at.get("image")[-1].proto.imgs[0].caption
    url = _sample_url(at)
    at.button(key="data_reshuffle").click().run()
    assert not at.exception
    assert at.session_state["data_seed"] == first + 1
    assert at.get("image")[-1].proto.imgs[0].caption != cap
    assert _sample_url(at) != url                        # other digits, not only another caption


def test_group_and_log_scale(tables):
    at = _run()
    at.selectbox(key="data_group").set_value(8).run()
    _, labels = load_mnist("train")
    charts = _charts(at)
    assert _arr(charts[F.LABELS["ink"]]["data"][0]["y"]).sum() == int((labels[:N_TRAIN] == 8).sum())
    assert charts[F.LABELS["ink"]]["layout"]["yaxis"]["type"] == "linear"
    at.toggle(key="data_log").set_value(True).run()
    assert _charts(at)[F.LABELS["ink"]]["layout"]["yaxis"]["type"] == "log"


def test_use_a_test_image_button(tables):
    at = _run()
    assert "Your digit among the training digits" not in [h.value for h in at.subheader]
    at.button(key="data_use_test").click().run()
    assert not at.exception
    assert at.session_state[KEY].test_index == 0
    # what the user sees change: the digit's section, its percentile table and a marker on every histogram
    assert "Your digit among the training digits" in [h.value for h in at.subheader]
    _, labels = load_mnist("test")
    assert _frame(at, f"percentile among {int(labels[0])}s") is not None     # no model: its true label
    for name, fig in _charts(at).items():
        if name in F.LABELS.values():
            assert len(fig["layout"]["shapes"]) == 1, name


def test_with_a_test_image_marks_it_and_names_the_unusual_feature(tables):
    images, labels = load_mnist("test")
    cur = CurrentDigit.from_test_image(images, labels, 3)
    at = _run(cur)
    assert not at.exception
    digit = int(labels[3])
    assert at.selectbox(key="data_group").value == digit          # histograms open on its class
    mine = F.features(cur.image)
    train, train_labels = load_mnist("train")
    t = F.feature_matrix(train[:N_TRAIN])
    expected = F.most_unusual(mine, t.astype(np.float16).astype(np.float32), train_labels[:N_TRAIN], digit)
    assert f"**{expected['sentence']}**" in [m.value for m in at.markdown]
    table = _frame(at, f"percentile among {digit}s")
    assert list(table["feature"]) == [F.LABELS[k] for k in F.FEATURES]
    for k, row in zip(F.FEATURES, table.itertuples()):
        assert row[3] == pytest.approx(expected["percentiles"][k])
    ink = _charts(at)[F.LABELS["ink"]]
    edges = F.bin_edges("ink", t[:, F.FEATURES.index("ink")].astype(np.float16).astype(np.float32))
    xs = [s["x0"] for s in ink["layout"]["shapes"]]
    assert xs == [pytest.approx(float(np.clip(mine["ink"], edges[0], edges[-1])))]   # one marker, no 'before'
    assert "there is no 'before'" in _texts(at)


def test_with_a_drawing_compares_before_and_after(tables_with_model):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from pages import drawn_seven  # benchmarks/pages.py

    raw, image = drawn_seven()
    at = _run(CurrentDigit.make(image, "drawing", raw=raw))
    assert not at.exception
    text = _texts(at)
    assert "the model learned from" in text
    ba = _frame(at, "what preprocessing did")
    assert list(ba["feature"]) == [F.LABELS[k] for k in F.FEATURES]
    after = F.features(image)
    assert ba["after"].tolist() == pytest.approx([float(after[k]) for k in F.FEATURES])
    assert max(ba.loc[ba["feature"] == F.LABELS["height"], "after"].item(),
               ba.loc[ba["feature"] == F.LABELS["width"], "after"].item()) == pytest.approx(20, abs=1)
    assert "Preprocessing normalised away the size" in text
    ink = _charts(at)[F.LABELS["ink"]]
    assert len(ink["layout"]["shapes"]) == 2             # after and before markers
    assert "before preprocessing" in json.dumps(ink["layout"]["annotations"])


def test_missing_tables_name_the_command(tmp_path, monkeypatch):
    _point(monkeypatch, tmp_path, weights=False)
    at = _run()
    assert not at.exception
    assert F.WRITE_CMD in _texts(at)
    st.cache_data.clear()


def test_blank_digit_without_a_model_compares_with_all_digits(tables):
    at = _run(CurrentDigit.make(np.zeros((28, 28), np.float32), "drawing"))
    assert not at.exception
    assert "No model to predict its class yet" in _texts(at)
    assert at.selectbox(key="data_group").value == "all digits"
    ink = _charts(at)[F.LABELS["ink"]]
    assert len(ink["layout"]["shapes"]) == 1             # the marker is still drawn (clipped into the first bin)


def test_balance_facts_name_the_extremes_and_the_largest_share_gap():
    from dashboard.data_plots import balance_facts

    train = np.full(10, 100)
    train[1], train[5] = 200, 50
    lo, hi, gap = balance_facts(train, np.full(10, 10))      # the test set is exactly balanced
    assert (lo, hi) == (5, 1)
    assert gap == pytest.approx(100 * (200 / train.sum() - 0.1))     # the 1s: 17.4 % of train, 10 % of test
    assert balance_facts(train, train)[2] == 0.0


REAL_STYLES = paths.MNIST_STYLES      # captured before any test points paths elsewhere


def test_writing_styles_section_shows_the_shipped_counts_and_examples(tables):
    """The flagged-1 and crossed-7 shares of mnist_styles.json, and a strip of examples of each;
    without the file, one line naming the command that makes it."""
    at = _run()
    assert "python -m model.styles --write" in _texts(at) and len(at.get("image")) == 3
    counts = json.loads(REAL_STYLES.read_text())
    (tables / REAL_STYLES.name).write_text(REAL_STYLES.read_text())
    st.cache_data.clear()
    try:
        at = _run()
        assert not at.exception
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["1s with a flag"] == f"{counts['flagged_ones'] / counts['ones']:.1%}"
        assert metrics["crossed 7s"] == f"{counts['crossed_sevens'] / counts['sevens']:.1%}"
        assert len(at.get("image")) == 5                  # mean, spread, samples, flagged 1s, crossed 7s
        assert "Two ways to write a 1 and a 7" in [s.value for s in at.subheader]
    finally:
        (tables / REAL_STYLES.name).unlink()
