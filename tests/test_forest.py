"""model/forest.py: the random-forest baseline, its safe (.npz, no pickle) storage and the shipped file."""
from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest

from data.mnist import load_mnist
from model import paths
from model.forest import (
    CompactForest,
    ForestFileError,
    forest_predict_proba,
    load_compact_forest,
    load_forest,
    save_forest,
    to_features,
    total_nodes,
    train_forest,
)


@pytest.fixture(scope="module")
def small_forest():
    images, labels = load_mnist("train")
    return train_forest(images[:1500], labels[:1500], n_jobs=1, n_estimators=8)


def test_to_features_scales_and_checks():
    u8 = np.full((2, 28, 28), 255, np.uint8)
    assert to_features(u8).shape == (2, 784) and to_features(u8).max() == 1.0
    f = np.full((28, 28), 2.0, np.float32)
    assert to_features(f).shape == (1, 784) and to_features(f).max() == 1.0     # clipped to [0, 1]
    assert to_features(np.zeros((3, 1, 28, 28))).shape == (3, 784)
    with pytest.raises(ValueError):
        to_features(np.zeros((2, 32, 32)))
    with pytest.raises(ValueError):
        to_features(np.full((28, 28), np.nan))


def test_train_predict_and_round_trip(tmp_path, small_forest):
    images, labels = load_mnist("test")
    x = images[:300] / 255.0
    p = forest_predict_proba(small_forest, x)
    assert p.shape == (300, 10) and p.dtype == np.float32
    assert np.allclose(p.sum(1), 1, atol=1e-5)
    assert (p.argmax(1) == labels[:300]).mean() > 0.7         # 8 small trees on 1,500 images
    assert small_forest.n_jobs == 1
    assert forest_predict_proba(small_forest, x[0]).shape == (1, 10)
    # uint8 and [0, 1] floats are the same input
    assert np.allclose(forest_predict_proba(small_forest, images[:5]), p[:5])

    path = tmp_path / "f.npz"
    save_forest(small_forest, path)
    assert zipfile.is_zipfile(path) and path.is_file()      # written under the exact name given
    loaded = load_forest(path)
    assert np.array_equal(forest_predict_proba(loaded, x), p)
    assert np.allclose(loaded.feature_importances_, small_forest.feature_importances_, rtol=0, atol=1e-12)
    assert total_nodes(loaded) == sum(t.tree_.node_count for t in small_forest.estimators_)
    assert loaded.n_jobs == 1


def test_training_is_seeded():
    images, labels = load_mnist("train")
    a = train_forest(images[:300], labels[:300], n_jobs=1, n_estimators=3)
    b = train_forest(images[:300], labels[:300], n_jobs=1, n_estimators=3)
    x = load_mnist("test")[0][:50]
    assert np.array_equal(forest_predict_proba(a, x), forest_predict_proba(b, x))


def test_missing_file(tmp_path):
    with pytest.raises(ForestFileError, match="missing"):
        load_forest(tmp_path / "nope.npz")


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a forest" * 100)
    with pytest.raises(ForestFileError, match="not a readable forest file"):
        load_forest(path)


class _Boom:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_objects_are_refused_without_being_unpickled(tmp_path, small_forest, capsys):
    path = tmp_path / "forest.pkl"
    path.write_bytes(pickle.dumps(small_forest))
    with pytest.raises(ForestFileError):
        load_forest(path)
    # an .npz whose arrays hold pickled objects is refused too, and the pickle never runs
    path = tmp_path / "evil.npz"
    with open(path, "wb") as fh:
        np.savez(fh, format=np.array([_Boom()], dtype=object))
    with pytest.raises(ForestFileError, match="not a readable forest file"):
        load_forest(path)
    assert "code ran" not in capsys.readouterr().out


def _saved_arrays(forest, tmp_path) -> dict:
    path = tmp_path / "ok.npz"
    save_forest(forest, path)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _write(tmp_path, arrays: dict):
    path = tmp_path / "edited.npz"
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def test_other_npz_files_are_refused(tmp_path, small_forest):
    arrays = _saved_arrays(small_forest, tmp_path)
    with pytest.raises(ForestFileError, match="missing"):
        load_forest(_write(tmp_path, {"weights": np.zeros(3)}))
    with pytest.raises(ForestFileError, match="not a digit-forest"):
        load_forest(_write(tmp_path, {**arrays, "format": np.array("something-else")}))


@pytest.mark.parametrize("field, corrupt", [
    ("left_child", lambda a: np.where(a > 0, a + 10**9, a)),      # children beyond the tree
    ("right_child", lambda a: np.where(a > 0, 0, a)),              # a child pointing back up: a loop
    ("feature", lambda a: np.where(a >= 0, 5000, a)),              # pixel 5000 of 784
])
def test_corrupt_tree_structure_is_refused(tmp_path, small_forest, field, corrupt):
    arrays = _saved_arrays(small_forest, tmp_path)
    arrays[field] = corrupt(arrays[field])
    with pytest.raises(ForestFileError, match="corrupt"):
        load_forest(_write(tmp_path, arrays))


def test_inconsistent_lengths_are_refused(tmp_path, small_forest):
    arrays = _saved_arrays(small_forest, tmp_path)
    arrays["threshold"] = arrays["threshold"][:-1]
    with pytest.raises(ForestFileError):
        load_forest(_write(tmp_path, arrays))


def test_wrong_class_count_is_refused(tmp_path):
    images, labels = load_mnist("train")
    keep = labels[:600] < 3
    three = train_forest(images[:600][keep], labels[:600][keep], n_jobs=1, n_estimators=2)
    path = tmp_path / "three.npz"
    save_forest(three, path)
    with pytest.raises(ForestFileError, match="10-class"):
        load_forest(path)


def test_shipped_forest_is_sensible():
    forest = load_forest(paths.FOREST)
    assert paths.FOREST.stat().st_size < 50e6                 # ships in the repository
    images, labels = load_mnist("test")
    acc = float((forest_predict_proba(forest, images[:1000]).argmax(1) == labels[:1000]).mean())
    assert acc >= 0.95, f"shipped forest accuracy on the first 1,000 test images: {acc:.1%}"
    assert total_nodes(forest) > 1000 and len(forest.estimators_) >= 10


def test_compact_forest_gives_sklearns_probabilities_exactly(tmp_path, small_forest):
    """The app's lean forest (int32/int16/float32 arrays, leaves only) against the sklearn
    objects it replaces, bit for bit: MNIST uint8 images, [0, 1] floats between the uint8 steps
    (preprocessed drawings) and values right at the split thresholds."""
    path = tmp_path / "f.npz"
    save_forest(small_forest, path)
    compact = load_compact_forest(path)
    assert isinstance(compact, CompactForest) and total_nodes(compact) == total_nodes(small_forest)
    images, _ = load_mnist("test")
    rng = np.random.default_rng(0)
    noisy = np.clip(images[:200] / 255.0 + rng.normal(0, 0.03, (200, 28, 28)), 0, 1).astype(np.float32)
    at_split = np.zeros((8, 784), np.float64)
    for est in small_forest.estimators_:              # pixels set to each tree's root threshold
        t = est.tree_
        at_split[:, t.feature[0]] = t.threshold[0]
    at_split = np.clip(at_split, 0, 1).reshape(8, 28, 28)
    for x in (images[:300], noisy, at_split):
        assert np.array_equal(forest_predict_proba(compact, x), forest_predict_proba(small_forest, x))
        assert np.array_equal(compact.predict_proba(to_features(x)), small_forest.predict_proba(to_features(x)))


def test_compact_forest_refuses_what_load_forest_refuses(tmp_path, small_forest):
    arrays = _saved_arrays(small_forest, tmp_path)
    arrays["left_child"] = np.where(arrays["left_child"] > 0, 0, arrays["left_child"])
    with pytest.raises(ForestFileError, match="corrupt"):
        load_compact_forest(_write(tmp_path, arrays))


def test_shipped_forest_compact_matches_sklearn():
    """The shipped file read both ways gives identical probabilities on MNIST test images."""
    images, _ = load_mnist("test")
    x = images[:500]
    expected = forest_predict_proba(load_forest(paths.FOREST), x)
    compact = load_compact_forest(paths.FOREST)
    assert np.array_equal(forest_predict_proba(compact, x), expected)
    # lean: well under the ~150 MB of sklearn's node records and float64 values
    size = sum(a.nbytes for a in (compact.left, compact.right, compact.feature, compact.threshold, compact.leaf_values))
    assert size < 60e6
