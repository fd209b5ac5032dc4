"""App start-up, stroke latency and memory, measured in a real browser (Debian chromium).

    python benchmarks/app_startup.py [--runs 3] [--strokes 12] [--json] [--screenshot docs/screenshot.png]

* **cold start**: from launching ``streamlit run dashboard/app.py`` (a fresh server process)
  to the drawing canvas being visible in chromium; the browser itself is already running.
  Median over ``--runs`` fresh servers.
* **stroke -> prediction**: from releasing the mouse at the end of a stroke to the Prediction
  metric showing the right digit in the page (polled every animation frame). The canvas is
  reset before each stroke so every answer is a new one; digits 1, 7, 0 in turn; one warm-up
  stroke first (reported separately). Median over ``--strokes``.
* **server memory**: resident set size of the server process and its children (psutil) after
  the first prediction, and after all strokes.

Goals on the 2-core development machine: cold start < 12 s, stroke -> prediction median
< 1.0 s, server memory < 700 MB (Streamlit Community Cloud gives an app 690 MB to 2.7 GB).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from _results import add_save_option  # noqa: E402
from _results import save as save_result
from canvas_driver import (  # noqa: E402
    DESKTOP,
    DIGITS,
    PREDICTION_JS,
    _path,
    canvas_box,
    free_port,
    launch_browser,
    open_draw_page,
    prediction_metric,
    reset_canvas,
    start_server,
    stop_server,
    wait_healthy,
)

GOALS = {"cold_start_s": 12.0, "stroke_to_prediction_ms": 1000.0, "server_rss_mb": 700.0}

_PREDICTION_JS = PREDICTION_JS   # tests/e2e/canvas_driver.py


def rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def cold_start(browser, log: Path) -> tuple[float, object, object, str]:
    """Seconds from server launch to a visible canvas; returns (seconds, proc, context, url)."""
    port = free_port()
    t0 = time.perf_counter()
    proc = start_server(port, log)
    wait_healthy(port, proc)
    url = f"http://127.0.0.1:{port}/"
    context = browser.new_context(viewport=DESKTOP)
    open_draw_page(context, url, timeout_ms=120_000)
    return time.perf_counter() - t0, proc, context, url


def timed_stroke(page, digit: str, timeout_ms: float = 20_000) -> float | None:
    """Draw ``digit`` on a cleared canvas; ms from the last mouse release to the right Prediction."""
    reset_canvas(page)
    prediction_metric(page).wait_for(state="detached", timeout=timeout_ms)
    strokes = DIGITS[digit]
    box = canvas_box(page)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for i, stroke in enumerate(strokes):  # noqa: B007
        path = _path(stroke, box)
        page.mouse.move(*path[0], steps=4)
        page.mouse.down()
        for x, y in path[1:]:
            page.mouse.move(x, y)
        page.mouse.up()
        t0 = time.perf_counter()
    try:
        page.wait_for_function(_PREDICTION_JS, arg=digit, polling="raf", timeout=timeout_ms)
    except Exception:
        return None
    return (time.perf_counter() - t0) * 1000


def take_screenshot(page, path: Path, digit: str) -> None:
    """The Draw page at desktop width with ``digit`` drawn and its prediction shown."""
    if timed_stroke(page, digit) is None:
        raise RuntimeError(f"the app did not read the drawn {digit}; no screenshot taken")
    page.mouse.move(5, 5)                      # away from the canvas: hide its hover toolbar
    page.wait_for_timeout(1500)                # let plotly finish drawing the charts
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="fresh servers for the cold-start median")
    ap.add_argument("--strokes", type=int, default=12, help="strokes for the latency median (>= 10)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_save_option(ap)
    ap.add_argument("--screenshot", type=Path, default=None,
                    help="also save a screenshot of the Draw page with a drawn digit (e.g. docs/screenshot.png)")
    ap.add_argument("--screenshot-digit", default="7", choices=sorted(DIGITS))
    a = ap.parse_args()

    from playwright.sync_api import sync_playwright

    log = Path("/tmp") / "app_startup_streamlit.log"
    starts: list[float] = []
    result: dict = {}
    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            for run in range(a.runs):
                seconds, proc, context, url = cold_start(browser, log)
                starts.append(seconds)
                if run < a.runs - 1:
                    context.close()
                    stop_server(proc)
            # latency and memory on the last server
            try:
                page = context.pages[0]
                digits = list(DIGITS)
                first = timed_stroke(page, "1")
                rss_first = rss_mb(proc.pid)
                times = [timed_stroke(page, digits[i % len(digits)]) for i in range(a.strokes)]
                rss_after = rss_mb(proc.pid)
                if a.screenshot is not None:
                    take_screenshot(page, a.screenshot, a.screenshot_digit)
            finally:
                context.close()
                stop_server(proc)
        finally:
            browser.close()

    ok = [t for t in times if t is not None]
    result = {
        "cold_start_s": round(statistics.median(starts), 2),
        "cold_start_runs_s": [round(s, 2) for s in starts],
        "first_stroke_to_prediction_ms": None if first is None else round(first, 1),
        "stroke_to_prediction_ms": round(statistics.median(ok), 1) if ok else None,
        "stroke_runs_ms": [None if t is None else round(t, 1) for t in times],
        "strokes_wrong_or_timed_out": len(times) - len(ok),
        "server_rss_mb": round(rss_first, 1),
        "server_rss_mb_after_strokes": round(rss_after, 1),
        "goals": GOALS,
        "command": "python benchmarks/app_startup.py " + " ".join(sys.argv[1:]),
    }
    save_result(a, "app_startup", result)
    if a.json:
        print(json.dumps(result, indent=2))
        return
    rows = [
        ("cold start: launch -> drawable canvas", f"{result['cold_start_s']:.2f} s",
         f"< {GOALS['cold_start_s']:.0f} s", "runs " + ", ".join(f"{s:.2f}" for s in starts)),
        ("first stroke -> Prediction", "n/a" if first is None else f"{first:.0f} ms", "", "includes warm-up"),
        ("stroke release -> right Prediction (median)",
         "n/a" if not ok else f"{result['stroke_to_prediction_ms']:.0f} ms",
         f"< {GOALS['stroke_to_prediction_ms']:.0f} ms",
         f"{len(ok)}/{len(times)} right, min {min(ok):.0f} / max {max(ok):.0f} ms" if ok else "none right"),
        ("server RSS after first prediction", f"{rss_first:.0f} MB", f"< {GOALS['server_rss_mb']:.0f} MB",
         f"{rss_after:.0f} MB after {len(times) + 1} strokes"),
    ]
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("measure", "value", "goal", "notes")
    w = [max(wi, len(h)) for wi, h in zip(w, head)]
    for r in [head, tuple("-" * n for n in w), *rows]:
        print("  ".join(c.ljust(n) for c, n in zip(r, w)))


if __name__ == "__main__":
    main()
