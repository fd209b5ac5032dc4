"""The activation-patching view of the Inside page in parts: the second-digit picker, the
"predict, then reveal" guess (a click on a patch, or its row and column) and the maps with the
verdict. Figures come from :mod:`dashboard.inside_plots`, the patching sweep from
:func:`model.explain.activation_patching` through the one cache layer (:mod:`dashboard.cache`),
the click -> patch mapping from :func:`model.interpret.selection_to_patch`."""
from __future__ import annotations

import hashlib
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import cache, resources
from dashboard import inside_plots as P
from dashboard.map_grid import show_map_grid
from dashboard.plots import DIVERGING
from dashboard.state import CurrentDigit
from model import explain as E
from model import paths
from model.explain.inside import uniform_attention_distance
from model.interpret import selection_to_patch

ANALYZE_CMD = "python -m model.analyze --inside"
CONFIG = {"displayModeBar": False}
ROW, COL, REVEALED = "inside_guess_row", "inside_guess_col", "inside_revealed"     # session-state keys


def patching(model, image: np.ndarray, second: np.ndarray) -> E.Patching:
    """Every token and head patched from ``second`` into ``image``, once per model and image pair."""
    return cache.compute(E.activation_patching, model, image, second, large=True)


def second_digit(probs: np.ndarray, pred: int, previous: CurrentDigit | None) -> tuple[np.ndarray, str]:
    """The radio, class and index pickers for the second digit; returns it and its description."""
    images, labels = resources.load_test_images()
    c1, c2, c3 = st.columns([2, 2, 1])
    options = ["a test image of another class"] + (["the previous digit"] if previous is not None else [])
    with c1:
        source = st.radio("Second digit", options, key="inside_second_source", horizontal=False)
    if source == "the previous digit" and previous is not None:
        second, desc = previous.image, f"the previous digit ({previous.source})"
    else:
        runner_up = int(np.argsort(probs)[-2])
        others = [d for d in range(10) if d != pred]
        with c2:
            cls = st.selectbox("Class of the test image", others, index=others.index(runner_up),
                               key="inside_second_class", help="Default: your digit's runner-up class.")
            idx = np.flatnonzero(labels == cls)
            if st.session_state.get("inside_second_n", 1) > len(idx):      # fewer test images of the new class
                st.session_state["inside_second_n"] = len(idx)
            n = st.number_input(f"Which {cls} (1 = the first in the test set)", 1, len(idx), 1, key="inside_second_n")
        i = int(idx[int(n) - 1])
        second, desc = images[i].astype(np.float32) / 255.0, f"test image #{i} (a {cls})"
    with c3:
        st.image((np.asarray(second) * 255).astype(np.uint8), caption="second digit", width=84)
    return second, desc


def guess_key(image: np.ndarray, second: np.ndarray, metric: str) -> str:
    """A guess belongs to one digit, second digit and measure: a new one asks for a new guess."""
    return hashlib.sha256(cache.image_bytes(image) + cache.image_bytes(second) + metric.encode()).hexdigest()


def _on_guess_click(grid: int) -> None:
    event = st.session_state.get("inside_guess_fig") or {}
    patch = selection_to_patch((event.get("selection") or {}).get("points"), grid)
    if patch is not None:
        st.session_state[ROW], st.session_state[COL] = patch[0] + 1, patch[1] + 1


def _reveal(key: str) -> None:
    st.session_state[REVEALED] = (key, int(st.session_state[ROW]) - 1, int(st.session_state[COL]) - 1)


def guess(image: np.ndarray, grid: int, key: str) -> tuple[int, int] | None:
    """The learner's guess (row, column, 0-based) once revealed for ``key``; until then the guess
    panel is shown and None returned (the caller shows no map)."""
    revealed = st.session_state.get(REVEALED)
    if revealed is not None and revealed[0] == key:
        return revealed[1], revealed[2]
    st.markdown("**Your guess first:** which patch of your digit, if it came from the second digit instead, "
                "would hurt the answer most? Click it (or pick its row and column), then reveal.")
    g1, g2 = st.columns([1, 1])
    with g1:
        st.plotly_chart(P.guess_figure(image, grid), key="inside_guess_fig", config=CONFIG,
                        on_select=partial(_on_guess_click, grid), selection_mode="points")
    with g2:
        row = st.selectbox("Patch row (1 = top)", list(range(1, grid + 1)), index=grid // 2, key=ROW)
        col = st.selectbox("Patch column (1 = left)", list(range(1, grid + 1)), index=grid // 2, key=COL)
        st.button("Reveal", key="inside_reveal", type="primary", on_click=_reveal, args=(key,))
    st.caption(f"Your guess so far: row {row}, column {col}.")
    return None


def patch_maps(pt: E.Patching, metric: str, image: np.ndarray, guessed: tuple[int, int] | None) -> None:
    """The per-layer maps of one patch token patched, their reading and, after a guess, the verdict."""
    L, G = pt.effects[metric]["layer_patch"].shape[:2]
    fmt = ".1%" if metric == "prob" else "+.2f"
    lp = pt.effects[metric]["layer_patch"]                                   # (L, g, g)
    lt, rt, ct = pt.top_patch(metric)
    rr, cc = np.mgrid[0:G, 0:G] + 1
    st.markdown("**One patch token patched, as it enters each block**")
    show_map_grid(-lp, [f"entering block {l + 1}" for l in range(L)], "inside_patch_fig", cols=L, background=image,
                  colorscale=DIVERGING, zmid=0.0, opacity=0.75, colorbar_title="drop (red) or rise (blue)",
                  customdata=[np.stack([rr, cc, lp[l]], -1) for l in range(L)],
                  hovertemplates="patch row %{customdata[0]}, col %{customdata[1]}: "
                                 "change %{customdata[2]:+.4f}<extra></extra>",
                  marker=guessed, marker_color="lime")
    if metric == "prob" and np.abs(lp).max() < 0.01:
        st.info("Every single-patch change is below one percentage point: the model is so sure that its probability "
                "hardly moves. Switch the measure to the logit difference to see which patches carry the evidence.")
    st.caption(f"Largest drop: patch row {rt + 1}, column {ct + 1} entering block {lt + 1} "
               f"({lp[lt, rt, ct]:{fmt}}). Class token entering each block: "
               + ", ".join(f"{v:{fmt}}" for v in pt.effects[metric]["layer_cls"])
               + " (entering block 1 it is the same for every digit).")
    if guessed is not None:
        rank = pt.rank_of(guessed[0], guessed[1], metric)
        imp = pt.patch_importance(metric)
        best = np.unravel_index(int(imp.argmax()), imp.shape)
        verdict = ("Spot on: that is the patch that matters most." if rank == 1 else
                   f"Your patch ranks {rank} of {G * G}; the one that matters most is row {best[0] + 1}, "
                   f"column {best[1] + 1}.")
        st.success(f"You picked row {guessed[0] + 1}, column {guessed[1] + 1} (green box): its largest drop over the "
                   f"layers is {imp[guessed]:{fmt.replace('+', '')}}. {verdict}")


def dla_view(res: E.Inside) -> None:
    """Direct logit attribution of the class token (Elhage et al., 2021), for the predicted class
    or another one ("why a 3 and not a 5?"), with the check that the parts add up to the logit."""
    pred = res.pred
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
        gap = res.dla.logits[pred] - res.dla.logits[target]
        st.caption(f"Why a {pred} and not a {target}: the logits differ by {gap:.2f}; "
                   f"the part that separates them most is **{res.dla.names[k]}** ({diff[k]:+.2f}).")
    with st.expander("All parts as a table"):
        st.dataframe(pd.DataFrame({"part": res.dla.names, f"logit of {target}": res.dla.parts[:, target],
                                   f"logit of {pred}": res.dla.parts[:, pred]}),
                     hide_index=True, key="inside_dla_table")


def distance_view(res: E.Inside, grid: int) -> None:
    """Mean attention distance per head for this digit beside the stored test-set averages
    (Dosovitskiy et al., 2021, Fig. 7; ``attention_distance.json``)."""
    pred, (L, H) = res.pred, res.attention_distance.shape
    st.subheader("How far does each head look?")
    st.caption("How to read this: for every patch, the distance in pixels to the patches it attends to, weighted by "
               "the attention and averaged over patches (*mean attention distance*, Dosovitskiy et al., 2021, Fig. 7). "
               "Patch centres are 4 px apart. Dots = this digit, hollow = the MNIST test-set average, one colour per "
               "head; below "
               "the dotted line a head prefers nearby patches, above it far ones.")
    stored = resources.load_json(paths.ATTENTION_DISTANCE.name)
    avg = np.asarray(stored.get("mean_attention_distance", []), dtype=float)
    per_class = np.asarray(stored.get("per_class", []), dtype=float)
    if avg.shape != (L, H):
        avg = None
        st.info(f"No test-set average stored yet: run `{ANALYZE_CMD}`.")
    same = per_class[pred] if per_class.shape == (10, L, H) else None
    st.plotly_chart(P.attention_distance_figure(res.attention_distance, avg, same, uniform_attention_distance(grid),
                                                f"class {pred}"), key="inside_distance_fig", config=CONFIG)
    if avg is not None:
        diff = res.attention_distance - avg
        l, h = np.unravel_index(int(np.abs(diff).argmax()), diff.shape)
        st.caption(f"Test-set figures: {stored.get('n_images')} MNIST test images "
                   f"(`{stored.get('command', ANALYZE_CMD)}`). Largest difference for this digit: layer {l + 1} "
                   f"head {h + 1}, {res.attention_distance[l, h]:.1f} px "
                   f"against {avg[l, h]:.1f} px on average.")
