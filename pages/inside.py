"""Inside page: what each layer and head of the transformer computes for the current digit.

Views, all read from one cached forward pass (``model.explain.inside``, TransformerLens style):
the logit lens for the class token and for every patch token (nostalgebraist, 2020), direct
logit attribution for any class (Elhage et al., 2021), mean attention distance per head beside
the test-set average (Dosovitskiy et al., 2021, Fig. 7; ``attention_distance.json`` from
``python -m model.analyze --inside``), position-embedding similarity and the stem's filters
(Dosovitskiy et al., 2021, Fig. 7), and activation patching with a second digit (Meng et al.,
2022; Heimersheim & Nanda, 2024), optionally after the learner predicts the answer.

Render only: the numbers come from ``model.explain`` and the stored artifact.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import inside_plots as P
from dashboard import resources
from dashboard.map_grid import show_map_grid
from dashboard.plots import DIVERGING, SEQUENTIAL
from dashboard.state import note_explained, require_current
from model import explain as E
from model import paths
from model.explain.inside import uniform_attention_distance

ANALYZE_CMD = "python -m model.analyze --inside"
CONFIG = {"displayModeBar": False}

st.title("Inside: what each layer and head computes")
st.caption("Attention maps show where heads *look*; the views here show what the parts of the transformer *contribute* "
           "to the answer for your digit. The model is small enough to look at completely: a convolutional stem that "
           "turns the 28x28 image into 49 patch tokens, one class token, 4 layers of 4 attention heads and an MLP "
           "each, all adding their output into one shared *residual stream* that the final layer reads.")

cur = require_current("inside_use_test")
model = resources.load_vit()
L, H, G = model.cfg.depth, model.cfg.heads, model.cfg.grid
img = cur.image
previous = note_explained(cur)
res = E.inside_summary(model, img)
pred = res.pred
st.caption(f"Current digit: {cur.source}. The transformer says **{pred}** ({res.probs[pred]:.1%}).")

with st.expander("What these methods can and cannot tell you", expanded=True):
    st.markdown(
        "- **Logit lens** *can* show at which layer the class token's contents already read as the final answer. "
        "It *cannot* show what an intermediate layer 'thinks': earlier layers were never trained to be read by the "
        "final head, so a wrong early readout may only mean the information is stored in another form.\n"
        "- **Direct logit attribution** is an exact sum: each head and MLP's *direct* push on the logit. It *cannot* "
        "see indirect effects: a head whose output is used by a later head gets no credit here (the later head "
        "does), and the frozen LayerNorm scale makes it linear only around this very digit.\n"
        "- **Mean attention distance** *can* tell local heads from global ones. It *cannot* tell whether a head "
        "matters: a head may look far away and contribute nothing.\n"
        "- **Position similarity and filters** are properties of the weights: the same for every digit.\n"
        "- **Activation patching** is causal: it changes one activation and measures the effect. Its answer depends "
        "on the second digit (what the activation is replaced *with*) and on the measure; one activation at a time "
        "misses evidence that is spread redundantly over several patches or heads.")

# ---- 1. logit lens --------------------------------------------------------------------------------------------
st.subheader("Logit lens: when does the answer form?")
st.caption("How to read this: each row reads the class token after one stage (the embedding, then after each block) "
           "through the final LayerNorm and classification head, as if the model stopped there (the *logit lens*, "
           "nostalgebraist, 2020). Colour and text = probability of each digit; the red box is the final answer, "
           "and the last row is exactly the model's output.")
st.plotly_chart(P.logit_lens_figure(res.lens, res.stages, pred), key="inside_lens_fig", config=CONFIG)
top = res.lens.argmax(1)
formed = next(s for s in range(len(top)) if (top[s:] == pred).all())
st.caption(f"The class token first reads as a **{pred}** {res.stages[formed]} and stays one "
           f"(P({pred}) by stage: " + ", ".join(f"{p:.0%}" for p in res.lens[:, pred]) + ").")

st.subheader("What does each patch vote for?")
st.caption("How to read this: the same read-out applied to every patch token (logit lens per token). Each 7x7 grid is "
           "one stage; the number in a patch is the digit its token reads as, the colour how sure (yellow = sure). "
           "The head was only trained on the class token, so these votes are a probe of what a token carries, not "
           "something the model uses.")
votes, conf = res.patch_votes
show_map_grid(conf, res.stages, "inside_votes_fig", cols=len(res.stages), background=img, colorscale=SEQUENTIAL,
              zmin=0.0, zmax=1.0, opacity=0.65, colorbar_title="confidence",
              text=[v.astype(str) for v in votes], customdata=[v[..., None] for v in votes],
              hovertemplates="votes %{customdata[0]} with %{z:.1%}<extra></extra>")


# ---- 2. direct logit attribution ------------------------------------------------------------------------------
@st.fragment
def dla_view() -> None:
    st.subheader("Direct logit attribution: who pushes for which digit?")
    st.caption("How to read this: the class token's final residual stream is a sum of the embedding, every head's "
               "output and every MLP's output. With the final LayerNorm's scale frozen at its value for this digit, "
               "the logit (score before softmax) splits exactly into one bar per part plus a constant bias (Elhage et "
               "al., 2021, 'A Mathematical Framework for Transformer Circuits'). Up = pushes towards the digit, down = "
               "away. Each head includes its share (1/4) of its layer's output-projection bias; the final LayerNorm's "
               "shift and the head's bias make the bias term. Patches reach the class token only through attention, "
               "so their effect is inside the heads' bars.")
    c1, c2 = st.columns([1, 2])
    with c1:
        target = st.selectbox("Explain the logit of", list(range(10)), index=pred, key="inside_dla_target",
                              format_func=lambda t: f"{t} (predicted)" if t == pred else str(t),
                              help="Pick another digit to ask 'why not a 3?'.")
    d = res.dla.for_class(target)
    values = {f"logit of {target}": res.dla.parts[:, target]}
    if target != pred:
        values = {f"logit of {pred} (predicted)": res.dla.parts[:, pred], **values,
                  f"difference {pred} − {target}": res.dla.parts[:, pred] - res.dla.parts[:, target]}
    st.plotly_chart(P.dla_figure(res.dla.names, values), key="inside_dla_fig", config=CONFIG)
    total_parts = sum(d["parts"].values())
    err = abs(total_parts + d["bias"] - d["total"])
    with c2:
        st.markdown(f"**Check:** parts {total_parts:+.4f} + bias {d['bias']:+.4f} = {total_parts + d['bias']:+.4f}; "
                    f"the model's logit of {target}: {d['total']:+.4f} (difference {err:.1e}).")
    if target != pred:
        diff = res.dla.parts[:, pred] - res.dla.parts[:, target]
        k = int(np.argmax(diff))
        st.caption(f"Why a {pred} and not a {target}: the logits differ by {res.dla.logits[pred] - res.dla.logits[target]:.2f}; "
                   f"the part that separates them most is **{res.dla.names[k]}** ({diff[k]:+.2f}).")
    with st.expander("All parts as a table"):
        st.dataframe(pd.DataFrame({"part": res.dla.names, f"logit of {target}": res.dla.parts[:, target],
                                   f"logit of {pred}": res.dla.parts[:, pred]}),
                     hide_index=True, key="inside_dla_table")


dla_view()

# ---- 3. attention distance, position similarity, filters -------------------------------------------------------
st.subheader("How far does each head look?")
st.caption("How to read this: for every patch, the distance in pixels to the patches it attends to, weighted by the "
           "attention and averaged over patches (*mean attention distance*, Dosovitskiy et al., 2021, Fig. 7). Patch "
           "centres are 4 px apart. Dots = this digit, hollow = the MNIST test-set average, one colour per head; below "
           "the dotted line a head prefers nearby patches, above it far ones.")
stored = resources.load_json(paths.ATTENTION_DISTANCE.name)
avg = np.asarray(stored.get("mean_attention_distance", []), dtype=float)
per_class = np.asarray(stored.get("per_class", []), dtype=float)
if avg.shape != (L, H):
    avg = None
    st.info(f"No test-set average stored yet: run `{ANALYZE_CMD}`.")
same = per_class[pred] if per_class.shape == (10, L, H) else None
st.plotly_chart(P.attention_distance_figure(res.attention_distance, avg, same, uniform_attention_distance(G),
                                            f"class {pred}"), key="inside_distance_fig", config=CONFIG)
if avg is not None:
    diff = res.attention_distance - avg
    l, h = np.unravel_index(int(np.abs(diff).argmax()), diff.shape)
    st.caption(f"Test-set figures: {stored.get('n_images')} MNIST test images (`{stored.get('command', ANALYZE_CMD)}`). "
               f"Largest difference for this digit: layer {l + 1} head {h + 1}, {res.attention_distance[l, h]:.1f} px "
               f"against {avg[l, h]:.1f} px on average.")

c1, c2 = st.columns(2)
with c1:
    st.subheader("Position embeddings")
    st.caption("How to read this: tile (row, column) shows how similar (cosine) that patch position's learned embedding "
               "is to every other position's (Dosovitskiy et al., 2021, Fig. 7 centre). Red = similar, blue = "
               "opposite. Nearby positions having similar embeddings means the model learnt the 2-D layout from data. "
               "A property of the weights: the same for every digit.")
    st.plotly_chart(P.position_similarity_figure(res.pos_similarity), key="inside_pos_fig", config=CONFIG)
with c2:
    st.subheader("The stem's first filters")
    k = res.filters.shape[-1]
    st.caption(f"How to read this: the {len(res.filters)} {k}x{k} filters of the first convolution that turns pixels "
               "into patch features (the convolutional stem of Xiao et al., 2021; Dosovitskiy et al., 2021, Fig. 7 "
               "left shows the same for a linear patch embedding). Red = positive weight, blue = negative: a filter "
               "with red beside blue responds to an edge. A property of the weights: the same for every digit.")
    st.plotly_chart(P.filters_figure(res.filters), key="inside_filters_fig", config=CONFIG)


# ---- 4. activation patching --------------------------------------------------------------------------------------
def _digest(a: np.ndarray) -> str:
    return hashlib.md5(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


@st.cache_data(max_entries=32, show_spinner=False)
def _patching(_model, model_key: int, image_bytes: bytes, second_bytes: bytes) -> E.Patching:
    a = np.frombuffer(image_bytes, dtype=np.float32).reshape(28, 28)
    b = np.frombuffer(second_bytes, dtype=np.float32).reshape(28, 28)
    return E.activation_patching(_model, a, b)


def _on_guess_click() -> None:
    event = st.session_state.get("inside_guess_fig") or {}
    points = (event.get("selection") or {}).get("points") or []
    for p in points:
        if p.get("x") is None or p.get("y") is None:
            continue
        st.session_state["inside_guess_row"] = int(min(G - 1, max(0, round(p["y"]) // (28 // G)))) + 1
        st.session_state["inside_guess_col"] = int(min(G - 1, max(0, round(p["x"]) // (28 // G)))) + 1
        return


def _reveal(state_key: str) -> None:
    st.session_state["inside_revealed"] = (state_key, int(st.session_state["inside_guess_row"]) - 1,
                                           int(st.session_state["inside_guess_col"]) - 1)


@st.fragment
def patching_view() -> None:
    st.subheader("Activation patching: which part carries the decision?")
    st.caption("How to read this: run your digit, but replace one thing inside the model by its value on a *second* "
               "digit: one patch token entering one block, or one head's output. If the answer for your digit drops, "
               "that activation carried the evidence (causal tracing, Meng et al., 2022; Heimersheim & Nanda, 2024, "
               "'How to use and interpret activation patching'). Red = patching it lowers the measure, blue = raises it.")
    images, labels = resources.load_test_images()
    c1, c2, c3 = st.columns([2, 2, 1])
    options = ["a test image of another class"] + (["the previous digit"] if previous is not None else [])
    with c1:
        source = st.radio("Second digit", options, key="inside_second_source", horizontal=False)
    if source == "the previous digit" and previous is not None:
        second, second_desc = previous.image, f"the previous digit ({previous.source})"
    else:
        runner_up = int(np.argsort(res.probs)[-2])
        others = [d for d in range(10) if d != pred]
        with c2:
            cls = st.selectbox("Class of the test image", others, index=others.index(runner_up),
                               key="inside_second_class", help="Default: your digit's runner-up class.")
            idx = np.flatnonzero(labels == cls)
            if st.session_state.get("inside_second_n", 1) > len(idx):      # fewer test images of the new class
                st.session_state["inside_second_n"] = len(idx)
            n = st.number_input(f"Which {cls} (1 = the first in the test set)", 1, len(idx), 1, key="inside_second_n")
        i = int(idx[int(n) - 1])
        second, second_desc = images[i].astype(np.float32) / 255.0, f"test image #{i} (a {cls})"
    with c3:
        st.image((np.asarray(second) * 255).astype(np.uint8), caption="second digit", width=84)
    metric = st.radio("Measure", ["prob", "logit_diff"], horizontal=True, key="inside_patch_metric",
                      format_func=lambda m: f"probability of {pred}" if m == "prob" else "logit difference",
                      help="Probability saturates when the model is very sure; the logit difference between your "
                           "digit's answer and the second digit's does not.")
    with st.spinner("Patching every token and head..."):
        pt = _patching(model, id(model), np.ascontiguousarray(img, dtype=np.float32).tobytes(),
                       np.ascontiguousarray(second, dtype=np.float32).tobytes())
    st.caption(f"Second digit: {second_desc}, which the model reads as a {int(pt.second.argmax())} "
               f"({pt.second.max():.1%}). Measure: "
               + (f"P({pt.target}) of your digit, now {pt.clean[pt.target]:.2%}." if metric == "prob" else
                  f"logit of {pt.target} minus logit of {pt.other}."))

    # predict, then reveal
    predict_first = st.toggle("Predict, then reveal", value=False, key="inside_predict_first",
                              help="Guess which patch matters most before the map is shown.")
    state_key = f"{_digest(img)}:{_digest(second)}:{metric}"
    guess = None
    if predict_first:
        revealed = st.session_state.get("inside_revealed")
        if revealed is None or revealed[0] != state_key:
            st.markdown("**Your guess first:** which patch of your digit, if it came from the second digit instead, "
                        "would hurt the answer most? Click it (or pick its row and column), then reveal.")
            g1, g2 = st.columns([1, 1])
            with g1:
                st.plotly_chart(P.guess_figure(img, G), key="inside_guess_fig", config=CONFIG, on_select=_on_guess_click,
                                selection_mode="points")
            with g2:
                row = st.selectbox("Patch row (1 = top)", list(range(1, G + 1)), index=G // 2, key="inside_guess_row")
                col = st.selectbox("Patch column (1 = left)", list(range(1, G + 1)), index=G // 2, key="inside_guess_col")
                st.button("Reveal", key="inside_reveal", type="primary", on_click=_reveal, args=(state_key,))
            st.caption(f"Your guess so far: row {row}, column {col}.")
            return
        guess = (revealed[1], revealed[2])

    e = pt.effects[metric]
    fmt = ".1%" if metric == "prob" else "+.2f"
    lt, rt, ct = pt.top_patch(metric)
    lp = e["layer_patch"]                                                   # (L, g, g)
    rr, cc = np.mgrid[0:G, 0:G] + 1
    st.markdown("**One patch token patched, as it enters each block**")
    show_map_grid(-lp, [f"entering block {l + 1}" for l in range(L)], "inside_patch_fig", cols=L, background=img,
                  colorscale=DIVERGING, zmid=0.0, opacity=0.75, colorbar_title="drop (red) or rise (blue)",
                  customdata=[np.stack([rr, cc, lp[l]], -1) for l in range(L)],
                  hovertemplates="patch row %{customdata[0]}, col %{customdata[1]}: "
                                 "change %{customdata[2]:+.4f}<extra></extra>",
                  marker=guess, marker_color="lime")
    if metric == "prob" and np.abs(e["layer_patch"]).max() < 0.01:
        st.info("Every single-patch change is below one percentage point: the model is so sure that its probability "
                "hardly moves. Switch the measure to the logit difference to see which patches carry the evidence.")
    st.caption(f"Largest drop: patch row {rt + 1}, column {ct + 1} entering block {lt + 1} "
               f"({e['layer_patch'][lt, rt, ct]:{fmt}}). Class token entering each block: "
               + ", ".join(f"{v:{fmt}}" for v in e["layer_cls"]) + " (entering block 1 it is the same for every digit).")
    if guess is not None:
        rank = pt.rank_of(guess[0], guess[1], metric)
        imp = pt.patch_importance(metric)
        best = np.unravel_index(int(imp.argmax()), imp.shape)
        verdict = ("Spot on: that is the patch that matters most." if rank == 1 else
                   f"Your patch ranks {rank} of {G * G}; the one that matters most is row {best[0] + 1}, "
                   f"column {best[1] + 1}.")
        st.success(f"You picked row {guess[0] + 1}, column {guess[1] + 1} (green box): its largest drop over the "
                   f"layers is {imp[guess]:{fmt.replace('+', '')}}. {verdict}")
    st.markdown("**One head's output patched**")
    st.plotly_chart(P.patching_heads_figure(e["layer_head"], fmt), key="inside_heads_fig", config=CONFIG)
    lh, hh = np.unravel_index(int(np.argmin(e["layer_head"])), e["layer_head"].shape)
    st.caption(f"How to read this: each cell replaces one head's output at every position with the second digit's. "
               f"Largest drop: layer {lh + 1} head {hh + 1} ({e['layer_head'][lh, hh]:{fmt}}). A head whose patch "
               "changes nothing may still matter for other digits, or share its job with another head.")


patching_view()
