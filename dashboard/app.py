"""Entry point of the app: ``streamlit run dashboard/app.py`` from the repository root
(the same command Streamlit Community Cloud runs with main file path ``dashboard/app.py``).

The entry lives in ``dashboard/`` and the pages in ``pages/`` at the repository root, so
Streamlit does not see a ``pages/`` folder beside the entry and stays in ``st.navigation``
mode (docs: https://docs.streamlit.io/develop/api-reference/navigation/st.navigation).
Pages are registered by short name from :mod:`dashboard.nav`; Draw is the default page.
"""
from __future__ import annotations

import sys
from pathlib import Path

# Streamlit puts the entry's folder (dashboard/) on sys.path, not the repository root:
# add the root so that `import model`, `import data` and `import dashboard` work.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard.nav import PAGES  # noqa: E402
from dashboard.sidebar import render_sidebar  # noqa: E402
from dashboard.state import apply_digit_param  # noqa: E402

st.set_page_config(page_title="ViT digit explainer", page_icon=":material/draw:", layout="wide")

# (short name, title, icon); the order is the order in the navigation menu
_PAGES: list[tuple[str, str, str]] = [
    ("draw", "Draw", ":material/draw:"),
    ("walkthrough", "Walkthrough", ":material/route:"),
    ("attention", "Attention", ":material/visibility:"),
    ("attributions", "Attributions", ":material/insights:"),
    ("trust", "Trust", ":material/verified:"),
    ("inside", "Inside", ":material/account_tree:"),
    ("why", "Why", ":material/help:"),
    ("baseline", "Baseline", ":material/forest:"),
    ("misclassified", "Misclassified", ":material/error:"),
    ("data", "Data", ":material/bar_chart:"),
    ("model", "Model", ":material/info:"),
]

pages = [st.Page(PAGES[name], title=title, icon=icon, default=(name == "draw")) for name, title, icon in _PAGES]
page = st.navigation(pages)
render_sidebar()
apply_digit_param()
page.run()

# The explaining pages allocate tens of MB per view (trust reports, counterfactuals, patching
# sweeps) and free them again, but glibc keeps freed memory in its heap: hand it back so that a
# server's memory follows its sessions, not its busiest moment (model/memory.py). The Draw page
# is left out: its strokes are frequent and allocate little.
if page.url_path not in ("", "draw"):
    from model.memory import return_free_memory

    return_free_memory()
