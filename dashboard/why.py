"""The Why page's cached computations and figures (the page itself only renders).

Computations keyed by the user's digit go through bounded ``st.cache_data`` (the image is
passed as bytes, the shared models are looked up inside and never hashed); figures are plain
plotly builders.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboard import resources
from dashboard.plots import DIGITS

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def as_image(image_bytes: bytes) -> np.ndarray:
    return np.frombuffer(image_bytes, dtype=np.float32).reshape(28, 28).copy()


@st.cache_data(show_spinner=False, max_entries=64)
def counterfactual(image_bytes: bytes, target: int):
    """:func:`model.explain.counterfactual.counterfactual` of the digit, with the forest's answer."""
    from model import paths
    from model.explain.counterfactual import counterfactual as _cf

    forest = resources.load_forest() if paths.FOREST.is_file() else None
    return _cf(resources.load_vit(), as_image(image_bytes), int(target), forest=forest)


@st.cache_data(show_spinner=False, max_entries=64)
def neighbours(image_bytes: bytes, k: int):
    index = resources.load_neighbour_index()
    return index.query(resources.load_vit(), as_image(image_bytes), int(k))


@st.cache_data(show_spinner=False, max_entries=32)
def replay(strokes_json: str):
    import json

    from model.explain.replay import replay as _replay

    return _replay(resources.load_vit(), json.loads(strokes_json))


@st.cache_data(show_spinner=False, max_entries=16)
def report_html(image_bytes: bytes, source: str, target: int | None, k: int) -> str:
    """The downloadable HTML report (:func:`model.report.build_report`) of the digit."""
    from model import paths
    from model.explain.neighbours import weights_sha256
    from model.report import build_report

    cf = counterfactual(image_bytes, target) if target is not None else None
    nb, nb_images = None, None
    if resources.load_neighbour_index() is not None:
        nb = neighbours(image_bytes, k)
        nb_images = resources.load_train_images()[0][nb.indices]
    return build_report(resources.load_vit(), as_image(image_bytes), source=source,
                        weights_sha256=weights_sha256(paths.VIT_WEIGHTS), counterfactual=cf,
                        neighbours=nb, neighbour_images=nb_images)


def delta_figure(delta: np.ndarray, height: int = 220, title: str | None = None) -> go.Figure:
    """Added ink red, removed ink blue, unchanged black, on one symmetric scale."""
    m = float(np.abs(delta).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=np.asarray(delta, dtype=float), zmin=-m, zmax=m, showscale=False,
                               colorscale=[[0, "#2166ac"], [0.5, "#000000"], [1, "#d62f27"]],
                               hovertemplate="row %{y}, col %{x}: change %{z:+.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x")
    fig.update_xaxes(visible=False)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0), title=title)
    return fig


def map_figure(test_map: np.ndarray, test_labels: np.ndarray, point: np.ndarray, height: int = 420) -> go.Figure:
    """The test set's 2-D embedding map coloured by true label, with the user's digit as a star."""
    fig = go.Figure()
    for d in range(10):
        sel = test_labels == d
        fig.add_trace(go.Scattergl(x=test_map[sel, 0], y=test_map[sel, 1], mode="markers", name=DIGITS[d],
                                   marker=dict(size=3, color=PALETTE[d], opacity=0.45),
                                   hovertemplate=f"a test {d}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[float(point[0])], y=[float(point[1])], mode="markers", name="your digit",
                             marker=dict(symbol="star", size=20, color="black", line=dict(width=2, color="white")),
                             hovertemplate="your digit<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=10, b=0), legend=dict(itemsizing="constant"),
                      xaxis_title="PC 1", yaxis_title="PC 2")
    return fig
