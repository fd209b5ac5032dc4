"""The Model page's tables and figures as Streamlit elements (the page lays them out and explains
them): the configuration and parameter tables, the training curves and record, the model's input,
a drawing's preprocessing steps, the experiments and accuracy tables and the calibration figures.
Streamlit calls, no computation: tables and figures come from :mod:`dashboard.model_plots`,
:mod:`dashboard.evaluation` and :mod:`dashboard.plots`."""
from __future__ import annotations

import streamlit as st

from dashboard import model_plots as M
from dashboard.evaluation import models_table
from dashboard.plots import image_figure, reliability_figure

PERCENT = st.column_config.NumberColumn(format="percent")
LOCALIZED = st.column_config.NumberColumn(format="localized")


def config_and_params(vit) -> None:
    """The stored configuration and the parameters per part, side by side."""
    c1, c2 = st.columns(2)
    c1.dataframe(M.config_table(vit.cfg), hide_index=True, key="card_config")
    c2.dataframe(M.params_table(vit), hide_index=True, key="card_params",
                 column_config={"parameters": LOCALIZED, "share": PERCENT})


def training_curves(history: list[dict]) -> None:
    """Loss and accuracy per epoch: side by side on a desktop, stacked on a phone."""
    curves = st.grid(2, min_column_width=300, key="card_curves")
    for suffix, fig in M.training_curves(history):
        curves.plotly_chart(fig, key=f"card_curves_{suffix}")


def training_record(metrics: dict) -> None:
    """What the training run recorded about itself (time, device, images, epochs) and its command."""
    facts = M.training_facts(metrics)
    if facts:
        st.markdown(facts)
    if metrics.get("command"):
        st.code(metrics["command"], language="bash")


def model_input(image) -> None:
    """The (28, 28) image the model reads."""
    st.plotly_chart(image_figure(image, title="what the model sees (28x28)"), key="card_mnist_image")


def step_grid(steps: dict, per_row: int = 3) -> None:
    """Every preprocessing step's image, ``per_row`` a row, each with its name and size."""
    names = list(steps)
    for r in range(0, len(names), per_row):
        for col, name in zip(st.columns(per_row), names[r:r + per_row]):
            img = M.step_image(steps[name])
            col.plotly_chart(image_figure(img, title=f"{name}", height=220), key=f"card_step_{r}_{name}")
            col.caption(f"{name}: {img.shape[1]}x{img.shape[0]} px")


def experiments_table(runs: list[dict]) -> None:
    """One row per logged training run."""
    st.dataframe(M.experiments_table(runs), hide_index=True, key="card_experiments", column_config={
        "validation accuracy": PERCENT, "validation accuracy (raw weights)": PERCENT,
        "test accuracy (older runs)": PERCENT, "params": LOCALIZED,
        "minutes": st.column_config.NumberColumn(format="%.1f")})


def accuracy_table(evaluation: dict) -> None:
    """Test-set accuracy and size of each model."""
    st.dataframe(models_table(evaluation)[["model", "accuracy", "size"]], hide_index=True, key="card_accuracy",
                 column_config={"accuracy": PERCENT})


def calibration_figures(vit_eval: dict) -> None:
    """The reliability diagram, the ECE before and after temperature scaling, and the temperature."""
    st.plotly_chart(reliability_figure(vit_eval["reliability"]), key="card_reliability")
    c1, c2, c3 = st.columns(3)
    c1.metric("ECE before scaling", f"{vit_eval['ece_uncalibrated']:.2%}")
    c2.metric("ECE after scaling", f"{vit_eval['ece']:.2%}")
    c3.metric("Temperature", f"{vit_eval['temperature']:.2f}")
