"""What one server process costs per learner: CPU per stroke and per page view, and memory.

    python benchmarks/capacity.py [--json] [--strokes 20] [--sessions 3] [--gc]

Starts ``streamlit run dashboard/app.py`` (the repository's ``.streamlit/config.toml``), drives
it in Debian chromium and reads the **server process's own CPU time** (psutil ``cpu_times``,
user + system, of the server and its children; not wall-clock time, so a busy machine does not
inflate it) around each action, after the server has gone quiet again:

* ``stroke_cpu_ms``: one drawn stroke on the Draw page (a one-stroke 1 or 7 on a cleared
  canvas) up to the right Prediction; median over ``--strokes``. The cleared canvas in between
  is not counted.
* ``stroke_cpu_ms_multi``: every stroke of multi-stroke digits (a two-stroke 4 and 5, the canvas
  reset before each digit), the last stroke up to the right Prediction, the others until the
  server is quiet again; median. ``reset_cpu_ms``: the reset (median).
* ``page_cpu_ms``: the first view of every other page in the menu (Attention, Attributions with
  its defaults, Baseline, Misclassified, Model, and any page added later) with a drawn digit
  current, in the first session: a cold process, so it includes loading what that page needs
  once per process (the forest on Baseline). ``page_cpu_ms_warm``: the same views in the extra
  sessions (median), which is what each further learner costs.
* ``idle_cpu_ms_per_s``: the server's CPU per second with a session open and nobody acting
  (config-file polling, event loop); the per-action figures include about a second of it.
* ``users_per_core``: 2000 / stroke_cpu_ms, the learners drawing one stroke every 2 s that one
  core serves.
* ``rss_mb_cold`` (first page load), ``rss_mb_all_pages`` (server RSS after the first session
  has drawn and visited every page), ``rss_mb_per_session`` (RSS growth per extra session,
  each drawing its own, slightly shifted digit and visiting every page; ``--sessions`` of
  them, kept open), ``rss_mb_stroke_growth`` (RSS after the strokes minus before them: with
  ``runner.postScriptGC = false`` the per-run garbage must still be freed).

``replicas``: for a class of 30, a school of 300 and a course of 3,000 learners drawing at once,
how many one-core replicas (one server process each, kept at half load on average) and the
memory each holds (``rss_mb_all_pages`` plus ``rss_mb_per_session`` per learner on it);
``session_state_mb_per_session``: what Streamlit counts in the session states of all open
sessions (``/_stcore/metrics``), per session: the part of a session's memory that RSS, moved
by tens of MB by the allocator, cannot show; ``cache_data_mb``: all ``st.cache_data`` entries.
``start_s``: server launch to ``/_stcore/health`` answering.

``--gc`` runs the server with Streamlit's default ``runner.postScriptGC = true`` for comparison.
Goals on the 2-core development machine: stroke_cpu_ms and stroke_cpu_ms_multi <= 40, rss_mb_all_pages < 600,
rss_mb_per_session < 5.
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
    PREDICTION_JS,
    _path,
    canvas_box,
    free_port,
    launch_browser,
    open_draw_page,
    prediction_metric,
    processes_cpu_s,
    reset_canvas,
    start_server,
    stop_server,
    wait_healthy,
)

GOALS = {"stroke_cpu_ms": 40.0, "stroke_cpu_ms_multi": 40.0, "rss_mb_all_pages": 600.0, "rss_mb_per_session": 5.0}
STROKE_PERIOD_MS = 2000.0     # a learner drawing one stroke every 2 s
# Sizing replicas (README "Beyond one container"): one replica is one server process, which
# runs the app's Python on about one core (the GIL), kept at half load on average so that a
# whole class lifting the pen at once still gets fast answers.
REPLICA_LOAD = 0.5
GROUPS = {"class": 30, "school": 300, "course": 3000}

# one-stroke digits (canvas fractions), so that one stroke is one answer
ONE_STROKE = {
    "1": [(0.5, 0.15), (0.5, 0.85)],
    "7": [(0.27, 0.2), (0.73, 0.2), (0.42, 0.85)],
}

# multi-stroke digits: each stroke is a rerun of the canvas fragment with one more object in
# the canvas's JSON; only the last stroke has to give the right answer
MULTI_STROKE = {
    "4": [[(0.35, 0.15), (0.28, 0.58), (0.72, 0.58)], [(0.62, 0.3), (0.62, 0.88)]],
    "5": [[(0.7, 0.15), (0.32, 0.15)], [(0.32, 0.15), (0.3, 0.47), (0.6, 0.45), (0.7, 0.65), (0.6, 0.85),
                                          (0.3, 0.85)]],
}

_PREDICTION_JS = PREDICTION_JS   # tests/e2e/canvas_driver.py
_IDLE_JS = """() => { const a = document.querySelector('[data-testid="stApp"]');
  return a && a.getAttribute('data-test-script-state') === 'notRunning'; }"""


def _procs(pid: int) -> list[psutil.Process]:
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def _clock_ms(pid: int) -> float | None:
    """CPU time of every thread of process ``pid`` (live and ended) in ms, to the nanosecond:
    clock_gettime on the process's CPU-time clock (clock_getcpuclockid). None if unavailable."""
    import ctypes
    import ctypes.util

    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        clock = ctypes.c_int()
        if libc.clock_getcpuclockid(pid, ctypes.byref(clock)) != 0:
            return None
        ts = Timespec()
        if libc.clock_gettime(clock, ctypes.byref(ts)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return ts.tv_sec * 1000 + ts.tv_nsec / 1e6


def cpu_ms(pid: int) -> float:
    """User + system CPU time of the server and its children, in ms (the server's own to the
    nanosecond where the OS allows, else psutil's 10 ms clock ticks)."""
    total = 0.0
    own = _clock_ms(pid)
    procs = _procs(pid)
    if own is not None:
        total, procs = own / 1000, procs[1:]
    return (total + processes_cpu_s(procs)) * 1000


def rss_mb(pid: int) -> float:
    total = 0
    for p in _procs(pid):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def settle(pid: int, quiet_s: float = 0.5, timeout_s: float = 60.0) -> float:
    """Wait until the server has used no CPU (< 1 clock tick) for ``quiet_s``; its CPU ms then."""
    last, quiet_since, t0 = cpu_ms(pid), time.perf_counter(), time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        time.sleep(0.1)
        now = cpu_ms(pid)
        if now - last > 5.0:
            last, quiet_since = now, time.perf_counter()
        elif time.perf_counter() - quiet_since >= quiet_s:
            return now
    return cpu_ms(pid)


def stroke(page, points, dx: float = 0.0) -> None:
    """One mouse stroke (hover, press, move in small steps, release), shifted by ``dx`` of the width."""
    box = canvas_box(page)
    path = _path([(x + dx, y) for x, y in points], box)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*path[0], steps=4)
    page.mouse.down()
    for x, y in path[1:]:
        page.mouse.move(x, y)
    page.mouse.up()


def measured_stroke(page, pid: int, digit: str, dx: float = 0.0) -> float | None:
    """Server CPU ms for one stroke on a cleared canvas, up to the right Prediction (None if wrong)."""
    reset_canvas(page)
    prediction_metric(page).wait_for(state="detached", timeout=20_000)
    page.wait_for_function(_IDLE_JS, timeout=20_000)
    before = settle(pid)
    stroke(page, ONE_STROKE[digit], dx)
    try:
        page.wait_for_function(_PREDICTION_JS, arg=digit, polling=50, timeout=20_000)
    except Exception:
        return None
    return settle(pid) - before


def measured_multi_stroke(page, pid: int, digit: str) -> tuple[list[float], float, bool]:
    """Server CPU ms of each stroke of the multi-stroke ``digit`` (the last one up to the right
    Prediction; the others until the server is quiet again), the canvas reset before it, and
    whether the answer was right."""
    page.wait_for_function(_IDLE_JS, timeout=20_000)
    before = settle(pid)
    reset_canvas(page)
    prediction_metric(page).wait_for(state="detached", timeout=20_000)
    page.wait_for_function(_IDLE_JS, timeout=20_000)
    reset_ms = settle(pid) - before
    costs, ok = [], True
    strokes = MULTI_STROKE[digit]
    for i, points in enumerate(strokes):
        before = settle(pid)
        stroke(page, points)
        if i == len(strokes) - 1:
            try:
                page.wait_for_function(_PREDICTION_JS, arg=digit, polling=50, timeout=20_000)
            except Exception:
                ok = False
        costs.append(settle(pid, quiet_s=0.8) - before)
    return costs, reset_ms, ok


def streamlit_memory(port: int) -> dict[str, float]:
    """Bytes Streamlit itself counts (``/_stcore/metrics``, server.enableExpensiveMemoryStats):
    all sessions' session state, and the st.cache_data / st.cache_resource entries, by kind."""
    import re
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/metrics", timeout=30) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for m in re.finditer(r'^cache_memory_bytes\{cache_type="(\w+)"[^}]*\} ([0-9.e+]+)$', text, re.M):
        out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
    return out


def nav_pages(page) -> list[str]:
    """The menu's page titles, in order."""
    links = page.get_by_test_id("stSidebarNav").get_by_test_id("stSidebarNavLink")
    links.first.wait_for(timeout=20_000)
    # a link's text is its icon's ligature name, then the title
    return [t.strip().splitlines()[-1].strip() for t in links.all_inner_texts()]


def visit(page, pid: int, title: str) -> float:
    """Server CPU ms for opening the page ``title`` from the menu, until the server is quiet again."""
    page.wait_for_function(_IDLE_JS, timeout=30_000)
    before = settle(pid)
    url = page.url
    page.get_by_test_id("stSidebarNav").get_by_test_id("stSidebarNavLink").filter(has_text=title).last.click()
    if title != "Draw":
        page.wait_for_url(lambda u: u != url, timeout=30_000)
    page.wait_for_function(_IDLE_JS, timeout=120_000)
    return settle(pid, quiet_s=0.8) - before


def session_with_digit(browser, url: str, pid: int, dx: float) -> tuple[object, object]:
    """A new browser session that has drawn a 7 (shifted by ``dx``) and read it."""
    context = browser.new_context(viewport=DESKTOP)
    page = open_draw_page(context, url, timeout_ms=120_000)
    stroke(page, ONE_STROKE["7"], dx)
    page.wait_for_function(_PREDICTION_JS, arg="7", polling=50, timeout=30_000)
    return context, page


def _config_post_script_gc() -> bool:
    """runner.postScriptGC as the repository's .streamlit/config.toml sets it (Streamlit's default: true)."""
    import tomllib

    path = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"
    config = tomllib.loads(path.read_text()) if path.is_file() else {}
    return bool(config.get("runner", {}).get("postScriptGC", True))


def run(strokes: int = 20, sessions: int = 4, gc: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    port = free_port()
    # byte sizes (not item counts) on /_stcore/metrics; costs nothing until that endpoint is read
    extra = ["--server.enableExpensiveMemoryStats", "true"] + (["--runner.postScriptGC", "true"] if gc else [])
    proc = start_server(port, Path("/tmp") / "capacity_streamlit.log", extra_args=extra)
    url = f"http://127.0.0.1:{port}/"
    out: dict = {"postScriptGC": gc or _config_post_script_gc()}
    try:
        out["start_s"] = round(wait_healthy(port, proc), 2)
        pid = proc.pid
        with sync_playwright() as p:
            browser = launch_browser(p)
            try:
                context = browser.new_context(viewport=DESKTOP)
                page = open_draw_page(context, url, timeout_ms=120_000)
                page.wait_for_function(_IDLE_JS, timeout=30_000)
                settle(pid)
                out["rss_mb_cold"] = round(rss_mb(pid), 1)
                # what the server burns with nobody doing anything (watchers, event loop), per second
                c0, t0 = cpu_ms(pid), time.perf_counter()
                time.sleep(5)
                out["idle_cpu_ms_per_s"] = round((cpu_ms(pid) - c0) / (time.perf_counter() - t0), 2)
                # warm-up: the first stroke in a process loads the ViT and the canvas component
                measured_stroke(page, pid, "1")
                rss_before = rss_mb(pid)
                digits = list(ONE_STROKE)
                costs = [measured_stroke(page, pid, digits[i % 2]) for i in range(strokes)]
                ok = [c for c in costs if c is not None]
                out["rss_mb_stroke_growth"] = round(rss_mb(pid) - rss_before, 1)
                out["stroke_cpu_ms"] = round(statistics.median(ok), 1) if ok else None
                out["stroke_cpu_ms_runs"] = [None if c is None else round(c, 1) for c in costs]
                out["strokes_wrong"] = len(costs) - len(ok)
                # multi-stroke digits with a canvas reset before each (as a learner draws)
                multi, resets, wrong = [], [], 0
                for i in range(max(2, strokes // 2)):
                    costs_i, reset_i, right = measured_multi_stroke(page, pid, list(MULTI_STROKE)[i % 2])
                    multi += costs_i
                    resets.append(reset_i)
                    wrong += not right
                out["stroke_cpu_ms_multi"] = round(statistics.median(multi), 1)
                out["stroke_cpu_ms_multi_runs"] = [round(c, 1) for c in multi]
                out["reset_cpu_ms"] = round(statistics.median(resets), 1)
                out["multi_stroke_digits_wrong"] = wrong
                if ok:
                    out["users_per_core"] = round(STROKE_PERIOD_MS / statistics.median(ok), 1)

                # the first session: a drawn 7 current (on a cleared canvas: the last multi-stroke
                # digit is still on it), then every page of the menu once
                reset_canvas(page)
                prediction_metric(page).wait_for(state="detached", timeout=20_000)
                page.wait_for_function(_IDLE_JS, timeout=20_000)
                stroke(page, ONE_STROKE["7"])
                page.wait_for_function(_PREDICTION_JS, arg="7", polling=50, timeout=30_000)
                titles = [t for t in nav_pages(page) if t != "Draw"]
                out["page_cpu_ms"] = {t: round(visit(page, pid, t), 1) for t in titles}
                out["rss_mb_all_pages"] = round(rss_mb(pid), 1)

                # extra sessions, each with its own digit, every page once; all kept open
                warm: dict[str, list[float]] = {t: [] for t in titles}
                extra_contexts = []
                rss_steps = [out["rss_mb_all_pages"]]
                for k in range(sessions):
                    ctx, pg = session_with_digit(browser, url, pid, dx=0.02 * (k + 1))
                    extra_contexts.append(ctx)
                    for t in titles:
                        warm[t].append(visit(pg, pid, t))
                    visit(pg, pid, "Draw")
                    settle(pid)
                    rss_steps.append(rss_mb(pid))
                rss_sessions = rss_steps[-1]
                out["page_cpu_ms_warm"] = {t: round(statistics.median(v), 1) for t, v in warm.items() if v}
                out["sessions"] = sessions
                out["rss_mb_after_sessions"] = round(rss_sessions, 1)
                out["rss_mb_steps"] = [round(r, 1) for r in rss_steps]
                try:
                    mem = streamlit_memory(port)
                except OSError as exc:   # HTTPError too: Streamlit's vendored pympler can fail to size an object
                    mem = {}
                    out["streamlit_memory_error"] = f"/_stcore/metrics: {exc}"
                if "st_session_state" in mem:
                    out["session_state_mb_per_session"] = round(mem["st_session_state"] / (sessions + 1) / 2**20, 2)
                out["cache_data_mb"] = round(mem.get("st_cache_data", 0) / 2**20, 2)
                if sessions >= 2:
                    # least-squares slope over the extra sessions (one session's RSS is noisy:
                    # the allocator hands freed memory back or keeps it)
                    out["rss_mb_per_session"] = round(statistics.linear_regression(
                        range(sessions + 1), rss_steps).slope, 2)
                for ctx in extra_contexts:
                    ctx.close()
                context.close()
            finally:
                browser.close()
    finally:
        stop_server(proc)
    out["cpus"] = psutil.cpu_count()
    if out.get("users_per_core"):
        out["replicas"] = plan(out)
    return out


def plan(res: dict, load: float = REPLICA_LOAD) -> dict:
    """Replicas (one core each, at ``load`` average use) for each group size in GROUPS, and the
    memory each then holds: the server after every page plus one session per learner."""
    import math

    per_replica = max(1, math.floor(res["users_per_core"] * load))
    # a learner's memory: the RSS slope (noisy, allocator) or what Streamlit counts, the larger
    per_learner = max(0.0, res.get("rss_mb_per_session", 0.0), res.get("session_state_mb_per_session", 0.0))
    out = {}
    for name, learners in GROUPS.items():
        n = math.ceil(learners / per_replica)
        on_each = math.ceil(learners / n)
        out[name] = {"learners": learners, "replicas": n, "learners_per_replica": on_each,
                     "cores": n, "rss_mb_per_replica": round(res["rss_mb_all_pages"]
                                                            + on_each * per_learner)}
    return out


def table(res: dict) -> str:
    lines = [f"server CPU per action (runner.postScriptGC = {str(res['postScriptGC']).lower()}); "
             f"idle {res['idle_cpu_ms_per_s']} ms per s",
             f"  stroke on Draw (median of {len(res['stroke_cpu_ms_runs'])})   {res['stroke_cpu_ms']} ms"
             f"   goal <= {GOALS['stroke_cpu_ms']:g} ms; {res['strokes_wrong']} wrong",
             f"  stroke of multi-stroke digits (median of {len(res.get('stroke_cpu_ms_multi_runs', []))}) "
             f"{res.get('stroke_cpu_ms_multi')} ms; canvas reset {res.get('reset_cpu_ms')} ms; "
             f"{res.get('multi_stroke_digits_wrong')} digits wrong",
             f"  users per core (a stroke every 2 s)  {res.get('users_per_core')}",
             "  first view of a page, drawn digit current: first session (cold process) / further sessions"]
    for t, ms in res["page_cpu_ms"].items():
        lines.append(f"    {t:<32}{ms:>9.1f} ms {res.get('page_cpu_ms_warm', {}).get(t, float('nan')):>9.1f} ms")
    lines += [f"server memory: cold {res['rss_mb_cold']} MB, after every page {res['rss_mb_all_pages']} MB "
              f"(goal < {GOALS['rss_mb_all_pages']:g}), per extra session {res.get('rss_mb_per_session')} MB "
              f"(goal < {GOALS['rss_mb_per_session']:g}, {res['sessions']} sessions), "
              f"growth over the strokes {res['rss_mb_stroke_growth']} MB; session state "
              f"{res.get('session_state_mb_per_session')} MB per session, st.cache_data {res.get('cache_data_mb')} MB",
              f"start: launch to /_stcore/health {res['start_s']} s"]
    for name, r in res.get("replicas", {}).items():
        lines.append(f"  {name} of {r['learners']:,}: {r['replicas']} replica(s) of one core, "
                     f"{r['learners_per_replica']} learners and about {r['rss_mb_per_replica']} MB each "
                     f"(at {REPLICA_LOAD:.0%} load)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    add_save_option(ap)
    ap.add_argument("--strokes", type=int, default=20, help="measured strokes (median)")
    ap.add_argument("--sessions", type=int, default=4, help="extra sessions for the memory per session (>= 2)")
    ap.add_argument("--gc", action="store_true", help="Streamlit's default runner.postScriptGC = true, to compare")
    a = ap.parse_args(argv)
    res = run(a.strokes, a.sessions, a.gc)
    save_result(a, "capacity", res, argv, goals=GOALS)
    print(json.dumps(res) if a.json else table(res))


if __name__ == "__main__":
    main()
