"""Trust page: can I trust this map? Sanity checks and a scorecard for every attribution method
of the Attributions page, on the current digit.

Cascading model randomisation (Adebayo et al., 2018), the random-logit test (Sixt et al., 2020)
and the scorecard (deletion/insertion, Petsiuk et al., 2018; faithfulness correlation, Bhatt et
al., 2020; max-sensitivity, Yeh et al., 2019; sparseness, Chalasani et al., 2020; as in Quantus,
Hedström et al., 2023) come from ``model.explain.trust``. Results appear method by method as
they are computed (each call cached per digit, class and method).

Render only.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard import resources
from dashboard.map_grid import show_map_grid
from dashboard.state import require_current
from model import explain as E
from model.explain import trust as T

CONFIG = {"displayModeBar": False}
LINE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

st.title("Trust: can I believe this map?")
st.caption("The Attributions page shows what each method says. This page asks whether a map says anything about "
           "the *model* at all. Adebayo et al. (2018, 'Sanity Checks for Saliency Maps') showed that some popular "
           "maps barely change when the model's weights are replaced by random ones: they behave like edge "
           "detectors. Here those checks, and the metrics collected by Quantus (Hedström et al., 2023), run live "
           "on your digit.")

cur = require_current("trust_use_test")

model = resources.load_vit()
img = cur.image
img_bytes = np.ascontiguousarray(img, dtype=np.float32).tobytes()
MODEL_KEY = id(model)   # the cached model lives as long as the process; a reloaded one gets a new id


def _image(image_bytes: bytes) -> np.ndarray:
    return np.frombuffer(image_bytes, dtype=np.float32).reshape(28, 28)


@st.cache_data(max_entries=256, show_spinner=False)
def _method(_model, model_key: int, image_bytes: bytes, target: int, method: str) -> T.MethodTrust:
    return T.method_trust(_model, _image(image_bytes), target, method, sensitivity=False)


@st.cache_data(max_entries=256, show_spinner=False)
def _sensitivity(_model, model_key: int, image_bytes: bytes, target: int, method: str) -> T.MethodTrust:
    res = _method(_model, model_key, image_bytes, target, method)
    return T.add_sensitivity(_model, _image(image_bytes), T.MethodTrust(**vars(res)))


@st.cache_data(max_entries=32, show_spinner=False)
def _shared(_model, model_key: int, image_bytes: bytes, target: int, methods: tuple) -> tuple[dict, float]:
    import time

    t0 = time.perf_counter()
    maps = {m: _method(_model, model_key, image_bytes, target, m).map for m in methods}
    return T.shared_scores(_model, _image(image_bytes), target, maps), time.perf_counter() - t0


probs = E.predict(model, img)
pred = int(probs.argmax())
st.caption(f"Current digit: {cur.source}. The transformer says **{pred}** ({probs[pred]:.1%}).")

c1, c2 = st.columns([1, 3])
with c1:
    target = st.selectbox("Explain the class", list(range(10)), index=pred, key="trust_target",
                          format_func=lambda t: f"{t} (predicted)" if t == pred else str(t))
with c2:
    methods = st.multiselect("Methods", list(E.METHODS), default=list(T.TRUST_METHODS), key="trust_methods",
                             format_func=lambda m: E.METHODS[m].label)
lighter = ", ".join(f"{E.METHODS[m].label} with " + ", ".join(f"{k} = {v}" for k, v in s.items())
                    for m, s in T.TRUST_SETTINGS.items())
st.caption(f"To run live, the expensive methods use lighter settings than their defaults here: {lighter}. "
           "Every other setting is the method's default.")
if not methods:
    st.info("Choose at least one method above.")
    st.stop()

# ---- cascade -------------------------------------------------------------------------------------
st.subheader("1. Randomise the model, top down")
steps = list(T.cascade_steps(model))
st.caption("Cascading model-parameter randomisation (Adebayo et al., 2018, Sec. 3.1): the weights of the head, then "
           "block 4, block 3 ... and finally the stem are replaced by random numbers (Gaussian, with the same mean and "
           "spread as the trained weights), one more part at each step, and the map is computed again for the same "
           "digit and class. Each row is one method: the original map on the left, then the map after each step. "
           "A map that explains the model must change once the model's learned weights are gone. Similarity to the "
           "original: Spearman rank correlation of absolute values (1 = same ranking of pixels) and SSIM "
           "(structural similarity, Wang et al., 2004).")
st.info(f"**Rule for the badge.** {T.RULE} The head and the top block are where this transformer decides between "
        "classes, so a map that survives their loss is not showing that decision.")
st.caption("Why Integrated Gradients, Input x Gradient and Occlusion often fail here: with a black baseline their map "
           "is exactly zero wherever there is no ink, whatever the weights, so the ranking of pixels is mostly "
           "'ink before background' and stays the same. Adebayo et al. saw the same for Gradient x Input: the "
           "input dominates the map.")

progress = st.progress(0.0, text="Randomising the model and recomputing every map...")
rows_box = st.container()     # one row of maps per method, full width so that a row fits one line
chart_slot = st.empty()       # below the rows: the similarity chart, redrawn as each method comes in
results: dict[str, T.MethodTrust] = {}


def show_cascade(r: T.MethodTrust, key: str) -> None:
    """One method's row: the original map, then the map after each step, as a map grid (one row on
    a wide screen, two maps a row on a phone); each map is |map| over its own 98th percentile."""
    maps = [r.map] + [c.map for c in r.cascade]
    titles = ["original"] + [f"{c.step} ρ={c.spearman:.2f}" for c in r.cascade]
    scaled = []
    for m in maps:
        a = np.abs(m.astype(np.float64))                                      # (28, 28)
        scaled.append(np.clip(a / (np.percentile(a, 98) or a.max() or 1.0), 0, 1))
    show_map_grid(scaled, titles, key, cols=len(scaled), colorscale="Reds", zmin=0, zmax=1,
                  hover="|map| (scaled)", colorbar=False)


def similarity_figure(res: dict[str, T.MethodTrust]) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["Spearman of |map| with the original", "SSIM with the original"])
    x = ["original"] + steps
    for i, (m, r) in enumerate(res.items()):
        color = LINE_COLORS[list(E.METHODS).index(m) % len(LINE_COLORS)]
        for row, ys in ((1, [1.0] + [c.spearman for c in r.cascade]), (2, [1.0] + [c.ssim for c in r.cascade])):
            fig.add_trace(go.Scatter(x=x, y=ys, mode="lines+markers", name=E.METHODS[m].label, legendgroup=m,
                                     showlegend=row == 1, line=dict(color=color),
                                     hovertemplate=f"{E.METHODS[m].label}<br>%{{x}}: %{{y:.2f}}<extra></extra>"),
                          row=row, col=1)
    fig.add_hline(y=T.PASS_THRESHOLD, line_dash="dash", line_color="#9e9e9e", row=1, col=1)
    fig.update_yaxes(range=[-1.05, 1.05])
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.15))
    return fig


def badge(r: T.MethodTrust) -> str:
    if r.passes:
        return ":green-badge[:material/check: passes]"
    if r.first_drop is not None:
        return f":orange-badge[:material/warning: changes only from {r.first_drop}]"
    return ":red-badge[:material/close: fails: survives random weights]"


for i, m in enumerate(methods):
    r = _method(model, MODEL_KEY, img_bytes, target, m)
    results[m] = r
    with rows_box:
        st.markdown(f"{badge(r)} **{E.METHODS[m].label}**")
        show_cascade(r, f"trust_cascade_{m}")
    chart_slot.plotly_chart(similarity_figure(results), key=f"trust_similarity_{i}", config=CONFIG)
    progress.progress((i + 1) / (2 * len(methods)), text=f"Randomisation test: {E.METHODS[m].label} done")

# ---- scorecard ---------------------------------------------------------------------------------------
st.subheader("2. Scorecard")
progress.progress(0.5, text="Scorecard: deletion, insertion and faithfulness correlation...")
shared, shared_seconds = _shared(model, MODEL_KEY, img_bytes, target, tuple(methods))
full: dict[str, T.MethodTrust] = {}
for i, m in enumerate(methods):
    full[m] = _sensitivity(model, MODEL_KEY, img_bytes, target, m)
    progress.progress(0.5 + (i + 1) / (2 * len(methods)), text=f"Scorecard: {E.METHODS[m].label} done")
progress.empty()

rows = []
for m, r in full.items():
    s = shared[m]
    rows.append({
        "method": E.METHODS[m].label,
        "randomisation": "pass" if r.passes else ("partial" if r.first_drop else "fail"),
        "ρ after top block": r.cascade[1].spearman if len(r.cascade) > 1 else np.nan,
        "random-logit ρ": r.random_logit_spearman,
        "deletion AUC ↓": s["deletion_auc"],
        "insertion AUC ↑": s["insertion_auc"],
        "faithfulness corr. ↑": s["faithfulness_correlation"],
        "max-sensitivity ↓": r.max_sensitivity,
        "sparseness": r.sparseness,
        "IG |delta|": r.completeness if r.completeness is not None else np.nan,
        "seconds": r.seconds + shared_seconds / len(full),
    })
table = pd.DataFrame(rows)
st.dataframe(table, hide_index=True, key="trust_table",
             column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[2:]})
other = next(iter(full.values())).random_class
st.caption(
    "How to read this. ↓ = lower is better, ↑ = higher is better; ρ = Spearman rank correlation of |map|. "
    "**Randomisation**: pass / partial / fail as the badges above. "
    f"**Random logit** (Sixt et al., 2020): Spearman between the map for class {target} and the map "
    f"for a random other class ({other}); near 1 = the map does not depend on the class. **Deletion / insertion** "
    f"(Petsiuk et al., 2018): area under the class probability as the top-ranked pixels are removed / added back "
    f"({T.FAITH_STEPS} steps, black). **Faithfulness correlation** (Bhatt et al., 2020): correlation between the "
    f"attribution of a random set of {T.FC_SUBSET} pixels and the drop of the class score when they are blacked out, "
    f"over {T.FC_RUNS} sets. **Max-sensitivity** (Yeh et al., 2019): the largest relative change of the map over "
    f"{T.MAX_SENS_SAMPLES} copies of the digit with uniform noise of ±{T.MAX_SENS_RADIUS} (Quantus uses 200 copies "
    f"and ±0.2; fewer here to run live). **Sparseness** (Chalasani et al., 2020): Gini index of |map|, 0 = spread "
    "evenly, 1 = all on one pixel. **Completeness** (Sundararajan et al., 2017): how far the Integrated Gradients "
    "map's sum is from the change in the class score. Seconds: this method's own maps plus its share of the batched "
    "passes. The formulas are Quantus' (tests check the values against Quantus 0.6.0).")

st.markdown("**Verdicts**")
for m, r in full.items():
    (st.success if r.passes else st.warning)(T.verdict(r))

# ---- test set ----------------------------------------------------------------------------------------
st.subheader("3. On the test set")
summary = resources.load_json("trust_summary.json")
if not summary:
    st.info("No test-set summary yet: run `python -m model.analyze --trust`.")
else:
    stale = summary.get("weights_sha1") != T.model_fingerprint(model)
    srows = [{"method": r["label"], "passes the randomisation test": r["pass_rate"],
              "changes once every weight is random": r["changed_when_all_random"],
              "median Spearman after top block": r["median_spearman"][summary["steps"][1]],
              "median random-logit Spearman": r["median_random_logit_spearman"],
              "would pass on signed ranks": r.get("signed_pass_rate", np.nan)}
             for r in summary["methods"].values()]
    st.dataframe(pd.DataFrame(srows), hide_index=True, key="trust_summary_table",
                 column_config={"passes the randomisation test": st.column_config.NumberColumn(format="percent"),
                                "changes once every weight is random": st.column_config.NumberColumn(format="percent"),
                                "median Spearman after top block": st.column_config.NumberColumn(format="%.2f"),
                                "median random-logit Spearman": st.column_config.NumberColumn(format="%.2f"),
                                "would pass on signed ranks": st.column_config.NumberColumn(format="percent")})
    st.caption(f"The same tests on the first {summary['n_images']} MNIST test digits, each explained for its predicted "
               f"class (`{summary.get('command', 'python -m model.analyze --trust')}`, "
               f"{summary.get('generated', '')}). "
               "One digit can pass or fail by chance; these shares say how a method behaves on this model in general. "
               "The last column applies the same rule to the rank correlation of the signed maps (Adebayo et al. "
               "report both): a map whose |values| survive because it is zero off the ink may still flip its signs.")
    if stale:
        st.warning("This summary was computed for other weights than the model loaded now; "
                   "rerun `python -m model.analyze --trust`.")
