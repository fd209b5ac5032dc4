"""The Attributions page's figures and tables (the page only lays them out): deletion and
insertion curves with their areas (Petsiuk et al., 2018, "RISE"). Pure functions of the results
of :mod:`model.explain`; no Streamlit calls here."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.palette import REFERENCE, SERIES
from model import explain as E


def _label(name: str) -> str:
    return "random order" if name == "random" else E.METHODS[name].label


def faithfulness_figures(f, target: int, unit: str) -> list[tuple[str, go.Figure]]:
    """(verb, figure) for the deletion and the insertion curves of ``f`` (:class:`model.explain.Faithfulness`):
    one line per method, the random order dashed grey as a yardstick."""
    out = []
    for which, curves, verb in (("Deletion (lower is better)", f.deletion, "removed"),
                                ("Insertion (higher is better)", f.insertion, "inserted")):
        fig = go.Figure()
        for i, name in enumerate(curves):
            label = _label(name)
            style = dict(color=REFERENCE, dash="dash") if name == "random" else dict(color=SERIES[i % len(SERIES)])
            fig.add_trace(go.Scatter(x=f.fractions, y=curves[name], mode="lines", name=label, line=style,
                                     legendgroup=name, hovertemplate=f"{label}<br>%{{x:.0%}} {unit}s: "
                                                                     f"P({target}) = %{{y:.3f}}<extra></extra>"))
        fig.update_xaxes(title=f"fraction of {unit}s {verb}", tickformat=".0%")
        fig.update_yaxes(title=f"P({target})", range=[0, 1.02])
        fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=10), title=dict(text=which, font_size=14),
                          legend=dict(orientation="h", y=-0.25))
        out.append((verb, fig))
    return out


def faithfulness_table(f) -> pd.DataFrame:
    """Areas under the curves per method, the most faithful (insertion - deletion) first."""
    return pd.DataFrame([{
        "method": _label(n),
        "deletion AUC (lower better)": a["deletion"],
        "insertion AUC (higher better)": a["insertion"],
        "insertion - deletion": a["score"],
    } for n, a in f.auc.items()]).sort_values("insertion - deletion", ascending=False)


def faithfulness_verdict(f, target: int) -> tuple[bool, str]:
    """(trustworthy, sentence): the most faithful method for this digit and class, against a random order."""
    best, rnd = f.best, f.auc.get("random", {}).get("score")
    msg = (f"Most faithful for this digit and class {target}: **{E.METHODS[best].label}** "
           f"(insertion - deletion = {f.auc[best]['score']:.3f}")
    msg += f"; random order: {rnd:.3f})." if rnd is not None else ")."
    if rnd is not None and f.auc[best]["score"] <= rnd:
        return False, msg + (" No method beats a random order here, so none of these maps should be trusted for "
                             "this digit.")
    return True, msg
