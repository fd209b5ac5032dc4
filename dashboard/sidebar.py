"""The sidebar every page shares: what the app is and the models' headline figures.

Figures are read from ``model/artifacts/evaluation.json`` (written by
``python -m model.evaluate --write``); nothing is computed or made up here, and when the file is
missing the sidebar says how to create it.
"""
from __future__ import annotations

import streamlit as st

from dashboard.evaluation import EVALUATE_CMD
from dashboard.resources import load_json

EVALUATION_FILE = "evaluation.json"
MISSING_MESSAGE = f"No evaluation yet: run `{EVALUATE_CMD}`."


def headline_figures(evaluation: dict) -> list[tuple[str, str, str]]:
    """(label, value, help) for each headline figure present in ``evaluation``; [] when absent."""
    vit = evaluation.get("vit") or {}
    forest = evaluation.get("random_forest") or {}
    n = evaluation.get("test_size")
    on = f" on the {n:,} MNIST test images" if isinstance(n, int) else " on the MNIST test set"
    out: list[tuple[str, str, str]] = []
    if isinstance(vit.get("accuracy"), (int, float)):
        out.append(("ViT accuracy", f"{vit['accuracy']:.2%}", "Vision Transformer, one forward pass per image" + on))
    if isinstance(vit.get("tta_accuracy"), (int, float)):
        out.append(("ViT + TTA", f"{vit['tta_accuracy']:.2%}",
                    "averaged over small shifts and rotations (test-time augmentation)" + on))
    if isinstance(forest.get("accuracy"), (int, float)):
        out.append(("Random forest", f"{forest['accuracy']:.2%}", "the pixel-based baseline" + on))
    if isinstance(vit.get("params"), int):
        out.append(("ViT parameters", f"{vit['params']:,}", "trainable parameters of the transformer"))
    return out


def render_sidebar() -> None:
    with st.sidebar:
        st.caption("A small Vision Transformer (Dosovitskiy et al., 2021) reads handwritten digits "
                   "(MNIST). Draw one, then see where it looks and why it decides.")
        figures = headline_figures(load_json(EVALUATION_FILE))
        if not figures:
            st.info(MISSING_MESSAGE)
            return
        for label, value, help_text in figures:
            st.metric(label, value, help=help_text)
