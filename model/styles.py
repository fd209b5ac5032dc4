"""Label-preserving writing-style augmentation: flagged 1s and crossed 7s.

MNIST's writers were American census staff and school pupils; almost all of their 1s are a
single vertical stroke and few of their 7s are crossed (``python -m model.styles`` counts
them with the shape rules below). Much of Europe writes a 1 with a flag at the top (and
sometimes a foot) and crosses its 7s. A model trained on MNIST alone reads a flagged 1 as a 7.

:func:`add_styles` draws these strokes onto a share of a batch's 1s and 7s *before* the
geometric augmentation, with the stroke width, length and angle drawn at random, so the model
learns both writing styles of each digit:

* **flag** (on a 1): from the top of the stroke, down and to the left, 15-60 degrees below the
  horizontal, 20-50 % of the digit's height long (a long, shallow up-stroke is common in fast
  handwriting; with 25-60 degrees and at most 42 % the model read such 1s as 7s). A 7's bar is
  near horizontal and about as long as the digit is wide, and its stem runs diagonally down to
  the left, which is what keeps the two apart;
* **foot** (on a third of the flagged 1s): a short horizontal base at the bottom;
* **crossbar** (on a 7): a short bar across the stem at 45-60 % of the height.

Every function draws from the ``torch.Generator`` it is given, so a training run is
reproducible and can be resumed bit for bit.
"""
from __future__ import annotations

import math

import numpy as np
import torch

INK = 0.3          # a pixel with more than this is ink when locating the strokes
FLAG_LENGTH = (0.2, 0.5)     # a flag's length, as a share of the digit's height
FLAG_ANGLE = (15.0, 60.0)    # ... and its angle, in degrees below the horizontal
from data.preprocess import IMAGE_SIDE as SIDE  # noqa: E402


def _u(gen: torch.Generator, lo: float, hi: float) -> float:
    return float(torch.rand(1, generator=gen)) * (hi - lo) + lo


def segment_ink(p0: tuple[float, float], p1: tuple[float, float], width: float, side: int = SIDE) -> torch.Tensor:
    """An anti-aliased straight stroke (side, side) in [0, 1] from p0 to p1 ((x, y) in pixels)."""
    ys, xs = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32),
                            indexing="ij")
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    n2 = max(dx * dx + dy * dy, 1e-6)
    t = (((xs - x0) * dx + (ys - y0) * dy) / n2).clamp(0, 1)
    d = torch.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy))
    return (width / 2 + 0.5 - d).clamp(0, 1)


def _rows_cols(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.where((img > INK).any(1))[0]
    cols = np.where((img > INK).any(0))[0]
    return rows, cols


def _mean_col(img: np.ndarray, r0: int, r1: int) -> float | None:
    band = img[max(r0, 0):r1 + 1] > INK
    c = np.where(band.any(0))[0]
    return None if len(c) == 0 else float(c.mean())


def _extent(a: np.ndarray, min_rows: int = 6) -> tuple[int, int, int] | None:
    """(top row, bottom row, height) of the ink, or None for fewer than ``min_rows`` inked rows."""
    rows, _ = _rows_cols(a)
    if len(rows) < min_rows:
        return None
    return int(rows[0]), int(rows[-1]), int(rows[-1] - rows[0] + 1)


def flag_one(img: torch.Tensor, gen: torch.Generator, foot_p: float = 1 / 3,
             length_range: tuple[float, float] = FLAG_LENGTH, angle_range: tuple[float, float] = FLAG_ANGLE
             ) -> torch.Tensor:
    """A 1 (28, 28) with a flag at its top (and sometimes a foot): the European 1."""
    a = img.numpy()
    ext = _extent(a)
    if ext is None:
        return img
    top, bottom, h = ext
    cx = _mean_col(a, top, top + 1)
    if cx is None:
        return img
    width = _u(gen, 1.6, 3.0)
    length = _u(gen, *length_range) * h
    angle = math.radians(_u(gen, *angle_range))
    tip = (cx - length * math.cos(angle), top + length * math.sin(angle))
    ink = segment_ink((cx, float(top)), tip, width)
    if float(torch.rand(1, generator=gen)) < foot_p:
        bx = _mean_col(a, bottom - 1, bottom)
        half = _u(gen, 0.12, 0.22) * h
        if bx is not None:
            ink = torch.maximum(ink, segment_ink((bx - half, float(bottom)), (bx + half, float(bottom)), width))
    return torch.maximum(img, ink)


def cross_seven(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A 7 (28, 28) with a bar across its stem: the crossed 7."""
    a = img.numpy()
    ext = _extent(a)
    if ext is None:
        return img
    top, bottom, h = ext
    r = top + _u(gen, 0.45, 0.6) * h
    cx = _mean_col(a, int(r), int(r))
    if cx is None:
        return img
    half = _u(gen, 0.18, 0.3) * h
    tilt = math.tan(math.radians(_u(gen, -8, 8)))
    ink = segment_ink((cx - half, r - half * tilt), (cx + half, r + half * tilt), _u(gen, 1.6, 3.0))
    return torch.maximum(img, ink)


def add_styles(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, p: float = 0.4,
               flag_length: tuple[float, float] = FLAG_LENGTH, flag_angle: tuple[float, float] = FLAG_ANGLE
               ) -> torch.Tensor:
    """A share ``p`` of the 1s get a flag (``flag_length``, ``flag_angle``: see :func:`flag_one`)
    and of the 7s a crossbar; x (B, 1, 28, 28) in [0, 1]. Returns a new tensor; the others are
    unchanged."""
    if p <= 0:
        return x
    pick = torch.rand(len(y), generator=gen) < p
    idx = torch.nonzero(pick & ((y == 1) | (y == 7))).flatten().tolist()
    if not idx:
        return x
    x = x.clone()
    for i in idx:
        x[i, 0] = flag_one(x[i, 0], gen, length_range=flag_length, angle_range=flag_angle) if int(y[i]) == 1 \
            else cross_seven(x[i, 0], gen)
    return x


# ----------------------------------------------------------------------------- how common are they in MNIST?

def has_flag(img: np.ndarray) -> bool:
    """Shape rule for a flagged 1: some row in the top third is wider than the stem's stroke by
    at least 15 % of the digit's height, and reaches left of the stem's line (fitted through the
    lower part of the digit, so slant and curvature do not count) by at least 10 %."""
    rows, _ = _rows_cols(img)
    if len(rows) < 8:
        return False
    top, bottom = int(rows[0]), int(rows[-1])
    h = bottom - top + 1
    rs = [r for r in range(top + int(0.45 * h), bottom - int(0.05 * h) + 1) if (img[r] > INK).any()]
    if len(rs) < 3:
        return False
    spans = [np.ptp(np.where(img[r] > INK)[0]) + 1 for r in rs]
    cs = [np.where(img[r] > INK)[0].mean() for r in rs]
    slope, icpt = np.polyfit(rs, cs, 1)
    stroke = float(np.median(spans))
    for r in range(top, top + max(2, h // 3)):
        on = np.where(img[r] > INK)[0]
        if len(on) and np.ptp(on) + 1 >= stroke + 0.15 * h and (slope * r + icpt) - on.min() >= 0.1 * h:
            return True
    return False


def has_crossbar(img: np.ndarray) -> bool:
    """Shape rule for a crossed 7: some row in the middle band has ink on both sides of the stem,
    spanning at least 35 % of the height, with a gap-free run."""
    rows, _ = _rows_cols(img)
    if len(rows) < 8:
        return False
    top, bottom = int(rows[0]), int(rows[-1])
    h = bottom - top + 1
    for r in range(top + int(0.4 * h), top + int(0.7 * h)):
        on = np.where(img[r] > INK)[0]
        if len(on) and on.max() - on.min() + 1 >= 0.35 * h and len(on) >= on.max() - on.min() - 1:
            return True
    return False


def count_styles(images: np.ndarray, labels: np.ndarray, examples: int = 0) -> dict:
    """How many of the 1s are flagged and of the 7s crossed, by the shape rules above; with
    ``examples`` > 0 also the indices (into ``images``) of the first that many of each."""
    idx1, idx7 = np.flatnonzero(labels == 1), np.flatnonzero(labels == 7)
    flagged = [int(i) for i in idx1 if has_flag(images[i].astype(np.float32) / 255.0)]
    crossed = [int(i) for i in idx7 if has_crossbar(images[i].astype(np.float32) / 255.0)]
    out = {"ones": int(len(idx1)), "flagged_ones": len(flagged), "flagged_share": len(flagged) / max(1, len(idx1)),
           "sevens": int(len(idx7)), "crossed_sevens": len(crossed), "crossed_share": len(crossed) / max(1, len(idx7))}
    if examples:
        out["flagged_examples"], out["crossed_examples"] = flagged[:examples], crossed[:examples]
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m model.styles [--write]``: count both writing styles in MNIST's training set;
    ``--write`` keeps the counts and example indices for the Data page (model/artifacts/mnist_styles.json)."""
    import argparse
    import json

    from data.mnist import load_mnist
    from model import paths

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--write", action="store_true", help=f"write {paths.MNIST_STYLES.name}")
    a = p.parse_args(argv)
    x, y = load_mnist("train")
    res = count_styles(x, y, examples=16)
    res["set"], res["command"] = "MNIST train (60,000)", "python -m model.styles --write"
    if a.write:
        paths.MNIST_STYLES.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: v for k, v in res.items() if not k.endswith("examples")}, indent=1))


if __name__ == "__main__":
    main()
