"""dashboard/cache.py: explanations computed once per process for the same model, digit and
options, keyed by content only (weights SHA-256, image bytes, options), bounded, with one
bytes<->image pair."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from dashboard import cache
from model import explain as E


@pytest.fixture(autouse=True)
def _clear():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def vit(tiny_vit):
    tiny_vit.weights_sha256 = "a" * 64
    return tiny_vit


def _counting(monkeypatch, name):
    calls = []
    real = getattr(E, name)

    def wrapped(*args, **kwargs):
        calls.append(args[1].copy())
        return real(*args, **kwargs)

    monkeypatch.setattr(E, name, wrapped)
    return calls, wrapped


def test_bytes_image_round_trip(test_images):
    img = test_images[0][0]
    back = cache.image_from_bytes(cache.image_bytes(img))
    assert back.dtype == np.float32 and back.shape == (28, 28) and back.flags.writeable
    assert np.array_equal(back, img)


def test_same_digit_is_computed_once_and_shared(monkeypatch, vit, test_images):
    calls, fn = _counting(monkeypatch, "attention_summary")
    img = test_images[0][0]
    a = cache.compute(fn, vit, img, large=True)
    b = cache.compute(fn, vit, img.copy(), large=True)        # another session, same pixels
    assert len(calls) == 1
    assert np.array_equal(a.cls, b.cls) and np.array_equal(a.probs, b.probs)
    direct = E.attention_summary(vit, img)
    assert np.allclose(a.cls, direct.cls) and np.allclose(a.probs, direct.probs)


def test_different_digits_classes_or_models_never_share_a_result(monkeypatch, vit, test_images):
    calls, fn = _counting(monkeypatch, "single_head_effects")
    x0, x1 = test_images[0][0], test_images[0][1]
    e0 = cache.compute(fn, vit, x0, 3)
    e1 = cache.compute(fn, vit, x1, 3)
    nudged = x0.copy()
    nudged[14, 14] = np.nextafter(nudged[14, 14], np.float32(2))   # one pixel, one float32 step
    cache.compute(fn, vit, nudged, 3)
    cache.compute(fn, vit, x0, 4)                                     # another class
    other = copy.deepcopy(vit)
    other.weights_sha256 = "b" * 64                                   # retrained weights
    cache.compute(fn, other, x0, 3)
    assert len(calls) == 5
    assert np.array_equal(calls[0], x0) and np.array_equal(calls[1], x1)
    assert not np.array_equal(e0, e1)


def test_options_are_part_of_the_key(vit, test_images):
    img = test_images[0][3]
    a = cache.compute(E.explain, vit, img, 7, "occlusion", window=4, stride=4)
    b = cache.compute(E.explain, vit, img, 7, "occlusion", window=8, stride=4)
    assert not np.array_equal(a.map, b.map)
    assert np.allclose(b.map, E.explain(vit, img, 7, "occlusion", window=8, stride=4).map)


def test_each_caller_gets_its_own_copy(vit, test_images):
    img = test_images[0][2]
    m1 = cache.compute(E.explain, vit, img, 7, "saliency").map
    m1[:] = 123.0                                                     # a page scribbling on its result
    m2 = cache.compute(E.explain, vit, img, 7, "saliency").map
    assert not np.any(m2 == 123.0)
    assert np.allclose(m2, E.explain(vit, img, 7, "saliency").map)


def test_model_identity_is_the_weights_sha256(tiny_vit, test_images):
    del_attr = getattr(tiny_vit, "weights_sha256", None)
    if del_attr is not None:
        del tiny_vit.weights_sha256
    with pytest.raises(ValueError, match="weights_sha256"):
        cache.compute(E.explain, tiny_vit, test_images[0][0], 7, "saliency")


def test_caches_are_bounded():
    for f in cache.CACHES:
        assert 0 < f._info.max_entries <= 512          # st.cache_data(max_entries=...)
        assert f._info.ttl is not None                 # and entries expire


CALLS: list[float] = []


def _difference(model, a: np.ndarray, b: np.ndarray, scale: float = 1.0) -> float:
    CALLS.append(scale)
    return float((a - b).sum() * scale)


def test_a_second_image_is_keyed_by_its_bytes_and_arrives_as_an_array(vit, test_images):
    CALLS.clear()
    x0, x1, x2 = test_images[0][:3]
    d1 = cache.compute(_difference, vit, x0, x1)
    assert cache.compute(_difference, vit, x0, x1.copy()) == d1 and len(CALLS) == 1
    d2 = cache.compute(_difference, vit, x0, x2)
    assert len(CALLS) == 2 and d2 != d1
    assert d1 == pytest.approx(float((x0 - x1).sum()), rel=1e-5)
    assert cache.compute(_difference, vit, x0, x1, scale=2.0) == pytest.approx(2 * d1) and len(CALLS) == 3


def test_loading_the_model_prefetches_the_explanation_imports_in_the_background():
    """A fresh process: loading the shared ViT starts a thread that imports captum.attr, so a
    learner's first Attributions view does not pay for it."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, threading\n"
            "from dashboard import resources\n"
            "assert 'captum.attr' not in sys.modules\n"
            "resources._load_vit()\n"
            "[t.join() for t in threading.enumerate() if t.name == 'prefetch-imports']\n"
            "assert all(n in sys.modules for n in resources.PREFETCH), resources.PREFETCH\n")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
