"""Hostile and odd uploads (issue #6) at the decode/preprocess level: each one gives a clear
:class:`ImageInputError` or a "no digit" message, or a correct result - never a crash.

``decode_image`` + ``preprocess`` is exactly what both the app's upload and
``python -m model.predict`` run on user bytes.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from data.mnist import load_mnist
from data.preprocess import MAX_FILE_BYTES, ImageInputError, decode_image, preprocess


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_with_header(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims ``width`` x ``height`` 1-bit pixels (a
    decompression bomb: a few hundred bytes that would decode to a huge image)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims ``width`` x ``height`` pixels."""
    data = bytearray(encode(Image.new("L", (16, 16), 255), "JPEG"))
    sof = data.index(b"\xff\xc0")                  # baseline frame: length (2), precision (1), height, width
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def exif_jpeg(img: Image.Image, exif: bytes) -> bytes:
    return encode(img.convert("RGB"), "JPEG", quality=95, exif=exif)


def orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def digit_image(size: int = 120) -> Image.Image:
    """A '7', white ink on black."""
    img = Image.new("L", (size, size), 0)
    s = size / 100
    ImageDraw.Draw(img).line([(30 * s, 20 * s), (70 * s, 20 * s), (45 * s, 85 * s)], fill=255, width=int(8 * s))
    return img


def run(data: bytes):
    """The app's path for an upload: returns the Preprocessed result or raises ImageInputError."""
    return preprocess(decode_image(data))


SEVEN = digit_image()
REFERENCE = preprocess(SEVEN).image


# ---------------------------------------------------------------------------------------
# refused with a clear ImageInputError
# ---------------------------------------------------------------------------------------
REFUSED = {
    "empty file": (lambda: b"", "empty"),
    "bytes that are not an image": (lambda: b"this is not an image, just some text\n" * 10, "not a readable image"),
    "random bytes": (lambda: np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
                     "not a readable image"),
    "truncated PNG": (lambda: encode(SEVEN, "PNG")[:120], "not a readable image"),
    "truncated JPEG": (lambda: encode(SEVEN.convert("RGB"), "JPEG")[:300], "not a readable image"),
    "decompression bomb 20000x20000": (lambda: png_with_header(20000, 20000), "too large"),
    "decompression bomb 7000x7000 (under PIL's own limit)": (lambda: png_with_header(7000, 7000), "too large"),
    "JPEG of 9000x9000 (over the JPEG limit, under PIL's)": (lambda: jpeg_with_size(9000, 9000), "too large"),
    "file over the size limit": (lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_FILE_BYTES, "too large"),
    "animated GIF": (lambda: encode(SEVEN.convert("P"), "GIF", save_all=True,
                                    append_images=[SEVEN.rotate(20).convert("P")], duration=100, loop=0), "animated"),
    "animated PNG": (lambda: encode(SEVEN, "PNG", save_all=True, append_images=[SEVEN.rotate(20)]), "animated"),
    "animated WebP": (lambda: encode(SEVEN.convert("RGB"), "WEBP", save_all=True,
                                     append_images=[SEVEN.rotate(20).convert("RGB")]), "animated"),
    "EPS (would run Ghostscript)": (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n",
                                    "not a readable image"),
    "PDF": (lambda: encode(SEVEN.convert("RGB"), "PDF"), "not a readable image"),
    "SVG": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><text>7</text></svg>',
            "not a readable image"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_with_a_clear_message(name):
    make, words = REFUSED[name]
    with pytest.raises(ImageInputError) as info:
        run(make())
    message = str(info.value)
    assert words in message.lower()
    assert "Traceback" not in message and len(message) < 200


# ---------------------------------------------------------------------------------------
# decoded, but nothing to classify: a message
# ---------------------------------------------------------------------------------------
NO_DIGIT = {
    "fully transparent PNG": lambda: encode(Image.new("RGBA", (200, 200), (255, 255, 255, 0)), "PNG"),
    "transparent PNG with invisible colour": lambda: encode(
        Image.fromarray(np.dstack([np.asarray(SEVEN)] * 3 + [np.zeros_like(np.asarray(SEVEN))])), "PNG"),
    "all white": lambda: encode(Image.new("RGB", (300, 200), (255, 255, 255)), "PNG"),
    "all black": lambda: encode(Image.new("L", (300, 200), 0), "PNG"),
    "all mid-grey JPEG": lambda: encode(Image.new("RGB", (300, 200), (128, 128, 128)), "JPEG"),
    "1x1 black": lambda: encode(Image.new("L", (1, 1), 0), "PNG"),
    "1x1 white": lambda: encode(Image.new("RGB", (1, 1), (255, 255, 255)), "BMP"),
    "5000x1 line": lambda: encode(Image.new("L", (5000, 1), 255), "PNG"),
}


@pytest.mark.parametrize("name", list(NO_DIGIT))
def test_no_digit_gives_a_message(name):
    result = run(NO_DIGIT[name]())
    assert not result.ok and result.image is None
    assert result.message and len(result.message) < 200


# ---------------------------------------------------------------------------------------
# odd but valid: classified like the plain 8-bit image
# ---------------------------------------------------------------------------------------
VALID = {
    "16-bit grayscale PNG": lambda: encode(Image.fromarray(np.asarray(SEVEN, np.uint16) * 257), "PNG"),
    "CMYK JPEG": lambda: encode(SEVEN.convert("CMYK"), "JPEG", quality=95),
    "1-bit PNG": lambda: encode(SEVEN.convert("1"), "PNG"),
    "palette GIF (one frame)": lambda: encode(SEVEN.convert("P"), "GIF"),
    "RGBA PNG, ink in alpha only": lambda: encode(
        Image.fromarray(np.dstack([np.zeros_like(np.asarray(SEVEN))] * 3 + [np.asarray(SEVEN)])), "PNG"),
    "BMP": lambda: encode(SEVEN, "BMP"),
    "WebP lossless": lambda: encode(SEVEN.convert("RGB"), "WEBP", lossless=True),
    "TIFF float (mode F) with a NaN": lambda: encode(
        Image.fromarray(np.where(np.arange(SEVEN.size[0] ** 2).reshape(SEVEN.size) == 0, np.nan,
                                 np.asarray(SEVEN, np.float32))), "TIFF"),
    "inverted JPEG (dark ink on white)":
        lambda: encode(Image.eval(SEVEN, lambda v: 255 - v).convert("RGB"), "JPEG", quality=95),
    "JPEG with an EXIF orientation no viewer knows (99)": lambda: exif_jpeg(SEVEN, orientation(99)),
    "JPEG with a corrupt EXIF block": lambda: exif_jpeg(SEVEN, b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + bytes(40)),
    "JPEG stored on its side with an orientation tag": lambda: exif_jpeg(SEVEN.rotate(90), orientation(6)),
    "48-megapixel phone JPEG (8000x6000)": lambda: encode(_big_seven(8000, 6000), "JPEG", quality=90),
}


def _big_seven(width: int, height: int) -> Image.Image:
    """SEVEN in the middle of a ``width`` x ``height`` black picture, as large as the short side."""
    big = Image.new("L", (width, height), 0)
    big.paste(SEVEN.resize((height, height), Image.Resampling.BILINEAR), ((width - height) // 2, 0))
    return big


@pytest.mark.parametrize("name", list(VALID))
def test_odd_formats_give_the_same_digit(name):
    result = run(VALID[name]())
    assert result.ok, result.message
    assert result.image.shape == (28, 28)
    assert np.abs(result.image - REFERENCE).mean() < 0.03


def test_cli_path_refuses_the_same_files_without_crashing(tmp_path):
    """``model.predict.load_digit`` (the CLI's reader) turns every case above into
    ImageInputError or a 28x28 image."""
    from model.predict import load_digit

    for i, make in enumerate([m for m, _ in REFUSED.values()] + list(NO_DIGIT.values())):
        f = tmp_path / f"case{i}.png"
        f.write_bytes(make())
        with pytest.raises(ImageInputError):
            load_digit(f)
    for i, make in enumerate(VALID.values()):
        f = tmp_path / f"valid{i}.img"
        f.write_bytes(make())
        assert load_digit(f).shape == (28, 28)


# ---------------------------------------------------------------------------------------
# a photo-sized picture of a digit
# ---------------------------------------------------------------------------------------
def photo_of_digit(img28: np.ndarray, seed: int = 0) -> bytes:
    """A 4000x3000 JPEG that looks like a phone photo of a digit written on paper: dark,
    soft-edged ink on warm paper, uneven lighting, sensor noise, JPEG compression."""
    rng = np.random.default_rng(seed)
    W, H = 4000, 3000
    digit = Image.fromarray(img28).resize((1400, 1400), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(6))
    ink = np.zeros((H, W), np.float32)
    ink[900:2300, 1500:2900] = np.asarray(digit, np.float32) / 255.0
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    paper = 0.78 + 0.1 * (xx / W) + 0.04 * (yy / H)
    lum = paper * (1 - 0.85 * ink) + rng.normal(0, 0.02, (H, W)).astype(np.float32)
    rgb = np.clip(np.stack([lum, lum * 0.97, lum * 0.9], -1) * 255, 0, 255).astype(np.uint8)
    return encode(Image.fromarray(rgb), "JPEG", quality=85)


@pytest.fixture(scope="module")
def photo():
    images, labels = load_mnist("test")
    data = photo_of_digit(images[0])
    assert len(data) < MAX_FILE_BYTES
    return images[0], int(labels[0]), run(data)


def test_photo_sized_image_is_preprocessed_like_the_digit(photo):
    img28, _, result = photo
    assert result.ok, result.message
    ref = preprocess(img28).image
    assert np.corrcoef(result.image.ravel(), ref.ravel())[0, 1] > 0.9


def test_photo_sized_image_is_classified_correctly(photo, shipped_vit):
    from model.inference import predict_proba

    _, label, result = photo
    assert result.ok, result.message
    assert int(predict_proba(shipped_vit, result.image).argmax()) == label


# ---------------------------------------------------------------------------------------
# hostile link parameters (?image=, ?digit=) on the pages, through the app's entry
# ---------------------------------------------------------------------------------------
BAD_IMAGE_PARAMS = {"-1": "negative", "10000": "no test image 10000", "abc": "not a whole number",
                    "1e3": "not a whole number"}


def _app(page: str | None = None, **params):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from dashboard.nav import PAGES

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    if page is not None:
        at.switch_page(PAGES[page])
    return at.run()


@pytest.mark.parametrize("page", ["draw", "why", "inside", "attention"])
@pytest.mark.parametrize("value", list(BAD_IMAGE_PARAMS))
def test_a_bad_image_param_gets_one_clear_line_on_every_page(page, value):
    at = _app(page, image=value)
    assert not at.exception, at.exception
    said = [w.value for w in at.warning if "`image`" in w.value or "test image" in w.value]
    assert len(said) == 1 and BAD_IMAGE_PARAMS[value] in said[0], (page, value, [w.value for w in at.warning])
    assert "\n" not in said[0]
    if value != "10000":                                    # only checked digits are ever repeated back
        assert value not in said[0]
    assert "current_digit" not in at.session_state          # nothing was opened


def test_a_good_image_param_opens_that_test_image_on_any_page():
    at = _app("why", image="7")
    assert not at.exception, at.exception
    cur = at.session_state["current_digit"]
    assert cur.test_index == 7 and cur.source == "test image #7"
    assert [t.value for t in at.title][:1] == ["Why this answer?"]


def test_digit_wins_over_image_and_the_page_says_so():
    from dashboard.state import BOTH_PARAMS_MESSAGE
    from data.mnist import load_mnist
    from data.share import encode_digit

    images, _ = load_mnist("test")
    img = images[11].astype(np.float32) / 255.0
    at = _app("why", digit=encode_digit(img), image="7")
    assert not at.exception, at.exception
    cur = at.session_state["current_digit"]
    assert cur.source == "shared drawing" and cur.test_index is None
    assert np.abs(cur.image - img).max() <= 1 / 30 + 1e-6
    assert any(i.value == BOTH_PARAMS_MESSAGE for i in at.info)
