"""model/forest.py: the random-forest baseline, its safe (skops) storage and the shipped file."""
from __future__ import annotations

import functools
import pickle
import zipfile

import numpy as np
import pytest

from data.mnist import load_mnist
from model import paths
from model.forest import (
    ForestFileError,
    forest_predict_proba,
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

    path = tmp_path / "f.skops"
    save_forest(small_forest, path)
    assert zipfile.is_zipfile(path)
    loaded = load_forest(path)
    assert np.array_equal(forest_predict_proba(loaded, x), p)
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
        load_forest(tmp_path / "nope.skops")


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.skops"
    path.write_bytes(b"this is not a forest" * 100)
    with pytest.raises(ForestFileError, match="not a readable skops"):
        load_forest(path)


def test_pickle_file_is_refused_without_being_unpickled(tmp_path, small_forest):
    path = tmp_path / "forest.pkl"
    path.write_bytes(pickle.dumps(small_forest))
    with pytest.raises(ForestFileError):
        load_forest(path)


def test_untrusted_types_are_refused(tmp_path):
    import skops.io as sio

    path = tmp_path / "evil.skops"
    sio.dump({"call": functools.partial(print, "code ran")}, path)
    with pytest.raises(ForestFileError, match="not trusted"):
        load_forest(path)


@pytest.mark.filterwarnings("ignore:lbfgs failed to converge")
def test_wrong_model_kinds_are_refused(tmp_path):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    images, labels = load_mnist("train")
    path = tmp_path / "logreg.skops"
    sio.dump(LogisticRegression(max_iter=20).fit(to_features(images[:200]), labels[:200]), path)
    with pytest.raises(ForestFileError, match="not a RandomForestClassifier"):
        load_forest(path)

    keep = labels[:600] < 3
    three = train_forest(images[:600][keep], labels[:600][keep], n_jobs=1, n_estimators=2)
    path = tmp_path / "three.skops"
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
