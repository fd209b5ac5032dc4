"""The Data page's tables and pictures as Streamlit elements (the page lays them out and explains
them): the current digit's features before and after preprocessing, the percentile and
before/after tables, a feature histogram with the digit's markers, and the mean and spread
mosaics. Figures and tables come from :mod:`dashboard.data_plots`, features from :mod:`data.features`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import data_plots as D
from dashboard.model_plots import preprocess_steps
from dashboard.palette import PLOT_CONFIG
from dashboard.state import CurrentDigit
from data import features as F

AFTER, BEFORE = "#d62728", "#2ca02c"        # marker colours: the digit the model sees, the drawing before
FIGURE = st.column_config.NumberColumn(format="%.3g")


def features_before_after(cur: CurrentDigit) -> tuple[dict[str, float], dict[str, float] | None, list[str]]:
    """The current digit's features, those of the drawing before preprocessing (None for an MNIST
    image, which has no 'before') and the names of the preprocessing steps that ran."""
    mine = D.digit_features(cur.image)
    if cur.raw_file is None:
        return mine, None, []
    steps = preprocess_steps(cur.raw)
    img = F.before_image(steps)
    return mine, (None if img is None else D.digit_features(img)), list(steps)


def percentile_table(mine: dict[str, float], unusual: dict, feats: np.ndarray, names: list[str], pred: int) -> None:
    """The digit's value and percentiles per feature (a bar for its percentile among its class)."""
    st.dataframe(D.percentile_table(mine, unusual, feats, names, pred), hide_index=True, key="data_percentiles",
                 column_config={
                     "your digit": FIGURE,
                     f"percentile among {pred}s": st.column_config.ProgressColumn(format="%.0f", min_value=0,
                                                                                  max_value=100),
                     "percentile among all digits": st.column_config.NumberColumn(format="%.0f")})


def histogram(name: str, edges: np.ndarray, values: np.ndarray, log: bool, mine: dict[str, float] | None,
              before: dict[str, float] | None) -> None:
    """The histogram of one feature over ``values``, with a red line at the digit's value and a
    green dotted one at the drawing's value before preprocessing (when there are any)."""
    markers = [] if mine is None else [(mine[name], "your digit", AFTER, "solid")]
    if before is not None:
        markers.append((before[name], "before preprocessing", BEFORE, "dot"))
    st.plotly_chart(D.histogram_figure(edges, F.histogram(values, edges), F.LABELS[name], log=log, markers=markers,
                                       discrete=name in F.DISCRETE), key=f"data_hist_{name}", config=PLOT_CONFIG)


def before_after_table(table) -> None:
    """The features before and after preprocessing, with what preprocessing did to each."""
    st.dataframe(table, hide_index=True, key="data_before_after", column_config={"before": FIGURE, "after": FIGURE})


def mean_and_spread(mean: np.ndarray, std: np.ndarray) -> None:
    """The mean image of each digit, then its pixel-wise standard deviation (each to its own maximum)."""
    st.image(D.mosaic(mean, cols=10, scale=2), caption="mean image of each digit, 0 to 9", width="stretch",
             output_format="PNG")
    st.image(D.mosaic(std, cols=10, scale=2, normalise=True),
             caption="pixel-wise standard deviation of each digit (each scaled to its own maximum)", width="stretch",
             output_format="PNG")
