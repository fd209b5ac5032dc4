"""Baseline page: the Vision Transformer beside a random forest on raw pixels.

Answers "is the transformer worth it?": both models on the current digit (probabilities,
agreement, time taken), both on the MNIST test set (accuracy, per-class accuracy, size and
speed from ``model/artifacts/evaluation.json``), what each looks at (the forest's impurity-based
pixel importances, Breiman 2001, beside the ViT's mean |Integrated Gradients|, Sundararajan
et al. 2017, from ``mean_attribution.npz``), and the test images where they disagree (from
``test_eval.npz`` through :class:`model.interpret.Interpretation`).

Render only: every figure is read from stored artifacts or from one call into ``model/``.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import resources
from dashboard.evaluation import EVALUATE_CMD, models_table
from dashboard.grid import thumbnail_grid
from dashboard.headline import sentence
from dashboard.plots import SEQUENTIAL, image_figure, probability_chart
from dashboard.state import get_current, prompt_for_digit, set_test_image
from model import paths

GRID_COLS, GRID_ROWS = 6, 2

st.title("Baseline: transformer vs random forest")
st.caption("A random forest (Breiman, 2001) reads the 784 pixel values directly; the Vision Transformer "
           "reads 4x4-pixel patches and relates them with attention. Same digits, two very different models.")


def _pick(index: int) -> None:
    set_test_image(index)


# ---- the current digit -------------------------------------------------------------------
st.subheader("On the current digit")
cur = get_current()
if cur is None:
    prompt_for_digit("base_use_test", "No digit yet: draw one, or use an MNIST test image.", on_pick=_pick)
else:
    results: dict[str, tuple[np.ndarray, float]] = {}
    vit = resources.vit_or_none() if paths.VIT_WEIGHTS.is_file() else None
    if vit is not None:
        from model.inference import headline

        t0 = time.perf_counter()
        head = headline(vit, cur.image)                                       # the app's calibrated prediction
        results["ViT"] = (head.probabilities, (time.perf_counter() - t0) * 1000)
        st.caption(sentence(cur.source, head, cur.label))
    else:
        st.caption(f"Current digit: {cur.source}" + (f" (true label {cur.label})" if cur.label is not None else ""))
    forest = resources.load_forest() if paths.FOREST.is_file() else None
    if forest is not None:
        from model.forest import forest_predict_proba

        t0 = time.perf_counter()
        p = forest_predict_proba(forest, cur.image)[0]                        # (10,)
        results["random forest"] = (p, (time.perf_counter() - t0) * 1000)
    cols = st.columns(2)
    for col, name, cmd in zip(cols, ("ViT", "random forest"), ("python -m model.train", "python -m model.forest")):
        with col:
            if name in results:
                p, ms = results[name]
                st.plotly_chart(probability_chart(p, title=f"{name}: {int(p.argmax())} ({p.max():.1%})"),
                                key=f"base_probs_{name}")
                st.caption(f"{name} took {ms:.1f} ms for this digit (wall clock, this request).")
            else:
                st.warning(f"No {name} model file yet: run `{cmd}`.")
    if len(results) == 2:
        (pv, _), (pf, _) = results["ViT"], results["random forest"]
        if pv.argmax() == pf.argmax():
            st.success(f"They agree: both say {int(pv.argmax())}.")
        else:
            st.warning(f"They disagree: the ViT says {int(pv.argmax())}, the forest says {int(pf.argmax())}.")
    st.caption("How to read this: bar height is the model's probability for each digit; the red bar is its "
               "answer. A confident model puts nearly all its probability on one bar.")

# ---- the test set ------------------------------------------------------------------------
st.subheader("On the 10,000 MNIST test images")
evaluation = resources.load_json("evaluation.json")
if not evaluation:
    st.warning(f"No test-set evaluation yet: run `{EVALUATE_CMD}`.")
else:
    vit_e, rf = evaluation.get("vit", {}), evaluation.get("random_forest", {})
    table = models_table(evaluation)
    st.dataframe(table, hide_index=True, key="base_table", column_config={
        "accuracy": st.column_config.NumberColumn(format="percent"),
        "MB on disk": st.column_config.NumberColumn(format="%.2f"),
        "ms / image (batched)": st.column_config.NumberColumn(format="%.3f"),
        "ms for one image": st.column_config.NumberColumn(format="%.2f"),
    })
    per_class = {"ViT": vit_e.get("per_class_accuracy"), "ViT + TTA": vit_e.get("tta_per_class_accuracy"),
                 "random forest": rf.get("per_class_accuracy")}
    per_class = {k: v for k, v in per_class.items() if v}
    if per_class:
        pc = pd.DataFrame(per_class, index=[str(d) for d in range(10)]).T
        st.markdown("**Accuracy per true digit**")
        st.dataframe(pc, key="base_per_class",
                     column_config={c: st.column_config.NumberColumn(format="percent") for c in pc.columns})
    st.caption(f"Source: `evaluation.json`, written by `{evaluation.get('command', EVALUATE_CMD)}`"
               + (f" on {evaluation['generated']}" if evaluation.get("generated") else "")
               + ". Times are measured on the machine that ran it; 'one image' includes the per-call overhead.")

# ---- what each model looks at ------------------------------------------------------------
st.subheader("What each model looks at")
maps = resources.load_npz("mean_attribution.npz")
if not maps:
    st.warning("No attribution maps yet: run `python -m model.analyze`.")
else:
    c1, c2 = st.columns(2)
    with c1:
        if "forest_importance" in maps:
            fi = maps["forest_importance"]
            st.plotly_chart(image_figure(fi, title="Forest: pixel importance", colorscale=SEQUENTIAL,
                                         zmin=0, zmax=float(fi.max()) or 1.0, height=300, hover="importance"),
                            key="base_forest_imp")
            st.caption("Mean decrease in impurity per pixel (scikit-learn `feature_importances_`): bright pixels "
                       "are the ones the trees split on most. Dark = never used.")
        else:
            st.info("The attribution file has no forest importances; rerun `python -m model.analyze`.")
    with c2:
        if "integrated_gradients" in maps:
            ig = maps["integrated_gradients"]
            n = int(maps.get("n_images", np.array(0)))
            st.plotly_chart(image_figure(ig, title="ViT: mean |Integrated Gradients|", colorscale=SEQUENTIAL,
                                         zmin=0, zmax=float(ig.max()) or 1.0, height=300, hover="mean |IG|"),
                            key="base_vit_ig")
            st.caption(f"Mean absolute Integrated Gradients (Captum `IntegratedGradients`) over {n:,} test images: "
                       "bright pixels changed the ViT's answer most. Dark = little effect.")
        else:
            st.info("The attribution file has no ViT attributions; rerun `python -m model.analyze`.")

# ---- where they disagree -----------------------------------------------------------------
st.subheader("Where they disagree")
interp = resources.load_interpretation()
if interp is None:
    st.warning(f"No stored test-set predictions yet: run `{EVALUATE_CMD}`.")
elif not {"vit", "forest"} <= set(interp.models):
    st.warning(f"The stored table lacks the ViT or the forest; rerun `{EVALUATE_CMD}`.")
else:
    d = interp.disagreements("vit", "forest")
    labels = {"vit_only": "ViT right, forest wrong", "forest_only": "forest right, ViT wrong",
              "both_wrong": "both wrong", "both_right": "both right"}
    counts = st.grid(4, min_column_width=150, key="base_counts")     # two per row on a phone
    for key in ("both_right", "vit_only", "forest_only", "both_wrong"):
        counts.metric(labels[key], f"{d.counts[key]:,}")
    group = st.radio("Show", ["vit_only", "forest_only", "both_wrong"], format_func=labels.get, horizontal=True,
                     key="base_group")
    idx = d.indices[group]
    if len(idx) == 0:
        st.info("No test images in this group.")
    else:
        pv, pf = interp.predictions("vit"), interp.predictions("forest")
        thumbnail_grid(idx, lambda i: f"#{i} true {interp.labels[i]} · ViT {pv[i]} · forest {pf[i]}", key="base",
                       on_pick=_pick, pick_help="Make this the current digit", cols=GRID_COLS, rows=GRID_ROWS)
        st.caption("Picking an image makes it the current digit: the charts at the top, and every other page, "
                   "then explain it.")
