"""Both writing styles of 1 and 7, drawn on the canvas: ``python benchmarks/drawn_styles.py [--n 100] [--save]``.

Synthetic canvas drawings (:mod:`data.drawn`: plain and flagged 1s, with and without a foot;
plain and crossed 7s) go through exactly what a drawing goes through in the app (rasterise the
strokes, :func:`data.preprocess.preprocess`, the ViT's calibrated headline prediction). Prints,
per style, the accuracy, how many were refused as "no digit", and the median probability of the
right class; ``--json`` prints ``{"styles": {style: {...}}, "accuracy": overall}``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import add_save_option  # noqa: E402
from _results import save as save_result  # noqa: E402


def measure(model, n: int = 100, seed: int = 0) -> dict:
    from data.drawn import LABELS, STYLES, drawn_set
    from data.preprocess import preprocess
    from data.strokes import render_strokes
    from model.inference import headline

    out = {s: {"n": 0, "right": 0, "refused": 0, "p_true": []} for s in STYLES}
    for style, objs in drawn_set(n, seed):
        r = out[style]
        r["n"] += 1
        pre = preprocess(render_strokes(objs))
        if pre.image is None:
            r["refused"] += 1
            continue
        h = headline(model, pre.image)
        r["right"] += int(h.digit == LABELS[style])
        r["p_true"].append(float(h.probabilities[LABELS[style]]))
    styles = {s: {"n": r["n"], "accuracy": r["right"] / r["n"], "refused": r["refused"],
                  "median_p_true": float(np.median(r["p_true"])) if r["p_true"] else None} for s, r in out.items()}
    total = sum(r["n"] for r in out.values())
    return {"styles": styles, "accuracy": sum(r["right"] for r in out.values()) / total, "n": total, "seed": seed}


def main(argv: list[str] | None = None) -> None:
    import torch

    from model import paths
    from model.vit import load_vit

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100, help="drawings per style")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", default=str(paths.VIT_WEIGHTS))
    p.add_argument("--json", action="store_true")
    add_save_option(p)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    res = measure(load_vit(a.weights), a.n, a.seed)
    save_result(a, "drawn_styles", res, argv)
    if a.json:
        print(json.dumps(res))
        return
    print(f"{'style':<14}{'accuracy':>10}{'refused':>9}{'median P(true)':>16}")
    for s, r in res["styles"].items():
        print(f"{s:<14}{100 * r['accuracy']:>9.1f}%{r['refused']:>9}{r['median_p_true'] or 0:>16.3f}")
    print(f"all {res['n']} drawings: {100 * res['accuracy']:.1f} %")


if __name__ == "__main__":
    main()
