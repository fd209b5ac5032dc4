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


# ---------------------------------------------------------------------------------------
# Waiting for the app and its plots (conditions, never fixed sleeps)
# ---------------------------------------------------------------------------------------
# The app is idle when its script (or fragment) run has ended and no element is left stale from
# the run before: Streamlit writes the run state on the root element and marks elements that the
# current run has not (yet) re-sent with data-stale="true".
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
      && document.querySelector('[data-stale="true"]') === null;
}"""

# Watch the run state from now on: window.__e2eRan turns true once a run has started (or ended)
# after this point, so "idle" afterwards means the run the action caused has finished, not that
# the server has not started it yet. The "running" state need not reach the page, though: the app
# sets it from one message and "notRunning" from a later one, and when the browser is busy (a
# heavy page just drawn, a loaded machine) React can apply both in one render, so the attribute
# never changes. An element the run added to the main area is the other sign: its messages come
# after "running", so once it is there and the app reads "notRunning", that run has ended too.
_ARM_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const main = document.querySelector('[data-testid="stMain"]');
  window.__e2eRan = false;
  if (window.__e2eObserver) window.__e2eObserver.disconnect();
  window.__e2eObserver = new MutationObserver(records => {
    if (records.some(r => r.oldValue === 'running' || r.target.getAttribute(r.attributeName) === 'running'))
      window.__e2eRan = true;
  });
  window.__e2eObserver.observe(app, {attributes: true, attributeOldValue: true,
                                     attributeFilter: ['data-test-script-state']});
  const sel = '[data-testid="stElementContainer"]';
  if (window.__e2eAdded) window.__e2eAdded.disconnect();
  window.__e2eAdded = new MutationObserver(records => {
    if (records.some(r => [...r.addedNodes].some(n => n.nodeType === 1 && (n.matches(sel) || n.querySelector(sel)))))
      window.__e2eRan = true;
  });
  if (main) window.__e2eAdded.observe(main, {childList: true, subtree: true});
}"""

_RAN_AND_IDLE_JS = "() => window.__e2eRan === true && (" + IDLE_JS + ")()"

# What the page shows when a wait for a run runs out: the run state, whether a run was seen, the
# stale elements and the address (the failure message says which condition never came true).
_RUN_STATE_JS = """() => ({
  state: document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state'),
  ran: window.__e2eRan, stale: document.querySelectorAll('[data-stale="true"]').length, url: location.href})"""


def wait_idle(page, timeout_ms: float = 120_000) -> None:
    """Wait until no script run is in progress and no element is stale."""
    page.wait_for_function(IDLE_JS, timeout=timeout_ms)


def run_and_wait_idle(page, action, timeout_ms: float = 120_000) -> None:
    """Do ``action()`` (a click that makes the app rerun) and wait until the run it caused has ended."""
    page.locator('[data-testid="stApp"]').wait_for(state="attached", timeout=timeout_ms)
    page.evaluate(_ARM_JS)
    action()
    try:
        page.wait_for_function(_RAN_AND_IDLE_JS, timeout=timeout_ms)
    except Exception as e:
        raise TimeoutError(f"no run ended within {timeout_ms / 1000:.0f} s of the action: "
                             f"{page.evaluate(_RUN_STATE_JS)}") from e


# A plotly chart is ready for the pointer when it is drawn (its drag layer exists), visible
# (Streamlit hides it until its width is known), its click and hover handlers are bound (Streamlit's
# react-plotly binds them only after Plotly.react has drawn the chart, so the drag layer can exist
# before a click has any effect), and its drag layer has stopped moving for two animation frames.
_PLOT_READY_JS = """async (sel) => {
  const gd = document.querySelector(sel + ' .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._ev) return false;
  const drag = gd.querySelector('.nsewdrag');
  if (!drag || getComputedStyle(gd.parentElement).visibility === 'hidden') return false;
  if (!gd._ev.listeners('plotly_click').length && !gd._ev.listeners('plotly_selected').length) return false;
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  const rect = () => JSON.stringify(drag.getBoundingClientRect());
  const before = rect();
  await frame(); await frame();
  return drag.isConnected && rect() === before;
}"""


def wait_plot_ready(page, selector: str, timeout_ms: float = 60_000) -> None:
    """Wait until the plotly chart inside ``selector`` (e.g. ``.st-key-KEY``) can take a click."""
    page.wait_for_function(_PLOT_READY_JS, arg=selector, timeout=timeout_ms)


def click_plot(page, selector: str, fx: float, fy: float, hover_text: str | None = None,
               timeout_ms: float = 60_000) -> None:
    """Click the chart inside ``selector`` at fractions (``fx``, ``fy``) of its plotting area (the
    first subplot's drag layer), as a person does: wait until the app is idle and the chart ready,
    scroll it into view, rest the pointer on the spot until plotly shows ``hover_text`` in its hover
    label (the spot is live and the point under it is the one meant), then click there."""
    from playwright.sync_api import expect

    wait_idle(page, timeout_ms)
    chart = page.locator(selector).first
    chart.scroll_into_view_if_needed()
    wait_plot_ready(page, selector, timeout_ms)
    box = chart.locator(".nsewdrag").first.bounding_box()
    assert box is not None, f"{selector}: the chart has no plotting area"
    x, y = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
    if hover_text is not None:
        label = chart.locator(".hoverlayer .hovertext").filter(has_text=hover_text)
        # plotly computes hover on pointer moves: arrive from a neighbouring pixel, then on the spot
        page.mouse.move(x - 2, y - 2)
        page.mouse.move(x, y, steps=2)
        expect(label).to_be_visible(timeout=timeout_ms)
    page.mouse.click(x, y)


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
