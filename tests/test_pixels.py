"""Pictures enlarged by repeating pixels (:mod:`data.pixels`): a viewer's nearest-neighbour
zoom of a small scan is taken back to its own pixels before it is read, and nothing else is
(canvas drawings, MNIST digits, smooth enlargements, photos)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from data import synthetic
from data.drawn import drawn_set
from data.mnist import load_mnist
from data.pixels import native_size
from data.preprocess import ZOOM_UNDONE, preprocess, to_float_array, to_gray
from data.strokes import render_strokes
from tests.test_photo import model_page_captions, rng_at


@pytest.fixture(scope="module")
def mnist():
    return load_mnist("test")


def _gray(img: Image.Image) -> np.ndarray:
    return to_gray(to_float_array(img))


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def _small_scan(img28: np.ndarray, long_side: int, rng: np.random.Generator) -> Image.Image:
    """A digit cropped to its ink, its long side ``long_side`` px, grey ink on grey paper, noise."""
    ys, xs = np.nonzero(img28 > 30)
    crop = Image.fromarray(img28[ys.min():ys.max() + 1, xs.min():xs.max() + 1])
    s = long_side / max(crop.size)
    small = np.asarray(crop.resize((max(1, round(crop.width * s)), max(1, round(crop.height * s))),
                                   Image.Resampling.BOX), np.float32) / 255
    arr = 0.9 - 0.6 * small + rng.normal(0, 0.02, small.shape)
    return Image.fromarray((np.clip(arr, 0, 1) * 255).round().astype(np.uint8))


@pytest.mark.parametrize("quality", [None, 60])
def test_a_zoomed_small_scan_gives_back_its_own_size(quality, mnist):
    """Pillow's NEAREST at sizes that are not whole multiples, and a whole-number zoom (every
    viewer agrees on those), with and without JPEG's ringing inside the blocks."""
    images, _ = mnist
    rng = np.random.default_rng(0)
    for k, index in enumerate(range(10)):
        small = _small_scan(images[index], 8 + k, rng)
        w, h = small.size
        for big in (small.resize((round(w * 13.7), round(h * 13.7)), Image.Resampling.NEAREST),
                    Image.fromarray(np.kron(np.asarray(small), np.ones((9, 9), np.uint8)))):
            if quality:
                big = _jpeg(big, quality)
            assert native_size(_gray(big)) == (h, w), (index, big.size)


def test_nothing_else_is_taken_for_a_zoom(mnist):
    """MNIST digits themselves, canvas drawings (the straight 1s whose two edges can fall on a
    grid), a smooth (bicubic) enlargement and a photo of paper are left as they are."""
    images, _ = mnist
    for img in images[:300]:
        assert native_size(_gray(Image.fromarray(img))) is None
    for style, objs in drawn_set(40, 0):
        assert native_size(_gray(render_strokes(objs))) is None, style
    small = _small_scan(images[0], 12, np.random.default_rng(1))
    assert native_size(_gray(small.resize((small.width * 12, small.height * 12), Image.Resampling.BICUBIC))) is None
    photo = synthetic.photo(images[1], np.random.default_rng(2), synthetic.PhotoOptions(size=(800, 600)))
    assert native_size(_gray(photo)) is None


@pytest.mark.parametrize("index,label,state", [
    (9432, 9, {"has_uint32": 1, "uinteger": 271073780, "state": {
        "state": 212694753358974802765980443083909531239, "inc": 317915725153918023317776201916402039279}}),
    (6618, 1, {"has_uint32": 1, "uinteger": 2706904512, "state": {
        "state": 14623644283806302240774420586269087831, "inc": 185538449624034435481877592099946959041}}),
])
def test_zoomed_low_res_scan_is_read_at_its_own_pixels(index, label, state, mnist, shipped_vit):
    """Two low-resolution scans of the dev benchmark (``benchmarks/robustness.py``, seeds 1 and 3),
    zoomed by a viewer with nearest neighbour: their staircase edges, scaled down as they were,
    were read 7 (a 9 and a 1). Taken back to their own pixels they are read right, and the box
    round the digit is still in the input's pixels."""
    from model.inference import predict_proba

    images, labels = mnist
    picture = synthetic.low_res_scan(images[index], rng_at(state))
    result = preprocess(picture)
    assert result.ok, result.message
    assert any(name.startswith(ZOOM_UNDONE) for name in result.steps)
    assert int(predict_proba(shipped_vit, result.image).argmax()) == labels[index] == label
    x0, y0, x1, y1 = result.box
    assert 0 <= x0 < x1 <= picture.width and 0 <= y0 < y1 <= picture.height
    assert (x1 - x0) > 0.5 * picture.width or (y1 - y0) > 0.5 * picture.height


def test_model_page_explains_the_undone_zoom(mnist):
    """The Model page's step-by-step section shows the picture at its own pixels, and says why."""
    images, _ = mnist
    small = _small_scan(images[0], 12, np.random.default_rng(3))
    buf = io.BytesIO()
    small.resize((small.width * 15, small.height * 15), Image.Resampling.NEAREST).save(buf, format="PNG")
    captions = model_page_captions(buf.getvalue(), "upload")
    assert f"{ZOOM_UNDONE} ({small.width}x{small.height} px):" in captions
    assert "taken back to its own pixels" in captions
