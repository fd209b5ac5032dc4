"""Random-forest baseline on the same 28x28 pixels the ViT reads: ``python -m model.forest``.

A random forest (Breiman, 2001) votes with many decision trees, each grown on a bootstrap
sample of the 60,000 training images and choosing each split among a random subset of
sqrt(784) = 28 pixels. It sees the image as 784 independent numbers (no notion of
neighbouring pixels), which is exactly what makes it a useful contrast to the transformer.

Inputs are the preprocessed pixels as floats in [0, 1], flattened to 784 values, so the
forest and the ViT get identical inputs (``forest_predict_proba`` takes the same (28, 28) or
(B, 28, 28) arrays as ``model.inference.predict_proba``).

Size versus accuracy (measured here, seed 0, all 60k training images, 10k test images;
sizes are the compressed file):

====================================  ========  ============  ==========
configuration                          nodes     test acc.     file
====================================  ========  ============  ==========
60 trees, max_leaf_nodes=2000           240 k     96.27 %        6.9 MB
60 trees, min_samples_leaf=3            390 k     96.75 %        9.8 MB
60 trees, fully grown                   600 k     96.80 %       12.0 MB
100 trees, fully grown (shipped)       ~1.0 M     see below    ~16 MB
====================================  ========  ============  ==========

A default forest *pickled* is over 100 MB, but most of that is redundancy: fully grown trees
end in pure leaves, so the per-node class-probability arrays are almost all 0s and 1s and
deflate extremely well. Capping the leaves (``max_leaf_nodes``) or leaf size saves little
space and costs accuracy, so the shipped forest is sklearn's default of 100 fully grown
trees, which keeps the baseline a recognisable, standard one. The exact accuracy, node count
and file size of the shipped file are printed by this command and recorded by
``python -m model.evaluate --write`` in ``model/artifacts/evaluation.json``.
(The configurations above were compared on the test set; only four were tried and the
choice is driven by file size, not by tuning accuracy.)

Storage: the trees' own arrays (children, split feature and threshold, class fractions per
node) in one compressed ``.npz`` read with ``allow_pickle=False``; :func:`load_forest`
checks their structure and rebuilds the scikit-learn objects, so loading runs no code from
the file (pickle would). An earlier version stored the forest with skops: loading that took
about 20 s and 610 MB of resident memory on this machine (skops rebuilds a million nodes
through Python objects), against under a second and about 150 MB for the arrays, which
matters on Streamlit Community Cloud's smallest (690 MB) containers. The app goes further:
:func:`load_compact_forest` reads the same file into :class:`CompactForest` (prediction only,
small dtypes, no scikit-learn import), about 35 MB resident with identical probabilities
(``python benchmarks/forest_memory.py``).
Prediction runs with ``n_jobs=1``: for one image, joblib's worker start-up costs far more
than walking 100 trees.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model import paths
from model.memory import return_free_memory

if TYPE_CHECKING:   # scikit-learn is imported only where a forest is trained or rebuilt (80 MB of imports)
    from sklearn.ensemble import RandomForestClassifier

DEFAULT_PARAMS: dict = dict(n_estimators=100, max_features="sqrt", min_samples_leaf=1, random_state=0)



class ForestFileError(ValueError):
    """A forest file that is missing, malformed or contains types that are not trusted."""


def to_features(images: np.ndarray) -> np.ndarray:
    """(28, 28) or (B, 28, 28) images -> (B, 784) float32 in [0, 1].

    uint8 input is divided by 255; float input must already be in [0, 1].
    """
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or arr.shape[1:] != (28, 28):
        raise ValueError(f"expected 28x28 images, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / 255.0
    else:
        x = arr.astype(np.float32)
        if not np.isfinite(x).all():
            raise ValueError("images contain NaN or infinite values")
        x = np.clip(x, 0.0, 1.0)
    return np.ascontiguousarray(x.reshape(len(x), 784))


def train_forest(images_uint8: np.ndarray, labels: np.ndarray, n_jobs: int = 2, **params) -> RandomForestClassifier:
    """Fit a seeded random forest on uint8 images (N, 28, 28) and labels (N,).

    ``params`` override :data:`DEFAULT_PARAMS` (any RandomForestClassifier argument). The
    returned forest has ``n_jobs=1`` so that predicting one image stays fast.
    """
    from sklearn.ensemble import RandomForestClassifier

    kwargs = {**DEFAULT_PARAMS, **params}
    forest = RandomForestClassifier(n_jobs=n_jobs, **kwargs)
    forest.fit(to_features(images_uint8), np.asarray(labels, dtype=np.int64))
    forest.n_jobs = 1
    return forest


FORMAT = "digit-forest-npz-v1"

# Per-node fields of sklearn's tree arrays, stored one numpy array each in the .npz file
_NODE_FIELDS = ("left_child", "right_child", "feature", "threshold", "impurity",
                "n_node_samples", "weighted_n_node_samples", "missing_go_to_left")


_COMPACT_FIELDS = ("left_child", "right_child", "feature", "threshold")   # what CompactForest reads per node


def _node_dtype() -> np.dtype:
    """The structured dtype sklearn's ``Tree`` uses for its nodes (taken from sklearn itself)."""
    from sklearn.tree._tree import Tree

    return Tree(1, np.array([2], dtype=np.intp), 1).__getstate__()["nodes"].dtype


def save_forest(forest: RandomForestClassifier, path: Path | str) -> None:
    """Write the forest as plain numeric arrays in one compressed ``.npz`` file (no pickle)."""
    states = [est.tree_.__getstate__() for est in forest.estimators_]
    nodes = np.concatenate([s["nodes"] for s in states])
    counts = [int(s["node_count"]) for s in states]
    params = {k: v for k, v in forest.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))}
    arrays = {f: np.ascontiguousarray(nodes[f]) for f in _NODE_FIELDS}
    arrays.update(
        format=np.array(FORMAT),
        params=np.array(json.dumps(params)),
        classes=np.asarray(forest.classes_, dtype=np.int64),
        n_features=np.array(int(forest.n_features_in_)),
        offsets=np.cumsum([0] + counts).astype(np.int64),              # (trees + 1,)
        max_depth=np.array([int(s["max_depth"]) for s in states], np.int64),
        # class fractions per node; float32 is exact for the pure leaves of fully grown trees
        values=np.concatenate([s["values"][:, 0, :] for s in states]).astype(np.float32),  # (nodes, classes)
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:          # a file object: numpy would otherwise append ".npz"
        np.savez_compressed(fh, **arrays)
    os.replace(tmp, path)


def _check_trees(z: dict[str, np.ndarray], n_features: int) -> None:
    """Refuse arrays that would make sklearn's tree walker read out of bounds or loop."""
    offsets, n = z["offsets"], len(z["left_child"])
    if offsets.ndim != 1 or len(offsets) < 2 or offsets[0] != 0 or offsets[-1] != n or np.any(np.diff(offsets) < 1):
        raise ForestFileError("tree offsets are inconsistent")
    if (any(len(z[f]) != n for f in _NODE_FIELDS if f in z) or z["values"].shape[0] != n
            or len(z["max_depth"]) != len(offsets) - 1):
        raise ForestFileError("node arrays have different lengths")
    tree = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    local = np.arange(n) - offsets[tree]                  # index of each node inside its tree
    size = np.diff(offsets)[tree]
    left, right, feature = z["left_child"], z["right_child"], z["feature"]
    leaf = left == -1
    # sklearn builds depth-first: a child's index is always above its parent's, so no cycles
    ok_children = np.where(leaf, right == -1, (left > local) & (left < size) & (right > local) & (right < size))
    ok_feature = np.where(leaf, True, (feature >= 0) & (feature < n_features))
    if not (ok_children.all() and ok_feature.all()):
        raise ForestFileError("tree structure is corrupt (child or feature index out of range)")


def _read_forest(path: Path | str, node_fields: tuple[str, ...] = _NODE_FIELDS) -> dict[str, np.ndarray]:
    """The checked arrays of a forest file written by :func:`save_forest` (``allow_pickle=False``).
    Every field must be in the file, but of the per-node fields only ``node_fields`` are read
    (each is a compressed array of a million nodes: decompressing costs CPU)."""
    path = Path(path)
    if not path.is_file():
        raise ForestFileError(f"forest file missing: {path} (run python -m model.forest)")
    needed = {"format", "params", "classes", "n_features", "offsets", "max_depth", "values", *_NODE_FIELDS}
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            z = {k: npz[k] for k in npz.files if k not in _NODE_FIELDS or k in node_fields}
    except Exception as exc:  # not a zip, pickled objects, truncated...
        raise ForestFileError(f"{path} is not a readable forest file ({type(exc).__name__})") from None
    missing = sorted(needed - names)
    if missing or str(z["format"]) != FORMAT:
        raise ForestFileError(f"{path} is not a {FORMAT} file" + (f" (missing {missing})" if missing else ""))
    classes, n_features = z["classes"], int(z["n_features"])
    if list(classes) != list(range(10)) or n_features != 784 or z["values"].shape[1:] != (10,):
        raise ForestFileError(f"{path} is not a 10-class forest on 784 pixels")
    _check_trees(z, n_features)
    return z


def load_forest(path: Path | str = paths.FOREST) -> RandomForestClassifier:
    """Load a forest written by :func:`save_forest` as scikit-learn's ``RandomForestClassifier``
    (for training-side tools: feature importances, node counts).

    Only numeric arrays are read (``allow_pickle=False``), their structure is checked, and the
    sklearn objects are rebuilt from them: loading runs no code from the file. The app uses the
    leaner :func:`load_compact_forest`, which gives the same probabilities.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.tree._tree import Tree

    z = _read_forest(path)
    classes, n_features = z["classes"], int(z["n_features"])
    params = json.loads(str(z["params"]))
    known = RandomForestClassifier().get_params()
    forest = RandomForestClassifier(**{k: v for k, v in params.items() if k in known})
    dtype = _node_dtype()
    tree_params = {k: v for k, v in params.items() if k in DecisionTreeClassifier().get_params()}
    estimators = []
    for i in range(len(z["max_depth"])):
        a, b = int(z["offsets"][i]), int(z["offsets"][i + 1])
        nodes = np.zeros(b - a, dtype=dtype)
        for f in _NODE_FIELDS:
            nodes[f] = z[f][a:b]
        tree = Tree(n_features, np.array([len(classes)], dtype=np.intp), 1)
        tree.__setstate__({"max_depth": int(z["max_depth"][i]), "node_count": b - a, "nodes": nodes,
                           "values": z["values"][a:b, None, :].astype(np.float64)})
        est = DecisionTreeClassifier(**tree_params)
        est.n_features_in_, est.n_outputs_, est.classes_ = n_features, 1, classes.copy()
        est.n_classes_, est.max_features_, est.tree_ = np.int64(len(classes)), int(np.sqrt(n_features)), tree
        estimators.append(est)
    forest.estimators_ = estimators
    forest.estimator_ = DecisionTreeClassifier(**tree_params)
    forest.n_features_in_, forest.n_outputs_ = n_features, 1
    forest.classes_, forest.n_classes_ = classes.copy(), len(classes)
    forest.n_jobs = 1
    return forest


class CompactForest:
    """The same forest for prediction only, in about a fifth of the memory and without importing
    scikit-learn: per node a split pixel (int16), a threshold (float32) and two child indices
    (int32); class fractions (float32) for the leaves only. scikit-learn's ``Tree`` keeps 64-byte
    node records and float64 values for every node, about 195 MB resident for the shipped
    million-node forest against about 35 MB here, which matters on 690 MB containers.

    :meth:`predict_proba` returns exactly what ``RandomForestClassifier.predict_proba`` returns
    (Breiman, 2001: the mean over trees of the leaf's class fractions): sklearn compares the
    float32 pixel with a float64 threshold, ``x <= t``; for a float32 ``x`` that is the same as
    ``x <= t32`` with ``t32`` the largest float32 not above ``t``, which is what is stored; the
    leaves' values are the file's float32 fractions, summed over the trees in order in float64
    and divided by the number of trees, as sklearn does. Read-only after construction, so one
    instance is shared by every session.
    """

    def __init__(self, z: dict[str, np.ndarray]):
        offsets = z["offsets"]
        n_trees = len(offsets) - 1
        leaf = z["left_child"] == -1                                             # (nodes,)
        base = np.repeat(offsets[:-1].astype(np.int32), np.diff(offsets))       # tree start of each node
        # inner node: children as global node indices; leaf: left = -1, right = its leaf_values row
        self.left = z["left_child"].astype(np.int32)                            # (nodes,)
        self.left += base
        self.left[leaf] = -1
        self.right = z["right_child"].astype(np.int32)                          # (nodes,)
        self.right += base
        self.right[leaf] = np.arange(int(leaf.sum()), dtype=np.int32)           # row in leaf_values
        self.feature = z["feature"].astype(np.int16)                            # (nodes,)
        self.feature[leaf] = 0
        t = z["threshold"]                                                      # float64, as sklearn's
        t32 = t.astype(np.float32)
        above = t32.astype(np.float64) > t
        t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
        t32[leaf] = 0
        self.threshold = t32                                                    # (nodes,) float32
        self.leaf_values = np.ascontiguousarray(z["values"].take(np.flatnonzero(leaf), axis=0),
                                                dtype=np.float32)              # (leaves, 10)
        self.roots = offsets[:-1].astype(np.int32)                              # (trees,)
        self.max_depth = int(z["max_depth"].max())
        self.n_estimators = n_trees
        self.node_count = int(len(self.left))
        self.classes_ = np.asarray(z["classes"]).copy()
        self.n_features_in_ = int(z["n_features"])
        for a in (self.left, self.right, self.feature, self.threshold, self.leaf_values, self.roots):
            a.setflags(write=False)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(B, 784) float32 -> (B, trees) leaf rows: every tree walked at once, one level a step."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        node = np.broadcast_to(self.roots, (len(x), self.n_estimators)).copy()   # (B, T)
        rows = np.arange(len(x))[:, None]                                         # (B, 1)
        for _ in range(self.max_depth + 1):
            left = self.left[node]                                                # (B, T)
            inner = left >= 0
            if not inner.any():
                break
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, left, self.right[node]), node)
        return self.right[node]                                                   # (B, T) leaf rows

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(B, 784) float32 in [0, 1] -> (B, 10) float64, as sklearn's ``predict_proba``."""
        x = np.asarray(x, dtype=np.float32)
        if np.isnan(x).any():
            raise ValueError("the compact forest does not take missing values")
        leaves = self.apply(x)                                                    # (B, T)
        out = np.zeros((len(x), len(self.classes_)), dtype=np.float64)
        for t in range(self.n_estimators):                                        # tree order, as sklearn
            out += self.leaf_values[leaves[:, t]]
        out /= self.n_estimators
        return out


def load_compact_forest(path: Path | str = paths.FOREST) -> CompactForest:
    """A forest file as a :class:`CompactForest`, after the same checks as :func:`load_forest`.

    Reading the file briefly holds the full-size arrays it needs; once they are freed, glibc
    keeps much of that in its heap unless asked to give it back, so it is asked (malloc_trim):
    the server then holds the compact arrays only (``benchmarks/forest_memory.py``)."""
    forest = CompactForest(_read_forest(path, _COMPACT_FIELDS))
    return_free_memory()
    return forest


def forest_predict_proba(forest, images: np.ndarray) -> np.ndarray:
    """Class probabilities (B, 10) float32 for (28, 28) or (B, 28, 28) images in [0, 1]
    (the same inputs as the ViT). Reads the forest only; safe to share between sessions."""
    return forest.predict_proba(to_features(images)).astype(np.float32)


def total_nodes(forest) -> int:
    if isinstance(forest, CompactForest):
        return forest.node_count
    return int(sum(est.tree_.node_count for est in forest.estimators_))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Train the random-forest baseline on all 60k MNIST training images.")
    p.add_argument("--out", type=Path, default=paths.FOREST, help="forest file (.npz) to write")
    p.add_argument("--n-estimators", type=int, default=DEFAULT_PARAMS["n_estimators"])
    p.add_argument("--min-samples-leaf", type=int, default=DEFAULT_PARAMS["min_samples_leaf"])
    p.add_argument("--max-leaf-nodes", type=int, default=None)
    p.add_argument("--seed", type=int, default=DEFAULT_PARAMS["random_state"])
    p.add_argument("--jobs", type=int, default=2, help="training processes (prediction always uses 1)")
    p.add_argument("--train-limit", type=int, default=None, help="train on the first N images only")
    a = p.parse_args(argv)
    from data.mnist import load_mnist

    xtr, ytr = load_mnist("train")
    xte, yte = load_mnist("test")
    xtr, ytr = xtr[:a.train_limit], ytr[:a.train_limit]
    t0 = time.time()
    forest = train_forest(xtr, ytr, n_jobs=a.jobs, n_estimators=a.n_estimators, min_samples_leaf=a.min_samples_leaf,
                          max_leaf_nodes=a.max_leaf_nodes, random_state=a.seed)
    seconds = time.time() - t0
    save_forest(forest, a.out)
    acc = float((forest_predict_proba(forest, xte).argmax(1) == yte).mean())
    summary = {
        "test_accuracy": acc,
        "size_bytes": a.out.stat().st_size,
        "train_seconds": round(seconds, 1),
        "n_estimators": len(forest.estimators_),
        "total_nodes": total_nodes(forest),
        "train_size": len(xtr),
        "command": "python -m model.forest " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    print(json.dumps(summary))
    print(f"random forest: test accuracy {acc:.4f}, {summary['size_bytes'] / 1e6:.1f} MB, "
          f"trained in {seconds:.0f} s; wrote {a.out}")


if __name__ == "__main__":
    main()
