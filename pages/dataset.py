"""Data page: the distributions of the 60,000 MNIST training digits the model learned from, and
where the current digit sits in them.

Class balance, the mean and spread image per digit, a reshufflable sample per digit, and six
shape features (ink mass, stroke thickness, slant, box width and height, enclosed holes;
defined in :mod:`data.features`) as histograms overall and per digit. The current digit is a
marker on every histogram, with its percentile among the training digits of its predicted class
and a sentence naming the feature where it is most unusual; for a drawing or an upload, the
same features before and after preprocessing.

Render only: the tables are read from ``model/artifacts/data_tables.npz`` (written by
``python -m data.features --write``); the current digit's features are one call into ``data``;
the tables, histograms and mosaics are drawn by :mod:`dashboard.data_views`.
"""
from __future__ import annotations

import streamlit as st

from dashboard import data_plots as D
from dashboard import data_views as V
from dashboard import resources
from dashboard.headline import headline
from dashboard.palette import PLOT_CONFIG
from dashboard.state import get_current, prompt_for_digit
from dashboard.styles_view import styles_section
from data import features as F
from model import paths

SAMPLES = 8                  # sample digits per class
SEED_KEY = "data_seed"       # session state: the sample's seed, bumped by "Reshuffle"

st.title("Data: what the model learned from")
st.caption("The transformer learned from the 60,000 MNIST training digits (LeCun, Cortes & Burges). Whatever it "
           "does on your digit depends on how far your digit is from them: interrogate the data before the model.")

tables = resources.load_npz(paths.DATA_TABLES.name)
if not tables:
    st.warning(f"No data tables yet: run `{F.WRITE_CMD}`.")
    st.stop()

feats = resources.npz_array(paths.DATA_TABLES.name, "features", "float32")     # (N, F), shared
labels = resources.npz_array(paths.DATA_TABLES.name, "labels", "int64")        # (N,), shared
names = [str(n) for n in tables["feature_names"]]

# ---- the current digit -------------------------------------------------------------------
cur = get_current()
mine = before = pred = None
if cur is None:
    prompt_for_digit("data_use_test", "No digit yet: the data is shown below on its own. Draw a digit, or use an "
                                      "MNIST test image, to see where it sits in every distribution.")
else:
    mine, before, steps_run = V.features_before_after(cur)
    vit = resources.vit_or_none(show=False) if paths.VIT_WEIGHTS.is_file() else None
    pred = headline(vit, cur.image).digit if vit is not None else cur.label
    st.subheader("Your digit among the training digits")
    if pred is None:
        st.info(f"Current digit: {cur.source}. No model to predict its class yet (`python -m model.train`): "
                "it is compared with all digits below.")
    else:
        unusual = F.most_unusual(mine, feats, labels, pred)
        st.markdown(f"**{unusual['sentence']}**")
        V.percentile_table(mine, unusual, feats, names, pred)
        src = "the transformer's answer" if paths.VIT_WEIGHTS.is_file() else "its true label"
        st.caption(f"How to read this: the current digit ({cur.source}) is compared with the "
                   f"{int((labels == pred).sum()):,} training {pred}s ({pred} is {src}). A percentile of 97 means it "
                   "exceeds 97 % of them on that feature, 3 means only 3 % are lower; ties count half. The sentence "
                   "names the feature furthest from the middle. Unusual is not wrong, but the model has seen few "
                   "digits like it.")

# ---- distributions -----------------------------------------------------------------------
st.subheader("Distributions of six shape features")
options: list = ["all digits", *range(10)]
c1, c2 = st.columns([3, 1])
group = c1.selectbox("Digits", options, index=0 if pred is None else options.index(pred), key="data_group",
                     format_func=lambda g: g if isinstance(g, str) else f"{g}s only")
log = c2.toggle("Log scale", value=False, key="data_log",
                help="Counts on a logarithmic axis: the rare tails become visible")
sel = slice(None) if isinstance(group, str) else labels == group
edges = resources.feature_bin_edges(feats, tuple(names))
who = "all 60,000 training digits" if isinstance(group, str) else f"the training {group}s"
cols = st.columns(2)
for j, name in enumerate(names):
    with cols[j % 2]:
        V.histogram(name, edges[j], feats[sel, j], log, mine, before)
        st.caption(f"How to read this: {D.FEATURE_NOTES[name]} Bars count {who}; values beyond the outer bins are "
                   "counted in them." + (" Red line: your digit as the model sees it." if mine is not None else ""))

# ---- before and after preprocessing ------------------------------------------------------
if cur is not None:
    st.subheader("Your drawing before and after preprocessing")
    if before is None:
        st.info(f"The current digit ({cur.source}) is an MNIST image: it was size-normalised and centred when the "
                "dataset was made (LeCun et al., 1998), so there is no 'before'. Draw or upload a digit to compare.")
    else:
        table, sentence = D.before_after(before, mine, steps_run, names)
        V.before_after_table(table)
        st.markdown(sentence)
        st.caption("How to read this: 'before' is your whole canvas shrunk to 28x28 pixels (as if it were MNIST's "
                   "field), 'after' the image the model sees, made the way MNIST was made (LeCun et al., 1998): "
                   "cropped, scaled to fit 20x20, centred by mass. Features that change were normalised away; "
                   "those that stay are the ones your digit brings to the model as they are. The green dotted "
                   "lines above mark the 'before' values.")

# ---- class balance -----------------------------------------------------------------------
st.subheader("Class balance")
train_counts, test_counts = tables["train_counts"], tables["test_counts"]
st.plotly_chart(D.class_balance_figure(train_counts, test_counts), key="data_balance", config=PLOT_CONFIG)
lo, hi, gap = D.balance_facts(train_counts, test_counts)
st.caption(f"How to read this: each bar is a digit's share of MNIST's training or test set (LeCun et al., 1998; "
           f"counts on hover). The training set has "
           f"{int(train_counts[hi]):,} {hi}s and {int(train_counts[lo]):,} {lo}s, "
           f"{train_counts[hi] / train_counts[lo]:.2f} times as many; a digit's share in the test set differs from "
           f"its share in the training set by at most {gap:.1f} percentage points. Nearly balanced classes mean "
           "the overall accuracy is not dominated by one digit.")

# ---- mean and spread ---------------------------------------------------------------------
st.subheader("The average digit, and how much digits vary")
V.mean_and_spread(tables["mean"], tables["std"])
st.caption("How to read this: the mean image averages every training digit of a class pixel by pixel: sharp where "
           "writers agree, blurred where they differ. The spread (standard deviation) is bright where pixels vary "
           "most between writers, usually the edges of strokes, since MNIST centred every digit by its centre of "
           "mass (LeCun et al., 1998).")

# ---- samples -----------------------------------------------------------------------------
st.subheader("A random sample of each digit")
st.session_state.setdefault(SEED_KEY, 0)


def _reshuffle() -> None:
    st.session_state[SEED_KEY] += 1


@st.fragment
def _samples() -> None:
    """Reshuffle reruns only this fragment, not the histograms above."""
    st.button("Reshuffle", key="data_reshuffle", on_click=_reshuffle, icon=":material/shuffle:")
    train_images, train_labels = resources.load_train_images()
    picks = D.sample_indices(train_labels, SAMPLES, st.session_state[SEED_KEY])
    left, _ = st.columns([3, 2])           # about 480 px on a desktop, the full width on a phone
    left.image(D.mosaic(train_images[picks] / 255.0, cols=SAMPLES, scale=2), width="stretch", output_format="PNG",
               caption=f"{SAMPLES} training digits per row, 0 at the top to 9 at the bottom "
                       f"(sample {st.session_state[SEED_KEY]})")
    st.caption("How to read this: real MNIST training digits (LeCun et al., 1998), drawn at random per class; "
               "Reshuffle draws another sample. Look for the variety the averages above hide: open and closed "
               "loops, crossed 7s, slants, pen widths.")


_samples()
styles_section()   # two ways to write a 1 and a 7: dashboard/styles_view.py
