"""Attributions page: which pixels drive the transformer's answer, by several methods, and
which of those explanations is most faithful for this digit.

The method menu, each method's settings, source and caption come from the one registry
``model.explain.METHODS`` (Captum's IntegratedGradients, Saliency, InputXGradient, Occlusion;
GradientShap and NoiseTunnel with per-call seeds; attention rollout and Chefer et al.'s
class-specific relevance for comparison). Faithfulness: deletion and insertion curves
(Petsiuk et al., 2018, "RISE") from ``model.explain.faithfulness``.

Render only: one call into ``model.explain`` per method (cached per digit and settings).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import resources, shared_cache
from dashboard.map_grid import show_map_grid
from dashboard.trust_badge import render_badges
from dashboard.state import require_current
from model import explain as E

CONFIG = {"displayModeBar": False}
DEFAULT_METHODS = ["integrated_gradients", "saliency", "occlusion", "gradient_rollout"]
COLS = 3
OUTLIER_PERC = 2.0   # as captum.attr.visualization: scale by the 98th percentile of |values|, clip the rest
LINE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

st.title("Attributions: which pixels drive the answer")
st.caption("Attribution methods give every pixel a score for how much it pushed the transformer towards (or away "
           "from) a class. Different methods disagree, so the last section measures which explanation is most "
           "faithful to what the model actually does on this digit.")

cur = require_current("attr_use_test")

model = resources.load_vit()
img = cur.image
img_bytes = shared_cache.image_key(img)
MODEL_KEY = id(model)   # the cached model lives as long as the process; a reloaded one gets a new id


# computed once per process for everyone who asks with the same digit and settings
_explain, _faithfulness = shared_cache.explain, shared_cache.faithfulness


probs = E.predict(model, img)
pred = int(probs.argmax())
st.caption(f"Current digit: {cur.source}. The transformer says **{pred}** ({probs[pred]:.1%}).")

# ---- choices ------------------------------------------------------------------------------------
c1, c2, c3 = st.columns([1, 2, 1])
with c1:
    target = st.selectbox("Explain the class", list(range(10)), index=pred, key="attr_target",
                          format_func=lambda t: f"{t} (predicted, {probs[t]:.0%})" if t == pred else f"{t} ({probs[t]:.1%})",
                          help="The predicted digit by default. Pick another to ask 'why not a 3?'.")
with c2:
    methods = st.multiselect("Methods", list(E.METHODS), default=DEFAULT_METHODS, key="attr_methods",
                             format_func=lambda m: E.METHODS[m].label)
with c3:
    baseline_choice = st.selectbox(
        "Baseline", list(E.BASELINES), key="attr_baseline",
        format_func={"black": "black (no ink)", "blurred": "blurred digit", "noise": "uniform noise"}.get,
        help="The input that means 'no evidence' for Integrated Gradients, GradientShap and Occlusion: "
             "attributions explain the difference between the digit and this baseline.")
if target != pred:
    st.caption(f"Explaining **{target}**, which the model does not predict: red pixels are evidence *for* {target}, "
               f"blue pixels evidence against it.")


def setting_widget(method: str, s: E.Setting):
    if s.name == "baseline":   # one choice for every method above
        return baseline_choice
    key = f"attr_{method}_{s.name}"
    if s.kind == "int" and s.max - s.min > 1000:   # e.g. a random seed
        return st.number_input(s.label, int(s.min), int(s.max), int(s.default), 1, key=key, help=s.help or None)
    if s.kind == "int":
        return st.slider(s.label, int(s.min), int(s.max), int(s.default), int(s.step or 1), key=key, help=s.help or None)
    if s.kind == "float":
        return st.slider(s.label, float(s.min), float(s.max), float(s.default), float(s.step or 0.05), key=key,
                         help=s.help or None)
    if s.kind == "bool":
        return st.checkbox(s.label, value=bool(s.default), key=key, help=s.help or None)
    options = list(s.options)
    fmt = (lambda o: f"{'layer' if s.name == 'layer' else 'head'} {o + 1}" if isinstance(o, int) else str(o))
    if method == "noise_tunnel" and s.name == "base":
        fmt = lambda o: E.METHODS[o].label  # noqa: E731
    return st.selectbox(s.label, options, index=options.index(s.default), key=key, format_func=fmt, help=s.help or None)


chosen: dict[str, dict] = {}
if methods:
    with st.expander("Method settings", expanded=False):
        cols = st.columns(min(len(methods), COLS))
        for i, m in enumerate(methods):
            spec = E.METHODS[m]
            with cols[i % len(cols)]:
                st.markdown(f"**{spec.label}**")
                values = {s.name: setting_widget(m, s) for s in spec.resolved_settings(model)}
                if m == "noise_tunnel":
                    base = values["base"]
                    for s in E.METHODS[base].settings:
                        if s.name not in values:
                            values[s.name] = setting_widget(f"nt_{base}", s)
                    if base == "integrated_gradients":
                        st.caption(f"Cost: {values['nt_samples']} x {values['steps']} = "
                                   f"{values['nt_samples'] * values['steps']} gradient passes (about one second "
                                   "per 800 here); fewer steps are usually enough when averaging.")
                if not spec.settings:
                    st.caption("No settings.")
                chosen[m] = values

# ---- compute --------------------------------------------------------------------------------------
results: dict[str, tuple[np.ndarray, dict]] = {}
errors: dict[str, str] = {}
with st.spinner("Computing attributions..."):
    for m in methods:
        try:
            results[m] = _explain(model, MODEL_KEY, img_bytes, target, m, tuple(sorted(chosen[m].items())))
        except ValueError as exc:   # an invalid combination of settings (e.g. stride > window)
            errors[m] = str(exc)
for m, msg in errors.items():
    st.warning(f"{E.METHODS[m].label}: {msg}")

# ---- maps -----------------------------------------------------------------------------------------
st.subheader("The maps")
if not results:
    st.info("Choose at least one method above.")
c1, c2, c3 = st.columns(3)
with c1:
    view = st.radio("View", ["heatmap", "overlay", "masked"], horizontal=True, key="attr_view",
                    help="Heatmap: the scores alone. Overlay: over the digit. Masked: the digit dimmed where scores are low.")
with c2:
    sign = st.radio("Show", ["signed", "positive", "negative", "absolute"], horizontal=True, key="attr_sign")
with c3:
    normalise = st.toggle("Scale each map to its own range", value=True, key="attr_normalise",
                          help="On: every map is divided by its 98th percentile of |value| (as Captum's "
                               "visualisation does), so methods with different units share one colour scale. Off: "
                               "raw values on one range (only comparable between methods with the same units).")


def transform(a: np.ndarray) -> np.ndarray:
    if sign == "positive":
        return np.clip(a, 0, None)
    if sign == "negative":
        return np.clip(-a, 0, None)
    if sign == "absolute":
        return np.abs(a)
    return a


shown = {m: transform(results[m][0].astype(np.float64)) for m in results}
if normalise:
    for m, a in shown.items():
        scale = np.percentile(np.abs(a), 100 - OUTLIER_PERC)
        scale = scale if scale > 0 else (np.abs(a).max() or 1.0)
        shown[m] = np.clip(a / scale, -1, 1)
zmax = max([float(np.abs(a).max()) for a in shown.values()] + [1e-12])
signed_scale = sign == "signed"

if shown:
    labels = [E.METHODS[m].label for m in shown]
    if view == "masked":           # the digit dimmed where the method scores low; hover shows the score
        show_map_grid([img * np.clip(np.abs(a) / zmax, 0, 1) for a in shown.values()], labels, "attr_maps",
                      cols=COLS, colorscale="gray", shared=True, zmin=0.0, zmax=1.0, colorbar=False,
                      customdata=list(shown.values()),
                      hovertemplates=[f"{t}<br>row %{{y}}, col %{{x}}: %{{customdata:.3f}}<extra></extra>"
                                      for t in labels])
    else:
        show_map_grid(list(shown.values()), labels, "attr_maps", cols=COLS,
                      background=img if view == "overlay" else None, opacity=0.65 if view == "overlay" else 1.0,
                      colorscale="RdBu_r" if signed_scale else ("Blues" if sign == "negative" else "Reds"),
                      shared=True, zmin=-zmax if signed_scale else 0.0, zmax=zmax, hover="score",
                      colorbar_title="score" if not normalise else "share of range")
    if view == "masked":
        st.caption("Masked: each pixel of the digit is dimmed in proportion to how little it scores; what stays "
                   "bright is what the method says matters (bright = important, black = unimportant or no ink).")
    elif signed_scale:
        st.caption("Red = the pixel raises the score of the explained class, blue = it lowers it, white = no effect. "
                   "Attention-based maps are never negative, so they show red only.")
    else:
        st.caption(f"Showing the {sign} part only: darker = larger; white = zero.")
    render_badges(model, img, list(shown), target)
    with st.expander("How to read each map", expanded=len(shown) == 1):
        for m in shown:
            spec = E.METHODS[m]
            st.markdown(f"**{spec.label}** ({spec.source}). {spec.caption}")
            if not spec.class_specific:
                st.caption("This map is the same whatever class you explain.")

if "integrated_gradients" in results:
    extra = results["integrated_gradients"][1]
    total = float(results["integrated_gradients"][0].sum())
    st.markdown("**Integrated Gradients: does it add up?**")
    c1, c2, c3 = st.columns(3)
    c1.metric("Sum of attributions", f"{total:.3f}")
    c2.metric("Score change (digit - baseline)", f"{extra['logit_input'] - extra['logit_baseline']:.3f}")
    c3.metric("Convergence delta", f"{extra['convergence_delta']:.1e}")
    st.caption("Completeness (Sundararajan et al., 2017): the attributions should add up to the change in the class's "
               "score (logit) between the baseline and the digit. The convergence delta is what is left over; "
               "if it is large compared with the score change, raise the number of steps.")


# ---- faithfulness ---------------------------------------------------------------------------------
@st.fragment
def faithfulness_view() -> None:
    st.subheader("Which explanation is faithful?")
    st.caption("Deletion and insertion (Petsiuk et al., 2018, 'RISE'): remove the pixels each method ranks most "
               "important first and watch the probability of the class fall (a faithful map makes it fall fast: low "
               "area under the curve), or start from a blank image and add them back (it should rise fast: high area). "
               "The dashed grey line uses a random order as a yardstick.")
    if not results:
        st.info("Choose at least one method above.")
        return
    c1, c2, c3 = st.columns(3)
    with c1:
        unit = st.radio("Remove", ["pixel", "patch"], horizontal=True, key="attr_faith_unit",
                        format_func=lambda u: "pixels" if u == "pixel" else "4x4 patches")
    with c2:
        steps = st.slider("Steps", 5, 49, 20, key="attr_faith_steps")
    with c3:
        baseline = st.selectbox("Removed pixels become", ["black", "blurred"], key="attr_faith_baseline",
                                format_func=lambda b: "black (no ink)" if b == "black" else "the blurred digit")
    runs = tuple((m, tuple(sorted(chosen[m].items()))) for m in results)
    f = _faithfulness(model, MODEL_KEY, img_bytes, target, runs, unit, steps, baseline)
    x = f.fractions
    # two figures side by side on a desktop, one above the other on a phone (st.grid reflows)
    grid = st.grid(2, min_column_width=300, key="attr_faith_fig")
    for which, curves, verb in (("Deletion (lower is better)", f.deletion, "removed"),
                                ("Insertion (higher is better)", f.insertion, "inserted")):
        fig = go.Figure()
        for i, name in enumerate(curves):
            label = "random order" if name == "random" else E.METHODS[name].label
            style = dict(color="#9e9e9e", dash="dash") if name == "random" else dict(color=LINE_COLORS[i % len(LINE_COLORS)])
            fig.add_trace(go.Scatter(x=x, y=curves[name], mode="lines", name=label, line=style, legendgroup=name,
                                     hovertemplate=f"{label}<br>%{{x:.0%}} {unit}s: P({target}) = %{{y:.3f}}<extra></extra>"))
        fig.update_xaxes(title=f"fraction of {unit}s {verb}", tickformat=".0%")
        fig.update_yaxes(title=f"P({target})", range=[0, 1.02])
        fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=10), title=dict(text=which, font_size=14),
                          legend=dict(orientation="h", y=-0.25))
        grid.plotly_chart(fig, key=f"attr_faith_{verb}", config=CONFIG)
    table = pd.DataFrame([{
        "method": "random order" if n == "random" else E.METHODS[n].label,
        "deletion AUC (lower better)": a["deletion"],
        "insertion AUC (higher better)": a["insertion"],
        "insertion - deletion": a["score"],
    } for n, a in f.auc.items()]).sort_values("insertion - deletion", ascending=False)
    st.dataframe(table, hide_index=True, key="attr_faith_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[1:]})
    best = f.best
    rnd = f.auc.get("random", {}).get("score")
    msg = (f"Most faithful for this digit and class {target}: **{E.METHODS[best].label}** "
           f"(insertion - deletion = {f.auc[best]['score']:.3f}")
    msg += f"; random order: {rnd:.3f})." if rnd is not None else ")."
    if rnd is not None and f.auc[best]["score"] <= rnd:
        st.warning(msg + " No method beats a random order here, so none of these maps should be trusted for this digit.")
    else:
        st.success(msg)
    st.caption("Scores are for this one digit, class and removal setting; another digit can rank the methods differently.")


faithfulness_view()
