"""Trust page: which map can I trust for this digit, and how should I read it? Sanity checks
(MPRT, Adebayo et al., 2018; sMPRT and eMPRT, Hedström et al., 2023; random logit, Sixt et al.,
2020), a scorecard (as in Quantus) and a verdict, all from ``model.explain.trust``; figures from
``dashboard.trust_plots``. Render only."""
from __future__ import annotations

import streamlit as st

from dashboard import cache, resources
from dashboard import trust_plots as P
from dashboard.headline import headline, sentence
from dashboard.state import require_current
from model import explain as E
from model.explain import trust as T

CONFIG = {"displayModeBar": False}
PCT = {"format": "percent"}

st.title("Trust: which map can I believe?")
st.caption("The Attributions page shows what each method says. This page checks, on your digit, whether each "
           "map says something about the *model*: it is recomputed with random weights, for another class, on "
           "noisy copies, and with pixels removed; then the methods are ranked and the verdict says which map "
           "to read first and how.")

cur = require_current("trust_use_test")
model = resources.load_vit()
img = cur.image


head = headline(model, img)
pred = head.digit
st.caption(sentence(cur.source, head, cur.label))
c1, c2 = st.columns([1, 3])
with c1:
    target = st.selectbox("Explain the class", list(range(10)), index=pred, key="trust_target",
                          format_func=lambda t: f"{t} (predicted)" if t == pred else str(t))
with c2:
    methods = st.multiselect("Methods", list(E.METHODS), default=list(T.TRUST_METHODS), key="trust_methods",
                             format_func=lambda m: E.METHODS[m].label)
if not methods:
    st.info("Choose at least one method above.")
    st.stop()

progress = st.progress(0.0, text="Randomising the model and recomputing every map...")
for i, m in enumerate(methods):
    cache.method_trust(model, img, target, m)     # shared with the Attributions page's badges
    progress.progress((i + 1) / len(methods), text=f"{E.METHODS[m].label} checked")
rep = cache.trust_report(model, img, target, tuple(methods))
progress.empty()

# ---- 1. verdict --------------------------------------------------------------------------------------
st.subheader("1. Verdict: which map to read first")
st.success(rep.verdict)
st.plotly_chart(P.evidence_figure(rep), key="trust_evidence", config=CONFIG)
st.caption(f"How to read this: longer bar = more evidence that the map reflects the model's decision for this "
           f"digit. **The rule.** {T.RANK_RULE} Sources: {T.SOURCES}. Why not the original test alone: Binder "
           "et al. (2023) showed that top-down randomisation keeps the scale of activations, so maps stay partly "
           "similar and uninformative maps can pass; Hedström et al. (2023) showed that gradient noise and the "
           "choice of |map| against signed maps decide the outcome as much as the method does.")
st.info(f"**What no test can tell.** {T.CANNOT_TELL}")

# ---- 2. the tests ------------------------------------------------------------------------------------
st.subheader("2. The tests, method by method")
st.dataframe(P.tests_frame(rep), hide_index=True, key="trust_tests",
             column_config={"evidence": st.column_config.NumberColumn(format="%.2f")})
st.caption("How to read this: ✓ = passes, ✗ = fails; ρ = Spearman rank correlation with the map it is compared "
           f"with (below {T.PASS_THRESHOLD} = changed), ↓ lower is better, ↑ higher is better. "
           + " ".join(f"**{k.replace('_', ' ')}**: {v}" for k, v in T.MEANINGS.items())
           + f" sMPRT averages each map over {T.SMOOTH_SAMPLES} copies of the digit (one noise-free, Gaussian "
             f"noise of {T.SMOOTH_NOISE:.0%} of its range; Quantus' default is 50 copies).")
BOX = {"good": st.success, "mixed": st.info, "weak": st.warning}
for m in rep.ranking:
    BOX[T.standing(rep.methods[m])](T.verdict(rep.methods[m]))
st.caption(f"Best first, as ranked above. Green = good, blue = mixed, yellow = weak; {T.STANDING_RULE} The same "
           "count as each map's trust badge on the Attributions page (green, orange, red).")

# ---- 3. the cascade ----------------------------------------------------------------------------------
st.subheader("3. Randomise the model, top down")
st.caption("Cascading model-parameter randomisation (Adebayo et al., 2018, Sec. 3.1): the weights of the head, then "
           "block 4, block 3 ... and finally the stem are replaced by random numbers with the trained weights' mean "
           "and spread, one more part at each step, and the map is computed again for the same digit and class. "
           "How to read this: each row is one method, the original map on the left; a map that explains the model "
           "must change once the learned weights are gone. Maps that are zero wherever there is no ink keep their "
           "|map| ranking ('ink before background') whatever the weights, so read the signed curve too.")
st.info(f"**Rule of the original test.** {T.RULE}")
for m in methods:
    st.markdown(f"**{E.METHODS[m].label}**")
    P.show_cascade(rep.methods[m], f"trust_cascade_{m}")
steps = list(T.cascade_steps(model))
st.plotly_chart(P.similarity_figure({m: rep.methods[m] for m in methods}, steps), key="trust_similarity",
                config=CONFIG)

# ---- 4. raw scores -----------------------------------------------------------------------------------
with st.expander("Raw scores (the scorecard)"):
    table = P.scores_frame(rep)
    st.dataframe(table, hide_index=True, key="trust_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[1:]})
    other = next(iter(rep.methods.values())).random_class
    st.caption(
        f"**Deletion / insertion** (Petsiuk et al., 2018): area under the class probability as the top-ranked "
        f"pixels are removed / added back ({T.FAITH_STEPS} steps, black). **Faithfulness correlation** (Bhatt et "
        f"al., 2020): correlation between the attribution of {T.FC_RUNS} random sets of {T.FC_SUBSET} pixels and "
        f"the drop of the class score when they are blacked out. **Max-sensitivity** (Yeh et al., 2019): the "
        f"largest relative change of the map over the {T.SMOOTH_SAMPLES - 1} noisy copies of sMPRT (Quantus: 200). "
        f"**Sparseness** (Chalasani et al., 2020): Gini index of |map|. **Random logit** against class {other}. "
        "**Completeness** (Sundararajan et al., 2017): Integrated Gradients' leftover. Lighter settings to run "
        f"live: {T.TRUST_SETTINGS}. The formulas are Quantus' (Hedström et al., 2023); tests check every value "
        "against Quantus 0.6.0.")

# ---- 5. test set -------------------------------------------------------------------------------------
st.subheader("4. On the test set")
summary = resources.load_json("trust_summary.json")
if not summary:
    st.info("No test-set summary yet: run `python -m model.analyze --trust`.")
else:
    st.dataframe(P.summary_frame(summary), hide_index=True, key="trust_summary_table",
                 column_config={c: st.column_config.NumberColumn(**PCT) for c in
                                ("MPRT |map| pass", "MPRT signed pass", "sMPRT pass", "eMPRT pass", "ranked first")})
    best = summary.get("most_often_best")
    st.caption(f"The same checks on the first {summary['n_images']} MNIST test digits, each explained for its "
               f"predicted class (`{summary.get('command', 'python -m model.analyze --trust')}`, "
               f"{summary.get('generated', '')}). One digit can pass or fail by chance; these shares say how a "
               "method behaves on this model in general."
               + (f" Most often ranked first: **{E.METHODS[best].label}**." if best in E.METHODS else
                  " This summary predates sMPRT, eMPRT and the ranking (empty columns): rerun the command."))
    if summary.get("weights_sha1") != T.model_fingerprint(model):
        st.warning("This summary was computed for other weights than the model loaded now; "
                   "rerun `python -m model.analyze --trust`.")
