"""Watch it learn: the current digit read by the ViT at ten points of its own training run.

Render only: the numbers come from :mod:`model.explain.timeline` (one call, cached per digit),
the figures from :mod:`dashboard.timeline_plots`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import cache, resources
from dashboard.map_grid import map_figure
from dashboard.plots import probability_chart
from dashboard.state import get_current, prompt_for_digit
from dashboard.timeline_plots import learning_curve, probabilities_over_training
from model.explain import timeline

st.title("Watch it learn")
st.caption("The same transformer at ten moments of its training, from its first updates to the shipped model, "
           "reading your digit. Slide along the training steps to see when it learned to read it.")


cur = get_current()
if cur is None:
    prompt_for_digit("timeline_use_test", "No digit yet: draw one, or use an MNIST test image.")
    st.stop()

vit = resources.load_vit()
try:
    res = cache.compute(timeline.run, vit, cur.image, large=True).to_json()
except ValueError as exc:   # SnapshotError: missing, corrupt or from other weights
    st.error(f"{exc}")
    st.stop()

pts = res["snapshots"]
labels = [f"step {p['step']:,} (epoch {p['epoch']:.2f})" for p in pts]
i = st.select_slider("Training step", options=list(range(len(pts))), value=len(pts) - 1,
                     format_func=lambda k: labels[k], key="timeline_step",
                     help="Ten snapshots at log-spaced steps: many early, when the model changes fastest.")
p = pts[i]
last = i == len(pts) - 1
st.info(res["sentence"])
left, right = st.columns(2)
with left:
    probs = np.array(p["probabilities"])
    title = f"{'shipped model' if last else labels[i]}: {p['predicted']} ({probs.max():.1%})"
    st.plotly_chart(probability_chart(probs, title=title), key="timeline_probs")
    st.caption(f"At this point the model got {p['val_accuracy']:.2%} of the 5,000 held-out validation digits right.")
with right:
    st.plotly_chart(map_figure(np.array(p["rollout"]), "attention rollout",
                               background=np.asarray(cur.image), height=260), key="timeline_rollout")
st.caption("How to read this: the bars are the probabilities this snapshot gives your digit (divided by the "
           "shipped model's fitted temperature, as on every page; Guo et al., 2017). The map is the class "
           "token's attention rollout (Abnar & Zuidema, 2020): brighter patches are where the information the "
           "answer is read from came from. Early snapshots look everywhere; trained ones look at the strokes.")

answer = pts[-1]["predicted"]
steps = [q["step"] for q in pts]
st.plotly_chart(learning_curve(steps, [q["val_accuracy"] for q in pts], [q["probabilities"][answer] for q in pts],
                               answer, p["step"]), key="timeline_curve")
with st.expander("All ten probabilities over training"):
    st.plotly_chart(probabilities_over_training(steps, np.array([q["probabilities"] for q in pts])),
                    key="timeline_lines")
st.caption("How to read this: the solid line is how good the model was on held-out digits at each step, the "
           "dotted line how sure it was of its final answer for your digit. Digits like the training set's are "
           "learnt early; unusual ones late, or never. The snapshots are the weights of the shipped run at "
           "that step, stored in float16 (`python -m model.train` writes them; "
           "`python -m model.explain timeline FILE --json` prints this page's numbers).")
