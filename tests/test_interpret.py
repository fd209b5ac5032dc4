"""Queries of model.interpret against small hand-made tables whose answers are known."""
from __future__ import annotations

import numpy as np
import pytest

from model.interpret import Interpretation, answer_forms_at, parse_image_param, selection_to_filter, selection_to_patch


def _row(label: int, pred: int, p_pred: float, p_true: float | None = None) -> np.ndarray:
    """Ten probabilities: ``p_pred`` on ``pred``, ``p_true`` on ``label`` (if different), rest even."""
    p = np.zeros(10)
    p[pred] = p_pred
    if pred != label:
        p[label] = p_true
    rest = [d for d in range(10) if p[d] == 0]
    p[rest] = (1 - p.sum()) / len(rest)
    return p


# image: (label, vit pred, vit p(pred), vit p(true)), (forest pred, forest p(pred), forest p(true))
CASES = [
    (0, (0, 0.9, None), (0, 0.7, None)),
    (1, (7, 0.8, 0.1), (1, 0.6, None)),
    (2, (2, 0.95, None), (3, 0.5, 0.3)),
    (3, (5, 0.9, 0.05), (5, 0.4, 0.3)),
    (1, (7, 0.6, 0.3), (4, 0.5, 0.2)),
    (7, (7, 0.99, None), (7, 0.8, None)),
    (5, (3, 0.7, 0.2), (5, 0.9, None)),
    (7, (7, 0.6, None), (1, 0.55, 0.35)),
]
LABELS = np.array([c[0] for c in CASES])
VIT = np.stack([_row(c[0], *c[1]) for c in CASES])
FOREST = np.stack([_row(c[0], *c[2]) for c in CASES])


@pytest.fixture
def interp() -> Interpretation:
    return Interpretation.from_arrays(LABELS, vit_probs=VIT, vit_tta_probs=VIT.copy(),
                                      forest_probs=FOREST)


def test_rows_are_probabilities():
    np.testing.assert_allclose(VIT.sum(1), 1)
    np.testing.assert_allclose(FOREST.sum(1), 1)


def test_predictions_confidences_losses(interp):
    np.testing.assert_array_equal(interp.predictions("vit"), [0, 7, 2, 5, 7, 7, 3, 7])
    np.testing.assert_array_equal(interp.predictions("forest"), [0, 1, 3, 5, 4, 7, 5, 1])
    np.testing.assert_allclose(interp.confidences("vit"), [0.9, 0.8, 0.95, 0.9, 0.6, 0.99, 0.7, 0.6])
    np.testing.assert_allclose(interp.losses("vit")[[1, 3]], [-np.log(0.1), -np.log(0.05)])
    assert interp.accuracy("vit") == pytest.approx(4 / 8)
    assert interp.accuracy("forest") == pytest.approx(4 / 8)


def test_zero_probability_gives_finite_loss():
    p = np.zeros((1, 10))
    p[0, 3] = 1.0
    it = Interpretation.from_arrays(np.array([4]), vit_probs=p)
    assert np.isfinite(it.losses("vit")[0]) and it.losses("vit")[0] > 20


def test_top_losses_order_and_filters(interp):
    losses, idx = interp.top_losses("vit", k=3)
    # vit p(true): #3 0.05, #1 0.1, #6 0.2, #4 0.3 ...
    np.testing.assert_array_equal(idx, [3, 1, 6])
    assert list(losses) == sorted(losses, reverse=True)
    _, idx = interp.top_losses("vit", true=1)
    np.testing.assert_array_equal(idx, [1, 4])
    _, idx = interp.top_losses("vit", pred=7, only_wrong=True)
    np.testing.assert_array_equal(idx, [1, 4])
    _, idx = interp.top_losses("vit")
    assert len(idx) == 8 and idx[-1] == 5        # the 0.99-confident correct 7 has the smallest loss


def test_confusion_matrix(interp):
    cm = interp.confusion_matrix("vit")
    assert cm.shape == (10, 10) and cm.sum() == 8
    assert cm[1, 7] == 2 and cm[3, 5] == 1 and cm[5, 3] == 1 and cm[7, 7] == 2 and cm[0, 0] == 1
    assert np.trace(cm) == 4


def test_most_confused(interp):
    assert interp.most_confused("vit") == [(1, 7, 2), (3, 5, 1), (5, 3, 1)]
    assert interp.most_confused("vit", min_count=2) == [(1, 7, 2)]
    assert interp.most_confused("forest") == [(1, 4, 1), (2, 3, 1), (3, 5, 1), (7, 1, 1)]


def test_per_class_accuracy(interp):
    acc = interp.per_class_accuracy("vit")
    assert acc[0] == 1 and acc[1] == 0 and acc[7] == 1 and acc[5] == 0
    assert np.isnan(acc[9])                       # no 9 in the table


def test_disagreements(interp):
    d = interp.disagreements()
    assert d.counts == {"both_right": 2, "vit_only": 2, "forest_only": 2, "both_wrong": 2}
    np.testing.assert_array_equal(d.indices["both_right"], [0, 5])
    np.testing.assert_array_equal(d.indices["vit_only"], [2, 7])
    np.testing.assert_array_equal(d.indices["forest_only"], [1, 6])
    np.testing.assert_array_equal(d.indices["both_wrong"], [3, 4])
    assert set(interp.disagreements("forest", "vit_tta").counts) == {"both_right", "forest_only", "vit_tta_only",
                                                                    "both_wrong"}
    with pytest.raises(ValueError):
        interp.disagreements("vit", "vit")


def test_misclassified_sort_and_filters(interp):
    df = interp.misclassified("vit")
    assert list(df["index"]) == [3, 1, 6, 4]                        # by loss
    assert list(df.columns[:6]) == ["index", "true", "pred", "confidence", "p_true", "loss"]
    df = interp.misclassified("vit", sort="confidence")
    assert list(df["index"]) == [3, 1, 6, 4]                        # 0.9, 0.8, 0.7, 0.6
    df = interp.misclassified("forest", sort="confidence")
    assert list(df["index"]) == [7, 2, 4, 3]                        # 0.55, 0.5 (#2 before #4), 0.4
    df = interp.misclassified("forest")
    assert list(df["index"]) == [4, 2, 3, 7]                        # p_true 0.2, 0.3, 0.3, 0.35
    assert list(interp.misclassified("vit", true=1)["index"]) == [1, 4]
    assert list(interp.misclassified("vit", true=1, pred=7)["index"]) == [1, 4]
    assert interp.misclassified("vit", true=0).empty
    both = interp.misclassified("both")
    assert sorted(both["index"]) == [3, 4]
    assert list(both["forest_pred"][both["index"] == 4]) == [4]
    with pytest.raises(ValueError):
        interp.misclassified("vit", sort="name")


def test_unknown_model_names_available():
    it = Interpretation.from_arrays(LABELS, vit_probs=VIT)
    with pytest.raises(KeyError, match="vit"):
        it.predictions("forest")


def test_from_npz_roundtrip(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, labels=LABELS, vit_probs=VIT.astype(np.float32), vit_tta_probs=VIT.astype(np.float32),
             forest_probs=FOREST.astype(np.float32))
    it = Interpretation.from_npz(path)
    assert it.models == ["vit", "vit_tta", "forest"]
    assert it.most_confused("vit")[0] == (1, 7, 2)


def test_bad_shapes_refused():
    with pytest.raises(ValueError):
        Interpretation.from_arrays(LABELS, vit_probs=VIT[:3])
    with pytest.raises(ValueError):
        Interpretation.from_arrays(np.array([10]), vit_probs=np.full((1, 10), 0.1))


@pytest.mark.parametrize("points, expected", [
    ([], None),
    (None, None),
    ([{"x": 7, "y": 1, "point_index": 17}], (1, 7)),            # x = predicted, y = true
    ([{"x": "3", "y": "5"}], (5, 3)),                           # category axes give strings
    ([{"customdata": [2, 8], "x": 0, "y": 0}], (2, 8)),         # customdata wins
    ([{"x": 12, "y": 1}, {"x": 4, "y": 9}], (9, 4)),            # invalid first point skipped
    ([{"x": None, "y": 1}], None),
    (["junk"], None),
])
def test_selection_to_filter(points, expected):
    assert selection_to_filter(points) == expected


@pytest.mark.parametrize("value, index", [
    (None, None), ([], None), ("0", 0), ("9999", 9999), (" 42 ", 42), (["17"], 17), ("007", 7),
])
def test_parse_image_param_ok(value, index):
    assert parse_image_param(value) == (index, None)


@pytest.mark.parametrize("value, words", [
    ("", "empty"),
    ("   ", "empty"),
    ("abc", "not a whole number"),
    ("1.5", "not a whole number"),
    ("1e3", "not a whole number"),
    ("٣", "not a whole number"),                 # non-ASCII digit
    ("-1", "negative"),
    ("10000", "no test image 10000"),
    ("9" * 5000, "far too large"),             # would exceed Python's int-parsing digit limit
    (["1", "2"], "2 times"),
    ("<script>", "not a whole number"),
])
def test_parse_image_param_messages(value, words):
    index, message = parse_image_param(value)
    assert index is None and words in message
    assert "<" not in message and "script" not in message        # never echoes the user's text


def test_parse_image_param_range_follows_table_size():
    assert parse_image_param("5", n_images=5) == (None, "There is no test image 5; test images are numbered 0 to 4.")
    assert parse_image_param("4", n_images=5) == (4, None)


# ---- Inside page helpers -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point, patch", [
    ({"x": 21.5, "y": 5.5}, (1, 5)),          # a marker's centre (guess_figure: c * 4 + 1.5)
    ({"x": 22, "y": 6}, (1, 5)),              # a heatmap pixel of the same patch
    ({"x": -0.5, "y": 27.4}, (6, 0)),         # the image's edges
    ({"x": 3.49, "y": 3.5}, (1, 0)),          # pixel 3 is the last of patch 0, pixel 4 the first of patch 1
    ({"x": 99, "y": -9}, (0, 6)),             # outside the image: clamped to the edge patches
])
def test_selection_to_patch_maps_a_click_to_the_patch_under_it(point, patch):
    assert selection_to_patch([point]) == patch


def test_selection_to_patch_skips_points_without_coordinates():
    assert selection_to_patch(None) is None and selection_to_patch([]) is None
    assert selection_to_patch([{"x": None, "y": 3}, {"x": 9, "y": 9}]) == (2, 2)


def test_answer_forms_at_is_the_first_stage_that_stays_the_answer():
    lens = np.eye(10)[[1, 3, 2, 7, 2, 2]]                   # reads 2 at stage 2, leaves, and is back from stage 4
    assert answer_forms_at(lens, 2) == 4
    assert answer_forms_at(np.eye(10)[[2, 2]], 2) == 0
    assert answer_forms_at(lens, 7) is None                 # the last stage is not a 7
