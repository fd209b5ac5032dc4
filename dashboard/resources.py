"""The one place where the app loads and caches models and tables.

Models are loaded once per process with ``st.cache_resource`` and shared by every session;
they are only ever *read* (no hooks, no mode changes), which is what makes sharing safe.
Tables are loaded with ``st.cache_data``. A missing or corrupt file never ends in a traceback:
the weights (:class:`model.vit.WeightsError`) give one clear message on the page that needs them
(:func:`load_vit` stops that page, :func:`vit_or_none` lets it go on), an unreadable artifact a
one-line warning and the same "nothing here yet" as a missing one; other pages stay usable.
Nothing here trains, downloads or evaluates the whole test set: every artifact is a committed file
under ``model/artifacts/``.
"""
from __future__ import annotations

import json

import numpy as np
import streamlit as st
import torch

from model import paths
from model.memory import limit_heap_growth

# A server process lives long and runs each session in its own thread: few malloc arenas and a
# fixed mmap threshold keep its memory from growing with every session (model/memory.py).
limit_heap_growth()

# One intra-op thread per forward pass: on 2 shared cores, sessions each using 2 threads
# slowed a forward pass by hundreds of times in a measurement here.
torch.set_num_threads(1)


TRAIN_CMD = "python -m model.train"


def _unreadable(name: str, exc: Exception) -> str:
    """One line for a page: which artifact file is unreadable and why (never a traceback)."""
    first = (str(exc).splitlines() or [""])[0][:200]
    return f"`{name}` is unreadable ({type(exc).__name__}: {first}); this part of the page is skipped."


# Imported once per process by the explanation pages; captum.attr alone is ~0.3 s of CPU (it
# imports matplotlib for plotting helpers this app never calls). Prefetched in the background
# when the model first loads (a learner is still drawing), not on a learner's first page view.
PREFETCH = ("captum.attr",)


def _prefetch() -> None:
    import importlib

    for name in PREFETCH:
        try:
            importlib.import_module(name)
        except Exception:   # a failed prefetch only means the page imports it itself
            pass


@st.cache_resource(show_spinner="Loading the transformer...")
def _load_vit():
    import threading

    from model.vit import load_vit as _load

    model = _load(paths.VIT_WEIGHTS)
    threading.Thread(target=_prefetch, name="prefetch-imports", daemon=True).start()
    return model


def vit_or_none(show: bool = True):
    """The shared ViT, or None with one clear message on the page (``show``) when its weights file is
    missing or corrupt (:class:`model.vit.WeightsError`), so the rest of the page stays usable."""
    from model.vit import WeightsError

    try:
        return _load_vit()
    except WeightsError as exc:
        if show:
            st.error(f"The transformer cannot be loaded: {exc}. Train it with `{TRAIN_CMD}` "
                     "(or restore model/artifacts/vit.safetensors); the pages that do not need it still work.")
        return None


def load_vit():
    """The shared ViT for a page that needs it: with a missing or corrupt weights file the page shows
    one clear message (:func:`vit_or_none`) and stops there; other pages are unaffected."""
    model = vit_or_none()
    if model is None:
        st.stop()
    return model


@st.cache_resource(show_spinner="Loading the random forest...")
def _load_forest():
    # prediction-only arrays, same probabilities as sklearn's objects in a fifth of the memory
    from model.forest import load_compact_forest as _load

    return _load(paths.FOREST)


def load_forest():
    """The shared random forest, or None with a one-line message when its file is unreadable."""
    try:
        return _load_forest()
    except Exception as exc:   # a corrupt artifact: say which, keep the page
        st.warning(_unreadable(paths.FOREST.name, exc))
        return None


@st.cache_data(show_spinner=False)
def _load_json(name: str) -> dict:
    path = paths.ARTIFACTS / name
    return json.loads(path.read_text()) if path.is_file() else {}


def load_json(name: str) -> dict:
    """A JSON artifact by file name (``evaluation.json``, ``vit_metrics.json``...); {} when missing,
    and {} with a one-line message when unreadable."""
    try:
        return _load_json(name)
    except (OSError, ValueError) as exc:
        st.warning(_unreadable(name, exc))
        return {}


@st.cache_data(show_spinner=False)
def load_experiments() -> list[dict]:
    if not paths.EXPERIMENTS.is_file():
        return []
    return [json.loads(line) for line in paths.EXPERIMENTS.read_text().splitlines() if line.strip()]


@st.cache_resource(show_spinner=False)
def load_test_images() -> tuple[np.ndarray, np.ndarray]:
    """MNIST test images (uint8, read-only, shared) and labels."""
    from data.mnist import load_mnist

    return load_mnist("test")


@st.cache_resource(show_spinner=False)
def _load_npz(name: str) -> dict[str, np.ndarray]:
    """Shared by every session (st.cache_resource), so the arrays are read-only: st.cache_data would
    hand each page view its own unpickled copy (data_tables.npz: 0.8 MB per view)."""
    path = paths.ARTIFACTS / name
    if not path.is_file():
        return {}
    with np.load(path) as z:
        tables = {k: z[k] for k in z.files}
    for a in tables.values():
        a.setflags(write=False)
    return tables


def load_npz(name: str) -> dict[str, np.ndarray]:
    """An .npz artifact by file name (``mean_attribution.npz``...) as a dict; {} when missing, and {}
    with a one-line message when unreadable."""
    try:
        return _load_npz(name)
    except Exception as exc:   # BadZipFile, ValueError, OSError, EOFError...: one line, not a traceback
        st.warning(_unreadable(name, exc))
        return {}


@st.cache_resource(show_spinner=False)
def npz_array(name: str, key: str, dtype: str) -> np.ndarray:
    """Array ``key`` of the .npz artifact ``name`` as ``dtype``, converted once per process and shared
    (read-only), not once per page view (data_tables.npz's features as float32: 1.4 MB). Call it
    after :func:`load_npz` has answered for ``name``."""
    a = np.asarray(_load_npz(name)[key], dtype=dtype)
    a.setflags(write=False)
    return a


@st.cache_resource(show_spinner=False)
def _load_interpretation():
    from model.interpret import Interpretation

    return Interpretation.from_table(load_npz(paths.TEST_EVAL.name))


def load_interpretation():
    """:class:`model.interpret.Interpretation` of the stored test-set table (shared, read-only);
    None when ``test_eval.npz`` is missing (``python -m model.evaluate --write``) or unreadable."""
    if not paths.TEST_EVAL.is_file():
        return None
    table = load_npz(paths.TEST_EVAL.name)
    if not table:
        return None
    try:
        return _load_interpretation()
    except Exception as exc:
        st.warning(_unreadable(paths.TEST_EVAL.name, exc))
        return None
@st.cache_data(show_spinner=False, max_entries=4096)
def test_thumbnail_png(index: int, scale: int = 3) -> bytes:
    """MNIST test image ``index`` as a PNG ``scale`` times larger (crisp pixels), for grids.
    Bounded cache: at most one entry per test image a session has shown."""
    import io

    from PIL import Image

    images, _ = load_test_images()
    img = np.repeat(np.repeat(images[int(index)], scale, axis=0), scale, axis=1)   # (28s, 28s) uint8
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@st.cache_resource(show_spinner=False)
def load_train_images() -> tuple[np.ndarray, np.ndarray]:
    """MNIST training images (uint8, read-only, shared) and labels (the Data page's samples, the Why page's
    neighbours). The images are memory-mapped: the pages show a few of the 60,000, so the process holds
    those few instead of 47 MB (:func:`data.mnist.load_mnist`)."""
    from data.mnist import load_mnist

    return load_mnist("train", mmap=True)


@st.cache_resource(show_spinner="Loading the neighbour index...")
def _load_neighbour_index():
    from model.explain.neighbours import load_index

    return load_index(paths.NEIGHBOURS)


def load_neighbour_index():
    """:class:`model.explain.neighbours.NeighbourIndex` (shared, read-only); None when
    ``neighbours.npz`` is missing (``python -m model.explain.neighbours --write``), and None with a
    one-line message when unreadable."""
    if not paths.NEIGHBOURS.is_file():
        return None
    try:
        return _load_neighbour_index()
    except Exception as exc:
        st.warning(_unreadable(paths.NEIGHBOURS.name, exc))
        return None


@st.cache_resource(show_spinner=False, max_entries=2)
def feature_bin_edges(table: np.ndarray, feature_names: tuple[str, ...]) -> list[np.ndarray]:
    """Shared histogram bin edges per feature of the training-digit table (``data_tables.npz``),
    over all digits, so every digit's histogram on the Data page uses the same bins."""
    from data import features as F

    return [F.bin_edges(name, table[:, j]) for j, name in enumerate(feature_names)]
