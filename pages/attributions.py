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

import streamlit as st

from dashboard import cache, resources
from dashboard.attribution_plots import faithfulness_figures, faithfulness_table, faithfulness_verdict
from dashboard.attribution_views import compute_maps, ig_completeness, show_maps
from dashboard.headline import headline, sentence
from dashboard.palette import PLOT_CONFIG
from dashboard.state import require_current
from dashboard.trust_badge import render_badges
from dashboard.widgets import method_settings
from model import explain as E
from model.maps import shown_maps

DEFAULT_METHODS = ["integrated_gradients", "saliency", "occlusion", "gradient_rollout"]
COLS = 3

st.title("Attributions: which pixels drive the answer")
st.caption("Attribution methods give every pixel a score for how much it pushed the transformer towards (or away "
           "from) a class. Different methods disagree, so the last section measures which explanation is most "
           "faithful to what the model actually does on this digit.")

cur = require_current("attr_use_test")

model = resources.load_vit()
img = cur.image
head = headline(model, img)
probs, pred = head.probabilities, head.digit
st.caption(sentence(cur.source, head))

# ---- choices ------------------------------------------------------------------------------------
c1, c2, c3 = st.columns([1, 2, 1])
with c1:
    target = st.selectbox("Explain the class", list(range(10)), index=pred, key="attr_target",
                          format_func=lambda t: (f"{t} (predicted, {probs[t]:.0%})" if t == pred
                                                 else f"{t} ({probs[t]:.1%})"),
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

chosen = method_settings(model, methods, {"baseline": baseline_choice}, COLS)   # one baseline for every method

results = compute_maps(model, img, target, {m: chosen[m] for m in methods})

# ---- maps -----------------------------------------------------------------------------------------
st.subheader("The maps")
if not results:
    st.info("Choose at least one method above.")
c1, c2, c3 = st.columns(3)
with c1:
    view = st.radio("View", ["heatmap", "overlay", "masked"], horizontal=True, key="attr_view",
                    help="Heatmap: the scores alone. Overlay: over the digit. Masked: the digit dimmed where "
                         "scores are low.")
with c2:
    sign = st.radio("Show", ["signed", "positive", "negative", "absolute"], horizontal=True, key="attr_sign")
with c3:
    normalise = st.toggle("Scale each map to its own range", value=True, key="attr_normalise",
                          help="On: every map is divided by its 98th percentile of |value| (as Captum's "
                               "visualisation does), so methods with different units share one colour scale. Off: "
                               "raw values on one range (only comparable between methods with the same units).")

shown, zmax = shown_maps({m: r.map for m, r in results.items()}, sign, normalise)
if shown:
    show_maps(shown, [E.METHODS[m].label for m in shown], zmax, img, view, sign, normalise, "attr_maps", COLS)
    if view == "masked":
        st.caption("Masked: each pixel of the digit is dimmed in proportion to how little it scores; what stays "
                   "bright is what the method says matters (bright = important, black = unimportant or no ink).")
    elif sign == "signed":
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
    st.markdown("**Integrated Gradients: does it add up?**")
    ig_completeness(results["integrated_gradients"])
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
    f = cache.faithfulness(model, img, target, runs, unit, steps, baseline)
    # two figures side by side on a desktop, one above the other on a phone (st.grid reflows)
    grid = st.grid(2, min_column_width=300, key="attr_faith_fig")
    for verb, fig in faithfulness_figures(f, target, unit):
        grid.plotly_chart(fig, key=f"attr_faith_{verb}", config=PLOT_CONFIG)
    table = faithfulness_table(f)
    st.dataframe(table, hide_index=True, key="attr_faith_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[1:]})
    trustworthy, verdict = faithfulness_verdict(f, target)
    (st.success if trustworthy else st.warning)(verdict)
    st.caption("Scores are for this one digit, class and removal setting; another digit can rank the methods "
               "differently.")


faithfulness_view()
