"""The one place where the app loads and caches models and tables.

Models are loaded once per process with ``st.cache_resource`` and shared by every session;
they are only ever *read* (no hooks, no mode changes), which is what makes sharing safe.
Tables are loaded with ``st.cache_data``. Nothing here trains, downloads or evaluates the
whole test set: every artifact is a committed file under ``model/artifacts/``.
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


@st.cache_resource(show_spinner="Loading the transformer...")
def load_vit():
    from model.vit import load_vit as _load

    return _load(paths.VIT_WEIGHTS)


@st.cache_resource(show_spinner="Loading the random forest...")
def load_forest():
    # prediction-only arrays, same probabilities as sklearn's objects in a fifth of the memory
    from model.forest import load_compact_forest as _load

    return _load(paths.FOREST)


@st.cache_data(show_spinner=False)
def load_json(name: str) -> dict:
    """A JSON artifact by file name (``evaluation.json``, ``vit_metrics.json``...)."""
    path = paths.ARTIFACTS / name
    return json.loads(path.read_text()) if path.is_file() else {}


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


@st.cache_data(show_spinner=False)
def load_npz(name: str) -> dict[str, np.ndarray]:
    """An .npz artifact by file name (``mean_attribution.npz``...) as a dict; {} when missing."""
    path = paths.ARTIFACTS / name
    if not path.is_file():
        return {}
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@st.cache_resource(show_spinner=False)
def load_interpretation():
    """:class:`model.interpret.Interpretation` of the stored test-set table (shared, read-only);
    None when ``test_eval.npz`` is missing (``python -m model.evaluate --write``)."""
    from model.interpret import Interpretation

    if not paths.TEST_EVAL.is_file():
        return None
    return Interpretation.from_table(load_npz(paths.TEST_EVAL.name))


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
def load_neighbour_index():
    """:class:`model.explain.neighbours.NeighbourIndex` (shared, read-only); None when
    ``neighbours.npz`` is missing (``python -m model.explain.neighbours --write``)."""
    from model.explain.neighbours import load_index

    if not paths.NEIGHBOURS.is_file():
        return None
    return load_index(paths.NEIGHBOURS)
