"""A paginated grid of MNIST test-image thumbnails with a "Pick" button under each, shared by
the Baseline (disagreements) and Misclassified pages. Thumbnails come from the cached
:func:`dashboard.resources.test_thumbnail_png`, so a page turn only re-renders one page.

The grid is an ``st.grid`` of ``cols`` columns that reflows on a narrow screen to as many
columns as fit :data:`THUMB_MIN_WIDTH` px each: three per row on a 390 px phone, ``cols`` on a
desktop. Its key starts with ``thumbs_``, which the phone-layout browser test looks for."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from dashboard import resources

THUMB_MIN_WIDTH = 96      # px: 3 thumbnails (84 px images) and their Pick buttons fit a 390 px phone's row


def thumbnail_grid(indices: Sequence[int], captions: Callable[[int], str], key: str,
                   on_pick: Callable[[int], None], pick_help: str, cols: int = 6, rows: int = 2) -> None:
    """Show ``indices`` (test-image numbers) ``cols * rows`` per page; the page number widget is
    ``key`` + "_page" and each button ``key`` + "_pick_<index>"."""
    per_page = cols * rows
    n_pages = max(1, (len(indices) + per_page - 1) // per_page)
    page_key = f"{key}_page"
    if st.session_state.get(page_key, 1) > n_pages:     # the filter shrank the list
        st.session_state[page_key] = 1
    page = st.number_input(f"Page (of {n_pages})", min_value=1, max_value=n_pages, step=1, key=page_key)
    chunk = [int(i) for i in indices[(page - 1) * per_page: page * per_page]]
    grid = st.grid(cols, min_column_width=THUMB_MIN_WIDTH, gap="xsmall", key=f"thumbs_{key}")
    for i in chunk:
        with grid.cell():
            st.image(resources.test_thumbnail_png(i), caption=captions(i))
            st.button("Pick", key=f"{key}_pick_{i}", on_click=on_pick, args=(i,), help=pick_help)


def image_thumbnails(items: Sequence[tuple[object, str]], key: str, cols: int = 8, scale: int = 3) -> None:
    """Small images with captions (``(image or None, caption)``; None shows the caption alone), ``cols``
    a row on a desktop and three on a phone, in the order given. ``image`` is a (28, 28) array in
    [0, 1] or uint8, shown ``scale`` times larger with crisp pixels; the grid's key is ``thumbs_`` + ``key``."""
    import numpy as np

    grid = st.grid(cols, min_column_width=THUMB_MIN_WIDTH, gap="xsmall", key=f"thumbs_{key}")
    for img, caption in items:
        with grid.cell():
            if img is None:
                st.caption(caption)
            else:
                big = np.repeat(np.repeat(np.asarray(img), scale, 0), scale, 1)
                st.image(big, clamp=True, width=28 * scale, caption=caption)
