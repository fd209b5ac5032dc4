"""Synthetic drawings of 1s and 7s in both writing styles, as the Draw page's canvas records them.

People write a 1 as one vertical stroke (the MNIST way) or with a flag at the top, sometimes
with a foot (much of Europe), and a 7 with or without a bar across its stem. This module makes
canvas JSON strokes (Fabric ``path`` objects, see :mod:`data.strokes`) of each style with random
size, position, slant, pen width, proportions and hand tremor, so that the whole path a drawing
takes (rasterise, :mod:`data.preprocess`, the model) can be checked on both styles of each digit
(``benchmarks/drawn_styles.py``, ``tests/test_drawn_styles.py``).

The proportions follow handwriting models rather than MNIST: a 1's flag is 20-45 % of the
digit's height at 20-60 degrees below the horizontal; a 7's top bar is 50-90 % of the height
long and near horizontal, its crossbar 25-50 % long at 45-60 % of the height.
"""
from __future__ import annotations

import math

import numpy as np

from data.strokes import CANVAS_SIDE

STYLES = ("1 plain", "1 flag", "1 flag+foot", "7 plain", "7 crossed")
LABELS = {s: int(s[0]) for s in STYLES}


def _path(points: np.ndarray, width: float) -> dict:
    cmds = [["M", float(points[0, 0]), float(points[0, 1])]] + [["L", float(x), float(y)] for x, y in points[1:]]
    return {"type": "path", "path": cmds, "strokeWidth": float(width), "stroke": "#FFFFFF"}


def _line(p0, p1, rng: np.random.Generator, n: int = 12, tremor: float = 1.0) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    pts = (1 - t) * np.asarray(p0, float) + t * np.asarray(p1, float)
    return pts + rng.normal(0, tremor, pts.shape) * np.sin(np.pi * t)   # ends stay where they were aimed


def drawn_digit(style: str, rng: np.random.Generator, side: int = CANVAS_SIDE) -> list[dict]:
    """Canvas stroke objects of one digit drawn in ``style`` (one of :data:`STYLES`)."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    h = rng.uniform(0.45, 0.8) * side                      # digit height in canvas px
    width = rng.uniform(12, 26)                            # pen width
    slant = math.radians(rng.uniform(-8, 18))              # lean to the right, like most hands
    cx, top = rng.uniform(0.35, 0.65) * side, rng.uniform(0.08, 0.92 * side - h - 0.02 * side)
    tremor = rng.uniform(0.3, 2.0)

    def at(u: float, v: float) -> tuple[float, float]:     # u across, v down, in units of h; slanted
        return cx + u * h + (0.5 - v) * h * math.tan(slant), top + v * h

    strokes = []
    if style.startswith("1"):
        stem = _line(at(0, 0), at(0, 1), rng, tremor=tremor)
        if style == "1 plain":
            strokes.append(stem)
        else:
            length, angle = rng.uniform(0.2, 0.45), math.radians(rng.uniform(20, 60))
            flag = _line(at(-length * math.cos(angle), length * math.sin(angle)), at(0, 0), rng, 6, tremor)
            strokes.append(np.vstack([flag, stem[1:]]))    # one stroke: up the flag, down the stem
            if style == "1 flag+foot":
                half = rng.uniform(0.12, 0.25)
                strokes.append(_line(at(-half, 1), at(half, 1), rng, 8, tremor))
    else:
        bar = rng.uniform(0.5, 0.9)
        tilt = rng.uniform(-0.05, 0.1)
        left = -bar / 2 - rng.uniform(0, 0.1)
        end = (left + bar, tilt)
        foot = (left + bar * rng.uniform(0.15, 0.55), 1)
        strokes.append(np.vstack([_line(at(left, 0), at(*end), rng, 10, tremor),
                                  _line(at(*end), at(*foot), rng, 14, tremor)[1:]]))
        if style == "7 crossed":
            v = rng.uniform(0.45, 0.6)
            u = end[0] + (foot[0] - end[0]) * (v - end[1]) / (1 - end[1])   # the stem at that height
            half = rng.uniform(0.12, 0.25)
            strokes.append(_line(at(u - half, v), at(u + half, v + rng.uniform(-0.04, 0.04)), rng, 8, tremor))
    return [_path(np.clip(s, 1, side - 1), width) for s in strokes]


def drawn_set(n_per_style: int, seed: int = 0) -> list[tuple[str, list[dict]]]:
    """``n_per_style`` drawings of every style, (style, stroke objects), reproducible by seed."""
    rng = np.random.default_rng(seed)
    return [(s, drawn_digit(s, rng)) for s in STYLES for _ in range(n_per_style)]
