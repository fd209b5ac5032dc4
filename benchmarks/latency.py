"""Latency and memory of every interactive computation, for one drawn digit and the shipped models.

    python benchmarks/latency.py            # table with the budget beside each figure
    python benchmarks/latency.py --json     # one JSON object (keys below)

Torch runs with one intra-op thread, as in the app (dashboard/resources.py). Each figure is
the median over ``--runs`` (default 25) timed calls after ``--warmup`` untimed ones, in
milliseconds. The digit is a synthetic pen drawing on a 280x280 canvas (white strokes on
black, like the Draw page's canvas) sent through ``data.preprocess`` as a drawing would be.

Keys: predict_ms (preprocessing + ViT; also apart: preprocess_ms, vit_ms), attention_ms (attention of all layers
and heads, class-token maps, rollout and head statistics), gradient_rollout_ms, saliency_ms,
integrated_gradients_ms (50 steps), gradient_shap_ms, occlusion_ms, noise_tunnel_ms
(SmoothGrad of Saliency, default settings), input_x_gradient_ms, knockout_ms,
faithfulness_ms (the full comparison: the default methods' maps plus their deletion and
insertion curves), faithfulness_curves_ms (the curves alone), forest_predict_ms,
inside_ms and patching_ms (the Inside page: see :func:`inside_timings`),
data_features_ms (the Data page's six shape features of the preprocessed digit, data.features),
counterfactual_ms ("make it a D" for the runner-up digit, median of max(5, runs/5) runs),
neighbours_ms (10 nearest training images, kNN vote, percentile and map position),
photo_preprocess_ms (preprocessing a decoded 4000x3000 phone photo of paper, issue 10;
photo_preprocess_cpu_ms: its CPU time, which a busy shared machine does not inflate),
load_ms (loading both models), rss_mb (process memory after loading and the first prediction),
memory_growth_mb (RSS growth over ``--memory-iterations`` predictions, each with one
explanation, cycling through every method, after a warm-up pass), plus ``device`` notes.
trust_report_ms (the whole trust report of every method, model.explain.trust.trust_report, median
of ``--trust-runs``, default 5, after one warm-up that also builds the randomised copies) and
trust_cascade_max_ms (the slowest method's cascade and random-logit test alone: how long the Trust
page takes at most to show one method's row), and trust_report_cpu_ms / trust_cascade_max_cpu_ms (the
same in CPU time of this thread, which a loaded machine does not inflate).
walkthrough_ms and walkthrough_step_cpu_ms (the Walkthrough page, process CPU time: see
:func:`walkthrough_timings`; ``--walkthrough`` measures only these).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from _results import add_save_option  # noqa: E402
from _results import save as save_result  # noqa: E402

from data.features import features as digit_features  # noqa: E402
from data.preprocess import preprocess  # noqa: E402
from model import explain as E  # noqa: E402
from model import paths  # noqa: E402
from model.evaluate import median_ms  # noqa: E402
from model.forest import forest_predict_proba, load_forest  # noqa: E402
from model.inference import predict_proba  # noqa: E402
from model.vit import load_vit  # noqa: E402

# budgets on the 2-core CPU (issues 4 and 6), in ms (memory in MB)
BUDGETS: dict[str, float] = {
    "predict_ms": 15, "attention_ms": 30, "saliency_ms": 40, "integrated_gradients_ms": 250,
    "gradient_shap_ms": 250, "occlusion_ms": 250, "noise_tunnel_ms": 400, "forest_predict_ms": 40,
    "faithfulness_ms": 1000, "memory_growth_mb": 50,
    "data_features_ms": 20,
    "counterfactual_ms": 1500, "neighbours_ms": 50,   # issue 14
}
BUDGETS.update({"inside_ms": 100, "patching_ms": 1000})   # issue 13: the Inside page
BUDGETS.update({"trust_report_ms": 3000, "trust_cascade_max_ms": 1000})   # issue 12
BUDGETS.update({"trust_report_cpu_ms": 1000})   # issue 22: the whole report, all methods, < 1 s of CPU
BUDGETS["photo_preprocess_ms"] = 150     # issue 10: a decoded 4000x3000 phone photo of paper, one thread
BUDGETS.update({"walkthrough_ms": 50, "walkthrough_step_cpu_ms": 300})   # issue 19: the Walkthrough page


def phone_photo():
    """A decoded 4000x3000 JPEG phone photo of MNIST test digit 0 written on ruled paper
    (:func:`data.synthetic.photo`), for ``photo_preprocess_ms``."""
    from data import synthetic
    from data.mnist import load_mnist

    images, _ = load_mnist("test")
    o = synthetic.PhotoOptions(size=(4000, 3000), lines="ruled", shadow=0.3, blur=1.0, jpeg=85)
    return synthetic.photo(images[0], np.random.default_rng(0), o)


def drawn_digit() -> np.ndarray:
    """A '7' drawn with a round 18 px pen on a 280x280 black canvas, as RGBA like the canvas."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    d = ImageDraw.Draw(canvas)
    pts = [(70, 60), (205, 62), (160, 140), (120, 225)]
    d.line(pts, fill=(255, 255, 255, 255), width=18, joint="curve")
    for p in (pts[0], pts[-1]):
        d.ellipse([p[0] - 9, p[1] - 9, p[0] + 9, p[1] + 9], fill=(255, 255, 255, 255))
    d.line([(115, 140), (195, 140)], fill=(255, 255, 255, 255), width=16)
    return np.asarray(canvas)


def inside_timings(vit, img: np.ndarray) -> dict:
    """The Inside page (issue 13): ``inside_ms`` is everything it shows except patching (logit
    lens of the class and patch tokens, DLA of every class, attention distance, position
    similarity, stem filters; one cached forward pass); ``patching_ms`` is the full activation
    patching sweep (every token entering every block and every head) with a second digit."""
    from data.mnist import load_mnist

    images, labels = load_mnist("test")
    pred = int(predict_proba(vit, img)[0].argmax())
    second = images[int(np.flatnonzero(labels != pred)[0])] / 255.0
    return {"inside_ms": lambda: E.inside_summary(vit, img),
            "patching_ms": lambda: E.activation_patching(vit, img, second)}


def walkthrough_timings(vit, img: np.ndarray, runs: int = 25, warmup: int = 3, passes: int = 3) -> dict:
    """The Walkthrough page (issue 19), in CPU time of this process (the machine is shared, so wall
    time would also count other processes): ``walkthrough_ms`` is the median of ``runs`` calls of
    model.explain.walkthrough.run (every stage of one digit recomputed and checked against the
    model); ``walkthrough_step_cpu_ms`` is the slowest guided step change of the page under AppTest
    (the script run one Next click causes, figures included, the digit already cached), median
    over ``passes`` passes through all steps."""
    from streamlit.testing.v1 import AppTest

    from dashboard.state import KEY, CurrentDigit
    from dashboard.walkthrough_plots import STEPS
    from model.explain.walkthrough import run as walkthrough

    for _ in range(warmup):
        walkthrough(vit, img)
    cpu = []
    for _ in range(runs):
        c0 = time.process_time()
        walkthrough(vit, img)
        cpu.append(time.process_time() - c0)
    steps = np.zeros((passes, len(STEPS) - 1))
    for p in range(passes):
        at = AppTest.from_file(str(ROOT / "pages" / "walkthrough.py"), default_timeout=300)
        at.session_state[KEY] = CurrentDigit.make(img, "drawing")
        at.run()
        for i in range(len(STEPS) - 1):
            c0 = time.process_time()
            at.button(key="walk_next").click().run()
            steps[p, i] = time.process_time() - c0
            if at.exception:
                raise RuntimeError(f"the Walkthrough page failed at step {i + 2}: {at.exception}")
    return {"walkthrough_ms": round(1000 * float(np.median(cpu)), 2),
            "walkthrough_step_cpu_ms": round(1000 * float(np.median(steps, axis=0).max()), 1)}


def rss_mb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def run(runs: int = 25, warmup: int = 3, memory_iterations: int = 500, trust_runs: int = 5) -> dict:
    t0 = time.perf_counter()
    vit = load_vit(paths.VIT_WEIGHTS)
    forest = load_forest(paths.FOREST)
    load_ms = (time.perf_counter() - t0) * 1000

    raw = drawn_digit()
    pre = preprocess(raw)
    if not pre.ok:
        raise SystemExit(f"the benchmark drawing was refused by preprocessing: {pre.message}")
    img = pre.image
    probs = predict_proba(vit, img)[0]
    target = int(probs.argmax())
    rss_first = rss_mb()

    def predict():
        p = preprocess(raw)
        return predict_proba(vit, p.image)

    def method(name, **kw):
        return lambda: E.explain(vit, img, target, name, **kw)

    maps = {m: E.attribute(vit, img, target, m) for m in E.DEFAULT_COMPARISON}
    out: dict = {}
    timed = {
        "predict_ms": predict,
        "preprocess_ms": lambda: preprocess(raw),
        "vit_ms": lambda: predict_proba(vit, img),
        "attention_ms": lambda: E.attention_summary(vit, img),
        "gradient_rollout_ms": lambda: E.gradient_rollout(vit, img, target),
        "saliency_ms": method("saliency"),
        "input_x_gradient_ms": method("input_x_gradient"),
        "integrated_gradients_ms": method("integrated_gradients", steps=50),
        "gradient_shap_ms": method("gradient_shap"),
        "occlusion_ms": method("occlusion"),
        "noise_tunnel_ms": method("noise_tunnel"),
        "knockout_ms": lambda: E.knockout_proba(vit, img, [(0, 0), (1, 1)]),
        "faithfulness_curves_ms": lambda: E.faithfulness(vit, img, target, maps),
        "faithfulness_ms": lambda: E.compare(vit, img, target),
        "forest_predict_ms": lambda: forest_predict_proba(forest, img),
        "data_features_ms": lambda: digit_features(img),
    }
    timed.update(inside_timings(vit, img))
    import cv2
    cv2.setNumThreads(1)                     # one thread, like torch here
    photo = phone_photo()
    timed["photo_preprocess_ms"] = lambda: preprocess(photo)
    for key, fn in timed.items():
        n = max(20, runs // 2) if key == "faithfulness_ms" else runs
        out[key] = round(median_ms(fn, n, warmup), 2)
    # the photo's CPU time too (process time, one thread): on a shared, busy machine the wall
    # time above also counts the time other processes held the cores
    cpu = []
    for _ in range(runs):
        t = time.process_time()
        preprocess(photo)
        cpu.append(time.process_time() - t)
    out["photo_preprocess_cpu_ms"] = round(float(np.median(cpu)) * 1000, 2)
    out.update(trust_timings(vit, img, target, trust_runs))
    out.update(walkthrough_timings(vit, img, runs, warmup))

    # issue 14: "make it a D" for the runner-up digit, and the nearest training images
    from model.explain.counterfactual import counterfactual

    runner_up = int(np.argsort(probs)[-2])
    out["counterfactual_ms"] = round(median_ms(lambda: counterfactual(vit, img, runner_up), max(5, runs // 5), 1), 2)
    if paths.NEIGHBOURS.is_file():
        from model.explain.neighbours import load_index

        index = load_index(paths.NEIGHBOURS)
        out["neighbours_ms"] = round(median_ms(lambda: index.query(vit, img, 10), runs, warmup), 2)

    # memory: many predictions, each with one explanation, cycling through the methods
    rng = np.random.default_rng(0)
    methods = list(E.METHODS)

    def one(i: int) -> None:
        jitter = np.clip(img + rng.normal(0, 0.02, img.shape).astype(np.float32), 0, 1)
        predict_proba(vit, jitter)
        E.explain(vit, jitter, i % 10, methods[i % len(methods)])

    for i in range(len(methods) * 2):
        one(i)
    gc.collect()
    start = rss_mb()
    for i in range(memory_iterations):
        one(i)
    gc.collect()
    out["memory_growth_mb"] = round(rss_mb() - start, 1)
    out["memory_iterations"] = memory_iterations
    out["rss_mb"] = round(rss_first, 1)
    out["rss_after_mb"] = round(rss_mb(), 1)
    out["load_ms"] = round(load_ms, 1)
    out["runs"] = runs
    out["target"] = target
    out["probability"] = round(float(probs[target]), 4)
    out["device"] = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                     f"torch {torch.__version__} with {torch.get_num_threads()} thread(s)")
    return out


def trust_timings(vit, img: np.ndarray, target: int, runs: int = 5) -> dict:
    """trust_report_ms and trust_cascade_max_ms (issue 12), fewer runs: one report takes seconds."""
    from model.explain import trust as T

    out = {"trust_report_ms": round(median_ms(lambda: T.trust_report(vit, img, target), runs, 1), 1)}
    # CPU time of this thread for one report: on a shared, overloaded machine the wall time above
    # also counts the time other processes hold the cores; this does not
    cpu = []
    for _ in range(runs):
        c0 = time.thread_time()
        T.trust_report(vit, img, target)
        cpu.append(time.thread_time() - c0)
    out["trust_report_cpu_ms"] = round(1000 * float(np.median(cpu)), 1)

    def cascade_cpu(m: str) -> float:
        c0 = time.thread_time()
        T.method_trust(vit, img, target, m)
        return time.thread_time() - c0

    out["trust_cascade_max_cpu_ms"] = round(1000 * max(float(np.median([cascade_cpu(m) for _ in range(runs)]))
                                                       for m in T.TRUST_METHODS), 1)
    out["trust_cascade_max_ms"] = round(max(
        median_ms(lambda: T.method_trust(vit, img, target, m), runs, 1)  # noqa: B023
        for m in T.TRUST_METHODS), 1)
    return out


def table(res: dict) -> str:
    lines = [f"{'computation':<26}{'median':>12}{'budget':>12}  ok", "-" * 54]
    for key, val in res.items():
        if not (key.endswith("_ms") or key.endswith("_mb")):
            continue
        unit = "MB" if key.endswith("_mb") else "ms"
        budget = BUDGETS.get(key)
        ok = "" if budget is None else ("yes" if val <= budget else "OVER")
        b = "" if budget is None else f"< {budget:g} {unit}"
        lines.append(f"{key[:-3]:<26}{val:>9.1f} {unit}{b:>12}  {ok}")
    lines.append(f"\n{res['device']}; median of {res['runs']} runs; memory growth over "
                 f"{res['memory_iterations']} predictions with explanations")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_save_option(p)
    p.add_argument("--runs", type=int, default=25, help="timed runs per computation (>= 20)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--memory-iterations", type=int, default=500)
    p.add_argument("--trust-runs", type=int, default=5, help="timed runs of the trust report")
    p.add_argument("--walkthrough", action="store_true", help="only the Walkthrough page's figures (issue 19)")
    a = p.parse_args(argv)
    if a.runs < 20:
        p.error("--runs must be at least 20")
    if a.walkthrough:
        vit, img = load_vit(paths.VIT_WEIGHTS), preprocess(drawn_digit()).image
        res = walkthrough_timings(vit, img, a.runs, a.warmup)
        print(json.dumps(res) if a.json else "\n".join(f"{k:<26}{v:>9.1f} ms   budget < {BUDGETS[k]:g} ms"
                                                      for k, v in res.items()))
        return
    res = run(a.runs, a.warmup, a.memory_iterations, a.trust_runs)
    save_result(a, "latency", res, argv, budgets=BUDGETS)
    print(json.dumps(res) if a.json else table(res))


if __name__ == "__main__":
    main()
