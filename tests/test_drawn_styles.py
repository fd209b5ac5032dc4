"""Both writing styles of 1 and 7, drawn on the canvas, through the app's whole path
(rasterise, preprocess, the shipped ViT's calibrated prediction): every style is read right.

The drawings are synthetic (data/drawn.py) with random size, place, slant, pen and proportions;
the seed differs from the one benchmarks/drawn_styles.py reports, so this is a held-out check of
the shipped model, not of the benchmark's own sample."""
from __future__ import annotations

import numpy as np
import pytest

from data.drawn import LABELS, STYLES, drawn_digit, drawn_set
from data.preprocess import preprocess
from data.strokes import render_strokes

N = 24


@pytest.fixture(scope="module")
def results(shipped_vit):
    from model.inference import headline

    out: dict[str, list[tuple[int, float]]] = {s: [] for s in STYLES}
    for style, objs in drawn_set(N, seed=2026):
        pre = preprocess(render_strokes(objs))
        assert pre.image is not None, f"a drawn {style} was refused: {pre.message}"
        h = headline(shipped_vit, pre.image)
        out[style].append((h.digit, float(h.probabilities[LABELS[style]])))
    return out


@pytest.mark.parametrize("style", STYLES)
def test_each_writing_style_is_read_right(results, style):
    digits = [d for d, _ in results[style]]
    right = sum(d == LABELS[style] for d in digits)
    assert right >= N - 1, f"{style}: {right}/{N} right, read as {sorted(set(digits) - {LABELS[style]})}"


def test_flagged_ones_are_not_confidently_sevens(results):
    # when a flagged 1 is misread, the model should at least show its doubt
    p_true = np.array([p for _, p in results["1 flag"] + results["1 flag+foot"]])
    assert np.median(p_true) > 0.8 and p_true.min() > 0.05


def test_drawings_differ_by_style_and_seed():
    rng = np.random.default_rng(0)
    a, b = drawn_digit("1 flag", rng), drawn_digit("1 flag", rng)
    assert a != b and len(drawn_digit("7 crossed", rng)) == 2 and len(drawn_digit("1 plain", rng)) == 1
    with pytest.raises(ValueError):
        drawn_digit("4 open", rng)
