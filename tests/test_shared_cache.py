"""dashboard/shared_cache.py: explanations computed once per process for the same digit and
settings, keyed by content only, so a session gets a result only for an image it holds."""
from __future__ import annotations

import numpy as np
import pytest

from dashboard import shared_cache as sc
from model import explain as E


@pytest.fixture(autouse=True)
def _clear():
    for f in (sc._attention_summary, sc._gradient_rollout, sc._single_head_effects, sc.explain, sc.faithfulness):
        f.clear()
    yield


def _counting(monkeypatch, name):
    calls = []
    real = getattr(E, name)

    def wrapped(*args, **kwargs):
        calls.append(args[1].copy())
        return real(*args, **kwargs)

    monkeypatch.setattr(E, name, wrapped)
    return calls


def test_same_digit_is_computed_once_and_shared(monkeypatch, tiny_vit, test_images):
    calls = _counting(monkeypatch, "attention_summary")
    img = test_images[0][0]
    a = sc.attention_summary(tiny_vit, img)
    b = sc.attention_summary(tiny_vit, img.copy())           # another session, same pixels
    assert len(calls) == 1
    assert np.array_equal(a.cls, b.cls) and np.array_equal(a.probs, b.probs)
    direct = E.attention_summary(tiny_vit, img)
    assert np.allclose(a.cls, direct.cls) and np.allclose(a.probs, direct.probs)


def test_different_digits_never_share_a_result(monkeypatch, tiny_vit, test_images):
    calls = _counting(monkeypatch, "single_head_effects")
    x0, x1 = test_images[0][0], test_images[0][1]
    e0 = sc.single_head_effects(tiny_vit, x0, 3)
    e1 = sc.single_head_effects(tiny_vit, x1, 3)
    nudged = x0.copy()
    nudged[14, 14] = np.nextafter(nudged[14, 14], np.float32(2))   # one pixel, one float32 step
    sc.single_head_effects(tiny_vit, nudged, 3)
    sc.single_head_effects(tiny_vit, x0, 4)                           # another class
    assert len(calls) == 4
    assert np.array_equal(calls[0], x0) and np.array_equal(calls[1], x1)
    assert not np.array_equal(e0, e1)


def test_each_caller_gets_its_own_copy(tiny_vit, test_images):
    img = test_images[0][2]
    m1, _ = sc.explain(tiny_vit, id(tiny_vit), sc.image_key(img), 7, "saliency", ())
    m1[:] = 123.0                                                     # a page scribbling on its result
    m2, _ = sc.explain(tiny_vit, id(tiny_vit), sc.image_key(img), 7, "saliency", ())
    assert not np.any(m2 == 123.0)
    assert np.allclose(m2, E.explain(tiny_vit, img, 7, "saliency").map)


def test_caches_are_bounded():
    for f in (sc._attention_summary, sc._gradient_rollout, sc._single_head_effects, sc.explain, sc.faithfulness):
        assert 0 < f._info.max_entries <= 256      # st.cache_data(max_entries=...)
