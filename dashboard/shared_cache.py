"""Explanations computed once per server process and shared by every session that asks for the
same digit with the same settings (a class all looking at test image #1234 with the defaults).

Each function is an ``st.cache_data`` bounded by ``max_entries``, keyed by the **content** of the
request only: the image's float32 bytes, the class, the method and its settings, and the id of
the shared model (a reloaded model gets a new id). A cached result is therefore only ever
returned to a session that already holds that exact image, so one user's drawing is never
shown to another; nothing about who asked is stored. The model itself is passed as ``_model``
(not hashed) and only read, as everywhere in the app. ``st.cache_data`` hands each caller its
own copy of the result, so a page cannot change what another session receives.

The computations are those of :mod:`model.explain` (attention: Dosovitskiy et al., 2021;
Abnar & Zuidema, 2020; Chefer et al., 2021; attributions: Captum, Kokhlikyan et al., 2020;
faithfulness: Petsiuk et al., 2018).
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from model import explain as E

# bounds: entries are small (a 28x28 map, a (4, 4, 50, 50) attention tensor, a few curves), so
# these caps keep the caches under about 15 MB in all however many digits are drawn
ATTENTION_ENTRIES = 48
EXPLAIN_ENTRIES = 256
FAITHFULNESS_ENTRIES = 32


def image_key(image: np.ndarray) -> bytes:
    """The (28, 28) image as float32 bytes: the content key of every cache here."""
    return np.ascontiguousarray(image, dtype=np.float32).reshape(28, 28).tobytes()


def _image(image_bytes: bytes) -> np.ndarray:
    return np.frombuffer(image_bytes, dtype=np.float32).reshape(28, 28)


@st.cache_data(max_entries=ATTENTION_ENTRIES, show_spinner=False)
def _attention_summary(_model, model_key: int, image_bytes: bytes) -> E.AttentionResult:
    return E.attention_summary(_model, _image(image_bytes))


def attention_summary(model, image: np.ndarray) -> E.AttentionResult:
    """:func:`model.explain.attention_summary`, shared between sessions."""
    return _attention_summary(model, id(model), image_key(image))


@st.cache_data(max_entries=ATTENTION_ENTRIES, show_spinner=False)
def _gradient_rollout(_model, model_key: int, image_bytes: bytes, target: int) -> np.ndarray:
    return E.gradient_rollout(_model, _image(image_bytes), target)


def gradient_rollout(model, image: np.ndarray, target: int) -> np.ndarray:
    """:func:`model.explain.gradient_rollout` (Chefer et al., 2021), shared between sessions."""
    return _gradient_rollout(model, id(model), image_key(image), int(target))


@st.cache_data(max_entries=ATTENTION_ENTRIES, show_spinner=False)
def _single_head_effects(_model, model_key: int, image_bytes: bytes, target: int) -> np.ndarray:
    return E.single_head_effects(_model, _image(image_bytes), target)


def single_head_effects(model, image: np.ndarray, target: int) -> np.ndarray:
    """:func:`model.explain.single_head_effects` (one head knocked out at a time), shared."""
    return _single_head_effects(model, id(model), image_key(image), int(target))


@st.cache_data(max_entries=EXPLAIN_ENTRIES, show_spinner=False)
def explain(_model, model_key: int, image_bytes: bytes, target: int, method: str,
            settings: tuple) -> tuple[np.ndarray, dict]:
    """One attribution map and its extras (:func:`model.explain.explain`) for ``settings``, a
    sorted tuple of (name, value) pairs."""
    res = E.explain(_model, _image(image_bytes), target, method, **dict(settings))
    return res.map, res.extra


@st.cache_data(max_entries=FAITHFULNESS_ENTRIES, show_spinner=False)
def faithfulness(_model, model_key: int, image_bytes: bytes, target: int, runs: tuple, unit: str,
                 steps: int, baseline: str) -> E.Faithfulness:
    """Deletion and insertion curves (:func:`model.explain.faithfulness`) of the maps of ``runs``,
    ((method, settings), ...), each map itself from :func:`explain`'s cache."""
    maps = {m: explain(_model, model_key, image_bytes, target, m, s)[0] for m, s in runs}
    return E.faithfulness(_model, _image(image_bytes), target, maps, unit=unit, steps=steps, baseline=baseline)
