"""Plotly figures of the Inside page (logit lens, direct logit attribution, attention distance,
position similarity, stem filters, activation patching by head). Its grids of 7x7 maps (patch
votes, patching per layer) are drawn with :func:`dashboard.map_grid.show_map_grid`. Pure functions of
numpy arrays from :mod:`model.explain.inside`; no Streamlit calls here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.palette import SERIES
from dashboard.plots import DIGITS, DIVERGING, SEQUENTIAL

LAYER_COLORS = SERIES[:8]        # one per layer, from the one palette


def logit_lens_figure(lens: np.ndarray, stages: list[str], pred: int) -> go.Figure:
    """Heatmap: one row per stage (embedding on top), one column per digit, the probability."""
    text = np.vectorize(lambda p: f"{p:.0%}" if p >= 0.005 else "")(lens)
    fig = go.Figure(go.Heatmap(
        z=lens, x=DIGITS, y=stages, zmin=0, zmax=1, colorscale=SEQUENTIAL, text=text, texttemplate="%{text}",
        colorbar=dict(title="probability", len=0.9), hovertemplate="%{y}: P(%{x}) = %{z:.2%}<extra></extra>"))
    fig.add_shape(type="rect", x0=pred - 0.5, x1=pred + 0.5, y0=-0.5, y1=len(stages) - 0.5,
                  line=dict(color="red", width=2))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="digit", type="category")
    fig.update_layout(height=70 + 42 * len(stages), margin=dict(l=0, r=0, t=10, b=0))
    return fig


def _layer_of(name: str) -> int:
    return int(name[1:name.index("H") if "H" in name else name.index("M")]) if name.startswith("L") else 0


def dla_figure(names: list[str], values: dict[str, np.ndarray], height: int = 330) -> go.Figure:
    """Bars of each residual-stream part's direct contribution, one series per entry of ``values``
    (label -> (P,) array), coloured by layer when there is one series."""
    fig = go.Figure()
    for i, (label, v) in enumerate(values.items()):  # noqa: B007
        colors = [LAYER_COLORS[_layer_of(n) % len(LAYER_COLORS)] for n in names] if len(values) == 1 else None
        fig.add_trace(go.Bar(x=names, y=v, name=label, marker_color=colors,
                             hovertemplate="%{x}: %{y:+.3f}<extra>" + label + "</extra>"))
    fig.add_hline(y=0, line_color="#555", line_width=1)
    fig.update_layout(barmode="group", height=height, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title="part of the residual stream (L = layer, H = head)", type="category"),
                      yaxis=dict(title="direct contribution to the logit"),
                      legend=dict(orientation="h", y=1.12), showlegend=len(values) > 1)
    return fig


def attention_distance_figure(this: np.ndarray, average: np.ndarray | None, same_class: np.ndarray | None,
                              uniform: float, label: str) -> go.Figure:
    """Dosovitskiy et al. (2021) Fig. 7 style: x = layer, y = mean attention distance (pixels),
    one dot per head; this digit filled, the test-set averages hollow, a line for uniform attention."""
    L, H = this.shape
    fig = go.Figure()
    jitter = (np.arange(H) - (H - 1) / 2) * 0.06                       # heads side by side within a series
    series = [("this digit", this, "circle", 11)]
    if average is not None:
        series.append(("test-set average", average, "circle-open", 12))
    if same_class is not None:
        series.append((f"test images of {label}", same_class, "diamond-open", 11))
    colors = [LAYER_COLORS[h % len(LAYER_COLORS)] for h in range(H)] * L   # row-major (layer, head)
    layer, head = np.divmod(np.arange(L * H), H)
    for j, (name, arr, symbol, size) in enumerate(series):               # one trace per series: fast to build
        fig.add_trace(go.Scatter(
            x=layer + 1 + jitter[head] + 0.3 * (j - (len(series) - 1) / 2), y=np.asarray(arr).ravel(),
            mode="markers", name=name, customdata=np.stack([layer + 1, head + 1], -1),
            marker=dict(symbol=symbol, size=size, color=colors, line=dict(width=2, color=colors)),
            hovertemplate=f"{name}, layer %{{customdata[0]}} head %{{customdata[1]}}: %{{y:.2f}} px<extra></extra>"))
    fig.add_hline(y=uniform, line_dash="dot", line_color="#888",
                  annotation_text=f"attending to every patch equally: {uniform:.1f} px", annotation_position="top left")
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.15),
                      xaxis=dict(title="layer (colour = head)", tickvals=list(range(1, L + 1))),
                      yaxis=dict(title="mean attention distance (pixels)"))
    return fig


def mosaic(tiles: np.ndarray, cols: int, gap: int = 1) -> np.ndarray:
    """(n, h, w) tiles -> one 2-D array with ``cols`` tiles per row, NaN between them."""
    n, h, w = tiles.shape
    rows = int(np.ceil(n / cols))
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = t
    return out


def position_similarity_figure(sim: np.ndarray) -> go.Figure:
    """Dosovitskiy et al. (2021) Fig. 7 centre: tile (r, c) is the cosine similarity of position
    (r, c)'s embedding with every position."""
    g = sim.shape[0]
    z = mosaic(sim.reshape(g * g, g, g), g)
    fig = go.Figure(go.Heatmap(z=z, colorscale=DIVERGING, zmid=0, zmin=-1, zmax=1,
                               colorbar=dict(title="cosine"), hovertemplate="%{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_layout(height=430, margin=dict(l=0, r=0, t=10, b=0), plot_bgcolor="white")
    return fig


def filters_figure(filters: np.ndarray, cols: int = 8) -> go.Figure:
    """The stem's first-layer filters as small images, one shared diverging colour scale."""
    z = mosaic(filters, cols)
    m = float(np.nanmax(np.abs(z))) or 1.0
    fig = go.Figure(go.Heatmap(z=z, colorscale=DIVERGING, zmid=0, zmin=-m, zmax=m,
                               colorbar=dict(title="weight"), hovertemplate="%{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_layout(height=220, margin=dict(l=0, r=0, t=10, b=0), plot_bgcolor="white")
    return fig


def patching_heads_figure(layer_head: np.ndarray, fmt: str) -> go.Figure:
    """(layer, head) heatmap of the change when that head's output is patched; red = drop."""
    L, H = layer_head.shape
    m = float(np.abs(layer_head).max()) or 1e-9
    fig = go.Figure(go.Heatmap(
        z=-layer_head, x=[f"head {h + 1}" for h in range(H)], y=[f"layer {l + 1}" for l in range(L)],
        zmin=-m, zmax=m, zmid=0, colorscale=DIVERGING, customdata=layer_head,
        text=np.vectorize(lambda v: format(v, fmt))(layer_head), texttemplate="%{text}",
        colorbar=dict(title="drop"), hovertemplate="%{y}, %{x}: change %{customdata:+.4f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=60 + 45 * L, margin=dict(l=0, r=0, t=10, b=0))
    return fig


def guess_figure(image: np.ndarray, g: int = 7) -> go.Figure:
    """The digit with one clickable square marker per patch (for "predict, then reveal")."""
    step = 28 / g
    r, c = np.divmod(np.arange(g * g), g)
    fig = go.Figure(go.Heatmap(z=image, colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=c * step + (step - 1) / 2, y=r * step + (step - 1) / 2, mode="markers",
        marker=dict(symbol="square", size=26, color="rgba(255,165,0,0.15)", line=dict(color="orange", width=1)),
        customdata=np.stack([r, c], -1), text=[f"patch row {a + 1}, col {b + 1}" for a, b in zip(r, c)],
        hovertemplate="%{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, zeroline=False,
                     range=[27.5, -0.5])
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain", range=[-0.5, 27.5])
    fig.update_layout(height=300, width=300, margin=dict(l=0, r=0, t=0, b=0), showlegend=False,
                      clickmode="event+select")
    return fig
