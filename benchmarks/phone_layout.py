"""How every page of the app fits a phone (and a desktop), measured in Debian's chromium.

    python benchmarks/phone_layout.py [--json] [--desktop] [--pages trust why]
    python benchmarks/phone_layout.py --no-measure --screenshots docs [--screenshot-page attention]

Starts ``streamlit run dashboard/app.py`` on a free port, opens it in a 390x844 touch viewport
(an iPhone 12-15 sized screen) with MNIST test image 8 as the current digit, visits every
page in the navigation in one session and prints, per page: the median and smallest width of
its plot panels (plotly subplots' plotting areas, CSS px), how many panels, the images in the
first row of each thumbnail grid, the horizontal overflow (0 = none) and how many page links'
labels are cut at the screen's edge (0 = none). ``--desktop`` also
measures at 1280x900. What is measured: tests/e2e/layout_probe.py.

Goals (issue 15): no overflow, median panel >= 150 px on every page, >= 3 thumbnails per row.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from _results import add_save_option  # noqa: E402
from _results import save as save_result
from canvas_driver import free_port, launch_browser, start_server, stop_server, wait_healthy  # noqa: E402
from layout_probe import DESKTOP, PHONE, go_to, measure_all, measure_page, navigation, open_with_test_image  # noqa: E402


def _table(label: str, results: dict[str, dict]) -> str:
    rows = [f"{label}", f"{'page':<14} {'median panel px':>15} {'min px':>7} {'panels':>6} "
                        f"{'thumbs/row':>10} {'overflow px':>11} {'cut links':>9}"]
    for name, m in results.items():
        med = f"{m['median_panel_px']:.0f}" if m["median_panel_px"] is not None else "-"
        low = f"{min(m['panels']):.0f}" if m["panels"] else "-"
        thumbs = ",".join(str(t["first_row"]) for t in m["thumbs_per_row"]) or "-"
        rows.append(f"{name:<14} {med:>15} {low:>7} {len(m['panels']):>6} {thumbs:>10} {m['overflow_px']:>11} "
                    f"{len(m['cut_links']):>9}")
    return "\n".join(rows)


def screenshot(browser, url: str, page_name: str, path: Path, viewport: dict, anchor: str | None = None) -> None:
    """``page_name`` with the test image at ``viewport``, scrolled so that the text ``anchor``
    (e.g. a section heading) is at the top of the screen, or the page's top without one."""
    context = browser.new_context(**viewport)
    context.set_default_timeout(120_000)
    try:
        page = open_with_test_image(context, url)
        go_to(page, dict(navigation())[page_name])
        measure_page(page)                                       # scroll through: every plot drawn
        page.evaluate("() => { document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0);"
                      " window.scrollTo(0, 0); }")
        if anchor:
            page.get_by_text(anchor).first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.mouse.move(1, 1)
        page.wait_for_timeout(1500)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
    finally:
        context.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    add_save_option(ap)
    ap.add_argument("--desktop", action="store_true", help="also measure at 1280x900")
    ap.add_argument("--screenshots", type=Path, default=None,
                    help="save phone_<page>.png and desktop_<page>.png of --screenshot-page in this folder (e.g. docs)")
    ap.add_argument("--screenshot-page", default="attention", help="short name of the page to photograph")
    ap.add_argument("--screenshot-at", default="The class token's attention, every layer and head",
                    help="text to scroll to the top of the screenshots ('' for the page's top)")
    ap.add_argument("--pages", nargs="+", default=None, metavar="NAME",
                    help="measure only these pages (short names, e.g. trust why); default: every page")
    ap.add_argument("--no-measure", action="store_true", help="only take the screenshot")
    a = ap.parse_args()

    from playwright.sync_api import sync_playwright

    port = free_port()
    log = Path(tempfile.gettempdir()) / f"phone_layout_{port}.log"
    proc = start_server(port, log)
    out: dict[str, dict] = {}
    try:
        wait_healthy(port, proc)
        url = f"http://127.0.0.1:{port}/"
        with sync_playwright() as p:
            browser = launch_browser(p)
            try:
                views = [] if a.no_measure else [("phone 390x844", PHONE)] + (
                    [("desktop 1280x900", DESKTOP)] if a.desktop else [])
                for label, viewport in views:
                    context = browser.new_context(**viewport)
                    context.set_default_timeout(120_000)
                    try:
                        out[label] = measure_all(context, url, names=a.pages)
                    finally:
                        context.close()
                if a.screenshots:
                    # 2x pixels on the phone (3x would triple the file for no gain in a README)
                    for label, viewport in (("phone", {**PHONE, "device_scale_factor": 2}), ("desktop", DESKTOP)):
                        screenshot(browser, url, a.screenshot_page, a.screenshots / f"{label}_{a.screenshot_page}.png",
                                   viewport, a.screenshot_at or None)
            finally:
                browser.close()
    finally:
        stop_server(proc)
    save_result(a, "phone_layout", out)
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        print("\n\n".join(_table(label, res) for label, res in out.items()))


if __name__ == "__main__":
    main()
