"""The app's pages, by short name, as paths relative to the entry script (dashboard/app.py).

Pages link to each other through these names (``st.switch_page(PAGES["attention"])``) so that
a renamed file is changed in one place only."""
from __future__ import annotations

PAGES: dict[str, str] = {
    "draw": "../pages/draw.py",
    "walkthrough": "../pages/walkthrough.py",
    "attention": "../pages/attention.py",
    "attributions": "../pages/attributions.py",
    "inside": "../pages/inside.py",
    "trust": "../pages/trust.py",
    "why": "../pages/why.py",
    "baseline": "../pages/baseline.py",
    "misclassified": "../pages/misclassified.py",
    "data": "../pages/dataset.py",
    "model": "../pages/model_card.py",
}


def page_link(name: str, label: str, icon: str | None = None) -> None:
    """``st.page_link`` to the page called ``name``. When that page is not registered (a page
    script run on its own, as ``AppTest.from_file("pages/x.py")`` does) it shows the label as
    plain text instead of raising ``StreamlitPageNotFoundError``."""
    import streamlit as st
    from streamlit.errors import StreamlitPageNotFoundError

    try:
        st.page_link(PAGES[name], label=label, icon=icon)
    except StreamlitPageNotFoundError:
        st.caption(f"{label} (open it from the menu)")
