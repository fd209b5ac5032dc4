"""AppTest of the Baseline, Misclassified and Model pages, against stand-in artifacts written to a
temporary folder (a random-weight ViT, a tiny forest, a synthetic test-set table with known
mistakes), with and without a current digit, and the ``?image=`` URL cases."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from dashboard.state import KEY, CurrentDigit
from data.mnist import load_mnist
from model import paths

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
# artifact file names as model.paths defines them (read once, before any test repoints the paths)
ARTIFACT_NAMES: dict[str, str | None] = {"ARTIFACTS": None, **{
    attr: getattr(paths, attr).name for attr in ("VIT_WEIGHTS", "VIT_METRICS", "EXPERIMENTS", "FOREST", "TEST_EVAL",
                                                 "EVALUATION", "HEAD_IMPORTANCE", "MEAN_ATTRIBUTION")}}


def _synthetic_probs(labels: np.ndarray, wrong: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 10) probabilities whose argmax is the label except at ``wrong`` (label + 1 mod 10)."""
    n = len(labels)
    logits = rng.normal(0, 1, (n, 10))
    target = labels.copy()
    target[wrong] = (labels[wrong] + 1) % 10
    logits[np.arange(n), target] += 10   # large enough that noise never flips it
    e = np.exp(logits - logits.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def write_standin_artifacts(out: Path, with_forest: bool = True) -> dict:
    """Write every artifact the compare pages read into ``out``; returns the known facts."""
    from model.vit import ViT, ViTConfig, count_params, save_vit

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    vit = ViT(ViTConfig()).eval()
    save_vit(vit, out / "vit.safetensors")
    images, labels = load_mnist("test")
    if with_forest:
        from model.forest import save_forest, train_forest

        forest = train_forest(images[:600], labels[:600], n_jobs=1, n_estimators=5, max_depth=8)
        save_forest(forest, out / ARTIFACT_NAMES["FOREST"])
    rng = np.random.default_rng(0)
    vit_wrong = np.arange(0, 10000, 97)                     # 104 ViT mistakes
    forest_wrong = np.arange(0, 10000, 41)                  # 244 forest mistakes; 0, 3977, ... shared
    np.savez(out / "test_eval.npz", labels=labels, vit_probs=_synthetic_probs(labels, vit_wrong, rng),
             vit_tta_probs=_synthetic_probs(labels, vit_wrong[::2], rng),
             forest_probs=_synthetic_probs(labels, forest_wrong, rng))
    per_class = [0.99] * 10
    (out / "evaluation.json").write_text(json.dumps({
        "test_size": 10000,
        "vit": {"accuracy": 0.9896, "tta_accuracy": 0.9948, "params": count_params(vit), "size_bytes": 650816,
                "per_class_accuracy": per_class, "tta_per_class_accuracy": per_class,
                "ms_per_image_batched": 0.05, "ms_single_image": 2.1, "ms_single_image_tta": 4.2,
                "ms_per_image_batched_tta": 0.3},
        "random_forest": {"accuracy": 0.9756, "per_class_accuracy": per_class, "size_bytes": 123456,
                          "n_estimators": 5, "total_nodes": 777, "ms_per_image_batched": 0.01,
                          "ms_single_image": 9.0},
        "agreement": {"both_right": 9655, "vit_only": 241, "forest_only": 101, "both_wrong": 3},
        "generated": "2026-11-27T12:00:00Z", "command": "python -m model.evaluate --write"}))
    history = [{"epoch": e, "train_loss": 1 / e, "train_accuracy": 1 - 0.1 / e, "test_loss": 1.2 / e,
                "test_accuracy": 1 - 0.12 / e, "lr": 1e-3, "seconds": 60.0} for e in range(1, 6)]
    (out / "vit_metrics.json").write_text(json.dumps({
        "history": history, "config": json.loads(vit.cfg.to_json()), "params": count_params(vit),
        "train_seconds": 321.5, "device": "cpu", "cpu_threads": 2, "command": "python -m model.train --epochs 5"}))
    runs = [{"name": "linear-patch4", "config": {"patch_size": 4, "stem": "linear"}, "params": 70000, "epochs": 3,
             "final_test_accuracy": 0.9712, "train_seconds": 600.0, "device": "cpu",
             "command": "python -m model.train"},
            {"name": "conv-stem", "config": {"patch_size": 4, "stem": "conv"}, "params": 120000, "epochs": 5,
             "final_test_accuracy": 0.9931, "train_seconds": 900.0, "device": "cpu",
             "command": "python -m model.train"}]
    (out / "experiments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    grid = np.outer(np.hanning(28), np.hanning(28)).astype(np.float32)
    np.savez(out / "mean_attribution.npz", integrated_gradients=grid, n_images=np.array(500),
             forest_importance=(grid / grid.sum()).astype(np.float32))
    both_wrong = sorted(set(vit_wrong) & set(forest_wrong))
    return {"vit_wrong": vit_wrong, "forest_wrong": forest_wrong, "both_wrong": both_wrong, "labels": labels,
            "images": images}


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("artifacts")
    facts = write_standin_artifacts(out)
    facts["dir"] = out
    return facts


def _point_paths(monkeypatch, folder: Path) -> None:
    for attr, name in ARTIFACT_NAMES.items():
        monkeypatch.setattr(paths, attr, folder if name is None else folder / name)
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def artifacts(standin, monkeypatch) -> dict:
    _point_paths(monkeypatch, standin["dir"])
    yield standin
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def no_artifacts(tmp_path, monkeypatch) -> None:
    _point_paths(monkeypatch, tmp_path / "empty")
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def _page(name: str, current: CurrentDigit | None = None, image_param=None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=60)
    if current is not None:
        at.session_state[KEY] = current
    if image_param is not None:
        at.query_params["image"] = image_param
    return at.run()


def _test_digit(facts: dict, index: int) -> CurrentDigit:
    return CurrentDigit.from_test_image(facts["images"], facts["labels"], index)


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("info", "warning", "error", "success", "caption", "markdown", "code")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def _frame(at: AppTest, column: str):
    """The first st.dataframe whose table has ``column`` (data frames without a selection are
    not widgets, so AppTest does not find them by key)."""
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    raise AssertionError(f"no dataframe with a {column!r} column")


def _current(at: AppTest) -> CurrentDigit | None:
    return at.session_state[KEY] if KEY in at.session_state else None


# ---- Baseline ----------------------------------------------------------------------------

def test_baseline_without_digit_offers_draw_and_test_image(artifacts):
    at = _page("baseline.py")
    assert not at.exception
    assert "No digit yet" in _texts(at)
    at.button(key="base_use_test").click().run()
    cur = _current(at)
    assert cur is not None and cur.test_index == 0 and cur.label == int(artifacts["labels"][0])


def test_baseline_with_digit_shows_both_models_and_test_table(artifacts):
    at = _page("baseline.py", _test_digit(artifacts, 1))
    assert not at.exception
    text = _texts(at)
    assert "ViT took" in text and "random forest took" in text
    assert "They agree" in text or "They disagree" in text
    table = _frame(at, "ms for one image")
    assert list(table["model"]) == ["ViT", "ViT + TTA", "random forest"]
    assert table["accuracy"].tolist() == [0.9896, 0.9948, 0.9756]            # read from evaluation.json
    # disagreement counts come from the table: ViT wrong at multiples of 97, forest at multiples of 41
    vit_wrong, forest_wrong = set(artifacts["vit_wrong"]), set(artifacts["forest_wrong"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["both wrong"] == f"{len(vit_wrong & forest_wrong):,}"
    assert metrics["ViT right, forest wrong"] == f"{len(forest_wrong - vit_wrong):,}"


def test_baseline_pick_disagreement_sets_current_digit(artifacts):
    at = _page("baseline.py")
    first = sorted(set(artifacts["forest_wrong"]) - set(artifacts["vit_wrong"]))[0]
    at.button(key=f"base_pick_{first}").click().run()
    assert not at.exception
    assert _current(at).test_index == first


def test_baseline_missing_artifacts_name_commands(no_artifacts):
    at = _page("baseline.py", CurrentDigit(np.zeros((28, 28), np.float32), "drawing"))
    assert not at.exception
    text = _texts(at)
    for cmd in ("python -m model.evaluate --write", "python -m model.analyze", "python -m model.train",
                "python -m model.forest"):
        assert cmd in text


@pytest.fixture
def corrupt_artifacts(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "corrupt"
    folder.mkdir()
    for name in ARTIFACT_NAMES.values():
        if name is not None:
            (folder / name).write_bytes(b"\x00 truncated by a failed copy")
    _point_paths(monkeypatch, folder)
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def test_baseline_with_corrupt_artifacts_says_which_and_still_works(corrupt_artifacts):
    """Every artifact file present but unreadable: one clear line per file the page needs, no traceback."""
    at = _page("baseline.py", CurrentDigit(np.zeros((28, 28), np.float32), "drawing"))
    assert not at.exception, [e.value for e in at.exception]
    said = [w.value for w in at.warning] + [e.value for e in at.error]
    assert any("cannot be loaded" in t and "python -m model.train" in t for t in said), said     # the weights
    for name in ("evaluation.json", "mean_attribution.npz", "test_eval.npz", paths.FOREST.name):
        assert any(f"`{name}` is unreadable" in t for t in said), (name, said)
    assert all("\n" not in t and "Traceback" not in t for t in said)
    assert [t.value for t in at.title] == ["Baseline: transformer vs random forest"]
    assert any(s.value == "Where they disagree" for s in at.subheader)     # the page ran to its end


# ---- Misclassified -----------------------------------------------------------------------

def test_misclassified_grid_and_table(artifacts):
    at = _page("misclassified.py")
    assert not at.exception
    df = _frame(at, "loss")
    assert sorted(df["index"]) == sorted(int(i) for i in artifacts["vit_wrong"])
    assert list(df["loss"]) == sorted(df["loss"], reverse=True)              # top losses first
    assert len(at.get("image")) >= 1                                          # thumbnails rendered
    at.radio(key="misc_model").set_value("forest").run()
    df = _frame(at, "loss")
    assert len(df) == len(artifacts["forest_wrong"])
    at.radio(key="misc_model").set_value("both").run()
    assert sorted(_frame(at, "loss")["index"]) == artifacts["both_wrong"]


def test_misclassified_filters_and_sort(artifacts):
    at = _page("misclassified.py")
    at.selectbox(key="misc_true").set_value(3).run()
    df = _frame(at, "loss")
    expected = [int(i) for i in artifacts["vit_wrong"] if artifacts["labels"][i] == 3]
    assert sorted(df["index"]) == expected and (df["pred"] == 4).all()
    at.selectbox(key="misc_pred").set_value(5).run()
    assert _frame(at, "loss").empty
    assert "No test images" in _texts(at)
    at.selectbox(key="misc_pred").set_value("any").run()
    at.selectbox(key="misc_true").set_value("any").run()
    at.radio(key="misc_sort").set_value("confidence").run()
    df = _frame(at, "loss")
    assert list(df["confidence"]) == sorted(df["confidence"], reverse=True)


def test_misclassified_pick_sets_current_and_url(artifacts):
    at = _page("misclassified.py")
    first = int(_frame(at, "loss")["index"].iloc[0])
    at.button(key=f"misc_pick_{first}").click().run()
    assert not at.exception
    assert _current(at).test_index == first
    assert at.query_params["image"] in (str(first), [str(first)])
    assert "Attention" in _texts(at) and "Attributions" in _texts(at)


@pytest.mark.parametrize("value", ["97", " 194 "])
def test_misclassified_url_selects_image(artifacts, value):
    at = _page("misclassified.py", image_param=value)
    assert not at.exception
    assert _current(at).test_index == int(value)
    assert not at.warning


@pytest.mark.parametrize("value, words", [
    ("abc", "not a whole number"), ("-5", "negative"), ("10000", "no test image 10000"),
    ("", "empty"), ("9" * 400, "far too large"), (["3", "4"], "2 times"),
])
def test_misclassified_bad_url_values_show_message_and_page_works(artifacts, value, words):
    at = _page("misclassified.py", image_param=value)
    assert not at.exception
    assert any(words in w.value for w in at.warning)
    assert _current(at) is None
    assert not _frame(at, "loss").empty                   # the page still works


def test_misclassified_missing_table_names_command(no_artifacts):
    at = _page("misclassified.py", image_param="12")
    assert not at.exception
    assert "python -m model.evaluate --write" in _texts(at)


# ---- Model card --------------------------------------------------------------------------

def test_model_card_reads_artifacts(artifacts):
    at = _page("model_card.py")
    assert not at.exception
    text = _texts(at)
    assert "python -m model.train --epochs 5" in text                        # training command from the file
    assert "Creative Commons" in text and "LeCun" in text
    names = {str(v) for df in (d.value for d in at.dataframe) for v in df.get("name", [])}
    assert {"linear-patch4", "conv-stem"} <= names                           # every experiments line shown
    assert "No digit yet" in text
    at = _page("model_card.py", _test_digit(artifacts, 5))
    assert not at.exception and "already normalised" in _texts(at)
    params = _frame(at, "parameters")
    assert params["parameters"].iloc[-1] == params["parameters"].iloc[:-1].sum()   # parts add up to the total


def test_model_card_preprocessing_steps_of_drawing(artifacts):
    raw = np.zeros((280, 280, 4), np.uint8)
    raw[60:220, 130:150, :3] = 255
    raw[60:220, 130:150, 3] = 255
    from data.preprocess import preprocess

    pre = preprocess(raw)
    assert pre.ok
    cur = CurrentDigit(pre.image, "drawing", raw=raw)
    at = _page("model_card.py", cur)
    assert not at.exception
    text = _texts(at)
    for step in pre.steps:
        assert step in text


def test_model_card_missing_artifacts(no_artifacts):
    at = _page("model_card.py")
    assert not at.exception
    text = _texts(at)
    assert "python -m model.train" in text and "python -m model.evaluate --write" in text


def test_misclassified_puts_current_test_image_in_url(artifacts):
    at = _page("misclassified.py", _test_digit(artifacts, 41))
    assert not at.exception
    assert at.query_params["image"] in ("41", ["41"])
    assert any("test image #41" in m.value for m in at.markdown)


def test_mistake_captions_read_each_row_of_the_table():
    import pandas as pd

    from dashboard.evaluation import mistake_captions

    df = pd.DataFrame({"index": [41, 7], "true": [4, 9], "pred": [9, 7], "confidence": [0.876, 0.5]})
    caption = mistake_captions(df)
    assert caption(41) == "#41: true 4, said 9 (88%)" and caption(7) == "#7: true 9, said 7 (50%)"
