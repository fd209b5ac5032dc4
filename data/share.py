"""A drawn digit's 28x28 image in a URL: ``?digit=<code>``, so a link opens the same digit.

Format (version ``1``): the image quantised to 16 grey levels (4 bits per pixel, two pixels a
byte, 392 bytes), compressed with zlib (level 9; a digit is mostly black, so usually 100-200
bytes), then URL-safe base64 without padding, behind a one-character version prefix. The
reconstruction differs from the original by at most 1/30 per pixel (half a grey level), which
does not change what the ViT reads in practice (``tests/test_why.py`` checks MNIST digits).

:func:`decode_digit` never raises: a missing, oversized, malformed or wrongly sized value
comes back as ``(None, message)``, and the message never repeats the user's text. Decompression
is bounded (at most the expected 392 bytes are ever inflated), so a "zip bomb" costs nothing.
"""
from __future__ import annotations

import base64
import binascii
import re
import zlib

import numpy as np

from data.preprocess import IMAGE_SIDE

VERSION = "1"
LEVELS = 16
MAX_CHARS = 1000       # longer values are refused before any decoding
_RAW_BYTES = IMAGE_SIDE * IMAGE_SIDE // 2
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")      # URL-safe base64 without padding


def encode_digit(image: np.ndarray) -> str:
    """(28, 28) floats in [0, 1] -> a short URL-safe string (version prefix + base64)."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.shape != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"expected a 28x28 image, got shape {arr.shape}")
    q = np.clip(np.rint(np.nan_to_num(arr) * (LEVELS - 1)), 0, LEVELS - 1).astype(np.uint8).reshape(-1)   # (784,)
    packed = (q[0::2] << 4) | q[1::2]                                   # (392,)
    body = base64.urlsafe_b64encode(zlib.compress(packed.tobytes(), 9)).decode("ascii").rstrip("=")
    return VERSION + body


def decode_digit(value: str | list | None) -> tuple[np.ndarray | None, str | None]:
    """``(image (28, 28) float32, None)``, ``(None, message)`` for a bad value, ``(None, None)`` when absent.
    ``value`` may be the list from ``st.query_params.get_all``."""
    if value is not None and not isinstance(value, str):
        values = [str(v) for v in value]
        if not values:
            return None, None
        if len(values) > 1:
            return None, "The link gives `digit` more than once; it should carry one drawn digit."
        value = values[0]
    if value is None:
        return None, None
    text = value.strip()
    if not text:
        return None, "The link's `digit` value is empty; it should carry a drawn digit (copy the share link again)."
    if len(text) > MAX_CHARS:
        return None, f"The link's `digit` value is too long ({len(text):,} characters; at most {MAX_CHARS:,})."
    if text[0] != VERSION:
        return None, "The link's `digit` value is not in a format this app knows (copy the share link again)."
    body = text[1:]
    if not _ALPHABET.fullmatch(body):
        return None, "The link's `digit` value is damaged (it has characters a share link never has; copy it again)."
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        d = zlib.decompressobj()
        packed = d.decompress(raw, _RAW_BYTES + 1)
    except (binascii.Error, ValueError, zlib.error):
        return None, "The link's `digit` value is damaged (it could not be decoded; copy the share link again)."
    if len(packed) != _RAW_BYTES or d.unconsumed_tail or not d.eof:
        return None, "The link's `digit` value does not hold a 28x28 image (copy the share link again)."
    b = np.frombuffer(packed, dtype=np.uint8)
    q = np.empty(IMAGE_SIDE * IMAGE_SIDE, dtype=np.uint8)
    q[0::2], q[1::2] = b >> 4, b & 0x0F
    img = (q.astype(np.float32) / (LEVELS - 1)).reshape(IMAGE_SIDE, IMAGE_SIDE)
    if img.max() <= 0:
        return None, "The link's `digit` image is blank."
    return img, None
