"""The Why page's cached computations, figures and result panel (the page itself lays them out).

Computations keyed by the user's digit go through the one cache layer (:mod:`dashboard.cache`,
keyed by the weights' SHA-256, the image bytes and the options); figures are plain plotly builders.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboard import cache, resources
from dashboard.map_grid import MIN_WIDTH
from dashboard.palette import DIGIT_COLORS, PLOT_CONFIG
from dashboard.plots import DIGITS, image_figure, probability_chart


def _counterfactual(model, image: np.ndarray, target: int):
    from model import paths
    from model.explain.counterfactual import counterfactual as _cf

    forest = resources.load_forest() if paths.FOREST.is_file() else None
    return _cf(model, image, int(target), forest=forest)


def counterfactual(model, image: np.ndarray, target: int):
    """:func:`model.explain.counterfactual.counterfactual` of the digit, with the forest's answer."""
    return cache.compute(_counterfactual, model, image, int(target), large=True)


def _neighbours(model, image: np.ndarray, k: int):
    return resources.load_neighbour_index().query(model, image, int(k))


def neighbours(model, image: np.ndarray, k: int):
    """The digit's nearest training images (:meth:`NeighbourIndex.query`)."""
    return cache.compute(_neighbours, model, image, int(k), large=True)


@st.cache_data(show_spinner=False, max_entries=32, ttl=cache.TTL_S)
def _replay(weights_sha256: str, strokes_json: str):
    import json

    from model.explain.replay import replay as _r

    return _r(resources.load_vit(), json.loads(strokes_json))


def replay(model, strokes_json: str):
    """:func:`model.explain.replay.replay` of the drawing's strokes (keyed by the strokes, not an image)."""
    return _replay(cache.model_key(model), strokes_json)


def report_maker(model, image: np.ndarray, source: str, target: int | None, k: int) -> Callable[[], str]:
    """The downloadable HTML report (:func:`model.report.build_report`) of the digit, as a function that
    writes it: ``st.download_button`` calls it only when the button is pressed (in another thread, so it
    calls no Streamlit command). The counterfactual and the neighbours come from the cache now, as the
    page shows them; the report's own attributions and trust verdict (about a second of CPU) are paid
    for by whoever downloads, not by every view of the page."""
    cf = counterfactual(model, image, target) if target is not None else None
    nb, nb_images = None, None
    if resources.load_neighbour_index() is not None:
        nb = neighbours(model, image, k)
        nb_images = np.array(resources.load_train_images()[0][nb.indices])    # (k, 28, 28) uint8, a copy
    image = np.array(image, dtype=np.float32)

    def write() -> str:
        from model.report import build_report

        return build_report(model, image, source=source, weights_sha256=model.weights_sha256, counterfactual=cf,
                            neighbours=nb, neighbour_images=nb_images)

    return write


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
                                   marker=dict(size=3, color=DIGIT_COLORS[d], opacity=0.45),
                                   hovertemplate=f"a test {d}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[float(point[0])], y=[float(point[1])], mode="markers", name="your digit",
                             marker=dict(symbol="star", size=20, color="black", line=dict(width=2, color="white")),
                             hovertemplate="your digit<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=10, b=0), legend=dict(itemsizing="constant"),
                      xaxis_title="PC 1", yaxis_title="PC 2")
    return fig


def show_counterfactual(cf, target: int, pred: int) -> None:
    """The counterfactual's panel: original, result and change side by side (two a row on a phone), the
    changed pixels, the target's probability and the forest's answer on the result."""
    grid = st.grid(3, min_column_width=MIN_WIDTH, gap="small", key="why_cf_grid")
    grid.plotly_chart(image_figure(cf.original, title=f"original: {pred}", height=220), config=PLOT_CONFIG,
                      key="why_cf_orig")
    if target == pred and cf.found:
        st.info(f"The ViT already reads {pred}: no change needed.")
    elif not cf.found:
        st.warning(f"No small change found: {cf.steps} optimisation steps did not make the ViT read {target} "
                   "with a clear margin.")
    else:
        grid.plotly_chart(image_figure(cf.image, title=f"counterfactual: {cf.prediction}", height=220),
                          config=PLOT_CONFIG, key="why_cf_image")
        grid.plotly_chart(delta_figure(cf.delta, title="added (red) / removed (blue)"), config=PLOT_CONFIG,
                          key="why_cf_delta")
        m1, m2, m3 = st.columns(3)
        m1.metric("Changed pixels", f"{cf.changed_pixels}", help="pixels that moved by more than 0.1 of full ink")
        m2.metric(f"ViT's P({target})", f"{cf.probabilities[target]:.1%}",
                  delta=f"{cf.probabilities[target] - cf.original_probabilities[target]:+.1%}")
        if cf.forest is not None:
            m3.metric("Random forest reads", str(cf.forest_prediction))
        st.plotly_chart(probability_chart(cf.probabilities, title="ViT on the counterfactual (re-run)",
                                          height=220), config=PLOT_CONFIG, key="why_cf_probs")
        if cf.fools_vit_not_forest:
            still = "still " if cf.forest_prediction == pred else ""
            st.warning(f"This change fools the ViT but not the forest: the forest {still}reads "
                       f"{cf.forest_prediction}. A few pixels that a person would hardly notice flipped the "
                       "transformer's answer; the forest, which weighs pixels one by one, was not moved.")
        elif cf.forest is not None:
            st.success(f"The forest reads {cf.forest_prediction} too: the change moved both models.")
