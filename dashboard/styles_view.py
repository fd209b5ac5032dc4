"""The Data page's "two ways to write a 1 and a 7": how many of MNIST's 1s carry a flag and of
its 7s a crossbar (the shape rules of :mod:`model.styles`, counted once by
``python -m model.styles --write`` into ``mnist_styles.json``), examples of each, and what the
training recipe does about it (the share recorded in ``vit_metrics.json``)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import resources
from dashboard.data_plots import mosaic
from model import paths


def styles_section() -> None:
    """The section, or one line naming the command when the table is missing or unreadable."""
    counts = resources.load_json(paths.MNIST_STYLES.name)
    if not counts.get("flagged_examples"):
        st.info(f"The writing-style table is missing: `python -m model.styles --write` makes "
                f"{paths.MNIST_STYLES.name}.")
        return
    images, _ = resources.load_train_images()
    share = resources.load_json(paths.VIT_METRICS.name).get("styles")
    st.subheader("Two ways to write a 1 and a 7")
    c1, c2 = st.columns(2)
    for col, key, what, n_key, total_key in ((c1, "flagged_examples", "1s with a flag", "flagged_ones", "ones"),
                                             (c2, "crossed_examples", "crossed 7s", "crossed_sevens", "sevens")):
        with col:
            st.metric(what, f"{counts[n_key] / counts[total_key]:.1%}",
                      help=f"{counts[n_key]:,} of the {counts[total_key]:,} in the training set, by the shape rule")
            strip = np.asarray(images)[counts[key][:8]].astype(np.float32) / 255.0
            st.image(mosaic(strip, cols=8, scale=2), caption=f"the first {len(strip)} {what} the rule finds")
    trained = (f" So the shipped model was trained with a flag drawn onto {share:.0%} of its 1s and a crossbar onto "
               f"{share:.0%} of its 7s (label-preserving augmentation in the spirit of Simard et al., 2003; "
               "`model/styles.py`)." if share else "")
    st.caption("How to read this: MNIST's writers were American census staff and school pupils (LeCun et al., "
               "1998), who mostly wrote a 1 as one stroke and rarely crossed a 7; much of Europe writes a 1 with a "
               "flag and crosses its 7s. A simple shape rule (`python -m model.styles`) finds these few; it also "
               "catches some slanted plain 1s, so the true share of flagged 1s is smaller still. A model that sees "
               f"almost no flagged 1 reads one as a 7.{trained} `python benchmarks/drawn_styles.py` checks both "
               "styles drawn on the canvas.")
