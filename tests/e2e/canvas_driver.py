"""Drive the app in Debian's chromium with Playwright: start a server, find the drawing canvas,
draw digits as a person does (hover first, then press, move in small steps, release), read the
Prediction metric. Shared by the browser tests (tests/e2e/) and benchmarks/app_startup.py.

The canvas is streamlit-drawable-canvas 0.13, a Components-v2 element rendered in an open
shadow root (Playwright's CSS selectors pierce it) as three stacked <canvas> elements; Fabric.js
listens on the top one, ``canvas.upper-canvas``. Its toolbar (undo, redo, reset...) appears
over the canvas's top edge when the pointer hovers the canvas.
"""
from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CANVAS = ".st-key-draw_canvas canvas.upper-canvas"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 3}

# Digits as polylines in canvas fractions (0..1, y down); a stroke is a list of points.
Stroke = list[tuple[float, float]]


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 36) -> Stroke:
    # start at the top and go round once, a little past the start to close the loop
    return [(cx + rx * math.sin(2 * math.pi * k / n), cy - ry * math.cos(2 * math.pi * k / n)) for k in range(n + 2)]


DIGITS: dict[str, list[Stroke]] = {
    "1": [[(0.5, 0.15), (0.5, 0.85)]],
    "7": [[(0.27, 0.2), (0.73, 0.2), (0.42, 0.85)]],
    "0": [_ellipse(0.5, 0.5, 0.2, 0.32)],
}


# ---------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log_path: Path | None = None, extra_args: list[str] | None = None) -> subprocess.Popen:
    """``streamlit run dashboard/app.py`` on ``port`` from the repository root (not yet healthy);
    ``extra_args`` are more ``--section.option value`` flags (benchmarks compare configurations)."""
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
           "--server.headless", "true", "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false", *(extra_args or [])]
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_healthy(port: int, proc: subprocess.Popen | None = None, timeout: float = 120.0) -> float:
    """Poll /_stcore/health until it answers ok; returns seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"streamlit on port {port} not healthy after {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# ---------------------------------------------------------------------------------------
# Page
# ---------------------------------------------------------------------------------------
def open_draw_page(context, url: str, timeout_ms: float = 90_000):
    """A new page on the app, waited until the canvas is on screen."""
    page = context.new_page()
    page.goto(url)
    canvas(page).wait_for(state="visible", timeout=timeout_ms)
    return page


def canvas(page):
    return page.locator(CANVAS).first


def canvas_box(page) -> dict:
    c = canvas(page)
    c.scroll_into_view_if_needed()
    box = c.bounding_box()
    assert box is not None, "canvas has no bounding box"
    return box


def _path(points: Stroke, box: dict, step_px: float = 6.0) -> list[tuple[float, float]]:
    """Canvas fractions -> page pixels, with points every ``step_px`` along each segment."""
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    out = [xy[0]]
    for (x0, y0), (x1, y1) in zip(xy, xy[1:]):
        n = max(1, int(math.hypot(x1 - x0, y1 - y0) / step_px))
        out += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1)]
    return out


def draw_stroke(page, points: Stroke) -> None:
    """One mouse stroke: hover over the canvas, then press, move in small steps, release."""
    box = canvas_box(page)
    path = _path(points, box)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)   # hover, as a person does
    page.mouse.move(*path[0], steps=4)
    page.mouse.down()
    for x, y in path[1:]:
        page.mouse.move(x, y)
    page.mouse.up()


def touch_stroke(page, points: Stroke) -> None:
    """One finger stroke with real touch events (Chrome DevTools Protocol Input.dispatchTouchEvent)."""
    box = canvas_box(page)
    path = _path(points, box)
    cdp = page.context.new_cdp_session(page)
    try:
        x, y = path[0]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for x, y in path[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def draw_digit(page, digit: str, touch: bool = False) -> None:
    for stroke in DIGITS[digit]:
        (touch_stroke if touch else draw_stroke)(page, stroke)


# true once the page's Prediction metric reads ``digit`` (for page.wait_for_function)
PREDICTION_JS = """(digit) => {
  for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
    const label = m.querySelector('[data-testid="stMetricLabel"]');
    const value = m.querySelector('[data-testid="stMetricValue"]');
    if (label && value && label.innerText.trim() === 'Prediction') return value.innerText.trim() === digit;
  }
  return false;
}"""


def prediction_metric(page):
    """The st.metric labelled exactly "Prediction"."""
    return page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text("Prediction", exact=True))


def prediction_value(page):
    return prediction_metric(page).get_by_test_id("stMetricValue")


def wait_for_prediction(page, digit: str, timeout_ms: float = 30_000) -> None:
    from playwright.sync_api import expect

    expect(prediction_value(page)).to_have_text(digit, timeout=timeout_ms)


def reset_canvas(page) -> None:
    """The toolbar's "Reset canvas & history" (the toolbar shows while the pointer hovers the canvas)."""
    box = canvas_box(page)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator(".st-key-draw_canvas").get_by_role("button", name="Reset canvas & history").click()


def processes_cpu_s(procs) -> float:
    """User + system CPU seconds of some ``psutil.Process`` objects; ended ones count 0
    (the capacity and classroom benchmarks' CPU clocks)."""
    import psutil

    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total
