"""Walkthrough page: the current digit followed through every stage of the real forward pass.

Guided mode is a stepper (Back / Next, "step k of n"); free mode jumps to any stage and picks the
block, head and query token. Every number comes from :mod:`model.explain.walkthrough`, which
recomputes each stage from the weights and checks it against the model's own activations.
Render only: figures and texts are in :mod:`dashboard.walkthrough_plots`.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import resources
from dashboard import walkthrough_plots as P
from dashboard.nav import page_link
from dashboard.plots import image_figure
from dashboard.state import get_current
from model.explain.walkthrough import FAMILY, WalkthroughResult

N = len(P.STEPS)
SHORT = [s.short for s in P.STEPS]


@st.cache_data(max_entries=64, show_spinner=False)
def _walk(_model, model_key: str, image_bytes: bytes, block: int, head: int, token: int) -> WalkthroughResult:
    """One digit's walkthrough, per (model, image bytes, options); the model is only read."""
    return FAMILY(_model, np.frombuffer(image_bytes, dtype=np.float32).reshape(28, 28),
                  block=block, head=head, token=token)


def _move(delta: int) -> None:
    st.session_state["walk_step"] = min(N - 1, max(0, st.session_state.get("walk_step", 0) + delta))


def _jump() -> None:
    if st.session_state.get("walk_stage") in SHORT:
        st.session_state["walk_step"] = SHORT.index(st.session_state["walk_stage"])


def _chart(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


st.title("Walkthrough: follow your digit through the transformer")
model = resources.load_vit()
L, H, G, A = model.cfg.depth, model.cfg.heads, model.cfg.grid, P.arch(model.cfg)
cur = get_current()
img = np.asarray(cur.image if cur else resources.load_test_images()[0][0] / 255.0, dtype=np.float32)
source = cur.source if cur else "MNIST test image #0"
if cur is None:
    st.info("No current digit yet, so this shows MNIST test image #0. Draw your own on the Draw page.")
    page_link("draw", "Draw a digit", icon=":material/draw:")
mode = st.segmented_control("Mode", ["Guided", "Free"], default="Guided", key="walk_mode") or "Guided"
opts = FAMILY.defaults()
if mode == "Free":
    st.session_state["walk_stage"] = SHORT[st.session_state.get("walk_step", 0)]
    st.segmented_control("Jump to a stage", SHORT, key="walk_stage", on_change=_jump)
    c1, c2, c3 = st.columns(3)
    opts["block"] = c1.selectbox("Block", range(1, L + 1), key="walk_block")
    opts["head"] = c2.selectbox("Head", range(1, H + 1), key="walk_head")
    opts["token"] = c3.selectbox("Query token", range(G * G + 1), key="walk_token", format_func=P.token_name)
r = _walk(model, model.weights_sha256, np.ascontiguousarray(img).tobytes(), **opts)
step = st.session_state.get("walk_step", 0)
s = P.STEPS[step]
_chart(P.overview_figure(r.stages, L, s.nodes), "walk_overview")
st.caption(f"Digit: {source}. Block {r.block}, head {r.head}, query: {P.token_name(r.token)}. Every number below is "
           f"recomputed from the weights and matches the model's own to within {r.max_abs_diff:.1e}.")
if mode == "Guided":
    b1, b2, b3 = st.columns([1, 1, 3])
    b1.button("Back", key="walk_back", on_click=_move, args=(-1,), disabled=step == 0)
    b2.button("Next", key="walk_next", on_click=_move, args=(1,), disabled=step == N - 1, type="primary")
    b3.markdown(f"**Step {step + 1} of {N}**")

st.subheader(s.title.format(**A))
st.markdown(s.text.format(**A))
for f in P.formulas(r, step):
    st.latex(f)
st.caption(s.how.format(**A))
k = f"walk_fig_{step}"
tok_labels = ["class"] + [f"patch {i}" for i in range(1, G * G + 1)]
if step == 0:
    c1, c2 = st.columns(2)
    with c1:
        _chart(image_figure(r.pixels, "pixels in [0, 1]", height=300), k)
    with c2:
        _chart(P.heatmap(r.normalised, "normalised (x - mean) / std", square=True, height=300), k + "b")
elif step == 1:
    ch = st.selectbox("Channel", ["all"] + list(range(1, r.stem1.shape[0] + 1)), key="walk_channel")
    c1, c2 = st.columns(2)
    for col, maps, name, kk in ((c1, r.stem1, "conv 1", k), (c2, r.stem2, "conv 2", k + "b")):
        with col:
            title = f"{name}: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}"
            if ch == "all":
                _chart(P.feature_mosaic(maps, 8, title), kk)
            else:
                _chart(P.heatmap(maps[ch - 1], f"{name}, channel {ch}", "Viridis", None, square=True, height=330), kk)
elif step == 2:
    p = P.shown_patch(r)
    c1, c2 = st.columns([3, 2])
    with c1:
        _chart(P.heatmap(r.tokens, "{p} patch tokens x {d} numbers".format(**A), y=tok_labels[1:], height=420), k)
    with c2:
        _chart(image_figure(r.patches[p - 1], f"the {A['ps']}x{A['ps']} pixels of patch {p}", height=180), k + "b")
        _chart(P.bars(r.tokens[p - 1], f"token of patch {p}: {A['d']} numbers", height=200), k + "c")
elif step == 3:
    c1, c2, c3 = st.columns(3)
    with c1:
        _chart(P.heatmap(r.embed - r.pos_embed, "before: class token + patches", y=tok_labels, height=380), k)
    with c2:
        _chart(P.heatmap(r.embed, "after: + position embeddings", y=tok_labels, height=380), k + "b")
    with c3:
        _chart(P.token_map(r.pos_similarity[r.token], f"position similarity to {tok_labels[r.token]}", r.pixels,
                           "RdBu_r", 0.0, r.token), k + "c")
elif step == 4:
    c1, c2 = st.columns(2)
    with c1:
        _chart(P.heatmap(r.ln1, f"LayerNorm 1 of block {r.block}", y=tok_labels, height=380), k)
        _chart(P.bars(r.q, f"query q of {tok_labels[r.token]} (head {r.head})", height=200), k + "b")
    with c2:
        _chart(P.heatmap(r.k, "keys k ({n} x {hd})".format(**A), y=tok_labels, height=290), k + "c")
        _chart(P.heatmap(r.v, "values v ({n} x {hd})".format(**A), y=tok_labels, height=290), k + "d")
elif step == 5:
    c1, c2 = st.columns(2)
    with c1:
        _chart(P.token_map(r.scores, "scores q.k / {sq}".format(**A), r.pixels, "RdBu_r", 0.0, r.token), k)
    with c2:
        _chart(P.token_map(r.attention, "softmax: attention weights", r.pixels, marker=r.token), k + "b")
    _chart(P.attention_animation(r.query_attention, r.head, r.token, r.pixels), k + "c")
elif step == 6:
    _chart(P.heatmap(r.z, "each head's weighted sum of values", y=[f"head {h + 1}" for h in range(H)],
                     height=200), k)
    _chart(P.heatmap(np.stack([r.resid_pre[r.token], r.attn_out, r.resid_mid]), "residual: x + attention = x_mid",
                     y=["x", "+ attention", "= x_mid"], height=200), k + "b")
elif step == 7:
    _chart(P.bars(r.hidden, "{hidden} hidden units after GELU".format(**A), r.top_units, height=240), k)
    st.caption("Strongest units: " + ", ".join(f"unit {u} ({r.hidden[u]:.2f})" for u in r.top_units))
    _chart(P.heatmap(np.stack([r.resid_mid, r.mlp_out, r.resid_post]), "residual: x_mid + MLP = x_out",
                     y=["x_mid", "+ MLP", "= x_out"], height=200), k + "b")
elif step == 8:
    _chart(P.heatmap(r.stream, "the class token's residual stream", y=P.lens_stages(L), height=240), k)
    _chart(P.lens_figure(r.lens, L), k + "b")
    page_link("inside", "Inside: the logit lens for every token, and who pushes for which digit",
              icon=":material/account_tree:")
else:
    _chart(P.bars(r.recomputed_logits, "the logits", [int(np.argmax(r.recomputed_logits))],
                  [str(d) for d in range(10)]), k)
    t = st.slider("Temperature T", 0.25, 5.0, value=round(r.temperature, 2), step=0.05, key="walk_temperature",
                  help=f"The shipped temperature is {r.temperature:.2f}, fitted on the validation split.")
    st.caption(f"Shipped temperature: **T = {r.temperature:.2f}**. Below 1 the answer sharpens, above it flattens.")
    _chart(P.answer_figure(r.recomputed_logits, t), k + "b")
