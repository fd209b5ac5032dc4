"""Misclassified page: browse the MNIST test images a model gets wrong.

fastai-style error analysis (Howard & Gugger, 2020: ``top_losses``, ``most_confused``) on the
stored test-set table ``model/artifacts/test_eval.npz`` via :class:`model.interpret.Interpretation`:
a paginated grid and a sortable table of mistakes, filters by true and predicted digit, a
confusion matrix whose cells filter the grid (Streamlit's plotly selection events), and the
most confused pairs. Picking an image makes it the current digit, puts it in the URL
(``?image=1234``, shareable) and links to the pages that explain it.

Render only: every number comes from the stored table.
"""
from __future__ import annotations

import streamlit as st

from dashboard import resources
from dashboard.evaluation import EVALUATE_CMD, MISTAKE_COLUMNS, confusion_figure, mistake_captions
from dashboard.grid import thumbnail_grid
from dashboard.nav import page_link
from dashboard.state import get_current, set_test_image
from model.interpret import MODEL_LABELS, parse_image_param, selection_to_filter

GRID_COLS, GRID_ROWS = 6, 3
ANY = "any"

st.title("Misclassified test images")
st.caption("Where the models go wrong on the 10,000 MNIST test images, fastai-style (Howard & Gugger, 2020): "
           "the largest losses first, the most confused pairs, and a confusion matrix to filter by.")

interp = resources.load_interpretation()
if interp is None:
    st.warning(f"No stored test-set predictions yet: run `{EVALUATE_CMD}` (writes model/artifacts/test_eval.npz).")
    st.stop()

# ---- the shareable URL: ?image=1234 ------------------------------------------------------
index, message = parse_image_param(st.query_params.get_all("image"), len(interp))
if message:
    st.warning(message)
elif index is not None:
    cur = get_current()
    if cur is None or cur.test_index != index:
        set_test_image(index)
else:
    cur = get_current()                  # a test image picked on another page: make this view shareable too
    if cur is not None and cur.test_index is not None:
        st.query_params["image"] = str(cur.test_index)


def _pick(i: int) -> None:
    set_test_image(i)
    st.query_params["image"] = str(i)


def _on_cell() -> None:
    """Confusion-matrix selection -> the true/predicted filters (runs before the rerun)."""
    event = st.session_state.get("misc_cm") or {}
    cell = selection_to_filter((event.get("selection") or {}).get("points"))
    st.session_state["misc_true"], st.session_state["misc_pred"] = cell if cell else (ANY, ANY)
    st.session_state["misc_page"] = 1


def _on_row() -> None:
    """Table row selection -> the current digit."""
    event = st.session_state.get("misc_table") or {}
    rows = (event.get("selection") or {}).get("rows") or []
    shown = st.session_state.get("misc_rows", [])
    if rows and 0 <= rows[0] < len(shown):
        _pick(int(shown[rows[0]]))


# ---- controls ----------------------------------------------------------------------------
models = [m for m in ("vit", "vit_tta", "forest") if m in interp.models]
if {"vit", "forest"} <= set(interp.models):
    models.append("both")
c1, c2, c3, c4 = st.columns([3, 1, 1, 2])
model = c1.radio("Model", models, format_func=MODEL_LABELS.get, horizontal=True, key="misc_model")
choices = [ANY, *range(10)]
true = c2.selectbox("True digit", choices, key="misc_true")
pred = c3.selectbox("Predicted digit", choices, key="misc_pred",
                    help="For 'both wrong', the ViT's prediction.")
sort = c4.radio("Sort by", ["loss", "confidence"], horizontal=True, key="misc_sort",
                format_func={"loss": "loss (top losses)", "confidence": "confidence"}.get)
true = None if true == ANY else int(true)
pred = None if pred == ANY else int(pred)
df = interp.misclassified(model, true=true, pred=pred, sort=sort)
st.session_state["misc_rows"] = df["index"].tolist()

# ---- the selected image ------------------------------------------------------------------
cur = get_current()
if cur is not None and cur.test_index is not None:
    i = cur.test_index
    with st.container(border=True):
        a, b = st.columns([1, 4])
        a.image(resources.test_thumbnail_png(i), caption=f"test image #{i}")
        with b:
            preds = ", ".join(f"{MODEL_LABELS[m]} says {interp.predictions(m)[i]} "
                              f"({interp.confidences(m)[i]:.1%})" for m in interp.models)
            st.markdown(f"**Selected: test image #{i}**, true label {interp.labels[i]}. {preds}.")
            l1, l2 = st.columns(2)
            with l1:
                page_link("attention", "Open it on Attention", icon=":material/visibility:")
            with l2:
                page_link("attributions", "Open it on Attributions", icon=":material/insights:")
            st.caption("It is now the current digit of every page. Share this view: the link in the address bar "
                       f"ends in ?image={i}.")

# ---- confusion matrix and most confused pairs --------------------------------------------
cm_model = "vit" if model == "both" else model
cm = interp.confusion_matrix(cm_model)
st.subheader(f"Confusion matrix: {MODEL_LABELS[cm_model]}")


left, right = st.columns([3, 2])
with left:
    st.plotly_chart(confusion_figure(cm), key="misc_cm", on_select=_on_cell, selection_mode="points",
                    width="content", config={"displayModeBar": False})
    st.caption("Rows: true digit; columns: the model's answer. Grey diagonal: correct; red: mistakes, darker = "
               "more. Click a red cell to show only that pair below; double-click empty space to clear it.")
with right:
    pairs = interp.most_confused(cm_model, min_count=2)
    st.markdown("**Most confused pairs** (at least twice)")
    if pairs:
        st.dataframe([{"true": a, "predicted": b, "images": n} for a, b, n in pairs[:15]], hide_index=True,
                     key="misc_pairs")
    else:
        st.info("No pair is confused more than once.")
    st.caption("fastai's `most_confused`: (true, predicted) pairs by how often the model mixes them up.")

# ---- grid --------------------------------------------------------------------------------
what = MODEL_LABELS[model]
filt = "".join([f", true {true}" if true is not None else "", f", predicted {pred}" if pred is not None else ""])
st.subheader(f"{len(df):,} test images {what} gets wrong{filt}")
if df.empty:
    st.info("No test images match these filters." + (" The diagonal of the confusion matrix counts correct answers."
                                                     if true is not None and true == pred else ""))
else:
    thumbnail_grid(df["index"].to_numpy(), key="misc", on_pick=_pick, cols=GRID_COLS, rows=GRID_ROWS,
                   captions=mistake_captions(df), pick_help="Make this the current digit and put it in the URL")
    st.caption("Under each image: test-image number, true label, the model's answer and its probability. Loss is the "
               "cross-entropy -log p(true digit): a large loss is a confident mistake.")

st.markdown("**The same images as a table** (click a column header to sort, a row to pick it)")
st.dataframe(df, key="misc_table", on_select=_on_row, selection_mode="single-row", hide_index=True,
             height=280, column_config=MISTAKE_COLUMNS)

