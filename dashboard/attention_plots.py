"""The Attention page's figures and tables (the page itself only lays them out): per-head
statistics as a layer x head heatmap, head knockout bars (Michel et al., 2019) and the statistics
table. Pure functions of numpy arrays; no Streamlit calls here."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.palette import DIVERGING, HIGHLIGHT, REFERENCE, SEQUENTIAL
from dashboard.plots import DIGITS


def head_name(layer: int, head: int) -> str:
    """'L1 H1': layers and heads counted from 1, as every page labels them."""
    return f"L{layer + 1} H{head + 1}"


def stat_heatmap(values: np.ndarray, title: str, fmt: str = ".2f", colorscale: str = SEQUENTIAL,
                 zmid: float | None = None) -> go.Figure:
    """One number per (layer, head) as a labelled heatmap, first layer on top."""
    layers, heads = values.shape
    fig = go.Figure(go.Heatmap(
        z=values, x=[f"head {h + 1}" for h in range(heads)], y=[f"layer {i + 1}" for i in range(layers)],
        colorscale=colorscale, zmid=zmid, text=np.vectorize(lambda v: format(v, fmt))(values), texttemplate="%{text}",
        hovertemplate="%{y}, %{x}: %{z:.4f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=60 + 45 * layers, margin=dict(l=0, r=0, t=30, b=0), title=title)
    return fig


def knockout_figure(before: np.ndarray, after: np.ndarray, n_off: int) -> go.Figure:
    """Grouped bars: the ten (plain softmax) probabilities with all heads on, and with ``n_off`` heads off."""
    fig = go.Figure([
        go.Bar(x=DIGITS, y=before, name="all heads on", marker_color=REFERENCE,
               hovertemplate="digit %{x}: %{y:.2%}<extra>original</extra>"),
        go.Bar(x=DIGITS, y=after, name=f"{n_off} head(s) off", marker_color=HIGHLIGHT,
               hovertemplate="digit %{x}: %{y:.2%}<extra>knocked out</extra>")])
    fig.update_layout(barmode="group", height=280, margin=dict(l=10, r=10, t=30, b=10),
                      yaxis=dict(title="softmax probability", range=[0, 1.05]),
                      xaxis=dict(title="digit", type="category"), legend=dict(orientation="h", y=1.15))
    return fig


def stats_table(stats: dict[str, np.ndarray]) -> pd.DataFrame:
    """Every head's attention statistics, one row per head."""
    layers, heads = stats["cls_entropy"].shape
    return pd.DataFrame([{
        "head": head_name(i, h),
        "class-token entropy": float(stats["cls_entropy"][i, h]),
        "mean entropy (all queries)": float(stats["mean_entropy"][i, h]),
        "share on class token": float(stats["cls_share"][i, h]),
        "class token on itself": float(stats["cls_self"][i, h]),
    } for i in range(layers) for h in range(heads)])


def knockout_verdict(pred: int, before: np.ndarray, after: np.ndarray, n_off: int) -> tuple[str, str]:
    """("caption" | "warning" | "success", sentence): what knocking out ``n_off`` heads did to the answer."""
    new = int(after.argmax())
    if not n_off:
        return "caption", "No head is off: the two sets of bars are the same."
    if new != pred:
        return "warning", f"With {n_off} head(s) off the answer changes from {pred} to **{new}** ({after[new]:.1%})."
    return "success", f"Still {pred}: its softmax probability goes from {before[pred]:.1%} to {after[pred]:.1%}."


def head_stats_figures(stats: dict[str, np.ndarray]) -> list[tuple[str, go.Figure]]:
    """(chart key, figure) of the class token's attention entropy and the share of attention on it, per head."""
    return [("attn_entropy_fig", stat_heatmap(stats["cls_entropy"], "class-token entropy (0-1)")),
            ("attn_share_fig", stat_heatmap(stats["cls_share"], "share of attention on the class token", fmt=".3f"))]


def drop_heatmap(values: np.ndarray, title: str, fmt: str) -> go.Figure:
    """A per-head drop (probability or accuracy) on a diverging scale centred on 0: red = the head helps."""
    return stat_heatmap(values, title, fmt=fmt, colorscale=DIVERGING, zmid=0.0)


def test_drop(importance: dict, layers: int, heads: int) -> tuple[go.Figure, str] | None:
    """The test set's accuracy drop per knocked-out head (``head_importance.json``, python -m model.analyze)
    and its caption; None when the file is missing or made for another shape of model."""
    drop = np.asarray(importance.get("accuracy_drop", []), dtype=float)
    if drop.shape != (layers, heads):
        return None
    caption = (f"Each cell: test accuracy lost when that head alone is off, on {importance.get('n_images')} MNIST "
               f"test images (accuracy with all heads on: {importance.get('baseline_accuracy', float('nan')):.2%}). "
               "Red = the model needs this head, blue = it does slightly better without it.")
    return drop_heatmap(drop, "test set: accuracy drop with one head off", ".2%"), caption
