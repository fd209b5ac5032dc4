"""Shared plotly figures. Pages call these so every heatmap and probability chart in the app
looks and reads the same. Pure functions of numpy arrays; no Streamlit calls here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.palette import CATEGORY, DIVERGING, HIGHLIGHT, MUTED, SEQUENTIAL  # noqa: F401 (re-exported)

DIGITS = [str(d) for d in range(10)]


def probability_chart(probs: np.ndarray, log: bool = False, title: str | None = None,
                      highlight: int | None = None, height: int = 260) -> go.Figure:
    """Bar chart of ten class probabilities; the predicted (or ``highlight``) digit in red.

    Built from one dict (not ``update_layout``/``update_yaxes`` calls): the same figure in a
    fifth of the CPU time, and the Draw page builds one per stroke (benchmarks/capacity.py)."""
    probs = np.asarray(probs, dtype=float).reshape(10)
    top = int(probs.argmax()) if highlight is None else highlight
    colors = [HIGHLIGHT if i == top else MUTED for i in range(10)]
    if log:
        yaxis = dict(type="log", title="probability (log scale)", range=[np.log10(max(probs.min(), 1e-8)) - 0.5, 0.3])
    else:
        yaxis = dict(title="probability", range=[0, 1.15])
    bar = dict(type="bar", x=DIGITS, y=probs, marker=dict(color=colors),
               text=[f"{p:.1%}" if p >= 0.001 else f"{p:.0e}" for p in probs],
               textposition="outside", cliponaxis=False, hovertemplate="digit %{x}: %{y:.4%}<extra></extra>")
    layout = dict(height=height, margin=dict(l=10, r=10, t=30 if title else 10, b=10), title=title,
                  xaxis=dict(title="digit", type="category"), yaxis=yaxis, showlegend=False)
    return go.Figure(data=[bar], layout=layout)


def image_figure(img: np.ndarray, title: str | None = None, height: int = 220,
                 colorscale: str = "gray", zmin: float | None = 0.0, zmax: float | None = 1.0,
                 hover: str = "value") -> go.Figure:
    """A 2-D array as a square heatmap with pixel values on hover (row 0 at the top)."""
    img = np.asarray(img, dtype=float)
    heatmap = dict(type="heatmap", z=img, colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=False,
                   hovertemplate=f"row %{{y}}, col %{{x}}: {hover} %{{z:.3f}}<extra></extra>")
    axis = dict(showticklabels=False, showgrid=False, zeroline=False)
    layout = dict(height=height, margin=dict(l=0, r=0, t=28 if title else 0, b=0), title=title,
                  xaxis=dict(axis, constrain="domain"), yaxis=dict(axis, autorange="reversed", scaleanchor="x"))
    return go.Figure(data=[heatmap], layout=layout)


def reliability_figure(reliability: dict[str, dict], height: int = 340) -> go.Figure:
    """Reliability diagram (Guo et al., 2017, Fig. 1): per confidence bin, mean confidence (x)
    against accuracy (y), one trace per entry of ``reliability`` (e.g. uncalibrated and
    calibrated, as :func:`model.calibration.reliability` returns them), marker area by count."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(color="grey", dash="dot")))
    styles = {"uncalibrated": (CATEGORY[0], "before temperature scaling"),
              "calibrated": (HIGHLIGHT, "after temperature scaling")}
    for key, bins in reliability.items():
        color, name = styles.get(key, (None, key))
        pts = [(c, a, n) for c, a, n in zip(bins["confidence"], bins["accuracy"], bins["count"]) if n]
        if not pts:
            continue
        conf, acc, cnt = map(list, zip(*pts))
        size = [6 + 18 * (n / max(cnt)) ** 0.5 for n in cnt]
        fig.add_trace(go.Scatter(x=conf, y=acc, mode="lines+markers", name=name,
                                 marker=dict(size=size, color=color), line=dict(color=color),
                                 customdata=cnt, hovertemplate="confidence %{x:.1%}<br>accuracy %{y:.1%}"
                                                               "<br>%{customdata} digits<extra></extra>"))
    fig.update_xaxes(title="confidence (top probability)", range=[0, 1.02], tickformat=".0%")
    fig.update_yaxes(title="accuracy", range=[0, 1.02], tickformat=".0%")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=-0.25))
    return fig
