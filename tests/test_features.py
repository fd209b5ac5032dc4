"""Shape features of digits (data.features) on synthetic images with known answers, against the
preprocessing's own hole count on MNIST, and the tables command on a small slice."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data import features as F

YY, XX = np.mgrid[:28, :28]


def ring(cy: float = 14, cx: float = 14, radius: float = 8, width: float = 2) -> np.ndarray:
    return (np.abs(np.hypot(YY - cy, XX - cx) - radius) <= width / 2).astype(np.float32)


def bar(width: int, length: int = 20, shear: float = 0.0) -> np.ndarray:
    """A vertical bar ``width`` px wide and ``length`` tall, each row shifted by -shear px per
    row below the centre (shear > 0: the top is to the right, the bar leans right)."""
    img = np.zeros((28, 28), np.float32)
    top = 14 - length // 2
    for y in range(top, top + length):
        x = int(round(14 - shear * (y - 14))) - width // 2
        img[y, x:x + width] = 1
    return img


def test_holes_ring_eight_and_solid_shapes():
    eight = np.maximum(ring(9, 14, 4.5, 2), ring(19, 14, 4.5, 2))
    disc = (np.hypot(YY - 14, XX - 14) <= 8).astype(np.float32)
    assert F.features(ring())["holes"] == 1
    assert F.features(eight)["holes"] == 2
    assert F.features(disc)["holes"] == 0
    assert F.features(bar(3))["holes"] == 0
    opened = ring().copy()
    opened[:, 13:16][YY[:, 13:16] < 10] = 0           # cut the ring open at the top
    assert F.features(opened)["holes"] == 0


def test_holes_ignore_a_pinhole_smaller_than_the_pen():
    blob = np.zeros((28, 28), np.float32)
    blob[6:22, 8:20] = 1
    blob[14, 14] = 0                                     # one pixel gap in a 12 px wide stroke
    assert F.features(blob)["holes"] == 0


def test_holes_match_preprocessing_count_on_mnist():
    from data.mnist import load_mnist
    from data.preprocess import count_holes

    images, _ = load_mnist("test")
    masks = F.ink_masks(images[:300] / 255.0)
    expected = np.array([count_holes(m) for m in masks])
    assert (F.count_holes(masks) == expected).all()
    assert expected.max() >= 2                           # the sample includes 8s, so the check has teeth


@pytest.mark.parametrize("shear", [0.5, 0.25, -0.4])
def test_slant_sign_and_angle(shear):
    slant = float(F.features(bar(3, shear=shear))["slant"])
    assert np.sign(slant) == np.sign(shear)
    assert slant == pytest.approx(np.degrees(np.arctan(shear)), abs=1.5)


def test_upright_and_mirrored_slant():
    assert abs(float(F.features(bar(3))["slant"])) < 1e-6
    img = bar(3, shear=0.5)
    assert float(F.features(img[:, ::-1])["slant"]) == pytest.approx(-float(F.features(img)["slant"]))


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 6])
def test_thickness_of_a_bar_of_known_width(width):
    assert float(F.features(bar(width))["thickness"]) == pytest.approx(width, rel=0.1)


def test_thickness_of_a_ring_and_horizontal_line():
    assert float(F.features(ring(width=4))["thickness"]) == pytest.approx(4, rel=0.15)
    assert float(F.features(bar(3).T.copy())["thickness"]) == pytest.approx(3, rel=0.1)
    thin, fat = (float(F.features(ring(width=w))["thickness"]) for w in (2, 5))
    assert fat > 2 * thin


def test_skeleton_is_one_pixel_wide_centre_line():
    skel = F.skeletonize(bar(5) > 0)
    rows = skel.sum(1)
    assert rows.max() == 1                               # one pixel per row
    assert set(np.nonzero(skel)[1]) <= {13, 14}          # on the bar's centre
    assert rows.sum() >= 14


def test_ink_box_and_empty_image():
    img = np.zeros((28, 28), np.float32)
    img[5:25, 9:17] = 0.5
    f = F.features(img)
    assert f["ink"] == pytest.approx(0.5 * 20 * 8)
    assert (f["width"], f["height"]) == (8, 20)
    empty = F.features(np.zeros((28, 28), np.float32))
    assert all(float(v) == 0 for v in empty.values())


def test_batch_equals_one_by_one():
    from data.mnist import load_mnist

    images, _ = load_mnist("test")
    x = images[:40] / 255.0
    batch = F.features(x)
    for i in (0, 7, 39):
        one = F.features(x[i])
        for k in F.FEATURES:
            assert float(batch[k][i]) == pytest.approx(float(one[k]))
    m = F.feature_matrix(images[:40], chunk=16)          # uint8 input, several chunks
    assert m.shape == (40, len(F.FEATURES))
    np.testing.assert_allclose(m[:, F.FEATURES.index("ink")], batch["ink"], rtol=1e-5)


def test_most_unusual_names_the_extreme_feature():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)
    table = rng.normal(0, 1, (1000, len(F.FEATURES))).astype(np.float32)
    table[labels == 7, F.FEATURES.index("slant")] = np.arange(100)              # 7s slant 0..99
    values = {k: 0.0 for k in F.FEATURES}
    values["slant"] = 97.5
    out = F.most_unusual(values, table, labels, 7)
    assert out["feature"] == "slant" and out["direction"] == "more"
    assert out["share"] == pytest.approx(0.98)
    assert out["sentence"].startswith("Your 7 leans further right than 98 % of the 100 7s")
    assert out["percentiles"]["slant"] == pytest.approx(98.0)
    values["slant"] = -5.0
    out = F.most_unusual(values, table, labels, 7)
    assert out["feature"] == "slant" and out["direction"] == "less" and out["share"] == 1.0


def test_percentiles_count_ties_half():
    v = np.array([0, 0, 1, 1, 1, 1, 2, 2, 2, 2], float)
    assert F.percentile_of(v, 1) == pytest.approx((0.2, 0.4, 0.4))
    assert F.mid_percentile(v, 1) == pytest.approx(40.0)
    assert F.mid_percentile(v, 5) == 100.0


def test_histogram_edges_and_clipping():
    v = np.array([0, 1, 1, 2, 2, 2, 9], float)
    edges = F.bin_edges("holes", v)
    assert np.allclose(edges, np.arange(-0.5, 10.0, 1.0))
    counts = F.histogram(v, edges)
    assert counts.sum() == 7 and counts[2] == 3
    cont = np.linspace(0, 1, 1001)
    e = F.bin_edges("ink", cont, bins=10)
    assert len(e) == 11 and F.histogram(np.append(cont, 50.0), e).sum() == 1002   # the outlier lands in the last bin


def test_before_image_keeps_the_drawing_size_and_slant():
    from data.preprocess import preprocess

    raw = np.zeros((280, 280), np.uint8)
    for y in range(40, 240):                              # a leaning stroke 20 px wide, 200 px tall
        x = int(140 + 0.3 * (140 - y))
        raw[y, x - 10:x + 10] = 255
    pre = preprocess(raw)
    before = F.features(F.before_image(pre.steps))
    after = F.features(pre.image)
    assert before["height"] == pytest.approx(20, abs=1)   # 200 px of a 280 px canvas shrunk to 28
    assert after["height"] == pytest.approx(20, abs=1)   # scaled to MNIST's 20 px box
    assert before["thickness"] == pytest.approx(2 * np.cos(np.arctan(0.3)), rel=0.25)
    assert before["slant"] > 10 and after["slant"] > 10
    assert after["slant"] == pytest.approx(before["slant"], abs=4)   # preprocessing does not deskew
    assert F.before_image({}) is None


def test_tables_command_on_a_small_slice(tmp_path, capsys):
    from data.mnist import load_mnist

    out = tmp_path / "tables.npz"
    assert F.main(["--write", "--out", str(out), "--limit", "300", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["train_images"] == 300 and summary["written"] == str(out)
    images, labels = load_mnist("train")
    with np.load(out) as z:
        t = {k: z[k] for k in z.files}
    assert t["train_counts"].tolist() == np.bincount(labels[:300], minlength=10).tolist()
    assert t["test_counts"].sum() == 10000
    assert t["features"].shape == (300, len(F.FEATURES)) and t["features"].dtype == np.float16
    assert [str(n) for n in t["feature_names"]] == list(F.FEATURES)
    d = int(labels[0])
    np.testing.assert_allclose(t["mean"][d], (images[:300][labels[:300] == d] / 255.0).mean(0), atol=1e-6)
    assert t["percentiles"].shape == (11, len(F.FEATURES), len(F.PERCENTILES))
    p = t["percentiles"][0]
    assert (np.diff(p, axis=1) >= 0).all()                # percentiles increase with q
    assert p[F.FEATURES.index("height"), 3] == pytest.approx(np.median(t["features"][:, F.FEATURES.index("height")]))
    assert "--limit 300" in str(t["command"])


def test_data_imports_nothing_from_model_and_names_the_same_table_file():
    """data/ is the bottom layer: no module in it imports model/ (not even lazily inside a function)."""
    import ast

    from data.features import DATA_TABLES
    from model import paths

    root = Path(__file__).resolve().parents[1] / "data"
    for f in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "model" or n.startswith("model.") for n in names), f"{f.name} imports {names}"
    assert DATA_TABLES == paths.DATA_TABLES


def test_one_name_for_the_ink_threshold_and_the_image_side():
    """28 and the 0.2 ink threshold are defined once (data.preprocess) in data/ and model/: no other
    module-level constant named like an image side or an ink threshold holds either value (a 0.2
    that is a share of something else, such as a box's width, is another quantity)."""
    import ast
    import re

    from data.preprocess import IMAGE_SIDE, INK_THRESHOLD

    assert (IMAGE_SIDE, INK_THRESHOLD) == (28, 0.2)
    root = Path(__file__).resolve().parents[1]
    found = []
    for f in sorted([*root.glob("data/*.py"), *root.glob("model/**/*.py")]):
        if f.name == "preprocess.py" and f.parent.name == "data":
            continue
        for node in ast.parse(f.read_text()).body:
            targets = (node.targets if isinstance(node, ast.Assign) else [node.target]
                       if isinstance(node, ast.AnnAssign) else [])
            names = " ".join(t.id for t in targets if isinstance(t, ast.Name))
            if (isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant)
                    and type(node.value.value) in (int, float) and node.value.value in (28, 0.2)
                    and re.search(r"INK|THRESH|SIDE|SIZE|PIXEL|MNIST", names)):
                found.append(f"{f.relative_to(root)}:{node.lineno}")
    assert found == []
