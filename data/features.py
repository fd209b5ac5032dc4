"""Shape features of 28x28 digits, and the tables of MNIST's distributions the Data page shows.

Each feature is computed for a whole batch ``(N, 28, 28)`` of intensities in [0, 1] at once
(numpy and one ``scipy.ndimage.label`` call), so the 60,000 training digits take seconds and
one digit in about a millisecond. "Ink" means a pixel at least a fifth as bright as the digit's
brightest pixel (``INK_THRESHOLD`` of :mod:`data.preprocess`; for MNIST, whose strokes reach 255, an
intensity of 0.2, the
level :mod:`data.preprocess` crops at). A higher level would break thin anti-aliased joins:
at 0.5, a fifth of MNIST's 0s have no enclosed hole; at 0.2 about a tenth, whose loops are
visibly open.

- **ink**: ink mass, the sum of the intensities (a fully inked pixel counts 1).
- **thickness**: stroke thickness in pixels, ink mass divided by the length of the stroke's
  centre line: the ink's skeleton, by Zhang & Suen's parallel thinning ("A fast parallel
  algorithm for thinning digital patterns", CACM 1984) run as two lookup tables over each
  pixel's eight neighbours, 1 per horizontal/vertical step and sqrt(2) per diagonal one, plus
  the half stroke width that thinning eats at each free end (:func:`stroke_thickness`).
- **slant**: the angle of the shear that would make the digit upright, from the central image
  moments (Hu 1962): ``atan(-mu11 / mu02)`` in degrees, positive when the digit leans right (its
  top is to the right of its bottom), as in the deskewing that moment-based MNIST classifiers use.
- **width**, **height**: the box around the ink, in pixels of the 28x28 image. MNIST's
  normalisation (LeCun et al., 1998: each NIST digit scaled to fit a 20x20 box keeping its
  aspect ratio, then centred by mass in 28x28) threw away the writer's absolute size: the
  longer side is always about 20 px, so only the shorter side, i.e. the aspect ratio, still
  says something about the handwriting. These are measured after normalisation.
- **holes**: enclosed background regions (4-connected background, so 8-connected ink
  separates), ignoring gaps smaller than half a stroke width squared, the rule
  :func:`data.preprocess.count_holes` uses to spot scribbles: a 0 has 1, an 8 has 2.

``python -m data.features --write`` builds the tables (class balance, mean and spread image
per digit, every training digit's features, percentiles) into ``model/artifacts/data_tables.npz``.
They depend on MNIST only, never on the model's weights.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from data.preprocess import IMAGE_SIDE, INK_THRESHOLD

FEATURES: tuple[str, ...] = ("ink", "thickness", "slant", "width", "height", "holes")
LABELS: dict[str, str] = {
    "ink": "ink mass (sum of intensities)",
    "thickness": "stroke thickness (px)",
    "slant": "slant (degrees, + leans right)",
    "width": "width of the box (px)",
    "height": "height of the box (px)",
    "holes": "enclosed holes",
}
DISCRETE = frozenset({"width", "height", "holes"})
PERCENTILES = np.array([1, 5, 25, 50, 75, 95, 99], dtype=np.float32)
# the shipped table (model.paths.DATA_TABLES, spelled out: data/ imports nothing from model/)
DATA_TABLES = Path(__file__).resolve().parents[1] / "model" / "artifacts" / "data_tables.npz"
WRITE_CMD = "python -m data.features --write"
CHUNK = 8192                          # images per batch in the table command (bounded memory)


# ---------------------------------------------------------------------------------------
# Zhang-Suen thinning as two 256-entry lookup tables
# ---------------------------------------------------------------------------------------
def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    """Deletion tables of Zhang & Suen (1984) indexed by the 8-neighbour code (bit k = P(k+2),
    P2 = north, then clockwise: NE, E, SE, S, SW, W, NW)."""
    t1 = np.zeros(256, bool)
    t2 = np.zeros(256, bool)
    for code in range(256):
        p = [(code >> k) & 1 for k in range(8)]                  # P2..P9
        b = sum(p)                                                # ink neighbours
        a = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))   # 0->1 transitions around
        p2, _, p4, _, p6, _, p8, _ = p
        ok = 2 <= b <= 6 and a == 1
        t1[code] = ok and p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
        t2[code] = ok and p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
    return t1, t2


_THIN1, _THIN2 = _thinning_tables()


def _neighbour_code(m: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N, H, W) uint8 code of the 8 neighbours (outside the image = background)."""
    p = np.pad(m, ((0, 0), (1, 1), (1, 1))).view(np.uint8)
    c = p[:, :-2, 1:-1].copy()                                   # N  (bit 0)
    c |= p[:, :-2, 2:] << 1                                       # NE
    c |= p[:, 1:-1, 2:] << 2                                      # E
    c |= p[:, 2:, 2:] << 3                                        # SE
    c |= p[:, 2:, 1:-1] << 4                                      # S
    c |= p[:, 2:, :-2] << 5                                       # SW
    c |= p[:, 1:-1, :-2] << 6                                     # W
    c |= p[:, :-2, :-2] << 7                                      # NW
    return c


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen skeleton of a (N, H, W) or (H, W) boolean mask: one-pixel-wide curves."""
    m = np.array(mask, dtype=bool, copy=True)
    single = m.ndim == 2
    if single:
        m = m[None]
    while True:
        changed = False
        for table in (_THIN1, _THIN2):
            delete = m & table[_neighbour_code(m)]
            if delete.any():
                m &= ~delete
                changed = True
        if not changed:
            break
    return m[0] if single else m


def skeleton_length(skel: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N,) length: 1 per horizontal/vertical neighbour pair, sqrt(2) per diagonal
    pair not already joined through an orthogonal corner pixel."""
    s = skel
    orth = (s[:, :, 1:] & s[:, :, :-1]).sum((1, 2)) + (s[:, 1:, :] & s[:, :-1, :]).sum((1, 2))
    a, b = s[:, :-1, :-1], s[:, 1:, 1:]                          # down-right pairs
    c, d = s[:, :-1, 1:], s[:, 1:, :-1]                          # down-left pairs
    diag = (a & b & ~c & ~d).sum((1, 2)) + (c & d & ~a & ~b).sum((1, 2))
    return orth + np.sqrt(2.0) * diag


def skeleton_ends(skel: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N,) free ends: skeleton pixels with one skeleton neighbour (a lone pixel
    counts as two ends)."""
    code = _neighbour_code(skel)
    neighbours = _POPCOUNT[code]
    return (skel & (neighbours == 1)).sum((1, 2)) + 2 * (skel & (neighbours == 0)).sum((1, 2))


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def stroke_thickness(mass: np.ndarray, length: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Stroke thickness t from ink mass A, skeleton length L and free ends e. A stroke of width t
    along a centre line of length l has A = t * l, and thinning eats about t/2 at each free end,
    so l = L + e * t / 2: t solves (e/2) t^2 + L t - A = 0 (t = A / L for closed loops)."""
    a, L, e = (np.asarray(v, dtype=np.float64) for v in (mass, length, ends))
    with np.errstate(divide="ignore", invalid="ignore"):
        quad = (np.sqrt(L ** 2 + 2.0 * e * a) - L) / np.where(e > 0, e, 1.0)
        t = np.where(e > 0, quad, a / np.where(L > 0, L, 1.0))
    return np.where((a > 0) & ((L > 0) | (e > 0)), t, 0.0)


# ---------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------
def ink_masks(images: np.ndarray) -> np.ndarray:
    """(N, H, W) float -> (N, H, W) bool: pixels at least INK_THRESHOLD of each image's maximum."""
    peak = images.max(axis=(1, 2), keepdims=True)
    return (images >= INK_THRESHOLD * peak) & (peak > 0)


def slant_degrees(images: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N,) ``atan(-mu11 / mu02)`` in degrees from intensity-weighted central moments;
    positive = leans right (rows grow downwards, so a right-leaning stroke has mu11 < 0)."""
    n, h, w = images.shape
    mass = images.sum((1, 2))                                     # (N,)
    safe = np.where(mass > 0, mass, 1.0)
    ys = np.arange(h, dtype=np.float64)[None, :, None]
    xs = np.arange(w, dtype=np.float64)[None, None, :]
    cy = (images * ys).sum((1, 2)) / safe                         # (N,)
    cx = (images * xs).sum((1, 2)) / safe
    dy = ys - cy[:, None, None]                                   # (N, H, 1)
    dx = xs - cx[:, None, None]                                   # (N, 1, W)
    mu02 = (images * dy ** 2).sum((1, 2))
    mu11 = (images * dy * dx).sum((1, 2))
    shear = np.where(mu02 > 0, -mu11 / np.where(mu02 > 0, mu02, 1.0), 0.0)
    return np.degrees(np.arctan(shear))


def box_size(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) bool -> (width, height) of the box around the ink, 0 for an empty image."""
    def extent(any_: np.ndarray) -> np.ndarray:              # (N, L) bool -> (N,)
        has = any_.any(1)
        first = any_.argmax(1)
        last = any_.shape[1] - 1 - any_[:, ::-1].argmax(1)
        return np.where(has, last - first + 1, 0)

    return extent(masks.any(1)), extent(masks.any(2))


def stroke_widths(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N,) 2 * area / perimeter, vectorised :func:`data.preprocess.stroke_width`."""
    p = np.pad(masks, ((0, 0), (1, 1), (1, 1)))
    perim = (p[:, 1:, :] != p[:, :-1, :]).sum((1, 2)) + (p[:, :, 1:] != p[:, :, :-1]).sum((1, 2))
    return 2.0 * masks.sum((1, 2)) / np.maximum(perim, 1)


def count_holes(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N,) enclosed background regions (4-connected) of at least half a stroke
    width squared in area, the rule of :func:`data.preprocess.count_holes`; one label call for all."""
    from scipy import ndimage

    n = masks.shape[0]
    bg = ~np.pad(masks, ((0, 0), (1, 1), (1, 1)))                 # ring joins the outside
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]               # 4-connected within an image only
    labels, k = ndimage.label(bg, structure=structure)           # (N, H+2, W+2)
    sizes = np.bincount(labels.ravel(), minlength=k + 1)
    owner = np.zeros(k + 1, np.int64)
    owner[labels] = np.arange(n)[:, None, None]                  # image each region belongs to
    outside = np.unique(labels[:, 0, :])                          # the ring's region per image
    min_area = 0.5 * stroke_widths(masks) ** 2                    # (N,)
    enclosed = sizes >= min_area[owner]
    enclosed[0] = False
    enclosed[outside] = False
    return np.bincount(owner[enclosed], minlength=n)


def features(images: np.ndarray) -> dict[str, np.ndarray]:
    """Every feature of ``images`` (N, H, W) or one (H, W) image, floats in [0, 1]; returns
    name -> (N,) float64 (shape () for one image)."""
    x = np.asarray(images, dtype=np.float64)
    single = x.ndim == 2
    if single:
        x = x[None]
    masks = ink_masks(x)
    mass = x.sum((1, 2))
    skel = skeletonize(masks)
    length = skeleton_length(skel)
    width, height = box_size(masks)
    out = {
        "ink": mass,
        "thickness": stroke_thickness(mass, length, skeleton_ends(skel)),
        "slant": slant_degrees(x),
        "width": width.astype(np.float64),
        "height": height.astype(np.float64),
        "holes": count_holes(masks).astype(np.float64),
    }
    return {k: v[0] for k, v in out.items()} if single else out


def feature_matrix(images: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """(N, H, W) uint8 or float -> (N, len(FEATURES)) float32, in chunks of ``chunk`` images."""
    out = np.empty((len(images), len(FEATURES)), np.float32)
    scale = 255.0 if np.asarray(images[:1]).dtype == np.uint8 else 1.0
    for s in range(0, len(images), chunk):
        f = features(np.asarray(images[s:s + chunk], dtype=np.float64) / scale)
        out[s:s + chunk] = np.stack([f[k] for k in FEATURES], axis=1)
    return out


# ---------------------------------------------------------------------------------------
# A drawing before preprocessing, in the same units
# ---------------------------------------------------------------------------------------
INK_STEP = "ink (polarity, background removed)"   # the step of data.preprocess.preprocess used


def before_image(steps: dict[str, np.ndarray]) -> np.ndarray | None:
    """The drawing before normalisation, as if its whole canvas were MNIST's 28x28 field: the
    ink image of :func:`data.preprocess.preprocess` (full canvas, bright ink) area-averaged so
    its longer side is 28 px, padded to 28x28. Its features are in the same pixel units as the
    preprocessed image's, so size, position and pen width before and after can be compared."""
    from PIL import Image

    ink = steps.get(INK_STEP)
    if ink is None:
        return None
    ink = np.asarray(ink, dtype=np.float32)
    h, w = ink.shape
    s = IMAGE_SIDE / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = np.asarray(Image.fromarray(ink, mode="F").resize((nw, nh), Image.Resampling.BOX))
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.float32)
    top, left = (IMAGE_SIDE - nh) // 2, (IMAGE_SIDE - nw) // 2
    out[top:top + nh, left:left + nw] = np.clip(small, 0.0, 1.0)
    return out


# ---------------------------------------------------------------------------------------
# Distributions
# ---------------------------------------------------------------------------------------
def percentile_of(values: np.ndarray, x: float) -> tuple[float, float, float]:
    """(below, equal, above): fractions of ``values`` strictly below, equal to and above ``x``."""
    v = np.asarray(values, dtype=np.float64)
    n = max(len(v), 1)
    below = float((v < x).sum()) / n
    equal = float((v == x).sum()) / n
    return below, equal, 1.0 - below - equal


def mid_percentile(values: np.ndarray, x: float) -> float:
    """Percentile rank of ``x`` in ``values`` in %, counting ties as half below (0 to 100)."""
    below, equal, _ = percentile_of(values, x)
    return 100.0 * (below + 0.5 * equal)


def bin_edges(name: str, values: np.ndarray, bins: int = 40) -> np.ndarray:
    """Shared histogram edges for a feature over all digits: one bin per integer for discrete
    features, else ``bins`` equal bins over the 0.1-99.9th percentile range (outliers land in
    the end bins, see :func:`histogram`)."""
    v = np.asarray(values, dtype=np.float64)
    if name in DISCRETE:
        return np.arange(np.floor(v.min()) - 0.5, np.ceil(v.max()) + 1.0, 1.0)
    lo, hi = np.percentile(v, [0.1, 99.9])
    if hi <= lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, bins + 1)


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin, values outside the edges clipped into the end bins (so every digit counts)."""
    v = np.clip(np.asarray(values, dtype=np.float64), edges[0], edges[-1])
    return np.histogram(v, edges)[0]


PHRASES: dict[str, tuple[str, str]] = {   # (more than others, less than others)
    "ink": ("has more ink than", "has less ink than"),
    "thickness": ("has thicker strokes than", "has thinner strokes than"),
    "slant": ("leans further right than", "leans further left than"),
    "width": ("is wider than", "is narrower than"),
    "height": ("is taller than", "is shorter than"),
    "holes": ("has more enclosed holes than", "has fewer enclosed holes than"),
}


def most_unusual(values: dict[str, float], table: np.ndarray, labels: np.ndarray, digit: int) -> dict:
    """The feature where a digit is most unusual among the training digits labelled ``digit``.

    ``table`` is (N, len(FEATURES)) and ``labels`` (N,). Returns ``{"feature", "share",
    "direction", "sentence", "percentiles"}``: ``share`` is the fraction of that class the digit
    strictly exceeds (direction "more") or falls short of ("less"), the larger of the two over
    all features; ``percentiles`` maps each feature to its mid-rank percentile in the class."""
    rows = table[np.asarray(labels) == digit]
    best = None
    pct = {}
    for j, name in enumerate(FEATURES):
        below, _, above = percentile_of(rows[:, j], float(values[name]))
        pct[name] = mid_percentile(rows[:, j], float(values[name]))
        for share, direction in ((below, "more"), (above, "less")):
            if best is None or share > best[0]:
                best = (share, direction, name)
    share, direction, name = best
    phrase = PHRASES[name][0 if direction == "more" else 1]
    sentence = (f"Your {digit} {phrase} {100 * share:.0f} % of the {len(rows):,} {digit}s the model learned from "
                f"({LABELS[name]}: {values[name]:.3g}).")
    return {"feature": name, "share": share, "direction": direction, "sentence": sentence, "percentiles": pct}


# ---------------------------------------------------------------------------------------
# The tables command
# ---------------------------------------------------------------------------------------
def build_tables(train_images: np.ndarray, train_labels: np.ndarray, test_labels: np.ndarray,
                 command: str = WRITE_CMD) -> dict[str, np.ndarray]:
    """Everything the Data page shows, as arrays: ``train_counts``/``test_counts`` (10,),
    ``mean``/``std`` (10, 28, 28) float32 per digit, ``features`` (N, F) float16 with ``labels``
    (N,) uint8, ``percentiles`` (11, F, P) float32 (row 0 all digits, then 0-9) at ``q``."""
    labels = np.asarray(train_labels).astype(np.uint8)
    x = np.asarray(train_images)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    mean = np.zeros((10, IMAGE_SIDE, IMAGE_SIDE), np.float32)
    std = np.zeros((10, IMAGE_SIDE, IMAGE_SIDE), np.float32)
    for d in range(10):
        sel = x[labels == d]
        if len(sel):
            v = sel.astype(np.float64) / scale
            mean[d], std[d] = v.mean(0), v.std(0)
    feats = feature_matrix(x)                                     # (N, F) float32
    pct = np.zeros((11, len(FEATURES), len(PERCENTILES)), np.float32)
    for g in range(11):
        rows = feats if g == 0 else feats[labels == g - 1]
        if len(rows):
            pct[g] = np.percentile(rows, PERCENTILES, axis=0).T
    return {
        "train_counts": np.bincount(labels, minlength=10).astype(np.int64),
        "test_counts": np.bincount(np.asarray(test_labels).astype(np.int64), minlength=10).astype(np.int64),
        "mean": mean, "std": std,
        "features": feats.astype(np.float16), "labels": labels,
        "feature_names": np.array(FEATURES), "percentiles": pct, "q": PERCENTILES,
        "command": np.array(command),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data.features",
                                description="Features of MNIST digits and the Data page's tables.")
    p.add_argument("--write", action="store_true", help="build the tables and write them (default path below)")
    p.add_argument("--out", type=Path, default=None, help="where to write (default model/artifacts/data_tables.npz)")
    p.add_argument("--limit", type=int, default=None, help="only the first N training images (quick checks)")
    p.add_argument("--json", action="store_true", help="print a summary as JSON")
    a = p.parse_args(argv)
    from data.mnist import load_mnist

    train_x, train_y = load_mnist("train")
    _, test_y = load_mnist("test")
    if a.limit:
        train_x, train_y = train_x[:a.limit], train_y[:a.limit]
    t0 = time.perf_counter()
    tables = build_tables(train_x, train_y, test_y,
                          command=WRITE_CMD + (f" --limit {a.limit}" if a.limit else ""))
    seconds = time.perf_counter() - t0
    summary = {"train_images": int(len(train_y)), "seconds": round(seconds, 2),
               "median": {k: float(tables["percentiles"][0, j, 3]) for j, k in enumerate(FEATURES)}}
    if a.write:
        out = DATA_TABLES if a.out is None else a.out
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, **tables)
        summary["written"] = str(out)
        summary["bytes"] = out.stat().st_size
    if a.json:
        print(json.dumps(summary))
    else:
        print(f"features of {summary['train_images']:,} training digits in {seconds:.1f} s")
        for k, v in summary["median"].items():
            print(f"  median {LABELS[k]:<32} {v:.3g}")
        if a.write:
            print(f"wrote {summary['written']} ({summary['bytes'] / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
