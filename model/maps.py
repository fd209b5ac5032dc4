"""Computation behind the explanation views, kept out of the pages: which part of a signed map to
show, how maps of different units are put on one scale, and how a point on a 28x28 plot maps to
a patch of the ViT's grid. Pure numpy; no Streamlit (the dashboard only renders the results).
"""
from __future__ import annotations

import numpy as np

from data.preprocess import IMAGE_SIDE as SIDE  # MNIST images are 28x28

OUTLIER_PERC = 2.0        # as captum.attr.visualization: scale by the 98th percentile of |values|, clip the rest
SIGNS = ("signed", "positive", "negative", "absolute")


def sign_part(a: np.ndarray, sign: str = "signed") -> np.ndarray:
    """The part of a signed map to show: all of it, its positive or negative part (as positive
    numbers), or its magnitude."""
    a = np.asarray(a, dtype=np.float64)
    if sign == "positive":
        return np.clip(a, 0, None)
    if sign == "negative":
        return np.clip(-a, 0, None)
    if sign == "absolute":
        return np.abs(a)
    if sign != "signed":
        raise ValueError(f"sign must be one of {SIGNS}, got {sign!r}")
    return a


def percentile_scale(a: np.ndarray, outlier_perc: float = OUTLIER_PERC) -> np.ndarray:
    """``a`` divided by the (100 - outlier_perc)th percentile of |a| and clipped to [-1, 1], as
    Captum's visualisation does (Kokhlikyan et al., 2020): maps in different units share one scale.
    A map whose percentile is 0 is divided by its largest |value| instead (an all-zero map stays 0)."""
    a = np.asarray(a, dtype=np.float64)
    scale = float(np.percentile(np.abs(a), 100 - outlier_perc))
    scale = scale if scale > 0 else (float(np.abs(a).max()) or 1.0)
    return np.clip(a / scale, -1, 1)


def shown_maps(maps: dict[str, np.ndarray], sign: str = "signed", normalise: bool = True
               ) -> tuple[dict[str, np.ndarray], float]:
    """The maps as the Attributions page shows them (sign part, then optionally percentile-scaled)
    and the common colour range ``zmax`` (> 0) they share."""
    shown = {k: sign_part(v, sign) for k, v in maps.items()}
    if normalise:
        shown = {k: percentile_scale(v) for k, v in shown.items()}
    zmax = max([float(np.abs(v).max()) for v in shown.values()] + [1e-12])
    return shown, zmax


def point_to_patch(x: float, y: float, grid: int = 7) -> tuple[int, int]:
    """(row, col) counted from 0 of the patch under pixel (x, y) of a 28x28 plot (x = column,
    y = row, as plotly reports a click), clamped to the grid."""
    size = SIDE // grid
    row = int(min(grid - 1, max(0, round(y) // size)))
    col = int(min(grid - 1, max(0, round(x) // size)))
    return row, col


def patch_token(row: int, col: int, grid: int = 7) -> int:
    """The token index of patch (row, col): 0 is the class token, patches follow in reading order."""
    return 1 + row * grid + col


def inkiest_patch(image: np.ndarray, grid: int = 7) -> tuple[int, int]:
    """(row, col) of the patch with the most ink: a sensible default query patch."""
    size = SIDE // grid
    ink = np.asarray(image, dtype=np.float64).reshape(grid, size, grid, size).sum(axis=(1, 3))
    r, c = np.unravel_index(int(ink.argmax()), ink.shape)
    return int(r), int(c)
