"""Trust beside every map: a badge per attribution method for the current digit, from the checks
of :mod:`model.explain.trust` (MPRT on |map| and signed maps, Adebayo et al., 2018; sMPRT and
eMPRT, Hedström et al., 2023; random logit, Sixt et al., 2020), computed lazily (only for the maps
on screen), cached per (weights, digit, method, class), and linking to the Trust page."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import cache
from dashboard.nav import page_link
from model.explain import METHODS
from model.explain import trust as T

TEST_NAMES = {"mprt": "MPRT |map|", "mprt_signed": "MPRT signed", "smprt": "sMPRT", "emprt": "eMPRT",
              "random_logit": "random logit"}


def trust_badge(model, image: np.ndarray, method: str, target: int) -> dict:
    """The badge of ``method`` for this digit and class: which tests it passes, its verdict (from the
    checks the Trust page shares, :func:`dashboard.cache.method_trust`)."""
    r = cache.method_trust(model, image, target, method)
    tests = r.tests()
    return {"method": method, "tests": tests, "passed": int(sum(tests.values())), "of": len(tests),
            "standing": T.standing(r), "verdict": T.verdict(r), "how": T.how_to_read(r)}


COLOURS = {"good": "green", "mixed": "orange", "weak": "red"}


def badge_markdown(b: dict) -> str:
    colour = COLOURS[b["standing"]]
    return f":{colour}-badge[:material/verified: trust {b['passed']}/{b['of']}]"


def render_badges(model, image: np.ndarray, methods, target: int) -> None:
    """One line per method: its badge, the tests it passes (hover), how to read it; then a link to
    the Trust page."""
    with st.spinner("Trust checks of these maps..."):
        for m in methods:
            b = trust_badge(model, image, m, target)
            passed = ", ".join(TEST_NAMES[k] for k, v in b["tests"].items() if v) or "none"
            st.markdown(f"{badge_markdown(b)} **{METHODS[m].label}**: {b['how']}.", help=f"Passes: {passed}. "
                        f"{b['verdict']}")
    st.caption("Trust badge: how many of five checks the map passes for this digit (randomisation tests MPRT on "
               "|map| and on signed maps, Adebayo et al., 2018; sMPRT and eMPRT, Hedström et al., 2023; random "
               "logit, Sixt et al., 2020). Passing does not make a map right; the Trust page says why.")
    page_link("trust", "Trust page: the checks, the ranking and what no test can tell", icon=":material/verified:")
