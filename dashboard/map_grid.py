"""Grids of small maps (attention, attributions, patch votes, patching effects...) that read well
on a desktop and on a phone. One helper for every page that draws several maps side by side.

Each map is its own small plotly figure inside an ``st.grid`` cell: the grid keeps ``cols``
maps per row on a desktop and reflows to fewer on a narrow screen, never letting a map get
narrower than ``min_width`` pixels (on a 390 px phone: two maps of about 170 px per row). One
shared colour bar sits *below* the grid, as its own thin figure, so it never takes a map's
width; each title is its own figure's title, wrapped, so titles never overlap. Building a
separate ``go.Figure`` per map costs a few milliseconds (one constructor call, no
``make_subplots``).

API (``from dashboard.map_grid import show_map_grid``)::

    show_map_grid(maps, titles, key, *, cols=4, background=None, colorscale=SEQUENTIAL,
                  shared=True, zmin=None, zmax=None, zmid=None, opacity=None,
                  colorbar_title="value", hover="value", customdata=None, hovertemplates=None,
                  text=None, marker=None, marker_color="red", height=None, min_width=MIN_WIDTH,
                  colorbar=True)

* ``maps``: (N, h, w) array or list of N 2-D arrays, drawn row 0 at the top; ``titles``: N strings.
* ``key``: widget-key prefix, namespaced by page (e.g. ``"trust_steps"``): everything sits in
  ``st.container(key=key)`` (CSS class ``st-key-<key>``), the grid is ``st.grid(key=key +
  "_grid")`` and map ``i`` is ``st.plotly_chart(key=f"{key}_{i}")``.
* ``background``: a (28, 28) greyscale digit drawn under every map (then each map's cells are
  stretched over the digit's 28x28 pixels, so a 7x7 patch map lines up with its patches) and
  ``opacity`` (default 0.7) lets it show through.
* ``shared=True``: one colour range for all maps (``zmin``/``zmax``/``zmid``; default: the
  maps' min and max, symmetric around ``zmid`` when given) and one colour bar below the grid,
  titled ``colorbar_title``. ``shared=False``: each map uses its own range; the bar then
  reads "low .. high within each map". ``colorbar=False``: no bar (e.g. a masked image).
* ``hover``: the word after the value on hover; ``customdata``/``hovertemplates``: plotly
  customdata arrays and hover templates to replace the default; ``text``: (h, w) string arrays
  written in the cells (e.g. a digit per patch). Each is one value for every map or a *list*
  with one per map.
* ``marker``: a (row, col) tuple: the cell to outline in every map (in the map's own cells),
  or a list with one (row, col) or None per map.
* The colour bar is ``st.plotly_chart(key=key + "_colorbar")``: the phone-layout probe
  (tests/e2e/layout_probe.py) does not count it as a plot panel.
* ``height``: figure height in px (the map is square; default fits the title); ``cols``: maps
  per row on a desktop; ``min_width``: the narrowest a map may become before the row wraps.

The figure builders :func:`map_figure` and :func:`colorbar_figure` are pure (no Streamlit) so
other views can use them directly.
"""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboard.palette import PLOT_CONFIG as CONFIG
from dashboard.plots import SEQUENTIAL

MIN_WIDTH = 150          # px: the narrowest map before the grid puts fewer per row
TITLE_CHARS = 22         # characters per title line at 12 px in a ~170 px map
LINE_PX = 16             # height of one title line


def wrap_title(title: str, width: int = TITLE_CHARS) -> str:
    """``title`` broken at spaces into lines of at most ``width`` characters (plotly's ``<br>``)."""
    return "<br>".join(textwrap.wrap(title, width)) if title else ""


def _title_lines(titles: Sequence[str]) -> int:
    return max([len(textwrap.wrap(t, TITLE_CHARS)) for t in titles if t] + [0])


def map_figure(z: np.ndarray, title: str = "", *, background: np.ndarray | None = None,
               colorscale: str = SEQUENTIAL, zmin: float | None = None, zmax: float | None = None,
               zmid: float | None = None, opacity: float | None = None, hover: str = "value",
               customdata: np.ndarray | None = None, hovertemplate: str | None = None,
               text: np.ndarray | None = None, marker: tuple[int, int] | None = None,
               marker_color: str = "red", height: int = 210, title_lines: int = 1) -> go.Figure:
    """One square map (row 0 at the top), optionally over a greyscale ``background`` image whose
    pixels the map's cells are stretched over; no colour bar (see :func:`colorbar_figure`)."""
    z = np.asarray(z, dtype=float)
    h, w = z.shape
    data: list[dict] = []
    coords: dict = {}
    sy = sx = 1.0
    if background is not None:
        bg = np.asarray(background, dtype=float)
        data.append(dict(type="heatmap", z=bg, colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip"))
        sy, sx = bg.shape[0] / h, bg.shape[1] / w                      # background pixels per map cell
        coords = dict(x0=(sx - 1) / 2, dx=sx, y0=(sy - 1) / 2, dy=sy)
    if customdata is None:
        customdata = np.stack(np.mgrid[0:h, 0:w] + 1, -1)               # (h, w, 2): 1-based row, column
        hovertemplate = hovertemplate or (f"{title}<br>row %{{customdata[0]}}, col %{{customdata[1]}}: "
                                          f"{hover} %{{z:.3f}}<extra></extra>")
    if text is not None:
        coords.update(text=text, texttemplate="%{text}", textfont=dict(size=10, color="white"))
    data.append(dict(type="heatmap", z=z, colorscale=colorscale, zmin=zmin, zmax=zmax, zmid=zmid,
                     opacity=(0.7 if background is not None else 1.0) if opacity is None else opacity,
                     showscale=False, customdata=customdata, hoverongaps=False,
                     hovertemplate=hovertemplate or "%{z:.3f}<extra></extra>", **coords))
    axis = dict(showticklabels=False, showgrid=False, zeroline=False)
    layout = dict(height=height, margin=dict(l=0, r=0, t=8 + LINE_PX * title_lines if title_lines else 0, b=0),
                  plot_bgcolor="white", xaxis=dict(constrain="domain", **axis),
                  yaxis=dict(autorange="reversed", scaleanchor="x", **axis))
    if marker is not None:
        r, c = marker
        layout["shapes"] = [dict(type="rect", x0=c * sx - 0.5, x1=(c + 1) * sx - 0.5, y0=r * sy - 0.5,
                                 y1=(r + 1) * sy - 0.5, line=dict(color=marker_color, width=2))]
    if title:   # just above the map, growing upwards into the top margin (sized for the longest title)
        layout["annotations"] = [dict(text=f"<b>{wrap_title(title)}</b>", x=0.5, y=1, xref="paper", yref="paper",
                                      xanchor="center", yanchor="bottom", yshift=2, showarrow=False,
                                      font=dict(size=12))]
    # one constructor call: plotly's update_* methods cost ~25 ms a figure, this a few ms
    return go.Figure(data=data, layout=layout)


def colorbar_figure(colorscale: str, zmin: float, zmax: float, title: str = "", zmid: float | None = None,
                    ticks: tuple[str, str] | None = None, height: int = 64) -> go.Figure:
    """A horizontal colour bar alone (for below a grid of maps), ``zmin``..``zmax``; ``ticks``
    replaces the numbers at its two ends by words (e.g. ("low", "high"))."""
    lo, hi = float(zmin), float(zmax)
    if hi <= lo:
        hi = lo + 1e-12
    bar = dict(orientation="h", x=0.5, xanchor="center", y=0.5, yanchor="middle", len=1.0, thickness=12,
               title=dict(text=title, side="top"), outlinewidth=0)
    if ticks:
        bar.update(tickvals=[lo, hi], ticktext=list(ticks))
    fig = go.Figure(go.Heatmap(z=[[lo, hi]], colorscale=colorscale, zmin=lo, zmax=hi, zmid=zmid, colorbar=bar,
                               hoverinfo="skip", opacity=0))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=0, b=0), plot_bgcolor="rgba(0,0,0,0)",
                      paper_bgcolor="rgba(0,0,0,0)")
    return fig


def _per_map(value, n: int, name: str) -> list:
    """A list with one entry per map: ``value`` itself when it is a list, else ``value`` n times."""
    if isinstance(value, list):
        if len(value) != n:
            raise ValueError(f"{name}: a list needs one entry per map ({n}), got {len(value)}")
        return value
    return [value] * n


def show_map_grid(maps, titles: Sequence[str], key: str, *, cols: int = 4, background: np.ndarray | None = None,
                  colorscale: str = SEQUENTIAL, shared: bool = True, zmin: float | None = None,
                  zmax: float | None = None, zmid: float | None = None, opacity: float | None = None,
                  colorbar_title: str = "value", hover: str = "value", customdata=None, hovertemplates=None,
                  text=None, marker=None, marker_color: str = "red", height: int | None = None,
                  min_width: int = MIN_WIDTH, colorbar: bool = True) -> None:
    """Show ``maps`` as a grid of small square figures, ``cols`` per row on a desktop and as many
    as fit ``min_width`` on a narrow screen, with one colour bar below (see the module docstring)."""
    maps = [np.asarray(m, dtype=float) for m in maps]
    n = len(maps)
    if n == 0:
        return
    titles = list(titles)
    lines = _title_lines(titles)
    height = height or (190 + LINE_PX * lines)
    if shared:
        finite = np.concatenate([m[np.isfinite(m)].ravel() for m in maps] + [np.zeros(0)])
        lo = float(finite.min()) if zmin is None and finite.size else zmin
        hi = float(finite.max()) if zmax is None and finite.size else zmax
        lo, hi = (0.0 if lo is None else lo), (1.0 if hi is None else hi)
        if zmid is not None and (zmin is None or zmax is None):
            half = max(abs(hi - zmid), abs(lo - zmid)) or 1e-12
            lo, hi = zmid - half, zmid + half
    custom, templates, texts, markers = (_per_map(v, n, name) for v, name in (
        (customdata, "customdata"), (hovertemplates, "hovertemplates"), (text, "text"), (marker, "marker")))
    with st.container(key=key):
        grid = st.grid(min(cols, n), min_column_width=min_width, gap="small", key=f"{key}_grid")
        for i, m in enumerate(maps):
            if shared:
                a, b = lo, hi
            else:                                       # each map on its own range
                fin = m[np.isfinite(m)]
                a, b = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
            fig = map_figure(m, titles[i] if i < len(titles) else "", background=background, colorscale=colorscale,
                             zmin=a, zmax=b, zmid=zmid if shared else None, opacity=opacity, hover=hover,
                             customdata=custom[i], hovertemplate=templates[i], text=texts[i], marker=markers[i],
                             marker_color=marker_color, height=height, title_lines=lines)
            grid.plotly_chart(fig, key=f"{key}_{i}", config=CONFIG)
        if not colorbar:
            return
        if shared:
            bar = colorbar_figure(colorscale, lo, hi, colorbar_title, zmid=zmid)
        else:
            bar = colorbar_figure(colorscale, 0.0, 1.0, colorbar_title, ticks=("low", "high within each map"))
        with st.container(width=480):                   # the screen's width on a phone, 480 px on a desktop
            st.plotly_chart(bar, key=f"{key}_colorbar", config=CONFIG)
