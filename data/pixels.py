"""Pictures enlarged by repeating pixels: a viewer's nearest-neighbour zoom of a small scan or
of an MNIST digit, saved as a screenshot. Its blocks have hard edges; scaled down to MNIST's
20-pixel box as they are, they leave a staircase no MNIST digit has (dev low-resolution scans
so enlarged were read 89.5 % right against 94 % for the same scans at their own size), so
:func:`data.preprocess.preprocess` first takes such a picture back to its own pixels
(:func:`native_size`, :func:`reduce_to`).

The test is on the steps between neighbouring rows and columns: an enlargement's lie on its
blocks' edges, a grid whose cells are all PIXEL_BLOCK px or wider; inside the blocks there is
only JPEG's ringing. A drawing or photo has steps everywhere along its smooth edges; one whose
few edges happen to fall on some grid is told apart by rebuilding it from the grid's blocks.
"""
from __future__ import annotations

import functools

import numpy as np
from PIL import Image

PIXEL_BLOCK = 2.5         # a picture enlarged by repeating pixels (blocks this wide or wider) ...
PIXEL_NATIVE_MAX = 64     # ... from at most this many px per side is read at its own resolution
PIXEL_GRID_CONTRAST = 4.0 # ... when its steps between neighbours on the blocks' edges are this many times
                          # those inside the blocks (which only JPEG and resampling make) ...
PIXEL_REBUILT = 0.08      # ... and the blocks' means, enlarged again, rebuild it to within this share of its
                          # mean departure from its median (a drawing whose edges happen to lie on a grid: 0.1+)
SAMPLED_LINES = 256       # the steps are summed over at most this many rows (or columns)
PIXEL_NATIVE_MIN = 5      # the long side's own size is at least this many px (fewer makes no digit)


@functools.lru_cache(maxsize=64)
def _grids(length: int, cells: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The edges (G, length - 1) of a line of ``length`` px enlarged from each count of ``cells``,
    two ways a viewer may round (output pixel x shows cell (x + 0.5) n / length, summed step by
    step as Pillow's NEAREST does, which it then matches exactly; or x n / length), and the
    count of each row. They depend on the length alone, so a canvas of one size builds them
    once, not on every stroke (read-only arrays, shared between calls)."""
    n = np.repeat(np.asarray(cells), 2).astype(np.float64)
    step = np.repeat(n / length, length, 0).reshape(len(n), length)              # (G, L)
    step[0::2, 0] *= 0.5                                                          # Pillow: starts half a step in
    step[1::2, 0] = 0.0
    on, counts = np.diff(np.floor(np.cumsum(step, axis=1)), axis=1) > 0, n.astype(int)
    on.flags.writeable = counts.flags.writeable = False
    return on, counts


def _grid_cells(steps: np.ndarray, cells: np.ndarray) -> int | None:
    """How many pixels a line of ``len(steps) + 1`` px had before it was enlarged by repeating
    pixels (nearest neighbour), if one of ``cells`` (blocks PIXEL_BLOCK px wide or wider), else
    None. ``steps[x]``: the change between pixels x and x + 1, summed across the picture; an
    enlargement's steps lie on its blocks' edges, and inside them are only JPEG's ringing. The
    grid is the one whose edges' mean step is the most times the mean step elsewhere, if that
    is PIXEL_GRID_CONTRAST times or more (a finer grid puts edges inside blocks, a coarser one
    leaves block edges out); then a grid two or three times finer is taken instead where its
    extra edges also carry steps that contrast so (where every other block edge is weak, the
    coarser grid can contrast more)."""
    length = len(steps) + 1
    cells = cells[(cells >= 1) & (cells <= length / PIXEL_BLOCK)]
    if not len(cells) or float(steps.max()) <= 0:
        return None
    on, n = _grids(length, tuple(int(c) for c in cells))                         # (G, L - 1)
    s = steps.astype(np.float64)

    def mean(mask: np.ndarray) -> np.ndarray:
        return (mask @ s) / np.maximum(mask.sum(-1), 1)

    contrast = mean(on) / np.maximum(mean(~on), 1e-12)
    best = int(np.argmax(contrast))
    if contrast[best] < PIXEL_GRID_CONTRAST:
        return None
    finer = True
    while finer:
        finer = False
        for g in np.flatnonzero((n == 2 * n[best]) | (n == 3 * n[best])):
            extra = on[g] & ~on[best]
            if extra.any() and mean(extra) >= PIXEL_GRID_CONTRAST * max(float(mean(~on[g])), 1e-12):
                best, finer = int(g), True
                break
    return int(n[best])


def _steps(gray: np.ndarray, axis: int) -> np.ndarray:
    """The change between neighbouring pixels along ``axis`` (0: rows, 1: columns), summed across
    the picture, over at most SAMPLED_LINES evenly spaced lines (a block's lines all step at its
    edges, so a sample keeps the grid; a photo costs a few lines, not megapixels)."""
    across = gray.shape[1 - axis]
    picked = np.take(gray, np.arange(0, across, max(1, across // SAMPLED_LINES)), axis=1 - axis)
    return np.abs(np.diff(picked, axis=axis)).sum(1 - axis)


def native_size(gray: np.ndarray) -> tuple[int, int] | None:
    """(height, width) a picture had before a viewer enlarged it by repeating pixels (a zoomed
    screenshot of a small scan or of an MNIST digit: blocks with hard edges), or None for any
    other picture. The long side is measured on its own (PIXEL_NATIVE_MIN to PIXEL_NATIVE_MAX
    cells); the other side, which may be as few as one or two cells (a thin 1), at about the
    same block size."""
    h, w = gray.shape
    tall = h >= w
    n_long = _grid_cells(_steps(gray, 0 if tall else 1), np.arange(PIXEL_NATIVE_MIN, PIXEL_NATIVE_MAX + 1))
    if n_long is None:
        return None
    short = w if tall else h
    guess = round(short * n_long / (h if tall else w))
    if guess <= 1:
        n_short = 1
    else:
        n_short = _grid_cells(_steps(gray, 1 if tall else 0), np.arange(guess - 1, guess + 2))
    if n_short is None:
        return None
    native = (n_long, n_short) if tall else (n_short, n_long)
    spread = float(np.abs(gray - np.median(gray)).mean())
    return native if float(np.abs(gray - _blocks(gray, native)).mean()) <= PIXEL_REBUILT * spread else None


def reduce_to(gray: np.ndarray, native: tuple[int, int]) -> np.ndarray:
    """``gray`` (H, W) reduced to ``native`` (height, width), each pixel its block's mean."""
    return np.asarray(Image.fromarray(gray.astype(np.float32), mode="F").resize(native[::-1], Image.Resampling.BOX))


def _blocks(gray: np.ndarray, native: tuple[int, int]) -> np.ndarray:
    """:func:`reduce_to` ``native``, enlarged back to ``gray``'s shape by repeating pixels."""
    small = Image.fromarray(reduce_to(gray, native), mode="F")
    return np.asarray(small.resize(gray.shape[::-1], Image.Resampling.NEAREST))
