"""Why page: why this answer? Counterfactual ("make it a ..."), look-alike training digits,
stroke replay, and a report to keep and a link to share.

* Counterfactual: :mod:`model.explain.counterfactual` (Wachter et al., 2017), with the random
  forest's answer on the result (:mod:`model.forest`).
* Neighbours, kNN vote, "unlike anything in training" meter and 2-D map:
  :mod:`model.explain.neighbours` (Papernot & McDaniel, 2018) on ``model/artifacts/neighbours.npz``.
* Stroke replay: :mod:`model.explain.replay` on the canvas strokes the Draw page kept.
* Report: :mod:`model.report`; share link: :mod:`data.share` (``?digit=...``) or ``?image=N``.

Render only: every number comes from one call into ``model/`` or a stored artifact.
"""
from __future__ import annotations

import json

import numpy as np
import streamlit as st

from dashboard import resources
from dashboard import why as W
from dashboard.grid import image_thumbnails
from dashboard.headline import headline, reads
from dashboard.state import DIGIT_PARAM, get_strokes, require_current
from model.explain.neighbours import WARN_PERCENTILE, WRITE_CMD
from model.explain.replay import turning_points

K = 10

st.title("Why this answer?")
st.caption("What would have to change for another answer, which training digits look alike to the model, "
           "which stroke decided it, and a report to keep.")

cur = require_current("why_use_test")
model = resources.load_vit()
image = np.array(cur.image, dtype=np.float32)
head = headline(model, image)
probs, pred = head.probabilities, head.digit
st.markdown(f"**{cur.source}**" + (f" (true label {cur.label})" if cur.label is not None else "")
            + f": the ViT reads {reads(head)}, calibrated confidence.")


# ---- make it a D ------------------------------------------------------------------------------
@st.fragment
def counterfactual_section() -> None:
    st.subheader("Make it a ...")
    runner_up = int(np.argsort(probs)[-2])
    target = st.selectbox("Target digit", list(range(10)), index=runner_up, key="why_target",
                          help="The smallest change of pixels that makes the transformer read this digit.")
    with st.spinner("Searching for a small change..."):
        cf = W.counterfactual(model, image, int(target))
    st.session_state["why_cf_target"] = int(target)
    W.show_counterfactual(cf, int(target), pred)
    st.caption("How to read this: a counterfactual explanation (Wachter, Mittelstadt & Russell, 2017) answers "
               "'what is the smallest change that gives another answer?'. The change is found by gradient descent "
               "on the pixels (kept between black and white), penalising every changed pixel (an L1 cost, "
               "larger far from the strokes) until the target's score beats every other by a margin (Carlini & "
               "Wagner, 2017), then pruned to the fewest pixels that still work, and checked by running the "
               "model again. Few changed pixels means the answer was fragile.")


# ---- look-alike training digits --------------------------------------------------------------
def neighbours_section() -> None:
    st.subheader("Look-alike training digits")
    index = resources.load_neighbour_index()
    if index is None:
        st.warning(f"No neighbour index yet: run `{WRITE_CMD}` (writes model/artifacts/neighbours.npz).")
        return
    if index.weights_sha256 != model.weights_sha256:
        st.warning(f"The neighbour index was computed from other weights than the shipped model; "
                   f"rerun `{WRITE_CMD}`.")
    nb = W.neighbours(model, image, K)
    train_images, _ = resources.load_train_images()
    image_thumbnails([(train_images[int(i)], f"{int(lab)} · train #{int(i)} · d = {float(d):.2f}")   # by distance
                      for i, lab, d in zip(nb.indices, nb.labels, nb.distances)], "why_neighbours", cols=5)
    m1, m2, m3 = st.columns(3)
    m1.metric(f"kNN vote (k = {K})", str(nb.knn_vote))
    m2.metric("ViT", str(pred))
    m3.metric("Nearest distance, percentile", f"{nb.distance_percentile:.1f}")
    if nb.knn_vote != pred:
        st.warning(f"The neighbours vote {nb.knn_vote} but the ViT says {pred}: its answer is not backed by "
                   "similar training digits.")
    st.progress(min(1.0, nb.distance_percentile / 100.0),
                text=f"Unlike anything in training? {nb.distance_percentile:.1f}th percentile of the test images' "
                     "nearest-neighbour distances")
    if nb.unusual:
        st.warning(f"Unlike anything in training: this digit is farther from its nearest training image than "
                   f"{WARN_PERCENTILE:.0f} % of the MNIST test digits are from theirs. Treat the answer with care.")
    st.caption(f"How to read this: the model's own view of a digit is the class token's final embedding. These "
               f"are the {K} training images nearest to yours in that space (Euclidean distance after PCA to "
               f"{index.codes.shape[1]} dimensions), as in Deep k-Nearest Neighbors (Papernot & McDaniel, 2018). "
               f"Their vote agrees with the ViT on {index.knn_accuracy:.2%} of the 10,000 test images (the ViT "
               f"itself scores {index.vit_accuracy:.2%}). The meter ranks your digit's nearest-neighbour distance "
               "among the test digits' own: near 100 means nothing in training looks like it.")
    st.plotly_chart(W.map_figure(index.test_map, index.test_labels, nb.map_xy), key="why_map")
    st.caption("How to read this: each dot is one of the 10,000 test digits, placed by a PCA (Pearson, 1901) of "
               "their embeddings to two dimensions, coloured by true label; the star is your digit, placed by "
               "the same projection. A star far from every cloud, or between two, is one the model finds unusual "
               "or ambiguous. PCA keeps distances only roughly: the neighbours above are exact.")


# ---- stroke replay --------------------------------------------------------------------------
def replay_section() -> None:
    st.subheader("Stroke replay")
    strokes = get_strokes()
    if not strokes:
        st.info("Stroke replay works on a digit drawn on the Draw page in this session.")
        return
    steps = W.replay(model, json.dumps(strokes))
    image_thumbnails([(s.image, f"stroke {s.stroke}: no digit yet" if s.image is None else          # stroke order
                       f"stroke {s.stroke}: {s.digit} ({s.probabilities.max():.0%})") for s in steps], "why_replay")
    for sentence in turning_points(steps):
        st.markdown(f"- {sentence}")
    st.caption("How to read this: your strokes are redrawn one by one, as the canvas drew them, and each partial "
               "drawing is read afresh, so you see which stroke decided the answer. The model never sees the "
               "order, only each finished image: the order matters to you, not to it.")


# ---- keep and share ---------------------------------------------------------------------------
def keep_and_share_section() -> None:
    st.subheader("Keep and share")
    target = st.session_state.get("why_cf_target")
    st.download_button("Download the report (HTML)", W.report_maker(model, image, cur.source, target, K),
                       file_name=f"digit-{pred}-report.html", mime="text/html", key="why_report",
                       help="One self-contained file: input, prediction, attention, attributions, counterfactual, "
                            "neighbours and the model version.")
    st.caption("Written when you press the button: a single file that opens offline in any browser.")
    if cur.test_index is not None:
        link = f"?image={cur.test_index}"
    else:
        from data.share import encode_digit

        link = f"?{DIGIT_PARAM}={encode_digit(image)}"
    st.code(link, language=None)
    if st.button("Put this link in the address bar", key="why_share"):
        if cur.test_index is None:
            st.query_params[DIGIT_PARAM] = link.split("=", 1)[1]
        else:
            st.query_params["image"] = str(cur.test_index)
    st.caption("Add this to the app's address to open the same digit on any page. A drawn digit is stored in the "
               "link itself (16 grey levels, compressed), so nothing is kept on a server.")


counterfactual_section()
neighbours_section()
replay_section()
keep_and_share_section()
