"""Attention page: what each head of the Vision Transformer looks at for the current digit.

Views: the class token's attention in every layer and head (Dosovitskiy et al., 2021), any
query patch's attention in one layer, the mean over heads, attention rollout (Abnar &
Zuidema, 2020), gradient-weighted rollout for any class (Chefer, Gur & Wolf, 2021), per-head
statistics, and head knockout on this digit and on the test set (Michel et al., 2019).

Render only: all numbers come from ``model.explain`` (one forward pass for the attention, one
backward pass for the class-specific map) and ``head_importance.json`` (python -m model.analyze).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import cache, resources
from dashboard.headline import headline, sentence
from dashboard.map_grid import show_map_grid
from dashboard.plots import SEQUENTIAL
from dashboard.state import require_current
from model import explain as E
from model import paths

ANALYZE_CMD = "python -m model.analyze"
CONFIG = {"displayModeBar": False}

st.title("Attention: where the transformer looks")
st.caption("The transformer cuts the digit into a 7x7 grid of 4x4-pixel patches plus one extra *class token* "
           "that collects the evidence for the answer. In every layer, each head decides how much each token "
           "looks at every other token (the weights in a row add up to 1). These views show those weights.")

cur = require_current("attn_use_test")

model = resources.load_vit()
L, H = model.cfg.depth, model.cfg.heads
img = cur.image


def head_name(layer: int, head: int) -> str:
    return f"L{layer + 1} H{head + 1}"


def stat_heatmap(values: np.ndarray, title: str, fmt: str = ".2f", colorscale: str = SEQUENTIAL,
                 zmid: float | None = None) -> go.Figure:
    fig = go.Figure(go.Heatmap(
        z=values, x=[f"head {h + 1}" for h in range(values.shape[1])], y=[f"layer {l + 1}" for l in range(values.shape[0])],
        colorscale=colorscale, zmid=zmid, text=np.vectorize(lambda v: format(v, fmt))(values), texttemplate="%{text}",
        hovertemplate="%{y}, %{x}: %{z:.4f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=60 + 45 * values.shape[0], margin=dict(l=0, r=0, t=30, b=0), title=title)
    return fig


summary = cache.compute(E.attention_summary, model, img, large=True)
head = headline(model, img)
pred = head.digit
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
              [head_name(l, h) for l in range(L) for h in range(H)], "attn_grid", cols=H,
              background=img if grid_overlay else None, shared=not per_map, colorbar_title="attention",
              hover="attention")


# ---- 2. any query patch --------------------------------------------------------------------
@st.fragment
def query_view() -> None:
    st.subheader("Where does one patch look?")
    st.caption("Pick a layer and a query token: the class token or any patch (marked in red). Each map shows "
               "where that token looks in one head of the chosen layer. Yellow = much attention, dark = little.")
    g = summary.grid
    c1, c2, c3 = st.columns([1, 1, 1])
    with c1:
        layer = st.selectbox("Layer", list(range(L)), index=L - 1, format_func=lambda l: f"layer {l + 1}",
                             key="attn_query_layer")
    with c2:
        kind = st.radio("Query", ["class token", "a patch"], horizontal=True, key="attn_query_kind")
    marker = None
    query = 0
    if kind == "a patch":
        with c3:
            # default: the patch with the most ink
            ink = img.reshape(g, 28 // g, g, 28 // g).sum(axis=(1, 3))
            r0, c0 = np.unravel_index(int(ink.argmax()), ink.shape)
            pr = st.slider("Patch row", 1, g, int(r0) + 1, key="attn_query_row")
            pc = st.slider("Patch column", 1, g, int(c0) + 1, key="attn_query_col")
        query = 1 + (pr - 1) * g + (pc - 1)
        marker = (pr - 1, pc - 1)
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
        d = st.slider("Discard ratio", 0.0, 0.9, 0.0, 0.05, key="attn_rollout_discard",
                      help="Drop this fraction of the weakest attention weights in each layer first (sharper maps).")
        fusion = st.selectbox("Head fusion", ["mean", "max", "min"], key="attn_rollout_fusion",
                              help="How the heads of a layer are combined before multiplying the layers.")
        roll = E.rollout(summary.attn, d, fusion)
        show_map_grid(roll[None], ["rollout"], "attn_rollout_fig", cols=1, background=img, height=320,
                      colorbar_title="share", hover="share")
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
c1, c2 = st.columns(2)
with c1:
    st.plotly_chart(stat_heatmap(stats["cls_entropy"], "class-token entropy (0-1)"), key="attn_entropy_fig",
                    config=CONFIG)
with c2:
    st.plotly_chart(stat_heatmap(stats["cls_share"], "share of attention on the class token", fmt=".3f"),
                    key="attn_share_fig", config=CONFIG)
with st.expander("All statistics as a table"):
    st.dataframe(pd.DataFrame([{
        "head": head_name(l, h),
        "class-token entropy": float(stats["cls_entropy"][l, h]),
        "mean entropy (all queries)": float(stats["mean_entropy"][l, h]),
        "share on class token": float(stats["cls_share"][l, h]),
        "class token on itself": float(stats["cls_self"][l, h]),
    } for l in range(L) for h in range(H)]), hide_index=True, key="attn_stats_table")


# ---- 5. head knockout ----------------------------------------------------------------------
def _clear_knockout() -> None:
    for l in range(L):
        for h in range(H):
            st.session_state[f"attn_ko_{l}_{h}"] = False


@st.fragment
def knockout_view() -> None:
    st.subheader("Switch heads off")
    st.caption("Tick heads to knock them out (their output is set to zero for this digit only; Michel et al., 2019, "
               "'Are Sixteen Heads Really Better than One?'). Grey bars: the original probabilities; red: with the "
               "ticked heads off. Both are the plain softmax (not calibrated), so they differ a little from the "
               "headline confidence above.")
    off: list[tuple[int, int]] = []
    # a table of ticks that keeps its H + 1 columns on a phone too (cells shrink to 56 px)
    table = st.grid(H + 1, wrap=False, min_column_width=56, gap="xsmall", vertical_alignment="center",
                    key="attn_ko_table")
    table.markdown("&nbsp;")
    for h in range(H):
        table.markdown(f"**head {h + 1}**")
    for l in range(L):
        table.markdown(f"layer {l + 1}")
        for h in range(H):
            if table.checkbox(head_name(l, h), key=f"attn_ko_{l}_{h}", label_visibility="collapsed"):
                off.append((l, h))
    st.button("Switch all heads back on", key="attn_ko_clear", on_click=_clear_knockout)
    new = E.knockout_proba(model, img, off)
    fig = go.Figure([
        go.Bar(x=[str(d) for d in range(10)], y=summary.probs, name="all heads on", marker_color="#9e9e9e",
               hovertemplate="digit %{x}: %{y:.2%}<extra>original</extra>"),
        go.Bar(x=[str(d) for d in range(10)], y=new, name=f"{len(off)} head(s) off", marker_color="#d62728",
               hovertemplate="digit %{x}: %{y:.2%}<extra>knocked out</extra>")])
    fig.update_layout(barmode="group", height=280, margin=dict(l=10, r=10, t=30, b=10),
                      yaxis=dict(title="probability", range=[0, 1.05]), xaxis=dict(title="digit", type="category"),
                      legend=dict(orientation="h", y=1.15))
    st.plotly_chart(fig, key="attn_ko_fig", config=CONFIG)
    new_pred = int(new.argmax())
    if not off:
        st.caption("No head is off: the two sets of bars are the same.")
    elif new_pred != pred:
        st.warning(f"With {len(off)} head(s) off the answer changes from {pred} to **{new_pred}** ({new[new_pred]:.1%}).")
    else:
        st.success(f"Still {pred}: its softmax probability goes from {summary.probs[pred]:.1%} to {new[pred]:.1%}.")


knockout_view()

st.markdown("**How much does each head matter?**")
c1, c2 = st.columns(2)
with c1:
    effects = cache.compute(E.single_head_effects, model, img, pred)
    st.plotly_chart(stat_heatmap(effects, f"this digit: drop in P({pred}) with one head off", fmt=".1%",
                                 colorscale="RdBu_r", zmid=0.0), key="attn_effect_fig", config=CONFIG)
    st.caption("Each cell: how much the probability of the predicted digit falls when only that head is off. "
               "Red = the head helps this answer, blue = removing it helps.")
with c2:
    imp = resources.load_json(paths.HEAD_IMPORTANCE.name)
    drop = np.asarray(imp.get("accuracy_drop", []), dtype=float)
    if drop.shape == (L, H):
        st.plotly_chart(stat_heatmap(drop, "test set: accuracy drop with one head off", fmt=".2%",
                                     colorscale="RdBu_r", zmid=0.0), key="attn_testdrop_fig", config=CONFIG)
        st.caption(f"Each cell: test accuracy lost when that head alone is off, on {imp.get('n_images')} MNIST test "
                   f"images (accuracy with all heads on: {imp.get('baseline_accuracy', float('nan')):.2%}). "
                   "Red = the model needs this head, blue = it does slightly better without it.")
    else:
        st.info(f"No test-set head importance table yet: run `{ANALYZE_CMD}`.")
