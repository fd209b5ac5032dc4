"""Render time of the Baseline, Misclassified and Model pages from the stored artifacts.

Each page is run with Streamlit's AppTest (the script executes in this process exactly as the
server would run it, without a browser) with a current digit: a drawn "7" for Baseline and
Model (so the Model page also runs the preprocessing steps) and ``?image=0`` for Misclassified.
One warm-up run fills the caches a server fills on its first request (models, tables,
thumbnails); then the median of ``--runs`` reruns is reported, with the cold first run. The goal
is under 2 s per page on this 2-core CPU (under 1 s for the Data page, ``GOALS_S``). AppTest
adds its own overhead (building and parsing the element tree), so these figures are an upper bound on
the server's script time.

    python benchmarks/pages.py [--runs 5] [--json] [--artifacts DIR] [--pages dataset.py ...]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _results import add_save_option  # noqa: E402
from _results import save as save_result  # noqa: E402

torch.set_num_threads(1)

GOAL_S = 2.0
GOALS_S = {"dataset.py": 1.0}      # pages with a stricter goal than GOAL_S
PAGES = ("baseline.py", "misclassified.py", "model_card.py", "dataset.py")
ARTIFACT_ATTRS = ("VIT_WEIGHTS", "VIT_METRICS", "EXPERIMENTS", "FOREST", "TEST_EVAL", "EVALUATION",
                  "HEAD_IMPORTANCE", "MEAN_ATTRIBUTION", "DATA_TABLES")


def drawn_seven() -> tuple[np.ndarray, np.ndarray]:
    """A 280x280 RGBA canvas with a white 7 on transparent black, and its preprocessed image."""
    from data.preprocess import preprocess

    raw = np.zeros((280, 280, 4), np.uint8)
    raw[50:70, 60:220] = 255                                       # top bar
    for y in range(70, 240):                                       # diagonal stroke
        x = int(220 - (y - 70) * 0.55)
        raw[y, x - 10:x + 10] = 255
    pre = preprocess(raw)
    assert pre.ok, pre.message
    return raw, pre.image


def point_at(folder: Path) -> None:
    from model import paths

    paths.ARTIFACTS = folder
    for attr in ARTIFACT_ATTRS:                       # same file names as model.paths, another folder
        setattr(paths, attr, folder / getattr(paths, attr).name)


def measure(page: str, runs: int) -> dict:
    from streamlit.testing.v1 import AppTest

    from dashboard.state import KEY, CurrentDigit

    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
    if page == "misclassified.py":
        at.query_params["image"] = "0"
    else:
        raw, image = drawn_seven()
        at.session_state[KEY] = CurrentDigit(image, "drawing", raw=raw)
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"{page} raised: {at.exception[0].message}")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
    missing = [w.value for w in at.warning if "run `" in w.value]
    return {"page": page, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "cold_s": cold, "runs": runs, "goal_s": GOALS_S.get(page, GOAL_S),
            "under_goal": statistics.median(times) < GOALS_S.get(page, GOAL_S),
            "missing_artifacts": missing}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="timed reruns per page after the warm-up run")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_save_option(p)
    p.add_argument("--artifacts", type=Path, default=None, help="read artifacts from DIR instead of model/artifacts")
    p.add_argument("--pages", nargs="+", default=list(PAGES), choices=PAGES, help="only these pages")
    a = p.parse_args(argv)
    if a.artifacts:
        point_at(a.artifacts.resolve())
    from model import paths

    results = [measure(page, a.runs) for page in a.pages]
    out = {"goal_s": GOAL_S, "artifacts": str(paths.ARTIFACTS), "torch_threads": torch.get_num_threads(),
           "pages": {r["page"].removesuffix(".py"): r for r in results}}
    save_result(a, "pages", out, argv)
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"Page render time (AppTest, median of {a.runs} after a warm-up; goal < {GOAL_S:.0f} s unless shown), "
              f"artifacts: {out['artifacts']}")
        print(f"{'page':<16}{'median s':>10}{'min s':>9}{'max s':>9}{'cold s':>9}  goal")
        for r in results:
            print(f"{r['page']:<16}{r['median_s']:>10.3f}{r['min_s']:>9.3f}{r['max_s']:>9.3f}{r['cold_s']:>9.3f}  "
                  f"{'ok' if r['under_goal'] else 'OVER'} (< {r['goal_s']:g} s)")
            for m in r["missing_artifacts"]:
                print(f"    note: {m}")
    return 0 if all(r["under_goal"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
