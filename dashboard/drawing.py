"""The Draw page's logic as plain functions (no Streamlit calls), so tests can drive it directly.

* :func:`canvas_to_digit` - the canvas's RGBA pixels -> an MNIST-style 28x28 image (or a reason why not).
* :func:`upload_to_digit` - uploaded bytes -> the same, with every bad file turned into a clear
  message (:func:`data.preprocess.decode_image` enforces the size, pixel and animation limits).
* :func:`predict_digit` - one forward pass and, optionally, the test-time-augmentation average
  (:func:`model.inference.headline`, calibrated), so the page can say whether TTA changes the answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from data.preprocess import ImageInputError, Preprocessed, decode_image, preprocess
from model.inference import headline

RAW_SIDE = 280   # drawings and uploads are kept (in session state) no larger than this


@dataclass(frozen=True)
class Prediction:
    """Probabilities of one digit: ``plain`` from one forward pass, ``tta`` averaged over the
    TTA views (None when TTA is off). ``probs`` is the one the page shows."""

    plain: np.ndarray            # (10,) float32
    tta: np.ndarray | None = None

    @property
    def probs(self) -> np.ndarray:
        return self.tta if self.tta is not None else self.plain

    @property
    def digit(self) -> int:
        return int(self.probs.argmax())

    @property
    def confidence(self) -> float:
        return float(self.probs.max())

    @property
    def plain_digit(self) -> int:
        return int(self.plain.argmax())

    @property
    def tta_changes_answer(self) -> bool:
        return self.tta is not None and int(self.tta.argmax()) != self.plain_digit


def predict_digit(model, image: np.ndarray, tta: bool = False) -> Prediction:
    """Predict one (28, 28) image in [0, 1]; with ``tta`` also the TTA average. Both are the
    app's headline prediction (:func:`model.inference.headline`, temperature-calibrated): the
    confidence is meant to be read as "how often a digit like this is right"."""
    plain = headline(model, image).probabilities                             # (10,)
    tta_p = headline(model, image, tta=True).probabilities if tta else None
    return Prediction(plain, tta_p)


def has_strokes(json_data: dict | None) -> bool:
    """Whether the canvas's Fabric.js JSON holds any drawn object."""
    return bool(json_data and json_data.get("objects"))


def canvas_pixels(rgba: np.ndarray, side: int = RAW_SIDE) -> np.ndarray:
    """The canvas's (H, W, 4) uint8 pixels at no more than ``side`` px a side. On a high-DPI
    screen the canvas exports at 2-3x its CSS size, which only makes preprocessing slower
    (its stroke-thickening filter grows with the square of the size)."""
    rgba = np.asarray(rgba)
    h, w = rgba.shape[:2]
    if max(h, w) <= side:
        return rgba
    s = side / max(h, w)
    img = Image.fromarray(np.ascontiguousarray(rgba[..., :4]))
    return np.asarray(img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BOX))


def canvas_to_digit(rgba: np.ndarray) -> Preprocessed:
    """Canvas pixels (H, W, 4) uint8, white ink on black (see :func:`canvas_pixels`) -> :class:`Preprocessed`."""
    return preprocess(np.asarray(rgba))


@dataclass(frozen=True)
class UploadResult:
    """Outcome of :func:`upload_to_digit`: ``error`` is a message for the user when the file
    cannot be used at all; otherwise ``digit`` says what preprocessing made of it."""

    digit: Preprocessed | None
    error: str | None = None
    thumbnail: np.ndarray | None = None   # the upload as RGB uint8, at most RAW_SIDE px a side
    marked: np.ndarray | None = None      # the thumbnail with the read mark boxed (photos, several marks)

    @property
    def ok(self) -> bool:
        return self.digit is not None and self.digit.ok


def _thumbnail(img: Image.Image) -> np.ndarray:
    thumb = img.convert("RGB")
    thumb.thumbnail((RAW_SIDE, RAW_SIDE))
    return np.asarray(thumb)


def box_on_thumbnail(thumb: np.ndarray, box: tuple[int, int, int, int], input_size: tuple[int, int]) -> np.ndarray:
    """A copy of ``thumb`` (RGB uint8) with ``box`` (x0, y0, x1, y1 in the input's pixels, the
    input being ``input_size`` = (W, H)) drawn as a red rectangle: which mark was read."""
    from PIL import ImageDraw

    img = Image.fromarray(np.ascontiguousarray(thumb[..., :3]))
    s = img.width / max(1, input_size[0])
    x0, y0, x1, y1 = (v * s for v in box)
    ImageDraw.Draw(img).rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), outline=(230, 30, 30),
                                  width=max(2, img.width // 90))
    return np.asarray(img)


STEP_SIDE = 400   # preprocessing steps of an upload are kept (in session state) no larger than this


def _for_display(step: np.ndarray) -> np.ndarray:
    """A preprocessing step no larger than STEP_SIDE px a side: a photo's full-size steps would
    hold several MB per session, and the Model page shows them 220 px high."""
    step = np.asarray(step)
    h, w = step.shape[:2]
    if max(h, w) <= STEP_SIDE:
        return step
    s = STEP_SIDE / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if step.ndim == 2:
        return np.asarray(Image.fromarray(step.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX))
    return np.stack([_for_display(step[..., c]) for c in range(step.shape[2])], axis=-1)


def upload_to_digit(data: bytes) -> UploadResult:
    """Decode and preprocess an uploaded file (or a camera photo: the same path); never raises
    for bad input."""
    try:
        img = decode_image(data)
        digit = preprocess(img)
        thumb = _thumbnail(img)
    except ImageInputError as exc:
        return UploadResult(None, str(exc))
    except (ValueError, OSError, MemoryError) as exc:
        return UploadResult(None, f"This image could not be read as a digit ({type(exc).__name__}).")
    digit.steps = {name: _for_display(step) for name, step in digit.steps.items()}
    marked = None
    if digit.ok and digit.box is not None and (digit.photo or digit.note):
        marked = box_on_thumbnail(thumb, digit.box, img.size)
    return UploadResult(digit, None, thumb, marked)
