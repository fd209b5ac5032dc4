"""The Attributions page's panels (the page lays them out and writes the prose): the grid of maps
in the chosen view and Integrated Gradients' completeness check (Sundararajan et al., 2017)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard.map_grid import show_map_grid
from dashboard.palette import DIVERGING


def show_maps(shown: dict[str, np.ndarray], labels: list[str], zmax: float, image: np.ndarray, view: str,
              sign: str, normalise: bool, key: str, cols: int) -> None:
    """The maps on one scale: a heatmap, an overlay on the digit, or the digit dimmed where a map is low
    ("masked"; hover shows the score)."""
    if view == "masked":
        show_map_grid([image * np.clip(np.abs(a) / zmax, 0, 1) for a in shown.values()], labels, key,
                      cols=cols, colorscale="gray", shared=True, zmin=0.0, zmax=1.0, colorbar=False,
                      customdata=list(shown.values()),
                      hovertemplates=[f"{t}<br>row %{{y}}, col %{{x}}: %{{customdata:.3f}}<extra></extra>"
                                      for t in labels])
        return
    signed = sign == "signed"
    show_map_grid(list(shown.values()), labels, key, cols=cols,
                  background=image if view == "overlay" else None, opacity=0.65 if view == "overlay" else 1.0,
                  colorscale=DIVERGING if signed else ("Blues" if sign == "negative" else "Reds"),
                  shared=True, zmin=-zmax if signed else 0.0, zmax=zmax, hover="score",
                  colorbar_title="score" if not normalise else "share of range")


def ig_completeness(result) -> None:
    """Sum of Integrated Gradients' attributions beside the score change they should add up to."""
    extra = result.extra
    c1, c2, c3 = st.columns(3)
    c1.metric("Sum of attributions", f"{float(result.map.sum()):.3f}")
    c2.metric("Score change (digit - baseline)", f"{extra['logit_input'] - extra['logit_baseline']:.3f}")
    c3.metric("Convergence delta", f"{extra['convergence_delta']:.1e}")


def compute_maps(model, image: np.ndarray, target: int, chosen: dict[str, dict]) -> dict:
    """Each chosen method's attribution (from the one cache); an invalid combination of settings (e.g.
    stride > window) is a one-line warning naming the method instead of a map."""
    from dashboard import cache
    from model import explain as E

    results = {}
    with st.spinner("Computing attributions..."):
        for m, settings in chosen.items():
            try:
                results[m] = cache.compute(E.explain, model, image, int(target), m, **settings)
            except ValueError as exc:
                st.warning(f"{E.METHODS[m].label}: {exc}")
    return results
