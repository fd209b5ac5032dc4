"""Synthetic pictures of handwritten digits as people hand them in from outside the canvas:
phone photos of paper and tight low-resolution scans, rendered from MNIST digits.

Used by ``benchmarks/robustness.py`` (the photo and scan conditions) and by
``tests/test_photo.py``. Rendered from MNIST *test* digits, so the writers are not the ones the
model was trained on. A photo (:func:`photo`) is the digit written with a pen (black or blue,
several widths) on off-white paper, optionally ruled or squared, under uneven light with an
optional hard shadow, the paper's edge and the table behind it, a slight perspective warp,
blur, sensor noise and JPEG compression, at phone sizes (1200 to 4000 px). A tight scan
(:func:`tight_scan`) is the digit cropped to its own ink (so it touches the frame), reduced to
10-16 px and upscaled again, dark on light, the way small scanned forms and other digit sets
arrive. Everything is drawn by a seeded ``numpy.random.Generator``.

Other collections look different again, so there are wider conditions too:
:func:`usps_style` (16x16 greyscale digits filling their frame, either polarity, as the USPS
set and similar small-digit sets store them, sometimes enlarged by a viewer),
:func:`low_res_scan` (8-16 px scans on paper of any grey with ink of any darkness, tight or
with a margin, raw or enlarged), :func:`boxed_scan` (a 300-dpi form scan: a digit written in a
printed box, slightly rotated), :func:`hard_options` (phone photos with pencil, deep
shadows, strong perspective and small digits) and :func:`close_up_options` (photos taken so
close that the digit fills the frame, the larger ones running off its edge).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PENS = {"black": (30, 30, 38), "blue": (25, 45, 150), "blue-black": (30, 35, 80), "pencil": (70, 70, 78)}
LINE_COLOURS = ((150, 185, 225), (170, 170, 175), (140, 200, 190))   # light blue, grey, green rulings


@dataclass
class PhotoOptions:
    """What goes into one photo; :func:`random_options` draws them."""

    size: tuple[int, int] = (1600, 1200)      # (W, H) of the final photo
    digit_frac: float = 0.4                   # digit height as a fraction of the photo's short side
    centre: tuple[float, float] = (0.5, 0.5)  # where the digit sits, as fractions of (W, H)
    pen: str = "black"
    pen_px: int = 0                           # extra pen width (dilation) at the 560 px render; <0 thins
    paper: tuple[int, int, int] = (245, 242, 232)
    lines: str = "none"                       # "none", "ruled", "squared"
    light: float = 0.35                       # depth of the illumination gradient (0 = even)
    shadow: float = 0.0                       # darkening of a hard-edged shadow (0 = none)
    edge: bool = False                        # the paper's edge and a table show at one side
    warp: float = 0.0                         # perspective strength (fraction of the side)
    blur: float = 1.0                         # Gaussian blur in px of the final photo at 1000 px
    noise: float = 0.015
    jpeg: int = 80


def random_options(rng: np.random.Generator) -> PhotoOptions:
    long = int(rng.integers(1200, 4001))
    short = int(round(long * 0.75))
    return PhotoOptions(
        size=(long, short) if rng.random() < 0.6 else (short, long), digit_frac=float(rng.uniform(0.25, 0.6)),
        centre=(float(rng.uniform(0.38, 0.62)), float(rng.uniform(0.38, 0.62))),
        pen=str(rng.choice(list(PENS))), pen_px=int(rng.integers(-2, 6)),
        paper=tuple(int(v) for v in np.array([248, 245, 236]) - rng.integers(0, 25, 3)),
        lines=str(rng.choice(["none", "ruled", "squared"], p=[0.4, 0.35, 0.25])),
        light=float(rng.uniform(0.1, 0.5)), shadow=float(rng.uniform(0.25, 0.5)) if rng.random() < 0.3 else 0.0,
        edge=bool(rng.random() < 0.3), warp=float(rng.uniform(0.0, 0.06)), blur=float(rng.uniform(0.3, 2.0)),
        noise=float(rng.uniform(0.005, 0.03)), jpeg=int(rng.integers(35, 96)))


def hard_options(rng: np.random.Generator) -> PhotoOptions:
    """Harder phone photos than :func:`random_options`: pencil as often as a pen, deep uneven
    light, a shadow half the time, strong perspective, smaller digits, lower JPEG quality."""
    o = random_options(rng)
    return replace(o, digit_frac=float(rng.uniform(0.15, 0.5)), pen=str(rng.choice(["pencil", "black", "blue"])),
                   pen_px=int(rng.integers(-2, 3)), light=float(rng.uniform(0.3, 0.7)),
                   shadow=float(rng.uniform(0.3, 0.6)) if rng.random() < 0.5 else 0.0,
                   warp=float(rng.uniform(0.03, 0.12)), jpeg=int(rng.integers(25, 80)),
                   paper=tuple(int(v) for v in np.array([240, 236, 225]) - rng.integers(0, 45, 3)))


def close_up_options(rng: np.random.Generator) -> PhotoOptions:
    """Phone photos taken close up: the digit fills 60-90 % of the photo's short side, near the
    middle, so the larger ones run off the photo's edge (and into the table where there is one)."""
    o = random_options(rng)
    return replace(o, digit_frac=float(rng.uniform(0.6, 0.9)),
                   centre=(float(rng.uniform(0.45, 0.55)), float(rng.uniform(0.45, 0.55))))


def board_photo(img28: np.ndarray, rng: np.random.Generator, options: PhotoOptions | None = None) -> Image.Image:
    """Light marks photographed on a dark surface, as chalk on a blackboard: the negative of a
    phone photo (:func:`photo`), so its light, shadows, lines, perspective and noise are a
    photo's, the paper dark and the ink light."""
    from PIL import ImageOps

    return ImageOps.invert(photo(img28, rng, options).convert("RGB"))


def _ink_at(img28: np.ndarray, side: int, pen_px: int) -> np.ndarray:
    """MNIST digit -> pen ink (H, W) in [0, 1] at ``side`` px, crisp-edged like a pen."""
    big = Image.fromarray(np.asarray(img28, np.uint8)).resize((side, side), Image.Resampling.BICUBIC)
    big = big.point(lambda v: 255 if v > 110 else (0 if v < 60 else (v - 60) * 5))
    if pen_px > 0:
        big = big.filter(ImageFilter.MaxFilter(2 * (pen_px // 2) + 1))
    elif pen_px < 0:
        big = big.filter(ImageFilter.MinFilter(3))
    return np.asarray(big.filter(ImageFilter.GaussianBlur(0.8)), np.float32) / 255.0


def paper_rgb(ink: np.ndarray, o: PhotoOptions, rng: np.random.Generator, others: list[np.ndarray] | None = None,
              others_at: list[tuple[int, int]] | None = None) -> np.ndarray:
    """The photo before the camera (light, warp, blur, noise, JPEG): float RGB (H, W, 3) in [0, 1]
    at a base resolution of 1000 px on the long side."""
    W, H = o.size
    s = 1000 / max(W, H)
    bw, bh = max(1, round(W * s)), max(1, round(H * s))
    paper = np.ones((bh, bw, 3), np.float32) * (np.array(o.paper, np.float32) / 255.0)
    lines = Image.new("L", (bw, bh), 0)
    d = ImageDraw.Draw(lines)
    gap = int(rng.integers(28, 60))
    off = int(rng.integers(0, gap))
    lw = int(rng.integers(1, 3))
    if o.lines in ("ruled", "squared"):
        for y in range(off, bh, gap):
            d.line([(0, y), (bw, y)], fill=255, width=lw)
    if o.lines == "squared":
        for x in range(off, bw, gap):
            d.line([(x, 0), (x, bh)], fill=255, width=lw)
    la = np.asarray(lines, np.float32)[..., None] / 255.0 * float(rng.uniform(0.6, 1.0))
    lc = np.array(LINE_COLOURS[int(rng.integers(len(LINE_COLOURS)))], np.float32) / 255.0
    paper = paper * (1 - la) + lc * paper * la
    # the digit(s)
    pen = np.array(PENS[o.pen], np.float32) / 255.0
    darkness = float(rng.uniform(0.8, 0.97)) if o.pen != "pencil" else float(rng.uniform(0.35, 0.7))
    marks = [(ink, (round(o.centre[0] * bw), round(o.centre[1] * bh)))]
    for extra, at in zip(others or [], others_at or []):
        marks.append((extra, at))
    for m, (cx, cy) in marks:
        mh, mw = m.shape
        y0, x0 = cy - mh // 2, cx - mw // 2
        ys, xs = slice(max(0, y0), min(bh, y0 + mh)), slice(max(0, x0), min(bw, x0 + mw))
        a = m[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0][..., None] * darkness
        if o.pen == "pencil":                  # graphite leaves a grainy, broken trace
            a = a * np.clip(rng.normal(0.85, 0.25, a.shape), 0.2, 1.0).astype(np.float32)
        paper[ys, xs] = paper[ys, xs] * (1 - a) + pen * a
    # a table behind the paper's edge
    if o.edge:
        table = np.array(rng.uniform(0.15, 0.45, 3), np.float32)
        side = int(rng.integers(4))
        depth = float(rng.uniform(0.04, 0.12))
        yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
        tilt = float(rng.uniform(-0.05, 0.05))
        u = [xx / bw + tilt * yy / bh, 1 - xx / bw + tilt * yy / bh,
             yy / bh + tilt * xx / bw, 1 - yy / bh + tilt * xx / bw][side]
        paper = np.where((u < depth)[..., None], table, paper)
    # light: a smooth gradient in a random direction, and optionally a hard-edged shadow
    yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
    ang = float(rng.uniform(0, 2 * np.pi))
    g = (np.cos(ang) * xx / bw + np.sin(ang) * yy / bh)
    g = (g - g.min()) / max(float(np.ptp(g)), 1e-6)
    light = 1.0 - o.light * g
    if o.shadow > 0:
        a, b = rng.uniform(-1, 1, 2)
        c = float(rng.uniform(0.25, 0.75))
        shade = (a * (xx / bw - 0.5) + b * (yy / bh - 0.5) + 0.5 - c) > 0
        blur = ImageFilter.GaussianBlur(float(rng.uniform(0.5, 6)))
        shade_img = Image.fromarray((shade * 255).astype(np.uint8)).filter(blur)
        light = light * (1 - o.shadow * np.asarray(shade_img, np.float32) / 255.0)
    return np.clip(paper * light[..., None], 0, 1)


def _camera(rgb: np.ndarray, o: PhotoOptions, rng: np.random.Generator) -> Image.Image:
    """Perspective, size, blur, noise and JPEG: the base image becomes the phone's photo."""
    bh, bw = rgb.shape[:2]
    img = Image.fromarray((rgb * 255).astype(np.uint8))
    if o.warp > 0:
        d = rng.uniform(-o.warp, o.warp, 8) * np.array([bw, bh] * 4)
        src = np.array([[0, 0], [bw, 0], [bw, bh], [0, bh]], np.float64) + d.reshape(4, 2)
        dst = np.array([[0, 0], [bw, 0], [bw, bh], [0, bh]], np.float64)
        A = []
        for (x, y), (u, v) in zip(dst, src):
            A.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
            A.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        coeffs = np.linalg.solve(np.array(A), src.ravel())
        img = img.transform((bw, bh), Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BILINEAR,
                            fillcolor=tuple(int(v) for v in rng.integers(40, 110, 3)))
    if o.blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(o.blur))
    arr = np.asarray(img, np.float32) + rng.normal(0, o.noise * 255, (bh, bw, 1)).astype(np.float32)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).resize(o.size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=o.jpeg)
    return Image.open(io.BytesIO(buf.getvalue()))


def photo(img28: np.ndarray, rng: np.random.Generator, options: PhotoOptions | None = None,
          others: list[np.ndarray] | None = None, others_at: list[tuple[float, float]] | None = None) -> Image.Image:
    """A phone photo (a decoded JPEG) of MNIST digit ``img28`` written on paper.
    ``others`` are more digits written beside it, smaller than it by default, at ``others_at``
    (fractions of W, H); each is rendered at 0.6 of the main digit's size."""
    o = options or random_options(rng)
    W, H = o.size
    base_side = 1000 / max(W, H) * min(W, H)
    side = max(28, int(o.digit_frac * base_side * 1.4))            # MNIST's 20 px box is 20/28 of the field
    ink = _ink_at(img28, side, o.pen_px)
    extra = [_ink_at(x, int(side * 0.6), o.pen_px) for x in others or []]
    s = 1000 / max(W, H)
    at = [(round(fx * W * s), round(fy * H * s)) for fx, fy in others_at or []]
    return _camera(paper_rgb(ink, o, rng, extra, at), o, rng)


def tight_scan(img28: np.ndarray, rng: np.random.Generator, low: int | None = None, side: int | None = None,
               dark_on_light: bool = True, jpeg: int | None = None) -> Image.Image:
    """A tight low-resolution scan: the digit cropped to its own ink (touching the frame),
    reduced so its long side is ``low`` px (10-16), then upscaled to ``side`` px (64-320)."""
    low = low or int(rng.integers(10, 17))
    side = side or int(rng.integers(64, 321))
    ys, xs = np.nonzero(np.asarray(img28) > 30)
    crop = Image.fromarray(np.asarray(img28, np.uint8)[ys.min():ys.max() + 1, xs.min():xs.max() + 1])
    h, w = crop.height, crop.width
    s = low / max(h, w)
    small = crop.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BOX)
    big = small.resize((max(1, round(small.width * side / low)), max(1, round(small.height * side / low))),
                       Image.Resampling.BICUBIC)
    arr = np.asarray(big, np.float32) / 255.0
    if dark_on_light:
        paper, ink = float(rng.uniform(0.85, 1.0)), float(rng.uniform(0.0, 0.25))
        arr = paper + (ink - paper) * arr
    arr = np.clip(arr + rng.normal(0, 0.01, arr.shape), 0, 1)
    img = Image.fromarray((arr * 255).astype(np.uint8))
    if jpeg:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=jpeg)
        img = Image.open(io.BytesIO(buf.getvalue()))
    return img


def _crop_to_ink(img28: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """The digit cropped to its ink (pixels > 30), with ``margin`` (a share of its long side) of
    background around it, as uint8."""
    a = np.asarray(img28, np.uint8)
    ys, xs = np.nonzero(a > 30)
    crop = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    m = int(round(margin * max(crop.shape)))
    return np.pad(crop, m) if m else crop


def _fit(crop: np.ndarray, w: int, h: int) -> np.ndarray:
    """Area-resample a uint8 crop to (h, w) floats in [0, 1] (a scanner's or camera's pixels)."""
    return np.asarray(Image.fromarray(crop).resize((max(1, w), max(1, h)), Image.Resampling.BOX), np.float32) / 255.0


def _as_image(arr: np.ndarray, rng: np.random.Generator, enlarge: tuple[int, int] | None, jpeg: int | None
              ) -> Image.Image:
    """Float grey (h, w) in [0, 1] -> a decoded image as it would arrive: optionally enlarged by a
    viewer to ``enlarge`` = (low, high) px on the long side (nearest or bicubic), optionally JPEG."""
    img = Image.fromarray((np.clip(arr, 0, 1) * 255).round().astype(np.uint8))
    if enlarge:
        side = int(rng.integers(*enlarge))
        s = side / max(img.size)
        method = Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BICUBIC
        img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), method)
    if jpeg:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=jpeg)
        img = Image.open(io.BytesIO(buf.getvalue()))
    return img


def usps_style(img28: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A 16x16 greyscale digit filling its frame, like the USPS set: cropped to its ink, its long
    side scaled to 16 px (sometimes widened to fill more of the frame), either polarity, the
    grey levels of a different scanner (gamma, background not quite 0); half of them enlarged
    by a viewer to 64-256 px."""
    crop = _crop_to_ink(img28)
    h, w = crop.shape
    s = 16 / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    if rng.random() < 0.5:
        nw = min(16, round(nw * float(rng.uniform(1.0, 1.6))))
    small = _fit(crop, nw, nh) ** float(rng.uniform(0.6, 1.4))
    arr = np.zeros((16, 16), np.float32)
    y0, x0 = (16 - nh) // 2, (16 - nw) // 2
    arr[y0:y0 + nh, x0:x0 + nw] = small
    bg, ink = float(rng.uniform(0.0, 0.15)), float(rng.uniform(0.75, 1.0))
    arr = bg + (ink - bg) * arr + rng.normal(0, 0.01, arr.shape)
    if rng.random() < 0.5:
        arr = 1.0 - arr                     # dark ink on light
    return _as_image(arr, rng, (64, 257) if rng.random() < 0.5 else None, None)


def low_res_scan(img28: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A low-resolution scan: the digit at 8-16 px (tight, or with up to 30 % margin), on paper
    of any grey (0.5-1.0) with ink from black to mid grey (contrast at least 0.25), scanner
    blur and noise; raw, or enlarged to 40-320 px; a third of them JPEG."""
    crop = _crop_to_ink(img28, 0.0 if rng.random() < 0.5 else float(rng.uniform(0.05, 0.3)))
    low = int(rng.integers(8, 17))
    h, w = crop.shape
    s = low / max(h, w)
    arr = _fit(crop, round(w * s), round(h * s))
    if rng.random() < 0.5:
        from scipy import ndimage

        arr = ndimage.gaussian_filter(arr, float(rng.uniform(0.3, 0.8)), mode="nearest")
    paper = float(rng.uniform(0.5, 1.0))
    ink = float(rng.uniform(0.0, paper - 0.25))
    arr = paper + (ink - paper) * np.clip(arr, 0, 1) + rng.normal(0, float(rng.uniform(0.005, 0.03)), arr.shape)
    jpeg = int(rng.integers(50, 96)) if rng.random() < 1 / 3 else None
    return _as_image(arr, rng, (40, 321) if rng.random() < 0.6 else None, jpeg)


def boxed_scan(img28: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A 300-dpi scan of a form: the digit (60-140 px) written inside a printed box whose lines
    it may touch, the picture cropped a little outside the box, slightly rotated, scanner
    noise, light grey paper."""
    digit = int(rng.integers(60, 141))
    crop = _crop_to_ink(img28)
    h, w = crop.shape
    s = digit / max(h, w)
    ink = _fit(crop, round(w * s), round(h * s))
    ink = np.clip((ink - 0.2) * 2.0, 0, 1)      # a pen's crisp edge
    box = int(digit * rng.uniform(1.05, 1.5))
    out = int(rng.integers(3, 30))
    side = box + 2 * out
    arr = np.zeros((side, side), np.float32)
    lw = int(rng.integers(2, 6))
    arr[out:out + lw, out:out + box] = arr[out + box - lw:out + box, out:out + box] = 1.0
    arr[out:out + box, out:out + lw] = arr[out:out + box, out + box - lw:out + box] = 1.0
    arr *= float(rng.uniform(0.4, 0.9))        # the printed box is lighter than the pen
    nh, nw = ink.shape
    y0 = out + (box - nh) // 2 + int(rng.integers(-(box - nh) // 3, (box - nh) // 3 + 1))
    x0 = out + (box - nw) // 2 + int(rng.integers(-(box - nw) // 3, (box - nw) // 3 + 1))
    arr[y0:y0 + nh, x0:x0 + nw] = np.maximum(arr[y0:y0 + nh, x0:x0 + nw], ink)
    img = Image.fromarray(arr, mode="F").rotate(float(rng.uniform(-3, 3)), resample=Image.Resampling.BILINEAR)
    paper = float(rng.uniform(0.85, 1.0))
    arr = paper * (1 - 0.92 * np.asarray(img)) + rng.normal(0, 0.02, (side, side))
    return _as_image(arr, rng, None, int(rng.integers(60, 96)) if rng.random() < 0.5 else None)


def page_scan(img28: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A whole A4 page scanned at 300 dpi (2480x3508 px, portrait or landscape) with one digit
    written 60-400 px tall (0.5-3.4 cm) anywhere on it: paper of a light grey, ink from black to
    dark grey with a pen's crisp edge, scanner noise, JPEG 70-95 half the time."""
    crop = _crop_to_ink(img28)
    h, w = crop.shape
    s = int(rng.integers(60, 401)) / max(h, w)
    ink = np.clip((_fit(crop, round(w * s), round(h * s)) - 0.1) * 1.5, 0, 1)
    H, W = (3508, 2480) if rng.random() < 0.75 else (2480, 3508)
    nh, nw = ink.shape
    y0 = int(rng.integers(int(0.05 * H), int(0.95 * H) - nh))
    x0 = int(rng.integers(int(0.05 * W), int(0.95 * W) - nw))
    paper, dark = float(rng.uniform(0.88, 1.0)), float(rng.uniform(0.0, 0.35))
    arr = np.full((H, W), paper, np.float32)
    arr[y0:y0 + nh, x0:x0 + nw] = paper + (dark - paper) * ink
    arr += rng.normal(0, float(rng.uniform(0.003, 0.012)), (H, W)).astype(np.float32)
    return _as_image(arr, rng, None, int(rng.integers(70, 96)) if rng.random() < 0.5 else None)


def whole_page_options(rng: np.random.Generator) -> PhotoOptions:
    """A phone photo of a whole page with one digit written at an ordinary size: the digit 3-10 %
    of the photo's short side, anywhere on the page (the rest as :func:`random_options`)."""
    o = random_options(rng)
    return replace(o, digit_frac=float(rng.uniform(0.03, 0.1)),
                   centre=(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))))
