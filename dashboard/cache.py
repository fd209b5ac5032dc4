"""The app's one cache layer: explanations computed once per server process and shared by every
session that asks for the same digit with the same settings (a class all looking at test image
#1234 with the defaults).

Every cached computation is ``compute(fn, model, image, *args, **options)``: one bounded
``st.cache_data`` keyed by the **content** of the request only,

    (name of fn, model.weights_sha256, image bytes, args, options)

where ``model.weights_sha256`` is the SHA-256 of the weights file recorded by
:func:`model.vit.load_vit` (the model's one identity: a retrained model never gets a stale
result) and the image enters as float32 bytes (:func:`image_bytes`, read back by
:func:`image_from_bytes`: the one bytes<->image pair of the app). A cached result is only ever
returned to a session that already holds that exact image, so one user's drawing is never shown
to another; nothing about who asked is stored. The model itself is passed unhashed and only read.
``st.cache_data`` hands each caller its own copy of the result, so a page cannot change what
another session receives.

Two tiers bound memory: ``SMALL`` results (a 28x28 map, a few probabilities) and ``LARGE`` ones
(an attention tensor, counterfactuals, neighbours, patching sweeps), each with ``max_entries`` and a
``ttl``. Adding an explanation family needs no code here: its page calls ``compute``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

SIDE = 28                    # MNIST images are 28x28
SMALL_ENTRIES = 512          # maps and probabilities: ~3 KB each -> under 2 MB
LARGE_ENTRIES = 64           # attention (4, 4, 50, 50) float32 = 160 KB, inside, counterfactual, patching sweeps
TTL_S = 3600                 # an entry nobody asked for in an hour is dropped


def image_bytes(image: np.ndarray) -> bytes:
    """A (28, 28) image as float32 bytes: the content key of every cache entry."""
    return np.ascontiguousarray(image, dtype=np.float32).reshape(SIDE, SIDE).tobytes()


def image_from_bytes(data: bytes) -> np.ndarray:
    """:func:`image_bytes` read back: a writable (28, 28) float32 array."""
    return np.frombuffer(data, dtype=np.float32).reshape(SIDE, SIDE).copy()


def model_key(model) -> str:
    """The model's one identity: SHA-256 of its weights file (set by :func:`model.vit.load_vit`)."""
    key = getattr(model, "weights_sha256", None)
    if not key:
        raise ValueError("model has no weights_sha256: load it with model.vit.load_vit")
    return key


class _Image(bytes):
    """An image argument travelling as bytes through the cache key (told apart from plain bytes)."""


def _freeze(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _Image(image_bytes(value))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, _Image):
        return image_from_bytes(value)
    if isinstance(value, tuple):
        return tuple(_thaw(v) for v in value)
    return value


def _call(fn: Callable, model, image: bytes, args: tuple, options: tuple):
    return fn(model, image_from_bytes(image), *(_thaw(a) for a in args), **{k: _thaw(v) for k, v in options})


@st.cache_data(max_entries=SMALL_ENTRIES, ttl=TTL_S, show_spinner=False)
def _small(_fn: Callable, name: str, _model, weights_sha256: str, image: bytes, args: tuple, options: tuple):
    return _call(_fn, _model, image, args, options)


@st.cache_data(max_entries=LARGE_ENTRIES, ttl=TTL_S, show_spinner=False)
def _large(_fn: Callable, name: str, _model, weights_sha256: str, image: bytes, args: tuple, options: tuple):
    return _call(_fn, _model, image, args, options)


CACHES = (_small, _large)


def compute(fn: Callable, model, image: np.ndarray, *args, large: bool = False, **options):
    """``fn(model, image, *args, **options)``, computed once per process for this model, image,
    args and options. ``args``/``options`` must be hashable, or (28, 28) numpy images (a second digit:
    keyed by their bytes and handed to ``fn`` as arrays); lists arrive as tuples, dicts as sorted
    (key, value) tuples. ``large=True`` puts the result in the small-count tier (big results)."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    cache = _large if large else _small
    return cache(fn, name, model, model_key(model), image_bytes(image), _freeze(args), _freeze(options))


def clear() -> None:
    for c in CACHES:
        c.clear()


# ---- cached compositions: results built from other cached results ---------------------------------------------
def _faithfulness(model, image: np.ndarray, target: int, runs: tuple, unit: str, steps: int, baseline: str):
    from model import explain as E

    maps = {m: compute(E.explain, model, image, target, m, **dict(s)).map for m, s in runs}
    return E.faithfulness(model, image, target, maps, unit=unit, steps=steps, baseline=baseline)


def faithfulness(model, image: np.ndarray, target: int, runs: tuple, unit: str, steps: int, baseline: str):
    """Deletion and insertion curves (:func:`model.explain.faithfulness`, Petsiuk et al., 2018) of the
    maps of ``runs`` ((method, sorted settings), ...), each map itself from the cache."""
    return compute(_faithfulness, model, image, int(target), runs, unit, int(steps), baseline)


def method_trust(model, image: np.ndarray, target: int, method: str):
    """One attribution method's sanity checks for this digit and class
    (:func:`model.explain.trust.method_trust`): shared by the Trust page and the Attributions page's badges."""
    from model.explain import trust as T

    return compute(T.method_trust, model, image, int(target), method, large=True)


def _trust_finish(model, image: np.ndarray, target: int, methods: tuple) -> dict:
    """What :func:`model.explain.trust.finish_report` adds to the cached methods (scores, seconds,
    ranking, verdict): kept apart so the cache does not hold a second copy of every method's maps."""
    from model.explain import trust as T

    out = {m: method_trust(model, image, target, m) for m in methods}   # each call returns its own copy
    rep = T.finish_report(model, image, target, out)
    return {"scores": {m: r.scores for m, r in rep.methods.items()},
            "seconds": {m: r.seconds for m, r in rep.methods.items()},
            "total": rep.seconds, "ranking": rep.ranking, "verdict": rep.verdict}


def trust_report(model, image: np.ndarray, target: int, methods: tuple):
    """The Trust page's whole report (:func:`model.explain.trust.finish_report`), assembled from the
    cached methods and the cached scores and ranking."""
    from model.explain import trust as T

    done = compute(_trust_finish, model, image, int(target), tuple(methods), large=True)
    out = {}
    for m in methods:
        r = method_trust(model, image, target, m)          # a copy (st.cache_data), free to complete
        r.scores, r.seconds = done["scores"][m], done["seconds"][m]
        out[m] = r
    return T.TrustReport(int(target), out, done["total"], done["ranking"], done["verdict"])
