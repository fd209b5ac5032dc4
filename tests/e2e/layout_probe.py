"""Measure how the app's pages fit a screen in a real browser: every page in the navigation,
with one MNIST test image as the current digit, visited in one session the way a person does
(``/misclassified?image=N`` makes the test image current, then the menu's links).

Shared by the phone-layout browser test (tests/e2e/test_phone_layout_browser.py) and
``python benchmarks/phone_layout.py``, which prints the figures.

What is measured on each page, after scrolling it to the end so that every chart is drawn:

* ``overflow_px``: how far the page is wider than the viewport (``scrollWidth - innerWidth``
  of the document and of Streamlit's main area; 0 = no horizontal scrolling).
* ``panels``: the width in CSS pixels of every plot panel, i.e. every plotly subplot's
  plotting area (its ``.nsewdrag`` rectangle: one per subplot, so a figure of 16 subplots
  counts 16 panels). A colour bar drawn as a figure of its own (an element whose key ends in
  ``_colorbar``, as :func:`dashboard.map_grid.show_map_grid` makes) is not a panel.
* ``cut_links``: the labels of page links in the main area that do not fit their box (a label is
  kept on one line and cut at the screen's edge unless the app lets it wrap).
* ``thumbs_per_row``: for each thumbnail grid (a container whose key starts with
  ``thumbs_``; see :func:`dashboard.grid.thumbnail_grid`), ``{"first_row": images in its first
  row, "total": images in the grid}``.
"""
from __future__ import annotations

import os
import statistics
from pathlib import Path

from canvas_driver import run_and_wait_idle, wait_idle

ROOT = Path(__file__).resolve().parents[2]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 3}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
TEST_IMAGE = 8          # an MNIST test image (a 5): the current digit on every page
PAGE_TIMEOUT_MS = int(os.environ.get("LAYOUT_PAGE_TIMEOUT_MS", "120000"))   # more on a busy machine


def navigation() -> list[tuple[str, str]]:
    """(short name, menu title) of every page in the app's navigation, in menu order, read from
    the page table (``dashboard.nav.TABLE``), so that pages added later are covered."""
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from dashboard.nav import TABLE

    return [(p.name, p.title) for p in TABLE]


_MEASURE_JS = """() => {
  const doc = document.documentElement;
  const main = document.querySelector('[data-testid="stMain"]');
  const overflow = Math.max(doc.scrollWidth - window.innerWidth,
                            main ? main.scrollWidth - main.clientWidth : 0);
  const panels = [...document.querySelectorAll('.js-plotly-plot .nsewdrag')]
      .filter(e => !e.closest('[class*="_colorbar"]'))
      .map(e => e.getBoundingClientRect().width).filter(w => w > 0);
  const grids = [...document.querySelectorAll('[class*="st-key-thumbs_"]')].map(g => {
      const tops = [...g.querySelectorAll('[data-testid="stImage"] img')]
          .map(i => Math.round(i.getBoundingClientRect().top));
      const first = tops.length ? tops.filter(t => Math.abs(t - Math.min(...tops)) < 4).length : 0;
      return {first_row: first, total: tops.length};
  });
  const images = [...document.querySelectorAll('[data-testid="stImage"] img')]
      .map(i => Math.round(i.getBoundingClientRect().top));
  const perRow = {};
  images.forEach(t => { perRow[t] = (perRow[t] || 0) + 1; });
  const cut = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stPageLink-NavLink"]')]
      .map(a => a.querySelector('[data-testid="stMarkdownContainer"]')?.parentElement)
      .filter(s => s && s.scrollWidth > s.clientWidth + 1).map(s => s.innerText);
  return {overflow_px: overflow, panels: panels, thumbs_per_row: grids, cut_links: cut,
          images_per_row_max: images.length ? Math.max(...Object.values(perRow)) : 0,
          exceptions: document.querySelectorAll('[data-testid="stException"]').length};
}"""


# Every chart in the main area is drawn (Streamlit draws a chart after the run that sent it, and
# hides it until its width is known) and no drag layer has moved between two animation frames.
_CHARTS_DRAWN_JS = """async () => {
  const charts = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stPlotlyChart"]')];
  if (charts.some(c => { const gd = c.querySelector('.js-plotly-plot');
                         return !gd || !gd._fullLayout || !gd.querySelector('.main-svg'); })) return false;
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  const rects = () => JSON.stringify([...document.querySelectorAll('[data-testid="stMain"] .nsewdrag')]
      .map(e => { const b = e.getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; }));
  const before = rects();
  await frame(); await frame();
  return rects() === before;
}"""


def _settle(page) -> None:
    """Wait until the script run ends, scroll down in screen steps (one frame each, so that charts
    that draw when seen are drawn), then wait until every chart is drawn and still."""
    wait_idle(page, PAGE_TIMEOUT_MS)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    step = page.viewport_size["height"] // 2
    for y in range(0, height + step, step):
        page.evaluate("(y) => new Promise(r => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                      " m.scrollTo(0, y); window.scrollTo(0, y); requestAnimationFrame(() => r()); })", y)
    page.wait_for_function(_CHARTS_DRAWN_JS, timeout=PAGE_TIMEOUT_MS)


def open_with_test_image(context, url: str, index: int = TEST_IMAGE):
    """A page on the app whose session's current digit is MNIST test image ``index``."""
    page = context.new_page()
    page.goto(url.rstrip("/") + f"/misclassified?image={index}")
    page.get_by_text(f"Selected: test image #{index}").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    wait_idle(page, PAGE_TIMEOUT_MS)
    return page


def session_alive(page) -> bool:
    """Whether ``page`` still talks to its server session (so its session state, the current
    digit, is still there): the tab is open and connected."""
    if page.is_closed():
        return False
    state = page.evaluate("() => document.querySelector('[data-testid=\"stApp\"]')"
                          "?.getAttribute('data-test-connection-state')")
    return state == "CONNECTED"


def go_to(page, title: str) -> None:
    """Open the page called ``title`` from the navigation menu (the same session; the menu may
    be folded away on a phone, so the link is clicked from script) and wait until its run ends."""
    link = page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first
    link.wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)
    run_and_wait_idle(page, lambda: link.evaluate("a => a.click()"), PAGE_TIMEOUT_MS)
    page.wait_for_function("(t) => document.title !== '' && "
                           "[...document.querySelectorAll('[data-testid=\"stSidebarNav\"] a[aria-current=\"page\"]')]"
                           ".some(a => a.textContent.includes(t))", arg=title, timeout=PAGE_TIMEOUT_MS)


def measure_page(page) -> dict:
    _settle(page)
    m = page.evaluate(_MEASURE_JS)
    m["median_panel_px"] = statistics.median(m["panels"]) if m["panels"] else None
    return m


def measure_all(context, url: str, index: int = TEST_IMAGE, names=None) -> dict[str, dict]:
    """{short name: measurements} for every page in the navigation (or only those in ``names``),
    in one session."""
    page = open_with_test_image(context, url, index)
    out = {}
    for name, title in navigation():
        if names and name not in names:
            continue
        go_to(page, title)
        out[name] = measure_page(page)
    return out
