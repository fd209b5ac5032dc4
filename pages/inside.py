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

import numpy as np
import streamlit as st

from dashboard import cache, resources
from dashboard import inside_plots as P
from dashboard import inside_views as V
from dashboard.headline import headline, sentence
from dashboard.map_grid import show_map_grid
from dashboard.plots import SEQUENTIAL
from dashboard.state import note_explained, require_current
from model import explain as E
from model.interpret import answer_forms_at

CONFIG = V.CONFIG

st.title("Inside: what each layer and head computes")
st.caption("Attention maps show where heads *look*; the views here show what the parts of the transformer *contribute* "
           "to the answer for your digit. The model is small enough to look at completely: a convolutional stem that "
           "turns the 28x28 image into 49 patch tokens, one class token, 4 layers of 4 attention heads and an MLP "
           "each, all adding their output into one shared *residual stream* that the final layer reads.")

cur = require_current("inside_use_test")
model = resources.load_vit()
G = model.cfg.grid
img = cur.image
previous = note_explained(cur)
res = cache.compute(E.inside_summary, model, img, large=True)
pred = res.pred
st.caption(sentence(cur.source, headline(model, img), cur.label))

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
formed = answer_forms_at(res.lens, pred)
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
st.fragment(V.dla_view)(res)

# ---- 3. attention distance, position similarity, filters -------------------------------------------------------
V.distance_view(res, G)

c1, c2 = st.columns(2)
with c1:
    st.subheader("Position embeddings")
    st.caption("How to read this: tile (row, column) shows how similar (cosine) that patch position's learned "
               "embedding is to every other position's (Dosovitskiy et al., 2021, Fig. 7 centre). Red = similar, "
               "blue = opposite. Nearby positions having similar embeddings means the model learnt the 2-D layout "
               "from data. A property of the weights: the same for every digit.")
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
@st.fragment
def patching_view() -> None:
    st.subheader("Activation patching: which part carries the decision?")
    st.caption("How to read this: run your digit, but replace one thing inside the model by its value on a *second* "
               "digit: one patch token entering one block, or one head's output. If the answer for your digit drops, "
               "that activation carried the evidence (causal tracing, Meng et al., 2022; Heimersheim & Nanda, 2024, "
               "'How to use and interpret activation patching'). Red = patching it lowers the measure, "
               "blue = raises it.")
    second, second_desc = V.second_digit(res.probs, pred, previous)
    metric = st.radio("Measure", ["prob", "logit_diff"], horizontal=True, key="inside_patch_metric",
                      format_func=lambda m: f"probability of {pred}" if m == "prob" else "logit difference",
                      help="Probability saturates when the model is very sure; the logit difference between your "
                           "digit's answer and the second digit's does not.")
    with st.spinner("Patching every token and head..."):
        pt = V.patching(model, img, second)
    st.caption(f"Second digit: {second_desc}, which the model reads as a {int(pt.second.argmax())} "
               f"({pt.second.max():.1%}). Measure: "
               + (f"P({pt.target}) of your digit, now {pt.clean[pt.target]:.2%}." if metric == "prob" else
                  f"logit of {pt.target} minus logit of {pt.other}."))
    guessed = None
    if st.toggle("Predict, then reveal", value=False, key="inside_predict_first",
                 help="Guess which patch matters most before the map is shown."):
        guessed = V.guess(img, G, V.guess_key(img, second, metric))
        if guessed is None:
            return
    V.patch_maps(pt, metric, img, guessed)
    e = pt.effects[metric]
    fmt = ".1%" if metric == "prob" else "+.2f"
    st.markdown("**One head's output patched**")
    st.plotly_chart(P.patching_heads_figure(e["layer_head"], fmt), key="inside_heads_fig", config=CONFIG)
    lh, hh = np.unravel_index(int(np.argmin(e["layer_head"])), e["layer_head"].shape)
    st.caption(f"How to read this: each cell replaces one head's output at every position with the second digit's. "
               f"Largest drop: layer {lh + 1} head {hh + 1} ({e['layer_head'][lh, hh]:{fmt}}). A head whose patch "
               "changes nothing may still matter for other digits, or share its job with another head.")


patching_view()
