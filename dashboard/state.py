"""The current digit: what every page explains. Kept in ``st.session_state`` so each browser
session has its own, and set by the Draw page (drawing or upload) or by picking a test image."""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image

from dashboard.cache import image_bytes

KEY = "current_digit"


def _image_file(raw: np.ndarray) -> bytes:
    """An (H, W) or (H, W, 3|4) uint8 picture as PNG bytes (lossless; fast level: a drawing is a few kB)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(raw)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@dataclass(frozen=True, init=False)
class CurrentDigit:
    """The digit every page explains. The original drawing or upload (``raw``) is kept as an image file
    (PNG bytes, a few kB for a drawing) and decoded when a page asks for it: a session holds it for as
    long as the digit is current, and as pixels a 280x280 RGBA canvas is 313,600 bytes (benchmarks/capacity.py,
    ``rss_mb_per_session``)."""

    image: np.ndarray            # (28, 28) float32 in [0, 1], what the model sees
    source: str                  # "drawing", "upload" or "test image #1234"
    label: int | None = None     # true label when known (a test image)
    raw_file: bytes | None = None  # the original drawing/upload before preprocessing, as PNG bytes, if any
    test_index: int | None = None
    steps: dict | None = None    # preprocessing's intermediate images, when it ran on the full input
    raw_side: int | None = None  # ``raw`` is shrunk to at most this many px a side (a high-DPI canvas's export)

    def __init__(self, image: np.ndarray, source: str, label: int | None = None,
                 raw: np.ndarray | bytes | None = None, test_index: int | None = None,
                 steps: dict | None = None, raw_side: int | None = None):
        """``raw``: the original as uint8 pixels, or as the bytes of an image file (the canvas's own PNG)."""
        raw_file = raw if raw is None or isinstance(raw, bytes) else _image_file(raw)
        for name, value in (("image", image), ("source", source), ("label", label), ("raw_file", raw_file),
                            ("test_index", test_index), ("steps", steps), ("raw_side", raw_side)):
            object.__setattr__(self, name, value)

    @property
    def raw(self) -> np.ndarray | None:
        """The original drawing or upload as uint8 pixels (decoded from :attr:`raw_file`), or None."""
        if self.raw_file is None:
            return None
        pixels = np.asarray(Image.open(io.BytesIO(self.raw_file)))
        if self.raw_side is not None:
            from dashboard.drawing import canvas_pixels

            pixels = canvas_pixels(pixels, self.raw_side)
        return pixels

    @classmethod
    def make(cls, image: np.ndarray, source: str, label: int | None = None,
             raw: np.ndarray | bytes | None = None, test_index: int | None = None, steps: dict | None = None,
             raw_side: int | None = None) -> CurrentDigit:
        """A digit with its own read-only float32 (28, 28) copy of ``image``."""
        img = np.asarray(image, dtype=np.float32).reshape(28, 28).copy()
        img.setflags(write=False)
        return cls(img, source, label, raw, test_index, steps, raw_side)

    @classmethod
    def from_test_image(cls, images: np.ndarray, labels: np.ndarray, index: int) -> CurrentDigit:
        """MNIST test image ``index`` from uint8 ``images`` and their ``labels``."""
        return cls.make(images[index] / 255.0, f"test image #{index}", label=int(labels[index]),
                        test_index=int(index))


def set_current(image: np.ndarray, source: str, label: int | None = None, raw: np.ndarray | bytes | None = None,
                test_index: int | None = None, steps: dict | None = None, raw_side: int | None = None) -> None:
    st.session_state[KEY] = CurrentDigit.make(image, source, label, raw, test_index, steps, raw_side)


def get_current() -> CurrentDigit | None:
    return st.session_state.get(KEY)


def set_test_image(index: int) -> None:
    """Make MNIST test image ``index`` the current digit."""
    from dashboard.resources import load_test_images

    st.session_state[KEY] = CurrentDigit.from_test_image(*load_test_images(), index)


def prompt_for_digit(key: str, message: str = "No digit yet: draw one on the Draw page, or use an MNIST test image.",
                     on_pick: Callable[[int], None] | None = None) -> None:
    """What a page shows when there is no current digit: a link to Draw and a button that makes
    MNIST test image 0 the current digit (``on_pick`` replaces :func:`set_test_image`)."""
    from dashboard.nav import page_link

    st.info(message)
    c1, c2 = st.columns(2)
    with c1:
        page_link("draw", "Draw a digit", icon=":material/draw:")
    with c2:
        st.button("Use a test image", key=key, on_click=on_pick or set_test_image, args=(0,))


def require_current(key: str) -> CurrentDigit:
    """The current digit, or (when there is none) the prompt for one and the end of this page's run."""
    current = get_current()
    if current is None:
        prompt_for_digit(key)
        st.stop()
    return current


# ---- the previous digit (the Inside page patches the current digit with it) -------------------
PREVIOUS_KEY = "previous_digit"
_SEEN_KEY = "previous_digit_seen"


def note_explained(current: CurrentDigit) -> CurrentDigit | None:
    """Record that a page explained ``current`` and return the digit explained before it (a
    different image), or None. A live drawing changes the current digit on every stroke, so
    "previous" means the last *different* digit a page was showing, not the last stroke."""
    seen = st.session_state.get(_SEEN_KEY)
    if seen is not None and not np.array_equal(seen.image, current.image):
        st.session_state[PREVIOUS_KEY] = seen
    st.session_state[_SEEN_KEY] = current
    return get_previous()


def get_previous() -> CurrentDigit | None:
    """The digit a page explained before the current one (see :func:`note_explained`), if any."""
    return st.session_state.get(PREVIOUS_KEY)
# ---- strokes of the current drawing and the share link (?digit=...) ------------------------
STROKES_KEY = "current_strokes"
DIGIT_PARAM = "digit"
DIGIT_PARAM_KEY = "digit_param_applied"


def set_strokes(objects: list[dict]) -> None:
    """Remember the canvas strokes that made the current digit (for the Why page's replay)."""
    current = get_current()
    if current is not None:
        st.session_state[STROKES_KEY] = (image_bytes(current.image), list(objects))


def get_strokes() -> list[dict] | None:
    """The strokes of the current digit when it is a drawing made on this session's canvas."""
    current, stored = get_current(), st.session_state.get(STROKES_KEY)
    if current is None or stored is None or stored[0] != image_bytes(current.image):
        return None
    return stored[1]


IMAGE_PARAM = "image"
IMAGE_PARAM_KEY = "image_param_applied"
BOTH_PARAMS_MESSAGE = ("This link gives both a drawing (`?digit=`) and a test image (`?image=`): showing the "
                       "drawing; the test image is ignored.")


def _once(key: str, values: list[str]) -> bool:
    """True the first time ``values`` of a URL parameter are seen in this session."""
    if st.session_state.get(key) == tuple(values):
        return False
    st.session_state[key] = tuple(values)
    return True


def apply_link_params(image_messages: bool = True) -> None:
    """Open the digit a link names, on any page: ``?digit=<code>`` (a shared drawing,
    :mod:`data.share`) or ``?image=N`` (MNIST test image N). A bad value gets a clear one-line
    message and the app goes on with the digit it has; when both are given the drawing wins (it
    is the sender's own digit, the more specific of the two) and the page says so. Each value is
    applied once, so drawing a new digit afterwards is not overwritten on every rerun.
    ``image_messages=False`` leaves ``?image=``'s messages to a page that shows its own."""
    from data.share import decode_digit
    from model.interpret import parse_image_param

    digits, images = st.query_params.get_all(DIGIT_PARAM), st.query_params.get_all(IMAGE_PARAM)
    if digits and _once(DIGIT_PARAM_KEY, digits):
        image, message = decode_digit(digits)
        if message:
            st.warning(message)
        else:
            set_current(image, "shared drawing")
        if images:
            st.info(BOTH_PARAMS_MESSAGE)
        return
    if digits or not images or not _once(IMAGE_PARAM_KEY, images):
        return
    from dashboard.resources import load_test_images

    test_images, _ = load_test_images()
    index, message = parse_image_param(images, len(test_images))
    if message:
        if image_messages:
            st.warning(message)
        return
    current = get_current()
    if current is None or current.test_index != index:
        set_test_image(index)
