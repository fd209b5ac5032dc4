"""The app's pages, by short name, as paths relative to the entry script (dashboard/app.py).

Pages link to each other through these names (``st.switch_page(PAGES["attention"])``) so that
a renamed file is changed in one place only."""
from __future__ import annotations

PAGES: dict[str, str] = {
    "draw": "../pages/draw.py",
    "attention": "../pages/attention.py",
    "attributions": "../pages/attributions.py",
    "baseline": "../pages/baseline.py",
    "misclassified": "../pages/misclassified.py",
    "model": "../pages/model_card.py",
}
