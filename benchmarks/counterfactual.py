"""Counterfactuals ("make it a D") on MNIST test digits: success rate, changed pixels, time.

    python benchmarks/counterfactual.py              # 100 (test digit, target) pairs
    python benchmarks/counterfactual.py --pairs 200 --json

Each pair is a test image (seeded random choice) and a target drawn uniformly from the nine
digits other than the ViT's own reading of it. A pair counts as found when
:func:`model.explain.counterfactual.counterfactual` says so, which means a fresh forward pass
of the ViT on the returned image reads the target with the required logit margin; this script
checks that once more itself. Torch runs with one thread, as in the app. Goals (issue 14):
found for >= 90 % of pairs, < 1.5 s each.
"""
from __future__ import annotations

import argparse
import json
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

from data.mnist import load_mnist  # noqa: E402
from model import paths  # noqa: E402
from model.explain.counterfactual import counterfactual  # noqa: E402
from model.inference import predict_proba  # noqa: E402
from model.vit import load_vit  # noqa: E402


def run(pairs: int = 100, seed: int = 0) -> dict:
    vit = load_vit(paths.VIT_WEIGHTS)
    images, _ = load_mnist("test")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(images), size=pairs, replace=False)
    imgs = images[idx].astype(np.float32) / 255.0
    preds = predict_proba(vit, imgs).argmax(1)
    counterfactual(vit, imgs[0], (int(preds[0]) + 1) % 10)             # warm-up
    found, changed, l1, times, cpu, steps = [], [], [], [], [], []
    for img, p in zip(imgs, preds):
        target = int(rng.choice([d for d in range(10) if d != p]))
        t0, c0 = time.perf_counter(), time.process_time()
        cf = counterfactual(vit, img, target)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)      # CPU time: what wall time would be on an idle core
        ok = cf.found and int(predict_proba(vit, cf.image)[0].argmax()) == target
        found.append(ok)
        steps.append(cf.steps)
        if ok:
            changed.append(cf.changed_pixels)
            l1.append(cf.l1)
    return {"pairs": pairs, "found_rate": round(float(np.mean(found)), 4),
            "median_changed_pixels": float(np.median(changed)) if changed else None,
            "median_l1": round(float(np.median(l1)), 3) if l1 else None,
            "median_s": round(float(np.median(times)), 3), "p90_s": round(float(np.percentile(times, 90)), 3),
            "max_s": round(float(np.max(times)), 3), "median_cpu_s": round(float(np.median(cpu)), 3),
            "p90_cpu_s": round(float(np.percentile(cpu, 90)), 3), "median_steps": float(np.median(steps)),
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    add_save_option(p)
    a = p.parse_args(argv)
    res = run(a.pairs, a.seed)
    save_result(a, "counterfactual", res, argv)
    if a.json:
        print(json.dumps(res))
        return
    print(f"pairs: {res['pairs']}  found: {res['found_rate']:.1%} (goal >= 90 %)")
    print(f"median changed pixels: {res['median_changed_pixels']}  median L1: {res['median_l1']}")
    print(f"time per pair: median {res['median_s']} s, p90 {res['p90_s']} s, max {res['max_s']} s "
          f"(goal < 1.5 s, {res['threads']} thread); median Adam steps {res['median_steps']}")
    print(f"CPU time per pair: median {res['median_cpu_s']} s, p90 {res['p90_cpu_s']} s "
          "(wall time on an otherwise idle core)")


if __name__ == "__main__":
    main()
