"""Neighbours family: which training digits does mine resemble, and is it unlike all of them?

The ViT's own view of a digit is the class token's final embedding (the ``ln_f`` output that
the linear head reads, :meth:`model.vit.ViT.forward_features`, 64 numbers). Nearest neighbours
in that space explain a prediction by example, as in Deep k-Nearest Neighbors (Papernot &
McDaniel, 2018, "Deep k-Nearest Neighbors: Towards Confident, Interpretable and Robust Deep
Learning"): the k training images the network finds most alike, their labels, and their vote;
and a *credibility* check, how far the nearest training image is compared to what is normal.

* **Index.** The embeddings of all 60,000 MNIST training images, reduced by PCA (Pearson,
  1901; scikit-learn's ``PCA``) to :data:`DIMS` dimensions and stored as float16 in
  ``model/artifacts/neighbours.npz`` (written by ``python -m model.explain.neighbours --write``,
  which prints the file's size and the variance kept). Distances are **Euclidean (L2) in that
  PCA space**; a query is a 60,000 x 16 matrix product, well under a millisecond.
* **kNN vote.** The most common label among the k nearest (ties: the nearer neighbour's label).
* **"Unlike anything in training" meter.** The digit's distance to its nearest training image
  as a percentile of the same distance for the 10,000 test images (stored sorted in the
  artifact); above the 99th percentile the page warns.
* **2-D map.** A PCA of the test images' embeddings to two dimensions, fitted once and stored
  (its mean and components, and the test images' coordinates); a new digit is placed on it by
  the same linear ``transform`` (scikit-learn's ``PCA.transform`` without whitening: subtract
  the mean, project on the components), so the app needs no fitting and no extra import.
  UMAP (McInnes et al., 2018) also has a ``transform`` but imports numba, which would slow the
  app's cold start (figures in the README).

The artifact records the SHA-256 of the weights it was computed from; :func:`load_index`
callers can compare it with the shipped weights (:func:`weights_sha256`) to notice a stale file.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model import paths
from model.explain._common import _as_input
from model.explain._registry import Family, Result, Setting
from model.vit import ViT

DIMS = 16              # PCA dimensions of the stored training embeddings
K = 10                 # neighbours in the vote (and shown) by default
WARN_PERCENTILE = 99.0  # above this the digit is "unlike anything in training"
BATCH = 1000
DEFAULT_PATH = paths.NEIGHBOURS
WRITE_CMD = "python -m model.explain.neighbours --write"


def weights_sha256(path: Path | str = paths.VIT_WEIGHTS) -> str:
    """SHA-256 of a weights file: the model's version in reports and artifacts."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@torch.inference_mode()
def embed(model: ViT, images: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """(B, 28, 28) images in [0, 1] (or uint8) -> class-token embeddings (B, dim) float32, the
    ``ln_f`` output the head reads."""
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    scale = 255.0 if arr.dtype == np.uint8 else 1.0
    out = []
    for i in range(0, len(arr), batch):
        x = torch.from_numpy(arr[i:i + batch].astype(np.float32) / scale)[:, None]   # (b, 1, 28, 28)
        feats, _ = model.forward_features(x)                                          # (b, dim)
        out.append(feats.numpy())
    return np.concatenate(out).astype(np.float32)


def _sq_dists(codes: np.ndarray, sq_norms: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Squared L2 distances (B, N) between queries q (B, d) and codes (N, d)."""
    d = sq_norms[None, :] - 2.0 * (q @ codes.T) + (q * q).sum(1, keepdims=True)       # (B, N)
    return np.maximum(d, 0.0)


def _vote(labels: np.ndarray) -> int:
    """Most common label of a nearest-first list; ties go to the label seen first."""
    counts = np.bincount(labels, minlength=10)
    best = np.flatnonzero(counts == counts.max())
    return int(next(lab for lab in labels if lab in best))


@dataclass(frozen=True)
class NeighbourResult(Result):
    indices: np.ndarray        # (k,) training indices, nearest first
    labels: np.ndarray         # (k,) their MNIST training labels
    distances: np.ndarray      # (k,) L2 distances in the PCA space
    knn_vote: int
    nn_distance: float
    distance_percentile: float  # % of test images whose nearest training image is nearer
    map_xy: np.ndarray         # (2,) the digit on the 2-D map

    @property
    def unusual(self) -> bool:
        return self.distance_percentile > WARN_PERCENTILE

    def to_json(self) -> dict:
        return self.to_dict()

    def to_dict(self) -> dict:
        """The command line's JSON object (its keys are pinned by tests/test_why.py)."""
        return {"neighbours": [{"train_index": int(i), "label": int(lab), "distance": round(float(d), 5)}
                               for i, lab, d in zip(self.indices, self.labels, self.distances)],
                "knn_vote": self.knn_vote, "distance_percentile": round(self.distance_percentile, 3)}


class NeighbourIndex:
    """The stored index (read-only, shareable between sessions): query with :meth:`query`."""

    def __init__(self, z: dict[str, np.ndarray]):
        self.codes = z["train_codes"].astype(np.float32)                # (60000, DIMS)
        self.sq_norms = (self.codes ** 2).sum(1)                       # (60000,)
        self.train_labels = z["train_labels"].astype(np.int64)         # (60000,)
        self.pca_mean = z["pca_mean"].astype(np.float32)               # (dim,)
        self.pca_components = z["pca_components"].astype(np.float32)   # (DIMS, dim)
        self.test_nn = np.sort(z["test_nn_distance"].astype(np.float32))   # (10000,) sorted
        self.map_mean = z["map_mean"].astype(np.float32)               # (dim,)
        self.map_components = z["map_components"].astype(np.float32)   # (2, dim)
        self.test_map = z["test_map"].astype(np.float32)               # (10000, 2)
        self.test_labels = z["test_labels"].astype(np.int64)           # (10000,)
        self.weights_sha256 = str(z["weights_sha256"])
        self.knn_accuracy = float(z["knn_accuracy"])
        self.vit_accuracy = float(z["vit_accuracy"])
        self.k = int(z["k"])
        for a in (self.codes, self.sq_norms, self.test_map):
            a.setflags(write=False)

    def codes_of(self, feats: np.ndarray) -> np.ndarray:
        return (feats - self.pca_mean) @ self.pca_components.T          # (B, DIMS)

    def map_of(self, feats: np.ndarray) -> np.ndarray:
        return (feats - self.map_mean) @ self.map_components.T          # (B, 2)

    def percentile(self, nn_distance: float) -> float:
        """Percentage of test images whose nearest-training-image distance is below this one."""
        return float(100.0 * np.searchsorted(self.test_nn, nn_distance, side="left") / len(self.test_nn))

    def query(self, model: ViT, image: np.ndarray, k: int = K) -> NeighbourResult:
        """The ``k`` nearest training images to ``image`` (28, 28) in [0, 1]."""
        k = int(k)
        if not 1 <= k <= len(self.codes):
            raise ValueError(f"k must be between 1 and {len(self.codes)}, got {k}")
        x = _as_input(image)[0, 0].numpy()                             # checks shape and values
        feats = embed(model, x)                                         # (1, dim)
        q = self.codes_of(feats)                                        # (1, DIMS)
        d2 = _sq_dists(self.codes, self.sq_norms, q)[0]                 # (60000,)
        idx = np.argpartition(d2, k - 1)[:k] if k < len(d2) else np.arange(len(d2))
        idx = idx[np.argsort(d2[idx], kind="stable")]
        dist = np.sqrt(d2[idx])
        labels = self.train_labels[idx]
        return NeighbourResult(idx, labels, dist, _vote(labels), float(dist[0]),
                               self.percentile(float(dist[0])), self.map_of(feats)[0])


def load_index(path: Path | str = DEFAULT_PATH) -> NeighbourIndex:
    """Read the artifact written by :func:`write_index` (no pickle)."""
    with np.load(path, allow_pickle=False) as z:
        return NeighbourIndex({k: z[k] for k in z.files})


# ----------------------------------------------------------------------------- writing the artifact

def _nearest(codes: np.ndarray, q: np.ndarray, k: int, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """k nearest codes (indices (B, k), distances (B, k)) of each query, nearest first."""
    sq = (codes ** 2).sum(1)
    idx_all, dist_all = [], []
    for i in range(0, len(q), batch):
        d2 = _sq_dists(codes, sq, q[i:i + batch])                       # (b, N)
        idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
        part = np.take_along_axis(d2, idx, 1)
        order = np.argsort(part, axis=1, kind="stable")
        idx_all.append(np.take_along_axis(idx, order, 1))
        dist_all.append(np.sqrt(np.take_along_axis(part, order, 1)))
    return np.concatenate(idx_all), np.concatenate(dist_all)


def write_index(model: ViT, path: Path | str = DEFAULT_PATH, weights: Path | str = paths.VIT_WEIGHTS,
                k: int = K) -> dict:
    """Embed MNIST's training and test images, fit the PCAs and write the artifact; returns a summary."""
    import time

    from sklearn.decomposition import PCA

    from data.mnist import load_mnist

    t0 = time.perf_counter()
    train_x, train_y = load_mnist("train")
    test_x, test_y = load_mnist("test")
    train_f = embed(model, train_x)                                     # (60000, dim)
    test_f = embed(model, test_x)                                       # (10000, dim)
    vit_acc = float((model.head(torch.from_numpy(test_f)).argmax(-1).numpy() == test_y).mean())

    pca = PCA(n_components=DIMS, random_state=0).fit(train_f)
    mean, comps = pca.mean_.astype(np.float32), pca.components_.astype(np.float32)
    train_codes = ((train_f - mean) @ comps.T).astype(np.float16)       # stored as float16
    codes32 = train_codes.astype(np.float32)                            # what queries will use
    test_codes = (test_f - mean) @ comps.T
    nn_idx, nn_dist = _nearest(codes32, test_codes, k)
    train_labels = np.asarray(train_y, dtype=np.uint8)
    votes = np.array([_vote(train_labels[row].astype(np.int64)) for row in nn_idx])
    knn_acc = float((votes == test_y).mean())

    mp = PCA(n_components=2, random_state=0).fit(test_f)
    test_map = mp.transform(test_f)
    map_mean, map_comps = mp.mean_.astype(np.float32), mp.components_.astype(np.float32)
    assert np.allclose((test_f - map_mean) @ map_comps.T, test_map, atol=1e-3)   # our transform == sklearn's

    np.savez_compressed(
        path, train_codes=train_codes, train_labels=train_labels, pca_mean=mean, pca_components=comps,
        test_nn_distance=np.sort(nn_dist[:, 0]).astype(np.float32), map_mean=map_mean,
        map_components=map_comps, test_map=test_map.astype(np.float16),
        test_labels=np.asarray(test_y, dtype=np.uint8), weights_sha256=np.array(weights_sha256(weights)),
        knn_accuracy=np.array(knn_acc), vit_accuracy=np.array(vit_acc), k=np.array(k),
        variance_kept=np.array(float(pca.explained_variance_ratio_.sum())))
    return {"path": str(path), "bytes": Path(path).stat().st_size, "dims": DIMS, "k": k,
            "variance_kept": round(float(pca.explained_variance_ratio_.sum()), 5),
            "knn_accuracy": knn_acc, "vit_accuracy": vit_acc,
            "test_nn_distance_p99": float(np.percentile(nn_dist[:, 0], 99)),
            "seconds": round(time.perf_counter() - t0, 1)}


# ----------------------------------------------------------------------------- the family's verb

def run(model: ViT, image: np.ndarray, k: int = K, index: str | None = None) -> NeighbourResult:
    """The neighbours family's verb: the ``k`` nearest training images in the stored index."""
    path = Path(index) if index else DEFAULT_PATH
    if not path.is_file():
        raise ValueError(f"no neighbour index at {path}; write it with `{WRITE_CMD}`")
    return load_index(path).query(model, image, k)


FAMILY = Family(
    "neighbours", run, "the nearest training images in the ViT's embedding space",
    options=(Setting("k", "Neighbours", "int", K, 1, 1000, 1, help="neighbours to list and vote"),
             Setting("index", "Index file", "path", None, help="neighbour index file (default: the shipped one)")),
    source="Papernot & McDaniel, 2018, 'Deep k-Nearest Neighbors'")

__all__ = ["K", "NeighbourIndex", "NeighbourResult", "WARN_PERCENTILE", "embed", "load_index", "weights_sha256",
           "write_index"]


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    from model.vit import load_vit

    p = argparse.ArgumentParser(prog="python -m model.explain.neighbours",
                                description="Write the neighbour index (model/artifacts/neighbours.npz).")
    p.add_argument("--write", action="store_true", help="embed MNIST with the shipped ViT and write the index")
    p.add_argument("--weights", default=str(paths.VIT_WEIGHTS))
    p.add_argument("--out", default=str(DEFAULT_PATH))
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    if not a.write:
        p.error("nothing to do: pass --write")
    torch.set_num_threads(max(1, a.threads))
    print(json.dumps(write_index(load_vit(a.weights), a.out, a.weights), indent=2))


if __name__ == "__main__":
    main()
