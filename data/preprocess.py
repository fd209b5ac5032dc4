"""Turn anything a person draws or uploads into an MNIST-style 28x28 input.

MNIST itself was made this way (LeCun et al., 1998; the database's own description): the
writer's digit was size-normalised to fit a 20x20 box keeping its aspect ratio, with
anti-aliasing giving grey levels, then placed in a 28x28 field so that its centre of mass
sits at the centre. We repeat those steps, after making the input look like MNIST's ink:

1. **Grayscale** from RGB(A), 16-bit or palette input, as floats in [0, 1].
2. **Alpha**: transparent pixels are composited over a background that contrasts with the
   opaque pixels (ink drawn on a transparent layer keeps its shape whatever colour it is).
3. **Polarity**: the border decides the background; dark ink on light paper is inverted so
   that ink is bright, like MNIST. The background level is subtracted and the ink stretched
   to full intensity, which removes paper grey and faint sensor noise.
4. **Crop** to the ink; reject blank input, specks, dots and scribbles with a message. A
   scribble is told apart by its enclosed holes (loops at least half a pen width across):
   digits mostly have at most two (0, 6, 8, 9, some 2s and 4s), sloppy ones a few more (of
   the 10,000 MNIST test digits, 11 have three or four, none five); a pen scribbled over a
   canvas crosses itself into many. Covering most of the picture also counts as a scribble.
5. **Stroke width**: a very thin pen would shrink to faint sub-pixel lines at 20 px, far
   from anything MNIST contains, so thin strokes are thickened to MNIST's typical width.
6. **Scale** the longest side to 20 px (anti-aliased) and **centre** by centre of mass:
   a whole-pixel translation that puts the centre of mass at pixel (14, 14) (row, column,
   0-based), which is where MNIST's own digits have it (test set: 13.99 +- 0.29 in both
   axes). Whole pixels, like MNIST, keep the strokes sharp; run on MNIST's own test images
   this pipeline reproduces them to within 0.3 % mean absolute pixel difference.

A small picture that a viewer enlarged by repeating its pixels (a zoomed screenshot) is first
taken back to its own pixels (:mod:`data.pixels`), so its blocks' hard edges do not become a
staircase.

Photos and scans of paper (a light background spread over many grey levels by noise, JPEG
and uneven light, see :func:`data.photo.looks_like_paper`) first go through
:func:`data.photo.find_digit`: illumination correction, a local threshold, paper lines,
specks and the paper's edge removed, and the largest plausible mark chosen. Its grey ink
then goes through steps 4-6 like a drawing. Clean drawings skip those steps and are treated
exactly as before. A digit that touches or fills its frame (a tight scan) is padded, not
refused; only a *solid* area over most of the picture counts as "covers most of it" (and not
a solid bar 2.5 times taller than wide: a fat 1 scanned tight). Its background is set by the
frame's corners, which a rounded digit leaves as paper. When a
picture holds several separate marks, the largest is read and ``note`` says so; ``box`` is
the read mark's box in the input's pixels.

The result keeps every intermediate image so the app can show what preprocessing did.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

BOX = 20          # MNIST's size-normalisation box
IMAGE_SIDE = 28   # MNIST's field: every digit the models see is IMAGE_SIDE x IMAGE_SIDE
CENTRE = 14.0     # row/column of MNIST's centre of mass (0-based pixel indices)
WORK_SIDE = 560   # larger inputs are first reduced to this (keeps huge photos fast)
INK_THRESHOLD = 0.2       # ink level (of the brightest) that counts as "ink": cropping, shape checks, features
MAX_HOLES = 4             # more enclosed holes than this: a scribble (no MNIST test digit has more)
PEAK_RANK = 25            # ink is normalised by about its 25th-brightest pixel (ignores a few hot pixels)
TARGET_STROKE_PX = 2.4    # typical MNIST stroke width at 28x28, in pixels
MIN_STROKE_PX = 1.6       # thinner strokes (in the 28x28 frame) are thickened
MAX_STROKE_PX = 3.5       # fatter strokes (a broad pen on a small digit) are thinned ...
THIN_TO_PX = 2.8          # ... to about this width (fat 1s and 4s were read as 3s and 9s)
PRE_REDUCE_SIDE = 2048    # PIL images larger than this are first box-reduced by a whole factor (cheap) ...
PRE_REDUCE_TO = 1024      # ... to at least this long side (photos are worked on at about 1024 px)
SMALL_TO = 80             # a digit smaller than BOX is enlarged to about this size (px) before its strokes are measured
SOLID_FILL = 0.8          # ink filling this share of its box over most of the picture: a filled area
INPUT = "input (grayscale)"                              # the first step's name: the picture as read
NEGATIVE = "negative (light marks on a dark surface)"    # ... when a photo's negative is read
ZOOM_UNDONE = "enlarged pixels undone"                   # ... and the start of it when a zoom is undone
ZOOMED_IN = "zoomed in on the mark"                      # ... and when a small digit is read again up close
ENLARGED = "enlarged smoothly"                           # ... and when a digit under BOX px is enlarged first
ZOOM_BELOW = 0.06         # a digit read under this share of a photo's long side is read again up close ...
ZOOM_FIELD = 3.0          # ... from a square this many times its size round it, in the input's pixels ...
ZOOM_MIN_FIELD = 64       # ... and at least this many pixels a side, when the photo is ...
ZOOM_MIN_SIDE = 1200      # ... this large (long side, px) or larger; the answer is kept when it finds ...
ZOOM_SAME = 0.5           # ... the same mark (its box and the first's overlapping by this much: IoU)


@dataclass
class Preprocessed:
    """Outcome of :func:`preprocess`: ``image`` is float32 (28, 28) in [0, 1] or None with
    ``message`` saying why there is no digit. ``steps`` holds named intermediate images."""

    image: np.ndarray | None
    message: str | None = None
    steps: dict[str, np.ndarray] = field(default_factory=dict)
    note: str | None = None       # e.g. "Found 3 marks, read the largest." (the digit is still read)
    box: tuple[int, int, int, int] | None = None   # the read mark (x0, y0, x1, y1) in the input's pixels
    photo: bool = False           # went through the photo/scan steps (data.photo)

    @property
    def ok(self) -> bool:
        return self.image is not None


def to_float_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """Return float32 in [0, 1] shaped (H, W) or (H, W, C) with C in {3, 4} (RGB[A])."""
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(image, dtype=np.float64)
            top = 65535.0 if arr.max() > 255 else 255.0
            return (arr / top).astype(np.float32)
        if image.mode == "F":
            arr = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            return np.clip(arr / max(float(arr.max()), 1.0), 0.0, 1.0)
        if image.mode in ("LA", "PA", "RGBA", "P") or "transparency" in image.info:
            image = image.convert("RGBA")
        elif image.mode != "L":
            image = image.convert("RGB")      # CMYK, YCbCr, 1-bit, ...
        return np.asarray(image, dtype=np.float32) / 255.0
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] == 2:   # gray + alpha
        arr = np.concatenate([np.repeat(arr[:, :, :1], 3, axis=2), arr[:, :, 1:]], axis=2)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinite values")
    return np.clip(arr / 255.0 if arr.max() > 1.0 else arr, 0.0, 1.0)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def to_gray(arr: np.ndarray) -> np.ndarray:
    """(H, W[, C]) floats -> (H, W) luminance, alpha composited over a contrasting background."""
    if arr.ndim == 2:
        return arr
    lum = _luminance(arr[..., :3])
    if arr.shape[2] == 3:
        return lum
    alpha = arr[..., 3]
    if alpha.min() > 0.98:
        return lum
    opaque = alpha > 0.5
    if not opaque.any():
        return np.zeros_like(lum)           # fully transparent: nothing drawn
    background = 1.0 if float(np.median(lum[opaque])) < 0.5 else 0.0
    return lum * alpha + background * (1.0 - alpha)


def _border(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    b = max(1, min(h, w) // 20)
    return np.concatenate([gray[:b].ravel(), gray[-b:].ravel(), gray[:, :b].ravel(), gray[:, -b:].ravel()])


def to_ink(gray: np.ndarray) -> np.ndarray:
    """Luminance -> ink in [0, 1] (1 = full ink, like MNIST), whatever the polarity."""
    border = _border(gray)
    bg = float(np.median(border))
    lo, hi = float(np.percentile(gray, 2)), float(np.percentile(gray, 98))
    if hi - lo > 0.3 and 0.3 < float((border < 0.5 * (lo + hi)).mean()) < 0.7:
        # the digit runs along the frame (a tight scan): the border is half ink. Its corners
        # decide (a digit's strokes are rounded and reach one or two of them at most); not the
        # picture's majority, which in a tight scan of a fat or blurred digit is ink as often
        # as paper and would set the level between them, or on the ink (polarity reversed)
        h, w = gray.shape
        ch, cw = max(1, round(0.2 * h)), max(1, round(0.2 * w))
        bg = float(np.median(np.concatenate([gray[:ch, :cw].ravel(), gray[:ch, -cw:].ravel(),
                                             gray[-ch:, :cw].ravel(), gray[-ch:, -cw:].ravel()])))
    # polarity: the ink is what differs most from the background. (Black or white backgrounds
    # decide as before; on mid-grey paper, e.g. a scan at 0.49 with ink at 0.2, "darker than
    # 0.5" would have taken the paper for a dark background and the ink for nothing.)
    dark_background = bg < 0.5 if abs(bg - 0.5) > 0.1 or hi - lo <= 0.1 else hi - bg > bg - lo
    ink = gray if dark_background else 1.0 - gray
    bg_level = bg if dark_background else 1.0 - bg
    ink = ink - bg_level
    if ink.size > 2000:
        # the 99.9th percentile ignores hot pixels in photos, but a small digit on a large
        # canvas covers less than 0.1 % of it: its brightest PEAK_RANK pixels still count
        flat = ink.ravel()
        peak = max(float(np.percentile(flat, 99.9)), float(np.partition(flat, -PEAK_RANK)[-PEAK_RANK]))
    else:
        peak = float(ink.max())
    if peak < 0.15:                         # no contrast with the background: nothing drawn
        return np.zeros_like(ink)
    ink = np.clip(ink / peak, 0.0, 1.0)
    ink[ink < 0.1] = 0.0                    # paper texture, JPEG noise
    return ink


def _reduce(ink: np.ndarray) -> np.ndarray:
    h, w = ink.shape
    if max(h, w) <= WORK_SIDE:
        return ink
    s = WORK_SIDE / max(h, w)
    img = Image.fromarray(ink.astype(np.float32), mode="F")
    out = np.asarray(img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BOX))
    peak = float(out.max())
    return np.clip(out / peak, 0, 1) if peak > 0 else out


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask in pixels: 2 * area / perimeter (a long stroke of
    width w and length l has area w*l and perimeter about 2l)."""
    m = mask.astype(bool)
    area = m.sum()
    if area == 0:
        return 0.0
    p = np.pad(m, 1)
    perim = (p[1:, :] != p[:-1, :]).sum() + (p[:, 1:] != p[:, :-1]).sum()
    return float(2.0 * area / max(perim, 1))


def count_holes(mask: np.ndarray) -> int:
    """Number of background regions fully enclosed by ink (4-connected) whose area is at
    least half a stroke width squared: gaps smaller than the pen are where strokes touch,
    not loops (measured with :func:`stroke_width`, so the rule holds at any resolution)."""
    from scipy import ndimage

    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return 0
    m = np.pad(mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(bool), 1)  # ring joins the outside
    labels, n = ndimage.label(~m)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = 0
    sizes[0] = 0
    return int((sizes >= 0.5 * stroke_width(m) ** 2).sum())


def _loops(mask: np.ndarray, min_area: float) -> int:
    """Enclosed background regions of at least ``min_area`` pixels. Over a dense scribble the
    pen is so wide next to the gaps that :func:`count_holes` sees none; its many gaps are still
    far larger than the few-pixel pores of a blurry digit that fills its frame."""
    from scipy import ndimage

    labels, n = ndimage.label(~np.pad(mask, 1))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[labels[0, 0]] = 0
    sizes[0] = 0
    return int((sizes >= min_area).sum())


def _filter_size(change_px: float) -> int:
    """Odd square size of a grey dilation/erosion that changes a stroke's width by about
    ``change_px`` pixels (a size-k square adds or removes k - 1)."""
    k = int(round(change_px))
    return k + 1 if k % 2 == 0 else k


def _erode(ink: np.ndarray, size: int) -> np.ndarray:
    """Grey erosion by a size x size square (thins strokes by size - 1 pixels)."""
    from scipy import ndimage

    return ndimage.minimum_filter(ink.astype(np.float32), size=size, mode="constant", cval=0.0)


def _dilate(ink: np.ndarray, size: int) -> np.ndarray:
    """Grey dilation by a size x size square. scipy's maximum filter is separable (two 1-D
    passes), so its cost grows with ``size``, not ``size**2`` like PIL's MaxFilter, which took
    most of the preprocessing time (about 9 of 15 ms) on a typical canvas drawing."""
    from scipy import ndimage

    return ndimage.maximum_filter(ink.astype(np.float32), size=size, mode="constant", cval=0.0)


def _centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    total = img.sum()
    ys, xs = np.indices(img.shape)
    return float((ys * img).sum() / total), float((xs * img).sum() / total)


def _shift(img: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Shift by (dy, dx) pixels with bilinear interpolation (zeros enter at the edges);
    whole-pixel shifts are exact."""
    img_pil = Image.fromarray(img.astype(np.float32), mode="F")
    out = img_pil.transform(img.shape[::-1], Image.Transform.AFFINE, (1, 0, -dx, 0, 1, -dy), Image.Resampling.BILINEAR)
    return np.asarray(out)


def _pre_reduce(image: Image.Image | np.ndarray) -> tuple[Image.Image | np.ndarray, float]:
    """A PIL image larger than PRE_REDUCE_SIDE is box-reduced by a whole factor before it
    becomes floats (a 12-megapixel photo as float32 RGB is 144 MB); returns it and the factor."""
    if isinstance(image, Image.Image) and image.mode in ("L", "RGB", "RGBA") and max(image.size) > PRE_REDUCE_SIDE:
        f = max(image.size) // PRE_REDUCE_TO
        return image.reduce(f), float(f)
    return image, 1.0


def _ink_mask_marks(ink: np.ndarray) -> tuple[np.ndarray, int, tuple[int, int, int, int] | None]:
    """Separate marks in a clean drawing (scipy components grouped like photos' marks, see
    :func:`data.photo._group_marks`): keep the largest plausible one. Returns the ink with the
    other marks erased, the number of plausible marks and the kept mark's box (x0, y0, x1, y1)."""
    from scipy import ndimage

    from data.photo import SPECK_SHARE, _group_box, _group_marks

    mask = ink > INK_THRESHOLD
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n <= 1:
        return ink, 1, None
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    stats = np.zeros((n + 1, 5), np.int64)
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        stats[i] = (sl[1].start, sl[0].start, sl[1].stop - sl[1].start, sl[0].stop - sl[0].start, areas[i])
    ids = [i for i in range(1, n + 1) if areas[i] >= max(SPECK_SHARE * areas[1:].max(), 4)]
    groups = _group_marks(stats, ids, stroke_width(mask))
    if len(groups) <= 1:
        return ink, 1, None

    def size(g):
        x0, y0, x1, y1 = _group_box(stats, g)
        return max(x1 - x0, y1 - y0)

    tallest, most = max(size(g) for g in groups), max(sum(areas[i] for i in g) for g in groups)
    plausible = [g for g in groups if size(g) >= 0.3 * tallest and sum(areas[i] for i in g) >= 0.1 * most]
    if len(plausible) <= 1:
        return ink, 1, None
    chosen = max(plausible, key=lambda g: (size(g), sum(areas[i] for i in g)))
    x0, y0, x1, y1 = _group_box(stats, chosen)
    keep = np.isin(labels, chosen)
    # grey anti-aliased edges just outside the thresholded mark stay with it
    from scipy.ndimage import binary_dilation

    out = np.where(binary_dilation(keep, iterations=2), ink, 0.0).astype(ink.dtype)
    return out, len(plausible), (int(x0), int(y0), int(x1), int(y1))


def preprocess(image: Image.Image | np.ndarray) -> Preprocessed:
    """Make an MNIST-style (28, 28) float32 image in [0, 1] from any drawing or picture."""
    result = _preprocess(image)
    return _zoomed_in(image, result) or result


def _zoomed_in(image: Image.Image | np.ndarray, result: Preprocessed) -> Preprocessed | None:
    """A small digit in a large photo or page, read again from the input's own pixels round it.
    A photo is read at about PHOTO_SIDE px, where a digit written a centimetre tall on a page
    photographed whole is 20-40 px: thin strokes break and the read may be a piece, or a dot.
    When the read mark (or the dot refused) is under ZOOM_BELOW of the picture's long side, a
    square ZOOM_FIELD times its size round it is cut from the input and read as a picture of
    its own; its answer is kept when it finds a digit where the first read found its mark (None:
    no zoom, or nothing better)."""
    shape = image.size[::-1] if isinstance(image, Image.Image) else np.asarray(image).shape[:2]
    if result.box is None or not result.photo or NEGATIVE in result.steps or max(shape) < ZOOM_MIN_SIDE:
        return None
    x0, y0, x1, y1 = result.box
    size = max(x1 - x0, y1 - y0)
    if size >= ZOOM_BELOW * max(shape):
        return None
    half = max(ZOOM_FIELD * size, ZOOM_MIN_FIELD) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bx = (max(0, int(cx - half)), max(0, int(cy - half)), min(shape[1], int(cx + half)), min(shape[0], int(cy + half)))
    crop = image.crop(bx) if isinstance(image, Image.Image) else np.asarray(image)[bx[1]:bx[3], bx[0]:bx[2]]
    zoomed = _preprocess(crop)
    if not zoomed.ok or zoomed.box is None:
        return None
    zx0, zy0, zx1, zy1 = zoomed.box
    zoomed.box = (zx0 + bx[0], zy0 + bx[1], zx1 + bx[0], zy1 + bx[1])
    if _overlap(zoomed.box, result.box) < ZOOM_SAME:
        return None       # up close something else was read (a ruling, a printed box, a piece)
    gray = zoomed.steps.pop(INPUT)
    zoomed.steps = {INPUT: result.steps[INPUT],
                    f"{ZOOMED_IN} ({bx[2] - bx[0]}x{bx[3] - bx[1]} px)": gray, **zoomed.steps}
    zoomed.photo = True
    return zoomed


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def _preprocess(image: Image.Image | np.ndarray) -> Preprocessed:
    image, factor = _pre_reduce(image)
    arr = to_float_array(image)
    gray = to_gray(arr)
    steps: dict[str, np.ndarray] = {INPUT: gray}
    has_alpha = arr.ndim == 3 and arr.shape[2] == 4 and float(arr[..., 3].min()) <= 0.98
    from data.pixels import native_size, reduce_to

    native = native_size(gray)
    if native is not None:
        # blocks of repeated pixels: back to the picture's own pixels (each block's mean), which
        # are then read as any small scan; scaling the blocks' hard edges down would draw a
        # staircase no MNIST digit has (dev low-res scans so enlarged: 89.5 % against 94 % raw)
        factor *= gray.shape[1] / native[1]
        gray = reduce_to(gray, native)
        steps[f"{ZOOM_UNDONE} ({native[1]}x{native[0]} px)"] = gray
    from data.photo import is_photo_sized, looks_like_dark_board, looks_like_paper, may_be_negative

    if looks_like_dark_board(gray, has_alpha, factor):
        # light marks photographed on a dark surface (chalk on a blackboard): the photo steps
        # expect dark ink on light paper, so its negative is read
        gray = 1.0 - gray
        steps[NEGATIVE] = gray
    if looks_like_paper(gray, has_alpha, factor):
        result = _read_paper(gray, factor, steps)
        if not result.ok and NEGATIVE not in steps and is_photo_sized(gray.shape, factor) and may_be_negative(gray):
            # a photo read as paper and found blank, mostly dark or with light marks (a board whose
            # marks were not clearly lighter, or one not mostly dark): its negative is tried
            inverted = 1.0 - gray
            negative = _read_paper(inverted, factor, {**steps, NEGATIVE: inverted})
            if negative.ok:
                return negative
        return result
    ink = to_ink(gray)
    reduced = _reduce(ink)
    factor *= max(ink.shape) / max(reduced.shape)
    steps["ink (polarity, background removed)"] = reduced
    return _normalise(reduced, steps, factor=factor)


def _read_paper(gray: np.ndarray, factor: float, steps: dict[str, np.ndarray]) -> Preprocessed:
    """The photo and scan steps (:func:`data.photo.find_digit`, in the order of tries below)
    on a picture of dark ink on light paper."""
    from data.photo import find_digit, is_photo_sized

    first = edge = None
    # a photo is read first with the grey-ink settings (the paper's window a quarter of the
    # picture, the contrast smoothed: a fat or grainy stroke stays whole; on the dev photos,
    # phone 1545 -> 1569 of 1600, close-ups 351 -> 372 of 400), then, if refused, with the
    # narrow window; a scan the other way round (a 5x5 median would erase its thin strokes).
    # Then once more with only what is on the paper (a digit that runs into the table), see
    # find_digit. A digit read where it runs off the photo's edge may have run into the table
    # there: the cut at the paper's edge is tried too, and its answer, when it finds one, is kept
    tries = ({"grey_ink": True}, {}, {"paper_only": True}) if is_photo_sized(gray.shape, factor) \
        else ({}, {"grey_ink": True}, {"paper_only": True})
    for retry in tries:
        if edge is not None and "paper_only" not in retry:
            continue        # read off the edge: only the cut at the paper's edge can do better
        found = find_digit(gray, factor, **retry)
        tried = {**steps, **found.steps}
        if found.ink is None:
            result = Preprocessed(None, "No digit found: the paper is blank (no writing in the picture). "
                                        "Write a digit 0-9 large and dark, and photograph it again.", tried,
                                  photo=True)
        else:
            which = "the largest that is not a dot" if found.passed_over_dot else "the largest"
            note = f"Found {found.marks} marks, read {which} (boxed)." if found.marks > 1 else None
            if found.at_edge:
                note = " ".join(filter(None, [note, "The digit runs off the photo's edge: leave some paper "
                                                    "round it for a surer reading."]))
            result = _normalise(found.ink, tried, side=found.side, check_coverage=False, note=note,
                                box=found.box, photo=True)
        if result.ok and edge is not None and not _most_of(result.box, edge.box):
            continue        # the cut at the paper's edge kept a piece of the digit read off the edge
        if result.ok and not found.at_edge:
            return result
        if result.ok:
            edge = result
        elif first is None:
            first = result
    return edge or first


def _most_of(box: tuple[int, int, int, int], other: tuple[int, int, int, int]) -> bool:
    """Whether ``box`` (x0, y0, x1, y1) is at least half as tall or half as wide as ``other``."""
    return box[2] - box[0] >= 0.5 * (other[2] - other[0]) or box[3] - box[1] >= 0.5 * (other[3] - other[1])


def _resized(a: np.ndarray, w: int, h: int, method: Image.Resampling) -> np.ndarray:
    """A float image resampled to (h, w) by PIL's ``method``, kept in floats."""
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((w, h), method))


def _tight(mask: np.ndarray) -> tuple[slice, slice]:
    """The slices of ``mask``'s bounding box (it has at least one True pixel)."""
    ys, xs = np.nonzero(mask)
    return np.s_[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _normalise(ink: np.ndarray, steps: dict[str, np.ndarray], side: int | None = None, check_coverage: bool = True,
               note: str | None = None, box: tuple[int, int, int, int] | None = None, photo: bool = False,
               factor: float = 1.0) -> Preprocessed:
    """Steps 4-6 on a bright-ink image: refuse non-digits, pick the largest mark, crop, stroke
    width, scale to 20x20 and centre by mass in 28x28."""
    from data.photo import is_dot

    mask = ink > INK_THRESHOLD
    if mask.sum() < 4:
        return Preprocessed(None, "No digit found: the canvas or image is blank. Draw a digit 0-9.", steps, photo=photo)
    side = side or max(ink.shape)
    if check_coverage:
        ys, xs = np.nonzero(mask)
        bh, bw = ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()
        fill = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1].mean()
        # (a solid bar at least 2.5 times taller than wide is a 1 scanned tight, not a filled area)
        solid = fill > SOLID_FILL and not bh >= 2.5 * bw
        if mask.mean() > 0.55 and (solid or _loops(mask, 0.001 * mask.size) > MAX_HOLES):
            return Preprocessed(None, "That covers most of the picture: it looks like a scribble or a filled area, "
                                      "not a digit.", steps)
        ink, marks, mark_box = _ink_mask_marks(ink)
        if marks > 1:
            mask = ink > INK_THRESHOLD
            note = f"Found {marks} marks, read the largest (boxed)."
            box = tuple(int(round(v * factor)) for v in mark_box)
            steps["chosen mark"] = ink
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    h, w = y1 - y0, x1 - x0
    if box is None:
        box = tuple(int(round(v * factor)) for v in (x0, y0, x1, y1))
    crop = ink[y0:y1, x0:x1]
    if is_dot(h, w, int(mask[y0:y1, x0:x1].sum()), side):
        return Preprocessed(None, "That looks like a dot, not a digit. Draw a digit 0-9, larger.", steps, box=box,
                            photo=photo)
    if count_holes(mask) > MAX_HOLES:
        return Preprocessed(None, "That looks like a scribble (it crosses itself many times), not a digit. "
                                  "Clear it and draw one digit 0-9.", steps, photo=photo)
    steps["cropped to the ink"] = crop
    cmask = mask[y0:y1, x0:x1]
    if max(h, w) < BOX:
        # a digit smaller than MNIST's box (a low-resolution scan, 8-16 px) is first enlarged
        # smoothly, so that its stroke width can be measured and changed by fractions of its
        # own pixels (a 1 two or three pixels wide in an 8x8 scan is thinned, not read as an 8)
        f = int(np.ceil(SMALL_TO / max(h, w)))
        big = np.clip(_resized(crop, w * f, h * f, Image.Resampling.BICUBIC), 0.0, 1.0)
        cmask = big > INK_THRESHOLD
        inside = _tight(cmask)
        crop, cmask = big[inside], cmask[inside]
        h, w = crop.shape
        steps[f"{ENLARGED} {f}x (under {BOX} px)"] = crop
    scale = BOX / max(h, w)
    width28 = stroke_width(cmask) * scale
    if width28 < MIN_STROKE_PX:
        size = _filter_size((TARGET_STROKE_PX - width28) / scale)
        if size >= 3:
            crop = _dilate(np.pad(crop, size // 2), size)
            h, w = crop.shape
            scale = BOX / max(h, w)
            steps["thin strokes thickened"] = crop
    elif width28 > MAX_STROKE_PX:
        size = _filter_size((width28 - THIN_TO_PX) / scale)
        thinned = _erode(crop, size) if size >= 3 else crop
        kept = thinned > INK_THRESHOLD
        if size >= 3 and kept.sum() >= 4:        # never erase the digit altogether
            crop = thinned[_tight(kept)]
            h, w = crop.shape
            scale = BOX / max(h, w)
            steps["fat strokes thinned"] = crop
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = _resized(crop, nw, nh, Image.Resampling.LANCZOS)
    small = np.clip(small, 0.0, None)
    peak = float(small.max())
    small = np.clip(small / peak, 0.0, 1.0) if peak > 0 else small
    steps[f"scaled to fit {BOX}x{BOX}"] = small
    canvas = np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.float32)
    top, left = (IMAGE_SIDE - nh) // 2, (IMAGE_SIDE - nw) // 2
    canvas[top:top + nh, left:left + nw] = small
    cy, cx = _centre_of_mass(canvas)
    dy, dx = float(np.floor(CENTRE - cy + 0.5)), float(np.floor(CENTRE - cx + 0.5))   # whole pixels, like MNIST
    centred = np.clip(_shift(canvas, dy, dx), 0.0, 1.0).astype(np.float32)
    steps[f"centred by mass in {IMAGE_SIDE}x{IMAGE_SIDE}"] = centred
    return Preprocessed(centred, None, steps, note=note, box=box, photo=photo)


# ---------------------------------------------------------------------------------------
# Files: safe decoding of uploads and command-line inputs
# ---------------------------------------------------------------------------------------
MAX_FILE_BYTES = 20 * 1024 * 1024   # larger files are refused before decoding (a 48-50 MP phone JPEG is 8-20 MB)
MAX_PIXELS = 40_000_000             # e.g. a 20000x20000 "decompression bomb" is refused
MAX_JPEG_PIXELS = 80_000_000        # a JPEG up to this is decoded at half size or less (DCT scaling): 48-64 MP
                                    # phone photos are read; PIL itself warns of a bomb at 89 MP
# Only these decoders are ever run on user bytes (whatever the file name says): PIL would
# otherwise also try EPS (which runs Ghostscript), PDF, PSD, ICO and a dozen rarer formats.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")


class ImageInputError(ValueError):
    """An upload or file that cannot be used as a digit image; the message is for the user."""


def decode_image(data: bytes) -> Image.Image:
    """Decode image bytes safely: size limits, no animation, fully loaded and turned upright by
    its EXIF orientation tag (:func:`_upright`), or ImageInputError."""
    import io
    import warnings

    if len(data) == 0:
        raise ImageInputError("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ImageInputError(f"The file is too large ({len(data) / 1e6:.1f} MB); "
                              f"the limit is {MAX_FILE_BYTES // 2**20} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            w, h = img.size
            limit = MAX_JPEG_PIXELS if img.format == "JPEG" else MAX_PIXELS
            if w * h > limit:
                raise ImageInputError(f"The image is too large ({w}x{h} pixels); "
                                      f"the limit is {limit // 1_000_000} megapixels.")
            if getattr(img, "is_animated", False) and getattr(img, "n_frames", 1) > 1:
                raise ImageInputError("Animated images are not supported: upload a single still image.")
            if w * h > MAX_PIXELS:      # a JPEG: decoded at 1/2 (or less) by the decoder itself
                img.draft(img.mode, ((w + 1) // 2, (h + 1) // 2))
            img.load()
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError("The image is too large to decode safely (a decompression bomb?).") from None
    except Image.UnidentifiedImageError:
        raise ImageInputError(
            "This is not a readable image file (supported: PNG, JPEG, GIF, BMP, WebP, TIFF).") from None
    except Exception as exc:  # PIL raises many types for bad data
        raise ImageInputError(f"This is not a readable image file ({type(exc).__name__}).") from None
    if img.size[0] < 1 or img.size[1] < 1:
        raise ImageInputError("The image has no pixels.")
    return _upright(img)


def _upright(img: Image.Image) -> Image.Image:
    """The picture as its viewer shows it: a phone stores a photo taken upright as the sensor saw
    it (on its side) with an EXIF orientation tag that every viewer applies; read without it, a 7
    lies on its side. A tag that cannot be read leaves the picture as it is."""
    import warnings

    from PIL import ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # "Corrupt EXIF data": the tag is then not used
            return ImageOps.exif_transpose(img)
    except Exception:  # malformed EXIF (PIL raises several types): the pixels are still good
        return img
