"""The stored test-set evaluation (``model/artifacts/evaluation.json``) as the one table of the
three models that the Baseline and Model pages show, the command that regenerates it, and the
Misclassified page's clickable confusion matrix, the captions under its thumbnails and its table's
column formats."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from model.inference import TTA_VIEWS

EVALUATE_CMD = "python -m model.evaluate --write"
# column formats of the Misclassified page's table of mistakes (a frame of Interpretation.misclassified)
MISTAKE_COLUMNS = {
    "index": st.column_config.NumberColumn("test image", format="%d"),
    "confidence": st.column_config.NumberColumn(format="percent"),
    "p_true": st.column_config.NumberColumn("p(true)", format="percent"),
    "loss": st.column_config.NumberColumn(format="%.3f"),
    "forest_confidence": st.column_config.NumberColumn(format="percent")}


def models_table(evaluation: dict) -> pd.DataFrame:
    """One row per model (ViT, ViT + TTA, random forest): accuracy, size, MB on disk and
    milliseconds per image, batched and alone; missing figures stay empty (None)."""
    vit, rf = evaluation.get("vit", {}), evaluation.get("random_forest", {})

    def mb(n: int | None) -> float | None:
        return None if n is None else n / 1e6

    return pd.DataFrame([
        {"model": "ViT", "accuracy": vit.get("accuracy"), "size": f"{vit.get('params', 0):,} parameters",
         "MB on disk": mb(vit.get("size_bytes")), "ms / image (batched)": vit.get("ms_per_image_batched"),
         "ms for one image": vit.get("ms_single_image")},
        {"model": "ViT + TTA", "accuracy": vit.get("tta_accuracy"),
         "size": f"same model, {len(TTA_VIEWS)} shifted/rotated views averaged",
         "MB on disk": mb(vit.get("size_bytes")), "ms / image (batched)": vit.get("ms_per_image_batched_tta"),
         "ms for one image": vit.get("ms_single_image_tta")},
        {"model": "random forest", "accuracy": rf.get("accuracy"),
         "size": f"{rf.get('n_estimators', 0):,} trees, {rf.get('total_nodes', 0):,} nodes",
         "MB on disk": mb(rf.get("size_bytes")), "ms / image (batched)": rf.get("ms_per_image_batched"),
         "ms for one image": rf.get("ms_single_image")},
    ])


def per_class_table(evaluation: dict) -> pd.DataFrame | None:
    """Accuracy per true digit, one row per model that has it (ViT, ViT + TTA, random forest); None
    when no model has per-class figures."""
    vit, rf = evaluation.get("vit", {}), evaluation.get("random_forest", {})
    per_class = {"ViT": vit.get("per_class_accuracy"), "ViT + TTA": vit.get("tta_per_class_accuracy"),
                 "random forest": rf.get("per_class_accuracy")}
    per_class = {k: v for k, v in per_class.items() if v}
    return pd.DataFrame(per_class, index=[str(d) for d in range(10)]).T if per_class else None


def confusion_figure(cm: np.ndarray) -> go.Figure:
    """A (10, 10) confusion matrix (rows true, columns predicted) as square markers, mistakes in reds
    by log count and the diagonal grey, counts as text (plotly heatmaps send no selection events,
    streamlit#8760; the cell's (true, predicted) is each point's customdata)."""
    t, p = np.divmod(np.arange(100), 10)                     # true row, predicted column per cell
    counts = cm.reshape(-1)
    off = t != p
    fig = go.Figure()
    for mask, name, color in ((off, "mistakes", None), (~off, "correct", "#d9d9d9")):
        marker = dict(symbol="square", size=34, line=dict(width=0))
        if color:
            marker["color"] = color
        else:
            marker.update(color=np.log1p(counts[mask]), colorscale="Reds", cmin=0,
                          cmax=max(float(np.log1p(counts[off].max())), 1.0), showscale=False)
        fig.add_trace(go.Scatter(
            x=p[mask], y=t[mask], mode="markers+text", name=name, marker=marker,
            text=[str(c) if c else "" for c in counts[mask]], textfont=dict(size=11),
            customdata=np.stack([t[mask], p[mask]], axis=1),
            hovertemplate="true %{customdata[0]}, predicted %{customdata[1]}: %{text} images<extra></extra>"))
    axis = dict(tickmode="array", tickvals=list(range(10)), range=[-0.5, 9.5], showgrid=False, zeroline=False)
    fig.update_xaxes(title="predicted digit", side="top", **axis)
    fig.update_yaxes(title="true digit", autorange=None, **{**axis, "range": [9.5, -0.5]}, scaleanchor="x")
    fig.update_layout(height=460, width=460, margin=dict(l=10, r=10, t=40, b=10), showlegend=False,
                      clickmode="event+select", dragmode=False)
    return fig


def mistake_captions(mistakes: pd.DataFrame) -> Callable[[int], str]:
    """Test-image index -> "#i: true t, said p (c%)" for the rows of ``mistakes`` (a frame of
    :meth:`model.interpret.Interpretation.misclassified`)."""
    rows = mistakes.set_index("index")
    return lambda i: f"#{i}: true {rows.at[i, 'true']}, said {rows.at[i, 'pred']} ({rows.at[i, 'confidence']:.0%})"
