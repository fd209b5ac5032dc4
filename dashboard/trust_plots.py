"""Figures and tables of the Trust page (computation in :mod:`model.explain.trust`): the cascade of
maps (Adebayo et al., 2018), the similarity curves on |map| and signed maps, the evidence behind
the ranking, the per-test table and the test-set summary (old summaries without the sMPRT/eMPRT
columns show them as empty)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.map_grid import show_map_grid
from model.explain import METHODS
from model.explain import trust as T

LINE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
EVIDENCE = ("randomisation", "random_logit", "faithfulness", "robustness")


def show_cascade(r: T.MethodTrust, key: str) -> None:
    """One method's row: the original map, then the map after each step, as a map grid; each map is
    |map| over its own 98th percentile."""
    maps = [r.map] + [c.map for c in r.cascade]
    titles = ["original"] + [f"{c.step} ρ={c.spearman:.2f}" for c in r.cascade]
    scaled = []
    for m in maps:
        a = np.abs(m.astype(np.float64))                                      # (28, 28)
        scaled.append(np.clip(a / (np.percentile(a, 98) or a.max() or 1.0), 0, 1))
    show_map_grid(scaled, titles, key, cols=len(scaled), colorscale="Reds", zmin=0, zmax=1,
                  hover="|map| (scaled)", colorbar=False)


def similarity_figure(res: dict[str, T.MethodTrust], steps: list[str]) -> go.Figure:
    """Spearman with the original map after each step, of |map| (the original test) and signed."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["Spearman of |map| with the original", "Spearman of the signed maps"])
    x = ["original"] + steps
    for m, r in res.items():
        color = LINE_COLORS[list(METHODS).index(m) % len(LINE_COLORS)]
        rows = ((1, [1.0] + [c.spearman for c in r.cascade]), (2, [1.0] + [c.spearman_signed for c in r.cascade]))
        for row, ys in rows:
            fig.add_trace(go.Scatter(x=x, y=ys, mode="lines+markers", name=METHODS[m].label, legendgroup=m,
                                     showlegend=row == 1, line=dict(color=color),
                                     hovertemplate=f"{METHODS[m].label}<br>%{{x}}: %{{y:.2f}}<extra></extra>"),
                          row=row, col=1)
    fig.add_hline(y=T.PASS_THRESHOLD, line_dash="dash", line_color="#9e9e9e")
    fig.update_yaxes(range=[-1.05, 1.05])
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.15))
    return fig


def evidence_figure(rep: T.TrustReport) -> go.Figure:
    """The ranking: each method's four evidence scores (stacked, each out of 1/4 of the total)."""
    labels = [METHODS[m].label for m in rep.ranking][::-1]
    fig = go.Figure()
    for k, color in zip(EVIDENCE, ("#4c72b0", "#dd8452", "#55a868", "#8172b3")):
        vals = [T.evidence(rep.methods[m])[k] / 4 for m in rep.ranking][::-1]
        fig.add_trace(go.Bar(y=labels, x=vals, name=k.replace("_", " "), orientation="h", marker_color=color,
                             hovertemplate=f"%{{y}}: {k} %{{x:.2f}} of the total<extra></extra>"))
    fig.update_layout(barmode="stack", height=60 + 32 * len(labels), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(range=[0, 1], title="total evidence (mean of four scores)"),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def tests_frame(rep: T.TrustReport) -> pd.DataFrame:
    """One row per method in ranking order: each test's value and whether it passes."""
    rows = []
    for m in rep.ranking:
        r = rep.methods[m]
        t = r.tests()
        mark = {True: "✓", False: "✗"}
        rows.append({"method": METHODS[m].label,
                     "MPRT |map| ρ after top block": f"{r.cascade[1].spearman:.2f} {mark[t['mprt']]}",
                     "MPRT signed ρ": f"{r.cascade[1].spearman_signed:.2f} {mark[t['mprt_signed']]}",
                     "sMPRT ρ ↓": f"{r.smprt:.2f} {mark[t['smprt']]}",
                     "eMPRT ↑": f"{r.emprt:+.2f} {mark[t['emprt']]}",
                     "random logit ρ ↓": f"{r.random_logit_spearman:.2f} {mark[t['random_logit']]}",
                     "evidence": T.evidence(r)["total"]})
    return pd.DataFrame(rows)


def scores_frame(rep: T.TrustReport) -> pd.DataFrame:
    """The raw scores, one row per method."""
    rows = []
    for m in rep.ranking:
        r = rep.methods[m]
        rows.append({"method": METHODS[m].label, "deletion AUC ↓": r.scores["deletion_auc"],
                     "insertion AUC ↑": r.scores["insertion_auc"],
                     "faithfulness corr. ↑": r.scores["faithfulness_correlation"],
                     "max-sensitivity ↓": r.max_sensitivity, "sparseness": r.sparseness,
                     "sMPRT ↓": r.smprt, "eMPRT ↑": r.emprt, "random-logit ρ": r.random_logit_spearman,
                     "IG |delta|": r.completeness if r.completeness is not None else np.nan,
                     "seconds": r.seconds})
    return pd.DataFrame(rows)


def summary_frame(summary: dict) -> pd.DataFrame:
    """The test-set summary; columns missing from an older summary are left empty (NaN)."""
    rows = []
    for r in summary["methods"].values():
        rows.append({"method": r["label"], "MPRT |map| pass": r["pass_rate"],
                     "MPRT signed pass": r.get("signed_pass_rate", np.nan),
                     "sMPRT pass": r.get("smprt_pass_rate", np.nan), "median sMPRT": r.get("median_smprt", np.nan),
                     "eMPRT pass": r.get("emprt_pass_rate", np.nan), "median eMPRT": r.get("median_emprt", np.nan),
                     "median random-logit ρ": r["median_random_logit_spearman"],
                     "ranked first": r.get("best_rate", np.nan)})
    return pd.DataFrame(rows)
