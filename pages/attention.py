"""Attention page: what each head of the Vision Transformer looks at for the current digit.

Views: the class token's attention in every layer and head (Dosovitskiy et al., 2021), any query patch's attention
in one layer, the mean over heads, attention rollout (Abnar & Zuidema, 2020), gradient-weighted rollout for any class
(Chefer, Gur & Wolf, 2021), per-head statistics, and head knockout on this digit and on the test set (Michel et al.,
2019). Render only: the numbers come from ``model.explain`` through the one cache (:mod:`dashboard.cache`) and
``head_importance.json`` (python -m model.analyze); the figures from :mod:`dashboard.attention_plots`.
"""
from __future__ import annotations

import streamlit as st

from dashboard import attention_plots as AP
from dashboard import cache, resources
from dashboard.headline import headline, sentence
from dashboard.map_grid import show_map_grid
from dashboard.palette import PLOT_CONFIG
from dashboard.state import require_current
from dashboard.widgets import head_ticks, query_picker, rollout_controls
from model import explain as E
from model import paths

ANALYZE_CMD = "python -m model.analyze"

st.title("Attention: where the transformer looks")
st.caption("The transformer cuts the digit into a 7x7 grid of 4x4-pixel patches plus one extra *class token* "
           "that collects the evidence for the answer. In every layer, each head decides how much each token "
           "looks at every other token (the weights in a row add up to 1). These views show those weights.")
cur = require_current("attn_use_test")
model = resources.load_vit()
L, H = model.cfg.depth, model.cfg.heads
img = cur.image
summary = cache.compute(E.attention_summary, model, img, large=True)
head = headline(model, img)
pred = head.digit              # the calibrated headline (the plain softmax has the same argmax)
st.caption(sentence(cur.source, head))

# ---- 1. the class token in every layer and head -----------------------------------------------
st.subheader("The class token's attention, every layer and head")
st.caption("Each small map is one head (columns) in one layer (rows, first layer on top): how much weight the "
           "class token puts on each 4x4 patch when it gathers information (the attention weights of "
           "Dosovitskiy et al., 2021). Yellow = much attention, dark blue = little; hover for the exact weight. "
           "The weight the class token keeps for itself is not drawn.")
c1, c2 = st.columns(2)
with c1:
    per_map = st.toggle("Scale each map separately", value=False, key="attn_grid_per_map",
                        help="Off: one colour scale for all maps (compare heads). On: each map uses its own "
                             "range (see the pattern of a weak head).")
with c2:
    grid_overlay = st.toggle("Draw over the digit", value=True, key="attn_grid_overlay")
show_map_grid(summary.cls.reshape(L * H, summary.grid, summary.grid),
              [AP.head_name(l, h) for l in range(L) for h in range(H)], "attn_grid", cols=H,
              background=img if grid_overlay else None, shared=not per_map, colorbar_title="attention",
              hover="attention")

# ---- 2. any query patch --------------------------------------------------------------------
@st.fragment
def query_view() -> None:
    st.subheader("Where does one patch look?")
    st.caption("Pick a layer and a query token: the class token or any patch (marked in red). Each map shows "
               "where that token looks in one head of the chosen layer. Yellow = much attention, dark = little.")
    layer, query, marker = query_picker(L, summary.grid, img, "attn_query")
    maps = E.query_attention(summary.attn, layer, query)                     # (H, g, g)
    show_map_grid(maps, [f"head {h + 1}" for h in range(H)], "attn_query_fig", cols=H, background=img,
                  marker=marker, colorbar_title="attention", hover="attention")
    to_cls = summary.attn[layer, :, query, 0]
    st.caption("Weight on the class token itself, per head: " +
               ", ".join(f"head {h + 1}: {v:.2f}" for h, v in enumerate(to_cls)))


query_view()

# ---- 3. aggregates ---------------------------------------------------------------------------
st.subheader("Combining heads and layers")
st.caption("Mean over the heads of each layer: the class token's average attention per layer "
           "(yellow = much attention, one colour scale).")
show_map_grid(summary.cls_mean, [f"layer {l + 1}" for l in range(L)], "attn_mean_fig", cols=L, background=img,
              colorbar_title="attention", hover="attention")


@st.fragment
def rollout_view() -> None:
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Attention rollout**")
        st.caption("Abnar & Zuidema (2020): multiply the attention of all layers (adding the skip connection) to "
                   "estimate how much of the class token's final information comes from each patch. The same for "
                   "every class. Yellow = more information flows from there; never negative.")
        d, fusion = rollout_controls("attn_rollout")
        show_map_grid(E.rollout(summary.attn, d, fusion)[None], ["rollout"], "attn_rollout_fig", cols=1,
                      background=img, height=320, colorbar_title="share", hover="share")
    with c2:
        st.markdown("**Class-specific relevance**")
        st.caption("Chefer, Gur & Wolf (2021): rollout where every attention weight counts only as much as its "
                   "gradient says it raises the chosen class's score. Pick any class to ask \"where is the evidence "
                   "for a 3?\". Yellow = relevant to that class; never negative.")
        target = st.selectbox("Class", list(range(10)), index=pred, key="attn_relevance_target",
                              format_func=lambda t: f"{t} (predicted)" if t == pred else str(t))
        rel = cache.compute(E.gradient_rollout, model, img, int(target))
        show_map_grid(rel[None], [f"relevance for {target}"], "attn_relevance_fig", cols=1, background=img,
                      height=320, colorbar_title="relevance", hover="relevance")


rollout_view()

# ---- 4. per-head statistics ---------------------------------------------------------------
st.subheader("What kind of head is it?")
st.caption("Entropy of the class token's attention (0 = it looks at a single token, 1 = it spreads evenly over all "
           "50) and the share of attention that all tokens pay to the class token (a head that mostly attends to "
           "the class token is often a 'do nothing' head). Brighter = higher.")
stats = summary.stats
for col, (key, fig) in zip(st.columns(2), AP.head_stats_figures(stats)):
    col.plotly_chart(fig, key=key, config=PLOT_CONFIG)
with st.expander("All statistics as a table"):
    st.dataframe(AP.stats_table(stats), hide_index=True, key="attn_stats_table")


# ---- 5. head knockout ----------------------------------------------------------------------
@st.fragment
def knockout_view() -> None:
    st.subheader("Switch heads off")
    st.caption("Tick heads to knock them out (their output is set to zero for this digit only; Michel et al., 2019, "
               "'Are Sixteen Heads Really Better than One?'). Grey bars: the original probabilities; red: with the "
               "ticked heads off. Both are the plain softmax (not calibrated), so they differ a little from the "
               "headline confidence above.")
    off = head_ticks(L, H, "attn_ko")
    new = E.knockout_proba(model, img, off)
    st.plotly_chart(AP.knockout_figure(summary.probs, new, len(off)), key="attn_ko_fig", config=PLOT_CONFIG)
    kind, verdict = AP.knockout_verdict(pred, summary.probs, new, len(off))
    getattr(st, kind)(verdict)


knockout_view()

st.markdown("**How much does each head matter?**")
c1, c2 = st.columns(2)
with c1:
    effects = cache.compute(E.single_head_effects, model, img, pred)
    st.plotly_chart(AP.drop_heatmap(effects, f"this digit: drop in P({pred}) with one head off", ".1%"),
                    key="attn_effect_fig", config=PLOT_CONFIG)
    st.caption("Each cell: how much the probability of the predicted digit falls when only that head is off. "
               "Red = the head helps this answer, blue = removing it helps.")
with c2:
    panel = AP.test_drop(resources.load_json(paths.HEAD_IMPORTANCE.name), L, H)
    if panel is None:
        st.info(f"No test-set head importance table yet: run `{ANALYZE_CMD}`.")
    else:
        st.plotly_chart(panel[0], key="attn_testdrop_fig", config=PLOT_CONFIG)
        st.caption(panel[1])
