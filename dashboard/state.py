"""The current digit: what every page explains. Kept in ``st.session_state`` so each browser
session has its own, and set by the Draw page (drawing or upload) or by picking a test image."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

KEY = "current_digit"


@dataclass(frozen=True)
class CurrentDigit:
    image: np.ndarray            # (28, 28) float32 in [0, 1], what the model sees
    source: str                  # "drawing", "upload" or "test image #1234"
    label: int | None = None     # true label when known (a test image)
    raw: np.ndarray | None = None  # the original drawing/upload before preprocessing, if any
    test_index: int | None = None


def set_current(image: np.ndarray, source: str, label: int | None = None,
                raw: np.ndarray | None = None, test_index: int | None = None) -> None:
    img = np.asarray(image, dtype=np.float32).reshape(28, 28).copy()
    img.setflags(write=False)
    st.session_state[KEY] = CurrentDigit(img, source, label, raw, test_index)


def get_current() -> CurrentDigit | None:
    return st.session_state.get(KEY)


def set_test_image(index: int) -> None:
    """Make MNIST test image ``index`` the current digit."""
    from dashboard.resources import load_test_images

    images, labels = load_test_images()
    set_current(images[index].astype(np.float32) / 255.0, f"test image #{index}",
                label=int(labels[index]), test_index=int(index))
