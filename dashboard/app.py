"""Entry point of the app: ``streamlit run dashboard/app.py`` from the repository root
(the same command Streamlit Community Cloud runs with main file path ``dashboard/app.py``).

The entry lives in ``dashboard/`` and the pages in ``pages/`` at the repository root, so
Streamlit does not see a ``pages/`` folder beside the entry and stays in ``st.navigation``
mode (docs: https://docs.streamlit.io/develop/api-reference/navigation/st.navigation).
Pages come from the one page table in :mod:`dashboard.nav` (Draw is the default page); each
page gets its "what you will see here" line above it and a "Next: ..." link below it, which
lead a learner along the table's order.
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

from dashboard.nav import DEFAULT, TABLE, next_page, page_for, page_link  # noqa: E402
from dashboard.sidebar import render_sidebar  # noqa: E402
from dashboard.state import apply_link_params  # noqa: E402

st.set_page_config(page_title="ViT digit explainer", page_icon=":material/draw:", layout="wide")
# A page link's label is a learner's next step, a sentence ("Next: Attention. Where each head looks..."):
# Streamlit keeps it on one line and cuts it at the screen's edge, so on a phone it wraps instead. (A
# style-only st.html goes to the event container: it takes no space on the page.)
st.html("<style>[data-testid='stPageLink-NavLink'] span:has(> [data-testid='stMarkdownContainer']), "
        "[data-testid='stPageLink-NavLink'] [data-testid='stMarkdownContainer'], "
        "[data-testid='stPageLink-NavLink'] [data-testid='stMarkdownContainer'] p "
        "{white-space: normal; overflow: visible; line-height: 1.4;}</style>")

page = st.navigation([st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path, default=(p.name == DEFAULT))
                      for p in TABLE])
here = page_for(page.url_path)
render_sidebar()
apply_link_params(image_messages=page.url_path != "misclassified")   # that page explains a bad ?image= itself
if here is not None:
    st.caption(f":material/school: **What you will see here:** {here.what}")
page.run()
after = next_page(page.url_path)
if after is not None:
    st.divider()
    page_link(after.name, f"Next: {after.title}. {after.what}", icon=":material/arrow_forward:")

# A page's functions (fragments, callbacks) keep its module's globals alive in a reference cycle:
# collect such cycles at the end of every full run (a stroke is a fragment run and skips this).
# The explaining pages also allocate tens of MB per view (trust reports, counterfactuals, patching
# sweeps) and free them again, but glibc keeps freed memory in its heap: hand it back so that a
# server's memory follows its sessions, not its busiest moment. The Draw page is left out of the
# trim: its strokes are frequent and allocate little. (model/memory.py)
from model.memory import collect_cycles, return_free_memory  # noqa: E402

collect_cycles()
if page.url_path not in ("", "draw"):
    return_free_memory()
