"""Figures and tables of the Data page: class balance (figure and facts), feature histograms with markers, image
mosaics, the percentile and before/after tables, and what each feature means. Pure functions of
numpy arrays and feature dicts (no Streamlit calls), like :mod:`dashboard.plots`."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.palette import CATEGORY
from dashboard.plots import DIGITS
from data import features as F

# what each histogram shows, under it (the page adds what the bars count)
FEATURE_NOTES = {
    "ink": "Sum of the pixel intensities (a full pixel counts 1). Grows with the digit's size and its stroke width: "
           "a 1 has little ink, a 0 or an 8 a lot.",
    "thickness": "Ink mass divided by the length of the stroke's centre line (the ink's skeleton by Zhang & Suen's "
                 "1984 thinning, plus the half width thinning eats at each free end), in pixels of the 28x28 "
                 "image: the average width of the pen stroke.",
    "slant": "The shear that would make the digit upright, from its central image moments mu11/mu02 (Hu, 1962), "
             "in degrees; + leans right. It measures the whole shape, so a 9's loop left of its stem reads as "
             "leaning left: compare a digit with its own class.",
    "width": "Width of the box around the ink. MNIST scaled every digit to fit 20x20 keeping its aspect ratio "
             "(LeCun et al., 1998): the writer's true size is lost, the width of tall digits is their aspect ratio.",
    "height": "Height of the box around the ink, after MNIST's size normalisation (LeCun et al., 1998): almost "
              "every digit is 20 px tall because the longer side was scaled to 20; only wide digits are shorter.",
    "holes": "Background regions enclosed by ink (4-connected background, gaps under half a stroke width squared "
             "ignored): a 0, 6 or 9 has 1, an 8 has 2. An open loop counts 0.",
}


def class_balance_figure(train_counts: np.ndarray, test_counts: np.ndarray, height: int = 280) -> go.Figure:
    """Grouped bars: the share of each digit in the training and the test set (counts on hover)."""
    data = []
    for name, counts, color in (("train", train_counts, CATEGORY[0]), ("test", test_counts, CATEGORY[1])):
        c = np.asarray(counts, dtype=float)
        data.append(dict(type="bar", x=DIGITS, y=c / max(c.sum(), 1.0), name=f"{name} ({int(c.sum()):,})",
                         marker=dict(color=color), customdata=c,
                         hovertemplate=f"{name}, digit %{{x}}: %{{customdata:,}} images (%{{y:.2%}})<extra></extra>"))
    return go.Figure(dict(data=data, layout=dict(
        barmode="group", height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.12, x=0),
        xaxis=dict(title=dict(text="digit"), type="category"),
        yaxis=dict(title=dict(text="share of the set"), tickformat=".0%"))))


def balance_facts(train_counts: np.ndarray, test_counts: np.ndarray) -> tuple[int, int, float]:
    """(rarest digit, commonest digit, the largest gap in percentage points between a digit's share
    of the test set and its share of the training set), for the class-balance caption."""
    train, test = np.asarray(train_counts, dtype=float), np.asarray(test_counts, dtype=float)
    gap = 100 * float(np.abs(train / train.sum() - test / max(test.sum(), 1)).max())
    return int(train.argmin()), int(train.argmax()), gap


def histogram_figure(edges: np.ndarray, counts: np.ndarray, xtitle: str, log: bool = False,
                     markers: Sequence[tuple[float, str, str, str]] = (), height: int = 240,
                     discrete: bool = False) -> go.Figure:
    """Bars of ``counts`` between ``edges`` and a vertical line per marker ``(x, label, colour,
    dash)``; ``log`` puts the counts on a log axis (empty bins are left out there).

    Built from one dict: plotly's ``add_vline``/``update_*`` helpers made each figure about ten
    times slower (70 ms against 7 ms here), which mattered with six histograms per page run."""
    edges = np.asarray(edges, dtype=float)
    counts = np.asarray(counts, dtype=float)
    centres = (edges[:-1] + edges[1:]) / 2
    y = np.where(counts > 0, counts, np.nan) if log else counts
    shapes, notes = [], []
    for i, (x, label, color, dash) in enumerate(markers):
        xc = float(np.clip(x, edges[0], edges[-1]))
        shapes.append(dict(type="line", x0=xc, x1=xc, xref="x", y0=0, y1=1, yref="paper",
                           line=dict(color=color, width=3, dash=dash)))
        # labels stacked downwards from the top, so two close markers do not print over each other
        notes.append(dict(x=xc, y=1.0 - 0.14 * i, xref="x", yref="paper", text=label, showarrow=False,
                          yanchor="bottom", xanchor="left", xshift=3, bgcolor="rgba(255,255,255,0.7)",
                          font=dict(color=color, size=11)))
    bar = dict(type="bar", x=centres, y=y, width=np.diff(edges), marker=dict(color="#9aa5b1", line=dict(width=0)),
               showlegend=False,
               hovertemplate=("%{x:.0f}" if discrete else "%{x:.3g}") + ": %{y:,} digits<extra></extra>")
    xaxis = dict(title=dict(text=xtitle))
    if discrete and len(edges) <= 12:
        xaxis["dtick"] = 1
    return go.Figure(dict(data=[bar], layout=dict(
        height=height, margin=dict(l=10, r=10, t=24, b=10), bargap=0.05, shapes=shapes, annotations=notes,
        xaxis=xaxis, yaxis=dict(title=dict(text="digits (log)" if log else "digits"),
                                type="log" if log else "linear"))))


def mosaic(images: np.ndarray, cols: int, scale: int = 2, gap: int = 2, normalise: bool = False) -> np.ndarray:
    """(N, H, W) images in [0, 1] -> one uint8 picture, ``cols`` per row, ``scale`` times larger
    (crisp pixels), separated by ``gap`` grey pixels. ``normalise`` stretches each to its maximum."""
    x = np.asarray(images, dtype=np.float32)
    if normalise:
        x = x / np.maximum(x.max(axis=(1, 2), keepdims=True), 1e-8)
    n, h, w = x.shape
    rows = (n + cols - 1) // cols
    th, tw = h * scale, w * scale
    out = np.full((rows * th + (rows - 1) * gap, cols * tw + (cols - 1) * gap), 90, np.uint8)   # grey gaps
    tiles = np.repeat(np.repeat(np.clip(x, 0, 1) * 255, scale, axis=1), scale, axis=2).astype(np.uint8)  # (N, th, tw)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (th + gap): r * (th + gap) + th, c * (tw + gap): c * (tw + gap) + tw] = tiles[i]
    return out


def digit_features(image: np.ndarray) -> dict[str, float]:
    """The six shape features of a (28, 28) digit (:func:`data.features.features`, a few ms), as floats."""
    return {k: float(v) for k, v in F.features(image).items()}


def percentile_table(mine: dict[str, float], unusual: dict, feats: np.ndarray, names: list[str],
                     pred: int) -> pd.DataFrame:
    """Per feature: the digit's value, its percentile among the training digits of class ``pred``
    (from :func:`data.features.most_unusual`) and among all of them."""
    return pd.DataFrame([{"feature": F.LABELS[name], "your digit": mine[name],
                          f"percentile among {pred}s": unusual["percentiles"][name],
                          "percentile among all digits": F.mid_percentile(feats[:, j], mine[name])}
                         for j, name in enumerate(names)])


def _deg(x: float) -> str:
    """Whole degrees without a "-0"."""
    return f"{round(x) + 0:d}°"


def before_after(before: dict[str, float], after: dict[str, float], steps: list[str],
                 names: list[str]) -> tuple[pd.DataFrame, str]:
    """The features of a drawing before and after preprocessing with what preprocessing did to each,
    and one sentence saying what was normalised away and what could not change."""
    thick = ("thickened" if any("thickened" in s for s in steps) else
             "thinned" if any("thinned" in s for s in steps) else None)
    why = {"ink": "follows the size and the stroke width",
           "thickness": f"strokes {thick} towards MNIST's width, then scaled with the digit" if thick
           else "scaled with the digit",
           "slant": "not changed: preprocessing does not deskew (nor did MNIST)",
           "width": "scaled so the longer side is 20 px (MNIST's box)",
           "height": "scaled so the longer side is 20 px (MNIST's box)",
           "holes": "not changed, unless scaling closes or opens a thin gap"}
    table = pd.DataFrame([{"feature": F.LABELS[n], "before": before[n], "after": after[n],
                           "what preprocessing did": why[n]} for n in names])
    sentence = (f"Preprocessing normalised away the size (box {before['width']:.0f}x{before['height']:.0f} px "
                f"-> {after['width']:.0f}x{after['height']:.0f} px) and the position"
                + (f", and {thick} the strokes ({before['thickness']:.2g} -> {after['thickness']:.2g} px)"
                   if thick else "")
                + f". It could not change the slant ({_deg(before['slant'])} -> {_deg(after['slant'])}) or the "
                f"holes ({before['holes']:.0f} -> {after['holes']:.0f}).")
    return table, sentence


def sample_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` random training-image indices of each digit 0..9, in that order (reproducible by ``seed``)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(labels == d), per_class, replace=False) for d in range(10)])
