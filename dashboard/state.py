"""The current digit: what every page explains. Kept in ``st.session_state`` so each browser
session has its own, and set by the Draw page (drawing or upload) or by picking a test image."""
from __future__ import annotations

from collections.abc import Callable
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


def prompt_for_digit(key: str, message: str = "No digit yet: draw one on the Draw page, or use an MNIST test image.",
                     on_pick: Callable[[int], None] | None = None) -> None:
    """What a page shows when there is no current digit: a link to Draw and a button that makes
    MNIST test image 0 the current digit (``on_pick`` replaces :func:`set_test_image`)."""
    from dashboard.nav import page_link

    st.info(message)
    c1, c2 = st.columns(2)
    with c1:
        page_link("draw", "Draw a digit", icon=":material/draw:")
    with c2:
        st.button("Use a test image", key=key, on_click=on_pick or set_test_image, args=(0,))
