"""The app's one page table: every page's short name, title, file, icon, URL path and the line
"what you will see here", in the learner's order (Draw -> Walkthrough -> Attention -> Attributions
-> Trust -> Inside -> Why -> Baseline -> Misclassified -> Data -> Watch it learn -> Model).

``st.navigation`` is built from it (dashboard/app.py), which also shows each page's line above
the page and a "Next: ..." link below it; pages link to each other by short name
(:func:`page_link`), so a renamed file is changed here only. A page reached out of order works
on its own: the path is a suggestion, not a gate.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    name: str        # short name pages link with
    title: str
    file: str        # relative to the entry script (dashboard/app.py)
    icon: str
    url_path: str
    what: str        # one line: what you will see here


# the order is the navigation menu's and the learner's path
TABLE: tuple[Page, ...] = (
    Page("draw", "Draw", "../pages/draw.py", ":material/draw:", "draw",
         "Draw a digit (or upload one) and see what the transformer reads, with a calibrated confidence."),
    Page("walkthrough", "Walkthrough", "../pages/walkthrough.py", ":material/route:", "walkthrough",
         "Follow your digit through the transformer, stage by stage, with the model's own numbers."),
    Page("attention", "Attention", "../pages/attention.py", ":material/visibility:", "attention",
         "Where each attention head looks, layer by layer, and what happens when heads are switched off."),
    Page("attributions", "Attributions", "../pages/attributions.py", ":material/insights:", "attributions",
         "Which pixels push the answer up or down, by several methods, and which map is most faithful."),
    Page("trust", "Trust", "../pages/trust.py", ":material/verified:", "trust",
         "Whether an attribution map says anything about the model: sanity checks and a scorecard."),
    Page("inside", "Inside", "../pages/inside.py", ":material/account_tree:", "inside",
         "What the model believes after each block, and which part inside carries the decision."),
    Page("why", "Why", "../pages/why.py", ":material/help:", "why",
         "What would have to change for another answer, look-alike training digits, and a report to keep."),
    Page("baseline", "Baseline", "../pages/baseline.py", ":material/forest:", "baseline",
         "The transformer against a pixel-based random forest: is the transformer worth it?"),
    Page("misclassified", "Misclassified", "../pages/misclassified.py", ":material/error:", "misclassified",
         "The test digits the model gets wrong, and what they have in common."),
    Page("data", "Data", "../pages/dataset.py", ":material/bar_chart:", "dataset",
         "The 60,000 training digits the model learned from, and where your digit sits among them."),
    Page("timeline", "Watch it learn", "../pages/timeline.py", ":material/timeline:", "timeline",
         "Your digit read by the same transformer at ten moments of its training, from first steps to shipped."),
    Page("model", "Model", "../pages/model_card.py", ":material/info:", "model_card",
         "How the model was built and trained, how well it does, and each preprocessing step."),
)
BY_NAME: dict[str, Page] = {p.name: p for p in TABLE}
PAGES: dict[str, str] = {p.name: p.file for p in TABLE}
DEFAULT = "draw"


def next_page(url_path: str) -> Page | None:
    """The page after the one at ``url_path`` on the learner's path (None after the last;
    the default page is served at "" as well as its own path)."""
    paths = [p.url_path for p in TABLE]
    here = BY_NAME[DEFAULT].url_path if url_path == "" else url_path
    if here not in paths:
        return None
    i = paths.index(here)
    return TABLE[i + 1] if i + 1 < len(TABLE) else None


def page_for(url_path: str) -> Page | None:
    here = BY_NAME[DEFAULT].url_path if url_path == "" else url_path
    return next((p for p in TABLE if p.url_path == here), None)


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
