"""Find the digit in a photo or scan of paper: the steps a picture of real paper needs before
:mod:`data.preprocess` can treat it like a drawing.

A phone photo of a digit written on paper is not a drawing: the paper is grey and unevenly lit
(darker at one side, a shadow across it), it may be ruled or squared, the paper's edge and the
table can show, and the camera adds blur, noise and JPEG blocks. Taken as it is, all of that
is "ink". The classic document-image recipe undoes it, step by step (OpenCV, headless build):

1. **Work size**: the picture is reduced so its long side is at most ``PHOTO_SIDE`` px
   (``cv2.INTER_AREA``), early, so a 12-megapixel photo costs what a small one does.
2. **Illumination**: the paper's brightness at every pixel is estimated by a morphological
   closing (a max then a min filter) with a window wider than any pen stroke: it erases dark
   strokes but keeps smooth light gradients and the hard edge of a shadow. Dividing the picture
   by it leaves the ink's *contrast with the paper around it* (background normalisation for
   uneven illumination; e.g. Gonzalez & Woods, *Digital Image Processing*, ch. 9). Paper that
   is evenly lit (a scan: its light side, split from the ink by Otsu's threshold, hardly
   varies) is taken as one level instead.
3. **Local threshold**: a pixel is ink when its contrast with its local paper clears both
   the noise (a multiple of the paper's robust noise level) and a share of the ink's own
   level, so a faint pencil and a black marker are both kept. This is a local (adaptive)
   threshold in the background-subtraction form (Sauvola & Pietikainen, 2000, threshold
   relative to local statistics). Fainter pixels joined to such ink are kept too (hysteresis),
   so blurred, low-resolution or pencil strokes stay whole. When a photo yields nothing, or
   nothing but marks on its border, the ink's level is measured again without the most
   contrasted regions touching the border (a table next to a faint pencil), and the threshold
   tried once more; so it is too when the digit was found in pieces (a fat grey pencil under
   the table's bar, of which only the paper's lines across it cleared it), and that answer is
   kept if it finds the digit whole.
4. **Lines**: ruled and squared paper lines are long, thin and nearly straight. A
   morphological opening with long horizontal (then vertical) line kernels keeps only them;
   pieces that span a large part of the picture are removed, and pen strokes that crossed a
   line are bridged again across it. A **printed box** round the digit (a form's field) is
   found as three or four thin straight sides of the chosen mark (probabilistic Hough
   transform) and removed, and the digit is chosen again inside it.
5. **Marks**: connected components (8-connected). Specks are dropped, as are the paper's edge
   and the table (large or long regions along the picture's border, within 3 % of it, or
   running from one border to the other; in a photo, anything touching the border) when
   something else is on the paper. Pieces of one digit (a 5's bar, a 4 written in two
   strokes) are merged when close together; separate digits are not. The largest plausible
   mark is read, and the others are counted so the page can say "found 3 marks, read the
   largest". When nothing but marks on the border is found in a photo, a digit photographed
   so close that it runs off the edge is read (``at_edge``). Pores (holes far smaller than the
   pen is wide, or than the digit: noise inside a fat stroke, a grainy pencil) are filled.

:func:`data.preprocess.preprocess` reads a photo first with the grey-ink settings (a paper
window a quarter of the picture wide, the contrast smoothed before the threshold: a fat or
grainy stroke stays whole) and, if refused, with the narrow window; a scan the other way round.
A photo still refused, or read only off its edge, is tried once more with only what lies on the
sheet (the convex hull of the largest ink-free region), for a digit written up to the paper's
edge, which touches the table and was dropped with it. A camera's picture of light marks on a
dark surface (chalk on a blackboard, :func:`looks_like_dark_board`) is read as its negative, as
is a mostly dark photo that the paper path found blank.

The result is a grey ink image (bright ink on black, like MNIST) cropped around the chosen
mark, which :func:`data.preprocess.preprocess` then normalises like any drawing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

PHOTO_SIDE = 1024        # photos are worked on at this long side (px)
PHOTO_MIN_SIDE = 600     # pictures this large (long side, px) or larger are photos; smaller ones scans
BG_WINDOW = 1 / 10       # closing window for the paper's brightness, as a share of the long side
NOISE_SIGMAS = 5.0       # ink must stand this many noise levels above the paper
INK_SHARE = 0.35         # ... and reach this share of the ink's own contrast (its 99.5th percentile)
MIN_CONTRAST = 0.12      # below this nothing was written (a blank page, a photo of a wall)
FAINT = 0.13             # a photo's read mark inked fainter than this (90th percentile of contrast) is no writing
FLAT = 3.0               # a mark wider than this times its height is a line, not a digit
SPARSE_INK = 1e-4        # a digit covers at least this share of the picture (a small digit on a full page)
LINE_SPAN = 0.45         # a straight piece longer than this share of the picture is a paper line
SPECK_SHARE = 0.02       # components smaller than this share of the largest are specks
EVEN_LIGHT = 0.1         # paper varying less than this share of the ink's contrast is evenly lit
HYSTERESIS = 0.6         # pixels above this share of the threshold are ink where they touch ink above it
BORDER_NEAR = 0.03       # in a photo, marks this close to the border (share of the long side) lie on it
MOSTLY_DARK = 0.3        # a picture whose median lies in this lowest share of its range is mostly dark
HALF_DARK = 0.45         # ... and in this share, more than half dark (a board may be half in bright light)
PIECES_GROWTH = 1.5      # a digit read in pieces is read whole at the paper's own level if that finds this much more
RIM_FILL = 0.08          # a mark on the border filling less of its box than this is a thin rim (of paper, of shadow)
EDGE_STROKE = 0.006      # a digit read where it runs off a photo's edge has strokes this wide (share of the side)
EDGE_SIZE = 0.15         # ... and reaches this share of the short side at least (a close-up's digit is large)
EDGE_CONTRAST = 0.2      # ... and is inked this dark at least (its 90th percentile of contrast) ...
EDGE_EVEN = 0.7          # ... and evenly: its median contrast at least this share of that
PORE = 0.1               # holes in the chosen mark smaller than this times the pen width squared are filled
LOOP_SHARE = 0.06        # ... or than this share of the mark's size, squared (a digit's loops are larger)
FRAME_SPAN = 0.7         # a side of a printed box runs along this share of the chosen mark's box (or more)
FRAME_TILT = 10.0        # ... leaning at most this many degrees from horizontal or vertical
FRAME_NEAR = 0.2         # ... and lies within this share of the mark's box from its edge
FRAME_THICK = 0.06       # ... and is at most this share of the mark's box thick
FRAME_COVER = 0.9        # ... and has ink along this share of the mark's box (or more)


@dataclass
class PhotoResult:
    """``ink``: float32 (h, w) in [0, 1], bright ink on black, cropped around the chosen mark
    (None when nothing was found); ``box``: the chosen mark in the *input's* pixels
    (x0, y0, x1, y1); ``marks``: how many plausible marks there were; ``steps``: named images."""

    ink: np.ndarray | None
    box: tuple[int, int, int, int] | None
    marks: int
    steps: dict[str, np.ndarray]
    side: int                     # long side of the working image (for size rules downstream)
    passed_over_dot: bool = False  # a larger mark, a dot or blob, was passed over for a thinner one
    at_edge: bool = False          # the mark read runs off the picture's edge (nothing else was found)


def is_photo_sized(shape: tuple[int, int], scale_to_input: float = 1.0) -> bool:
    """Whether a picture of ``shape`` (in pixels that are ``scale_to_input`` of the input's) is
    photo-sized (long side ``PHOTO_MIN_SIDE`` px or more) rather than a scan."""
    return scale_to_input * max(shape) >= PHOTO_MIN_SIDE


def _odd(v: float) -> int:
    k = max(3, int(round(v)))
    return k if k % 2 else k + 1


def looks_like_paper(gray: np.ndarray, has_alpha: bool, scale_to_input: float = 1.0) -> bool:
    """Whether a grayscale picture is a photo or scan of light paper rather than a clean drawing.

    Clean drawings (the canvas, a drawing program's export, typed text) have a background of
    one exact grey level: most pixels share the histogram's mode. A camera or scanner never
    gives that: sensor noise, JPEG and uneven light spread the paper over many levels. So:
    mostly light (its median above the middle of its range: light paper, dark ink) or with marks
    that are darker than their ground (for a photo, :func:`is_photo_sized`, also marks that are
    not clearly lighter: a deep shadow), and fewer than half the pixels at the mode (sampled on a
    grid of at most 256x256 pixels, without averaging, which would hide noise). ``scale_to_input``:
    as :func:`is_photo_sized`'s, for a picture already reduced."""
    if has_alpha or min(gray.shape) < 24:
        return False
    sample = _sample(gray)
    b = max(1, min(sample.shape) // 20)
    border = np.concatenate([sample[:b].ravel(), sample[-b:].ravel(), sample[:, :b].ravel(), sample[:, -b:].ravel()])
    lo, mid, hi = (float(v) for v in np.percentile(sample, [2, 50, 98]))
    if mid < 0.2 or float(np.median(border)) < 0.15:
        return False                     # a dark picture, or a dark frame round it (a canvas)
    if mid < lo + MOSTLY_DARK * (hi - lo):
        # not mostly light: paper only if its marks are darker than their ground. In a photo,
        # marks that are neither clearly darker nor lighter (a faint pencil under a deep shadow
        # over most of the page, among the shadow's and the table's edges) are on paper too, as
        # in nearly every photo: the shadow is divided out in find_digit. A scan has no such
        # shadow: there, undecided marks go down the drawing path, as they always did
        polarity = _mark_polarity(sample)
        if polarity == "light" or (polarity is None and not is_photo_sized(gray.shape, scale_to_input)):
            return False
    return _mode_share(sample) < 0.5


def _sample(gray: np.ndarray) -> np.ndarray:
    """The picture on a grid of at most 256x256 pixels, without averaging (which would hide noise)."""
    step = max(1, max(gray.shape) // 256)
    return gray[::step, ::step]


def _mode_share(sample: np.ndarray) -> float:
    """The share of the pixels at the histogram's mode (256 levels): most of a clean drawing's,
    a camera's far fewer."""
    q = np.round(sample * 255).astype(np.int32).ravel()
    return float(np.bincount(q, minlength=256).max() / q.size)


def mostly_dark(gray: np.ndarray, share: float = MOSTLY_DARK) -> bool:
    """Whether a picture's median lies in the lowest ``share`` of its range (MOSTLY_DARK: what
    :func:`looks_like_paper` calls not mostly light), its range at least MIN_CONTRAST."""
    lo, mid, hi = (float(v) for v in np.percentile(_sample(gray), [2, 50, 98]))
    return hi - lo >= MIN_CONTRAST and mid < lo + share * (hi - lo)


def may_be_negative(gray: np.ndarray) -> bool:
    """Whether a photo that the paper path found blank may be a negative (light marks on a dark
    surface): :func:`mostly_dark`, or its marks clearly lighter than their ground."""
    return mostly_dark(gray) or _mark_polarity(_sample(gray)) == "light"


def looks_like_dark_board(gray: np.ndarray, has_alpha: bool, scale_to_input: float = 1.0) -> bool:
    """Whether a picture is a camera's photo of light marks on a dark surface (chalk on a
    blackboard, a white marker on dark paper, a digit on a dark screen): photo-sized
    (:func:`is_photo_sized`), more than half dark (its median in the lowest HALF_DARK of its
    range: a board half in bright light is not :func:`mostly_dark`, and was read as paper, its
    dark ground as ink; a photo of paper has its median higher), its marks clearly lighter than
    their ground (:func:`_mark_polarity`), and fewer than half its pixels at the histogram's mode
    (a camera's many grey levels, where a clean light-on-dark drawing has one background level).
    Its negative is then read as a photo of paper."""
    if has_alpha or not is_photo_sized(gray.shape, scale_to_input) or not mostly_dark(gray, HALF_DARK):
        return False
    sample = _sample(gray)
    return _mode_share(sample) < 0.5 and _mark_polarity(sample) == "light"


def _mark_polarity(sample: np.ndarray) -> str | None:
    """Whether the picture's marks are darker than what surrounds them ("dark": ink on paper,
    even where a deep shadow darkens most of the page) or lighter ("light": a light drawing on
    a dark ground), or neither clearly (None): its strongest departures from a wide median (the
    local background) one way are twice those the other way, or else its strongest thin
    features (morphological top-hats, Gonzalez & Woods ch. 9) are."""
    import cv2

    u8 = np.clip(np.round(sample * 255), 0, 255).astype(np.uint8)
    local = cv2.medianBlur(u8, _odd(max(sample.shape) / 8)).astype(np.float32)
    diff = u8.astype(np.float32) - local
    darker, lighter = -float(np.percentile(diff, 0.5)), float(np.percentile(diff, 99.5))
    if darker > 2 * lighter:
        return "dark"
    # the hard edge of a shadow across the page departs from a wide median both ways, as much as
    # faint ink in the shadow; thin features only are compared then: the strongest thin dark
    # ones (black top-hat: a closing minus the picture) against the strongest thin light ones
    # (white top-hat: the picture minus an opening). Both keep a straight edge, so it is neither
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(max(sample.shape) / 32),) * 2)
    dark = float(np.percentile(cv2.morphologyEx(u8, cv2.MORPH_BLACKHAT, se), 99.9))
    light = float(np.percentile(cv2.morphologyEx(u8, cv2.MORPH_TOPHAT, se), 99.9))
    if dark > 2 * light:
        return "dark"
    return "light" if lighter > 2 * darker or light > 2 * dark else None


def _sides(stats_row, shape, margin: int = 0) -> tuple[bool, bool, bool, bool]:
    """Which sides of the picture (top, bottom, left, right) a component touches or comes within
    ``margin`` px of."""
    x, y, w, h = stats_row[:4]
    H, W = shape
    return bool(y <= margin), bool(y + h >= H - margin), bool(x <= margin), bool(x + w >= W - margin)


def _touching(stats: np.ndarray, shape, margin: int = 0) -> np.ndarray:
    """For every row of a components' ``stats`` table, whether it touches a side of the picture or
    comes within ``margin`` px of it (any of :func:`_sides`); row 0, the background, never does."""
    x, y, w, h = (stats[:, k] for k in range(4))
    H, W = shape
    out = (y <= margin) | (y + h >= H - margin) | (x <= margin) | (x + w >= W - margin)
    out[0] = False
    return out


def _border_span(stats_row, shape, margin: int = 0) -> float:
    """Largest share of one picture side that a component's box runs along while touching it
    (coming within ``margin`` px of it)."""
    top, bottom, left, right = _sides(stats_row, shape, margin)
    w, h = stats_row[2:4]
    spans = ([w / shape[1]] if top or bottom else []) + ([h / shape[0]] if left or right else [])
    return max(spans) if spans else 0.0


def _along_border(stats_row, shape, margin: int = 0) -> bool:
    """Whether a component lies *along* a border it touches or comes within ``margin`` px of
    (three times longer than deep): the rim of the paper or a strip of table, not a stroke
    that runs into the border."""
    top, bottom, left, right = _sides(stats_row, shape, margin)
    w, h = stats_row[2:4]
    return bool(((top or bottom) and w >= 3 * h) or ((left or right) and h >= 3 * w))


def _fill(stats_row) -> float:
    """The share of its box that a component's pixels fill."""
    return stats_row[4] / max(int(stats_row[2]) * int(stats_row[3]), 1)


def _across(stats_row, shape) -> bool:
    """Whether a component runs from one border of the picture to the opposite one: in a photo
    a strip of table or the paper's rim, never a digit."""
    x, y, w, h = stats_row[:4]
    H, W = shape
    return bool((y == 0 and y + h == H) or (x == 0 and x + w == W))


def _off_the_edge(stats_row, shape, margin: int = 0) -> bool:
    """Whether a component on the border can be a digit that runs off the picture's edge: not
    along a border (the table, the paper's rim), on at most two sides (what reaches three is the
    table with the paper's lines joined to it), not from one border to the opposite one (a paper
    line joined to the digit, a strip of table), not a solid patch in a corner (more than half
    its box) and not a thin rim (less than ``RIM_FILL`` of its box)."""
    top, bottom, left, right = _sides(stats_row, shape, margin)
    fill = _fill(stats_row)
    corner = (top or bottom) and (left or right)
    return bool(not _along_border(stats_row, shape, margin) and sum((top, bottom, left, right)) <= 2
                and not _across(stats_row, shape) and not (corner and fill > 0.5) and fill >= RIM_FILL)


def _stroke(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask: 2 * area / perimeter (see data.preprocess.stroke_width)."""
    p = np.pad(mask.astype(bool), 1)
    perim = int((p[1:, :] != p[:-1, :]).sum() + (p[:, 1:] != p[:, :-1]).sum())
    return 2.0 * float(p.sum()) / max(perim, 1)


def _remove_lines(mask: np.ndarray, cv2, pen_test: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Remove long, thin, nearly straight horizontal and vertical lines from a binary mask.
    Returns (mask without lines, the removed line pixels)."""
    H, W = mask.shape
    side = max(H, W)
    tol = max(2, side // 200)                 # tilt tolerance: thicken across the line first
    removed = np.zeros_like(mask)
    out = mask.copy()
    found = []                                 # (horizontal, labels, keep, line thickness) per direction
    # in a scan, runs must be longer than a fat stroke is across, or slanted strokes survive the opening
    pen_all = _stroke(out) if pen_test else 0.0
    for horizontal in (True, False):
        length = W if horizontal else H
        run = _odd(max(length / 12, 3 * pen_all))
        across = cv2.getStructuringElement(cv2.MORPH_RECT, (1, 2 * tol + 1) if horizontal else (2 * tol + 1, 1))
        along = cv2.getStructuringElement(cv2.MORPH_RECT, (run, 1) if horizontal else (1, run))
        gap = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * tol + 1, 1) if horizontal else (1, 2 * tol + 1))
        band = cv2.dilate(out, across)
        band = cv2.morphologyEx(band, cv2.MORPH_CLOSE, gap)          # dashes from noise and JPEG
        band = cv2.morphologyEx(band, cv2.MORPH_OPEN, along)         # only straight runs survive
        n, lab, stats, _ = cv2.connectedComponentsWithStats(band, connectivity=8)
        # a candidate runs across the picture; its own pixels (not its tilted box) give its thickness
        extent = stats[:, 2 if horizontal else 3].astype(np.float64)
        thick = stats[:, 3 if horizontal else 2]
        width = np.bincount(lab[out > 0], minlength=n) / np.maximum(extent, 1)
        if pen_test:
            keep = (extent >= LINE_SPAN * length) & (thick <= max(6 * tol, 0.15 * length)) \
                & (width <= max(3 * tol, 0.04 * length))
        else:      # photos: as before (their pen can be thinner than the ruling, e.g. a pencil)
            keep = (extent >= LINE_SPAN * length) & (thick <= max(6 * tol, 0.06 * length))
        keep[0] = False
        found.append((horizontal, lab, keep, width))
    # ... and is a paper line if it belongs to a box or a grid (two or more lines each way), or is
    # thinner than the pen that wrote the rest (a 7's bar or a 1 in a tight scan is as wide as the
    # digit's other strokes); a lone line with nothing else written is a 1, several are paper
    candidates = np.zeros(mask.shape, bool)
    for _, lab, keep, _ in found:
        candidates |= keep[lab]
    rest_px = out.astype(bool) & ~candidates
    if not pen_test or min(int(keep.sum()) for _, _, keep, _ in found) >= 2:
        pass
    elif rest_px.any():
        pen = _stroke(rest_px)
        found = [(hz, lab, keep & (width <= 0.75 * pen), width) for hz, lab, keep, width in found]
    elif sum(int(keep.sum()) for _, _, keep, _ in found) < 2:
        return out, removed
    for horizontal, lab, keep, _ in found:
        if not keep.any():
            continue
        band = keep[lab].astype(np.uint8)
        line = out & band
        rest = out & ~band
        # strokes that crossed a line: bridge them across the band (a closing across the line)
        bridge = cv2.getStructuringElement(cv2.MORPH_RECT, (1, 6 * tol + 1) if horizontal else (6 * tol + 1, 1))
        bridged = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, bridge) & line
        out = rest | bridged
        removed |= line & ~bridged
    return out, removed


def _frame_lines(mask: np.ndarray, cv2) -> np.ndarray | None:
    """The pixels of a printed box (a form's field) round the ink of ``mask``, a binary mask
    cropped to the chosen mark, or None when there is no box. A box side is a straight line
    (probabilistic Hough transform, Matas et al., 2000) along one edge of the mark's box,
    nearly horizontal or vertical and running along most of it; three or four such sides make
    a box (a digit has at most two: a 7's bar and a 1's stem, or a 4's). Pen strokes that
    cross a side are bridged across it again, as for ruled lines."""
    h, w = mask.shape
    short = min(h, w)
    if short < 24:
        return None
    segs = cv2.HoughLinesP(np.ascontiguousarray(mask), 1, np.pi / 180, threshold=int(0.4 * short),
                           minLineLength=FRAME_SPAN * short, maxLineGap=max(2, short // 40))
    if segs is None:
        return None
    segs = segs.reshape(-1, 4)
    x1, y1, x2, y2 = (segs[:, i].astype(np.float64) for i in range(4))
    dx, dy = np.abs(x2 - x1), np.abs(y2 - y1)
    lean = np.tan(np.radians(FRAME_TILT))
    horizontal = (dy <= lean * dx) & (dx >= FRAME_SPAN * w)
    vertical = (dx <= lean * dy) & (dy >= FRAME_SPAN * h)
    ym, xm = (y1 + y2) / 2, (x1 + x2) / 2
    sides = {"top": horizontal & (ym <= FRAME_NEAR * h), "bottom": horizontal & (ym >= (1 - FRAME_NEAR) * h),
             "left": vertical & (xm <= FRAME_NEAR * w), "right": vertical & (xm >= (1 - FRAME_NEAR) * w)}
    if sum(bool(v.any()) for v in sides.values()) < 3:
        return None
    lines = np.zeros_like(mask)
    bridged = np.zeros_like(mask)
    for name, pick in sides.items():
        if not pick.any():
            continue
        across_rows = name in ("top", "bottom")          # a horizontal side: its thickness is counted in columns
        # the side's centre line, fitted to its segments' ends and drawn across the whole mark
        # (to the corners, which the segments may not reach)
        # (the outermost segment and those beside it: a digit's bar near the side is not part of it)
        edge = {"top": ym, "bottom": h - ym, "left": xm, "right": w - xm}[name]
        pick = pick & (edge <= edge[pick].min() + max(2.0, 0.03 * short))
        ends = np.concatenate([segs[pick, :2], segs[pick, 2:]]).astype(np.float64)
        along, off = (ends[:, 0], ends[:, 1]) if across_rows else (ends[:, 1], ends[:, 0])
        slope, icpt = np.polyfit(along, off, 1) if np.ptp(along) > 0 else (0.0, float(off.mean()))
        far = (w if across_rows else h) - 1
        a, b = (0, icpt), (far, slope * far + icpt)
        centre = np.zeros_like(mask)
        cv2.line(centre, *((round(v[0]), round(v[1])) if across_rows else (round(v[1]), round(v[0])) for v in (a, b)),
                 1, 1)
        # the side's half thickness: the distance from the centre line at which the ink across it
        # stops growing, in the median over its length (robust to where the digit touches it)
        dist = cv2.distanceTransform(1 - centre, cv2.DIST_L2, 3)
        axis = 0 if across_rows else 1
        half, had, cap = 1, 0.0, max(6, int(FRAME_THICK * short))
        for r in range(1, cap + 2):
            now = float(np.median((mask & (dist <= r)).sum(axis=axis)))
            if r > 1 and now < had + 0.5:
                break
            half, had = r, now
        side_px = (mask & (dist <= half + 1)).astype(np.uint8)
        # a printed line is thin and runs the whole way; a fat round stroke (a 0 filling a tight
        # scan) holds long straight chords too, but is thicker and curves away near the corners
        if half > cap or side_px.any(axis=axis).mean() < FRAME_COVER:
            return None
        thick = 2 * half + 1
        rest = mask & ~side_px
        close = np.ones((2 * thick + 3, 1) if across_rows else (1, 2 * thick + 3), np.uint8)
        bridged |= cv2.morphologyEx(rest, cv2.MORPH_CLOSE, close) & side_px
        lines |= side_px
    return lines & ~bridged


def _group_marks(stats: np.ndarray, ids: list[int], stroke: float) -> list[list[int]]:
    """Union components whose boxes are close (within 1.5 pen widths plus 8 % of the larger
    box's side), or stacked (overlapping in x by half the narrower one and a small vertical
    gap: a 5's bar over its body): pieces of one digit, not separate digits."""
    parent = {i: i for i in ids}

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a_i, a in enumerate(ids):
        ax, ay, aw, ah = stats[a, :4]
        for b in ids[a_i + 1:]:
            bx, by, bw, bh = stats[b, :4]
            gx = max(0, max(ax, bx) - min(ax + aw, bx + bw))
            gy = max(0, max(ay, by) - min(ay + ah, by + bh))
            size = max(aw, ah, bw, bh)
            near = max(gx, gy) <= 1.5 * stroke + 0.08 * size
            ox = min(ax + aw, bx + bw) - max(ax, bx)
            stacked = ox >= 0.5 * min(aw, bw) and gy <= 0.25 * max(ah, bh)
            if near or stacked:
                parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in ids:
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _group_box(stats: np.ndarray, group: list[int]) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) around a group of components of a ``stats`` table (x, y, w, h, ...)."""
    return (min(stats[i, 0] for i in group), min(stats[i, 1] for i in group),
            max(stats[i, 0] + stats[i, 2] for i in group), max(stats[i, 1] + stats[i, 3] for i in group))


def is_dot(h: int, w: int, area: int, side: int) -> bool:
    """Whether a mark of box h x w with ``area`` ink pixels is a dot, not a digit, in a picture
    whose long side is ``side``: tiny, or a round filled blob (a filled disc fills pi/4 = 0.785 of
    its box) that is small next to the picture."""
    big, small = max(h, w), min(h, w)
    return big < 0.02 * side or (big < 0.2 * side and big < 1.6 * small and area > 0.7 * h * w)


class Mark(NamedTuple):
    """The mark :func:`_choose_mark` read: its mask (uint8, the picture's size), its box
    (x0, y0, x1, y1), how many plausible marks there were, whether a larger one (a dot) was
    passed over, and whether it runs off the picture's edge (read only when nothing else was)."""

    mask: np.ndarray
    box: tuple[int, int, int, int]
    marks: int
    passed_over_dot: bool
    at_edge: bool


def _choose_mark(mask: np.ndarray, photo: bool, cv2, last: bool = False) -> Mark | None:
    """Step 5: components (specks, the paper's edge and the table dropped), grouped into marks;
    returns the largest plausible one (:class:`Mark`), or None when nothing is left. ``photo``:
    the input is photo-sized; ``last``: the last threshold a photo is read with (see below)."""
    H, W = mask.shape
    side = max(H, W)
    at_edge = False
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    ids = [i + 1 for i in range(n - 1) if areas[i] >= max(SPECK_SHARE * areas.max(), 4)]
    # in a photo, what comes within 3 % of the border counts as on it: under perspective a strip
    # of table can stop a few pixels short of the picture's edge
    margin = int(BORDER_NEAR * side) if photo else 0
    touching = _touching(stats, (H, W), margin)                            # (n,) on the border
    border = {i for i in ids if touching[i]}
    inner = [i for i in ids if i not in border]
    sizable = [i for i in inner if max(stats[i, 2], stats[i, 3]) >= 0.04 * side]
    if sizable or photo:
        # a photo (600 px or more), or something sizable written on the paper: what lies along
        # the border (the paper's edge, the table, a shadow's rim) is dropped when it runs along a
        # long stretch of the border, is a thin rim, or is far larger than what is on the paper.
        # In a photo all that touches the border goes: a corner of table or of a shadow, which
        # would otherwise be read or joined to the digit, or on a blank page a bit of its corner
        # (a digit that runs off the photo's edge is read below, when nothing else is found).
        # (A small tight scan with nothing inside keeps its border marks: there the digit is one.)
        big_inner = max([stats[i, cv2.CC_STAT_AREA] for i in sizable] or [0])
        candidates = ids
        ids = [i for i in ids if i not in border or not (
            photo
            or _border_span(stats[i], (H, W), margin) >= 0.5 or _along_border(stats[i], (H, W), margin)
            or (sizable and stats[i, cv2.CC_STAT_AREA] > 4 * big_inner)
            or _fill(stats[i]) < RIM_FILL)]                                         # a thin rim round a corner
        if not ids and photo:
            # nothing but marks on the border: a digit photographed close enough to fill the frame
            # runs off its edge. The largest that may be one (:func:`_off_the_edge`), is drawn with
            # a pen wider than a paper's ruling (at that size every pen is) and is as large as a
            # close-up's digit (not a bit of the page's corner) is read
            def pen(i: int) -> float:
                x, y, w, h = stats[i, :4]
                return _stroke(lab[y:y + h, x:x + w] == i)

            edge = [i for i in candidates if _off_the_edge(stats[i], (H, W), margin) and pen(i) >= EDGE_STROKE * side
                    and max(stats[i, 2], stats[i, 3]) >= EDGE_SIZE * min(H, W)]
            ids = [max(edge, key=lambda i: stats[i, cv2.CC_STAT_AREA])] if edge else []
            at_edge = bool(ids)
        off = [i for i in range(1, n) if not touching[i]] if not ids and last else []
        if photo and off:
            # a small digit on a whole page was a speck next to the table or a dark corner round
            # the page, and went with them: at the last threshold, when nothing else was found, the
            # marks off the border are measured against the largest of them instead, if that is
            # no dot and keeps clear of what is on the border (a sliver of the table's edge does
            # not). (Only at the last: a higher one, set by the table, breaks a faint digit into
            # pieces, which are then specks, and the paper's own level below it finds it whole.)
            best = max(off, key=lambda i: stats[i, cv2.CC_STAT_AREA])
            x, y, w, h, a = stats[best]
            around = lab[max(0, y - margin):y + h + margin, max(0, x - margin):x + w + margin]
            if not is_dot(h, w, a, side) and not touching[around].any():
                ids = [i for i in off if stats[i, cv2.CC_STAT_AREA] >= max(SPECK_SHARE * a, 4)]
    if not ids:
        return None
    lut = np.zeros(n, bool)
    lut[ids] = True
    kept = lut[lab]
    p = np.pad(kept, 1)
    stroke = 2.0 * kept.sum() / max(int((p[1:, :] != p[:-1, :]).sum() + (p[:, 1:] != p[:, :-1]).sum()), 1)
    groups = _group_marks(stats, ids, stroke)

    def ink_area(g):
        return sum(int(stats[i, cv2.CC_STAT_AREA]) for i in g)

    # a mark far wider than tall is a piece of a ruling or of a shadow's edge, never a digit (no
    # MNIST training digit is wider than 2.5 times its height): it is passed over, and it does
    # not make the marks beside it look small
    boxes = [_group_box(stats, g) for g in groups]
    upright = [(g, b) for g, b in zip(groups, boxes) if b[2] - b[0] <= FLAT * (b[3] - b[1])]
    if not upright:
        return None
    groups, boxes = (list(v) for v in zip(*upright))
    # plausible marks: tall enough next to the tallest, and with real ink next to the largest
    tallest = max(max(b[3] - b[1], b[2] - b[0]) for b in boxes)
    most = max(ink_area(g) for g in groups)
    plausible = [(g, b) for g, b in zip(groups, boxes)
                 if max(b[3] - b[1], b[2] - b[0]) >= 0.3 * tallest and ink_area(g) >= 0.1 * most]
    # the largest, unless it is a blob that would be refused as a dot and something else is not
    # (a patch of table or shadow beside a thin digit)
    digits = [g for g, b in plausible if not is_dot(b[3] - b[1], b[2] - b[0], ink_area(g), side)]
    chosen = max(digits or [g for g, _ in plausible], key=ink_area)
    lut = np.zeros(n, np.uint8)
    lut[chosen] = 1
    return Mark(lut[lab], _group_box(stats, chosen), len(plausible),
                ink_area(chosen) < max(ink_area(g) for g, _ in plausible), at_edge)


def _without_box(mask: np.ndarray, photo: bool, cv2, steps: dict) -> np.ndarray:
    """The mask with a printed box round the chosen mark removed and only what was inside it
    kept (see :func:`_frame_lines`); unchanged when there is no box."""
    found = _choose_mark(mask, photo, cv2)
    if found is None:
        return mask
    chosen, (x0, y0, x1, y1) = found.mask, found.box
    frame = _frame_lines(chosen[y0:y1, x0:x1], cv2)
    if frame is None:
        return mask
    inside = np.zeros_like(mask)
    inside[y0:y1, x0:x1] = mask[y0:y1, x0:x1] & ~frame
    # crumbs of the box's ragged edge (small pieces next to where it was) go with it
    n, lab, stats, _ = cv2.connectedComponentsWithStats(inside, connectivity=8)
    if n > 2:
        near = np.zeros_like(mask)
        near[y0:y1, x0:x1] = cv2.dilate(frame, np.ones((5, 5), np.uint8))
        touching = np.zeros(n, bool)
        touching[lab[near > 0]] = True
        crumbs = touching & (stats[:, cv2.CC_STAT_AREA] < 0.05 * stats[1:, cv2.CC_STAT_AREA].max())
        crumbs[0] = False
        inside[crumbs[lab]] = 0
    steps["printed box removed"] = inside.astype(np.float32)
    return inside


def _blank_bar(p15: float, noise: float, pixel_noise: float, photo_sized: bool) -> float:
    """The ink's level below which the paper is blank: the ink stands no clearer of the paper than
    its noise. In a scan whose digit fills the frame the lower 15 % of pixels hold blurred ink
    edges too, and their spread is no noise: there the pixel noise decides."""
    return max(MIN_CONTRAST, p15 + 2 * NOISE_SIGMAS * (noise if photo_sized else pixel_noise))


def _threshold_and_choose(contrast: np.ndarray, level: float, p15: float, noise: float, pixel_noise: float,
                          photo_sized: bool, cv2, steps: dict, paper_only: bool = False, last: bool = False
                          ) -> tuple[Mark | None, float]:
    """Steps 3-5 for one estimate of the ink's own ``level``: the local threshold, a printed box
    and paper lines removed, the marks (``last``: the last level tried, see :func:`_choose_mark`).
    Returns :func:`_choose_mark`'s answer (None: nothing found) and the threshold."""
    H, W = contrast.shape
    side = max(H, W)
    for stale in ("paper lines removed", "printed box removed", "cut at the paper's edge"):   # from an earlier try
        steps.pop(stale, None)
    # blank (the threshold below still keeps clear of the ink edges' spread in a tight scan)
    if level < _blank_bar(p15, noise, pixel_noise, photo_sized):
        return None, 0.0
    t = max(p15 + NOISE_SIGMAS * noise, INK_SHARE * level, 0.5 * MIN_CONTRAST)
    strong = cv2.morphologyEx((contrast > t).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    # hysteresis (as in Canny's edge detector): fainter pixels, still clear of the noise, are ink
    # where they join strong ink, so a blurred or pencil stroke is not broken into dashes
    weak = (contrast > max(p15 + NOISE_SIGMAS * noise, HYSTERESIS * t)).astype(np.uint8) | strong
    n_weak, lab_weak = cv2.connectedComponents(weak, connectivity=8)
    has_strong = np.zeros(n_weak, bool)
    has_strong[lab_weak[strong > 0]] = True
    has_strong[0] = False
    mask = has_strong[lab_weak].astype(np.uint8) if not photo_sized else strong
    steps["thresholded (local)"] = mask.astype(np.float32)

    # 4. a printed box round the digit (a form's field) and ruled or squared paper lines. In a
    # scan the box goes first (the ruled-line rules, made for lines across the page, could take
    # part of it and leave too few sides to see a box); in a photo, after the paper's lines
    boxed = False
    if not photo_sized:
        mask = _without_box(mask, False, cv2, steps)
        boxed = "printed box removed" in steps
    if side >= 512:       # lines are found at half size (4x cheaper), then removed at full size
        half = cv2.resize(mask, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
        _, lines_half = _remove_lines((half > 0).astype(np.uint8), cv2)
        band = cv2.dilate(cv2.resize(lines_half, (W, H), interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
        lines = mask & band
        if lines.any():
            rest = mask & ~band
            k = _odd(side / 60)
            horiz = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, k)))
            vert = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1)))
            mask = rest | ((horiz | vert) & lines)        # strokes that crossed a line, bridged again
    elif not boxed:       # (inside a form's box no ruling crosses the page)
        mask, lines = _remove_lines(mask, cv2, pen_test=not photo_sized)
    else:
        lines = np.zeros_like(mask)
    if lines.any():
        steps["paper lines removed"] = mask.astype(np.float32)

    if photo_sized:
        mask = _without_box(mask, True, cv2, steps)

    # (paper_only: a digit that touches the table or the paper's dark edge goes with them in step
    # 5; keep only what lies on the paper)
    paper = _paper_area(mask, cv2) if paper_only else None
    if paper is not None:
        mask = mask & paper
        steps["cut at the paper's edge"] = mask.astype(np.float32)

    # 5. marks
    return _choose_mark(mask, photo_sized, cv2, last), t


def _paper_area(mask: np.ndarray, cv2) -> np.ndarray | None:
    """The sheet of paper in a thresholded photo: the convex hull of the largest ink-free region
    (a sheet is convex under any perspective, so the hull also covers a digit that runs to its
    edge), two pixels in from its edge; None when the paper fills the picture or the region is
    less than half of it."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats((mask == 0).astype(np.uint8), connectivity=4)
    if n <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    hull = cv2.convexHull(cv2.findNonZero((lab == largest).astype(np.uint8)))
    paper = np.zeros_like(mask)
    cv2.fillConvexPoly(paper, hull, 1)
    paper = cv2.erode(paper, np.ones((5, 5), np.uint8))
    # (less than half the picture is no sheet: the inside of a 0 that fills the photo)
    return paper if 0.5 * paper.size <= paper.sum() < 0.97 * paper.size else None


def find_digit(gray: np.ndarray, scale_to_input: float = 1.0, grey_ink: bool = False,
               paper_only: bool = False) -> PhotoResult:
    """Illumination, local threshold, lines, marks: see the module's docstring. ``gray`` is
    float32 (H, W) in [0, 1], dark ink on light paper; ``scale_to_input`` converts its pixels
    to the input's (when the input was already reduced). ``grey_ink``: in a photo, the paper's
    window is a quarter of the picture (it must be wider than the stroke, or a fat grey pen's
    inside is taken for paper and only its rim and the paper's lines are left) and the contrast
    is median-filtered and smoothed before the threshold (a grainy stroke's inside is noisy near
    it, and its pores would read as a scribble); :func:`data.preprocess.preprocess` reads a
    photo with it first (and a scan only when refused). ``paper_only``: in a photo, ink outside
    the sheet of paper (:func:`_paper_area`) is dropped before the marks are chosen, so a digit
    that runs into the table is not dropped with it (the last retry)."""
    import cv2  # heavy import (about 0.1 s): only photos need it

    steps: dict[str, np.ndarray] = {}
    gray = np.ascontiguousarray(gray, dtype=np.float32)
    h, w = gray.shape
    photo_sized = is_photo_sized((h, w), scale_to_input)
    if paper_only and not photo_sized:   # a scan has no table round it: the first try's answer stands
        return PhotoResult(None, None, 0, steps, max(h, w))
    s = min(1.0, PHOTO_SIDE / max(h, w))
    if s < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    scale = scale_to_input / s                      # working px -> input px
    H, W = gray.shape
    side = max(H, W)

    # 2. illumination: the paper's brightness by a closing wider than any pen stroke, computed at
    # half size (a closing keeps gradients and shadow edges, so half size loses little)
    hs = 0.5 if side >= 256 else 1.0
    small = (cv2.resize(gray, (max(1, round(W * hs)), max(1, round(H * hs))), interpolation=cv2.INTER_AREA)
             if hs < 1 else gray)
    k = _odd(BG_WINDOW * max(small.shape))
    # a very fat pen (a tight scan of a blurry digit) needs a wider window, five stroke widths;
    # strokes are measured on what is darker than Otsu's threshold between ink and paper
    # (Otsu's threshold, from the picture itself: grey paper and grey ink alike)
    lo, hi = float(np.percentile(small, 2)), float(np.percentile(small, 98))
    otsu, _ = cv2.threshold(np.clip(small * 255, 0, 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # (a photo, 600 px or more, keeps the rule it was tuned with: darker than 0.4 of the paper)
    cut = min(0.5 * (lo + hi), 0.4 * hi) if photo_sized else min(otsu / 255.0, 0.5 * (lo + hi))
    dark = (small < cut).astype(np.uint8) if hi - lo > MIN_CONTRAST else (small < 0).astype(np.uint8)
    if dark.any():
        p = np.pad(dark, 1)
        perim = (p[1:, :] != p[:-1, :]).sum() + (p[:, 1:] != p[:, :-1]).sum()
        fat = 2.0 * dark.sum() / max(perim, 1)
        # ... but in a photo (600 px or more) no wider than a quarter of it: wider dark areas
        # are shadows, which the closing must keep
        cap = _odd(max(small.shape) / 4) if photo_sized else 10**6
        k = max(k, min(_odd(5 * fat), cap))
    if grey_ink and photo_sized:
        k = max(k, _odd(max(small.shape) / 4))
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    paper = cv2.GaussianBlur(paper, (0, 0), 1.0)
    if hs < 1:
        paper = cv2.resize(paper, (W, H), interpolation=cv2.INTER_LINEAR)
    # evenly lit (a scan): the paper's brightest half varies by less than a tenth of the ink's
    # contrast (measured on a smoothed copy, so sensor noise does not count). Then the paper is
    # one level, which no closing can get wrong when fat strokes fill a tight frame
    if not photo_sized and dark.any() and not dark.all():
        smooth = cv2.GaussianBlur(small, (0, 0), 2.0)
        light = smooth[dark == 0]
        p50, p95 = (float(v) for v in np.percentile(light, [50, 95]))
        if p95 - p50 < EVEN_LIGHT * (p95 - float(np.median(smooth[dark > 0]))):
            paper = np.full_like(gray, p95)
    contrast = np.clip(1.0 - gray / np.maximum(paper, 1e-3), 0.0, 1.0)
    if grey_ink:          # a fat stroke's inside is noisy near the threshold: average the noise out first
        contrast = cv2.medianBlur(contrast.astype(np.float32), 5)
        contrast = cv2.GaussianBlur(contrast, (0, 0), max(1.0, side / 300))
    steps["illumination corrected"] = 1.0 - contrast

    # 3. local threshold: above the paper's noise and a share of the ink's own contrast
    # the paper's own level and noise from the lower 15 % of pixels (ink may cover more than
    # half of a tight scan); for Gaussian noise the 2nd to 15th percentiles span 1.02 sigmas
    sample = contrast[::2, ::2] if contrast.size > 100_000 else contrast       # percentiles on a grid: faster
    p2, p15, level = (float(v) for v in np.percentile(sample, [2, 15, 99.5]))
    noise = (p15 - p2) / 1.02
    # ... and never below the pixel noise itself (residual from a 3x3 median, robust MAD)
    resid = (gray - cv2.medianBlur(gray, 3))[::2, ::2]
    pixel_noise = 1.4826 * float(np.median(np.abs(resid))) / max(float(np.median(paper)), 1e-3)
    noise = max(noise, pixel_noise)
    levels = [level]
    if photo_sized:
        # when nothing is found, once more with the ink's own level measured on the paper only: in
        # a photo the table, the paper's rim or a dark corner (the most contrasted regions touching
        # the picture's border, dropped in step 5 anyway) can set the bar too high for a pencil.
        # (Only then: a lower bar also takes in faint rulings, which the first try keeps out.)
        rough = (sample > 0.5 * level).astype(np.uint8)
        _, lab_rough = cv2.connectedComponents(rough, connectivity=8)
        rims = np.unique(np.concatenate([lab_rough[0], lab_rough[-1], lab_rough[:, 0], lab_rough[:, -1]]))
        on_paper = sample[~np.isin(lab_rough, rims[rims > 0])]
        if on_paper.size > 0.5 * sample.size:
            levels.append(float(np.percentile(on_paper, 99.5)))
    if max(levels) < _blank_bar(p15, noise, pixel_noise, photo_sized):
        # a small digit on a large page (a full-page scan) covers less than the top 0.5 % of the
        # pixels that set the level: the ink's level is then that of its SPARSE_INK brightest
        # share, which a blank page's noise does not reach (specks are dropped by _choose_mark)
        levels.append(float(np.percentile(contrast, 100 * (1 - SPARSE_INK))))
    # ... and also when all that was found lies on the picture's border: a patch of table or a
    # shadow's corner found instead of a faint digit that the table's contrast kept under the bar
    # (the first such answer stands if the paper's own level finds nothing off the border)
    margin = int(BORDER_NEAR * side)

    def off_border(box: tuple[int, int, int, int]) -> bool:
        x0, y0, x1, y1 = box
        return _border_span((x0, y0, x1 - x0, y1 - y0), (H, W), margin) == 0

    def area(box: tuple[int, int, int, int]) -> int:
        return (box[2] - box[0]) * (box[3] - box[1])

    first = None
    for i, level in enumerate(levels):
        found, t = _threshold_and_choose(contrast, level, p15, noise, pixel_noise, photo_sized, cv2, steps,
                                         paper_only, last=i == len(levels) - 1)
        if found is None:
            continue
        if off_border(found.box):
            if found.marks > 1 and i == 0 and len(levels) > 1:
                # read in pieces: a grey pencil under the bar the table's contrast set (a close-up
                # photo's fat grey stroke, of which only the paper's lines across it were ink).
                # The paper's own level is tried too, and kept if it finds the digit whole: in no
                # more pieces, off the border and the edge, and PIECES_GROWTH times the area
                kept = dict(steps)
                whole, t_whole = _threshold_and_choose(contrast, levels[1], p15, noise, pixel_noise, photo_sized,
                                                       cv2, steps, paper_only)
                if whole is not None and whole.marks <= found.marks and not whole.at_edge \
                        and off_border(whole.box) and area(whole.box) > PIECES_GROWTH * area(found.box):
                    found, t = whole, t_whole
                else:
                    steps.clear()
                    steps.update(kept)
            break
        if first is None or (first[0].at_edge and not found.at_edge):   # chosen on its merits beats off the edge
            first = (found, t, dict(steps))
    else:
        if first is not None:
            found, t, kept = first
            steps.clear()
            steps.update(kept)
    if found is None:
        return PhotoResult(None, None, 0, steps, side)
    chosen_mask, (x0, y0, x1, y1), marks, passed_over_dot, at_edge = found
    p50, p90 = (float(v) for v in np.percentile(contrast[chosen_mask.astype(bool)], [50, 90]))
    if photo_sized and p90 < FAINT:
        # on a blank page the threshold comes down to the rulings' and the light's own unevenness:
        # a mark this faint is a leftover of a ruling or a squared paper's grid, not writing (the
        # faintest pencil digits of the dev photos reach about 0.15)
        return PhotoResult(None, None, 0, steps, side)
    if at_edge and (p90 < EDGE_CONTRAST or p50 < EDGE_EVEN * p90):
        # read off the edge only when it is inked evenly: a pen's or pencil's stroke is as dark in
        # the middle as at its darkest, a shadow's or the table's corner on a blank page fades
        # (the paper's estimate catches up with it), and a faint patch is no stroke at all
        return PhotoResult(None, None, 0, steps, side)
    # pores: holes in the ink far smaller than the pen is wide (sensor noise and JPEG inside a
    # fat stroke, where the paper estimate is least sure) are ink, not loops; left open, a dozen
    # of them read as a scribble. A digit's loops are at least about a pen width across, and
    # LOOP_SHARE of the digit's size (a grainy pencil's holes make the measured pen look thin).
    # (background components, 4-connected, as scikit-image's remove_small_holes finds them)
    mark = chosen_mask.astype(bool)
    _, hole_lab, hole_stats, _ = cv2.connectedComponentsWithStats(1 - chosen_mask, connectivity=4)
    loop = (LOOP_SHARE * max(x1 - x0, y1 - y0)) ** 2
    small = hole_stats[:, cv2.CC_STAT_AREA] <= int(max(PORE * _stroke(chosen_mask) ** 2, loop))
    small[0] = False
    pores = small[hole_lab]
    filled = mark | pores
    chosen_mask = filled.astype(np.uint8)
    # the grey ink of the chosen mark: its contrast, stretched to full ink, with a soft edge
    near = cv2.dilate(chosen_mask, np.ones((3, 3), np.uint8)).astype(bool)
    peak = float(np.percentile(contrast[chosen_mask.astype(bool)], 90))
    ink = np.where(near, np.clip((contrast - 0.5 * t) / max(peak - 0.5 * t, 1e-3), 0.0, 1.0), 0.0).astype(np.float32)
    ink[pores] = np.maximum(ink[pores], 1.0)
    pad = max(1, int(0.05 * max(x1 - x0, y1 - y0)))
    cy0, cy1, cx0, cx1 = max(0, y0 - pad), min(H, y1 + pad), max(0, x0 - pad), min(W, x1 + pad)
    crop = ink[cy0:cy1, cx0:cx1]
    steps["chosen mark"] = crop
    in_box = tuple(int(round(v * scale)) for v in (x0, y0, x1, y1))
    return PhotoResult(crop, in_box, marks, steps, side, passed_over_dot, at_edge)
