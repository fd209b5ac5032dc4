"""Offline, test-set-wide explanations that the app only reads.

    python -m model.analyze [--head-images 2000] [--ig-images 500] [--ig-steps 16]
    python -m model.analyze --inside [--inside-images 10000]   # only attention_distance.json

Writes two artifacts (formats in the project notes):

* ``head_importance.json``: for every attention head, the drop in test accuracy when that one
  head is knocked out (its output zeroed through the model's ``head_mask``; Michel et al.,
  2019, "Are Sixteen Heads Really Better than One?"), on the first ``--head-images`` MNIST
  test images. ``{"n_images", "baseline_accuracy", "accuracy_drop": [[L][H]], "layers", "heads"}``.
* ``mean_attribution.npz``: ``integrated_gradients`` (28, 28), the mean absolute Integrated
  Gradients attribution (Sundararajan et al., 2017; black baseline, true class) over the first
  ``--ig-images`` test images; ``n_images``; and ``forest_importance`` (28, 28), the random
  forest's impurity-based ``feature_importances_`` (Breiman, 2001), for the Baseline page.
* ``attention_distance.json`` (also alone, with ``--inside``): the mean attention distance of
  every head in pixels (Dosovitskiy et al., 2021, Fig. 7) averaged over the first
  ``--inside-images`` test images, overall and per true class, for the Inside page.

With ``--trust`` (``python -m model.analyze --trust [--trust-images 200]``) it writes only
``trust_summary.json``: which attribution methods pass the model-randomisation test (Adebayo et
al., 2018) on |map| and on signed maps, sMPRT and eMPRT (Hedström et al., 2023) and the random-logit
test on the first ``--trust-images`` test digits, and which method the verdict ranks first most often
(:func:`model.explain.trust.trust_summary`).

One torch thread; a few minutes at most on a laptop CPU. The shared model is only read.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from model import paths
from model.explain import knockout_mask
from model.inference import predict_proba
from model.vit import ViT, load_vit

BATCH = 250


def head_importance(model: ViT, images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy drop (L, H) when each head alone is knocked out. The baseline also runs through
    the masked-attention code path (all ones), so the drop measures the head, not the path."""
    x = np.asarray(images, dtype=np.float32) / 255.0                       # (N, 28, 28)
    y = np.asarray(labels)
    L, H = model.cfg.depth, model.cfg.heads

    def accuracy(mask: np.ndarray) -> float:
        return float((predict_proba(model, x, batch_size=BATCH, head_mask=mask).argmax(1) == y).mean())

    base = accuracy(knockout_mask(model, []))
    drop = np.array([[base - accuracy(knockout_mask(model, [(layer, head)])) for head in range(H)]
                     for layer in range(L)])
    return {"n_images": int(len(x)), "baseline_accuracy": float(base),
            "accuracy_drop": [[round(float(v), 6) for v in row] for row in drop],
            "layers": L, "heads": H}


def mean_abs_ig(model: ViT, images: np.ndarray, labels: np.ndarray, steps: int = 16, batch: int = 20) -> np.ndarray:
    """Mean |IG| (28, 28) for the true class, black baseline, batched over images."""
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(lambda t: model(t))
    total = torch.zeros(28, 28, dtype=torch.float64)
    for i in range(0, len(images), batch):
        x = (torch.as_tensor(np.array(images[i:i + batch], dtype=np.float32))[:, None] / 255.0).requires_grad_(True)
        t = torch.as_tensor(np.array(labels[i:i + batch], dtype=np.int64))
        a = ig.attribute(x, baselines=torch.zeros_like(x), target=t, n_steps=steps,
                         internal_batch_size=batch * steps)              # (b, 1, 28, 28)
        total += a.detach().abs().sum(dim=(0, 1)).double()
    return (total / len(images)).numpy().astype(np.float32)


def forest_importance(forest_path: Path) -> np.ndarray:
    from model.forest import load_forest

    return np.asarray(load_forest(forest_path).feature_importances_, dtype=np.float32).reshape(28, 28)


def main(argv: list[str] | None = None) -> int:
    """The entry point: a missing or corrupt ``--weights`` file is one line on stderr and exit 1."""
    from model.vit import WeightsError

    try:
        _main(argv)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=paths.VIT_WEIGHTS)
    p.add_argument("--forest", type=Path, default=paths.FOREST)
    p.add_argument("--out-dir", type=Path, default=paths.ARTIFACTS)
    p.add_argument("--head-images", type=int, default=2000)
    p.add_argument("--ig-images", type=int, default=500)
    p.add_argument("--ig-steps", type=int, default=16)
    p.add_argument("--skip-forest", action="store_true", help="leave forest_importance out (no forest yet)")
    p.add_argument("--inside", action="store_true",
                   help="write only attention_distance.json (the Inside page's test-set mean attention distance)")
    p.add_argument("--inside-images", type=int, default=10000, help="test images for attention_distance.json")
    p.add_argument("--trust", action="store_true", help="write only trust_summary.json (sanity checks of the maps)")
    p.add_argument("--trust-images", type=int, default=200)
    a = p.parse_args(argv)
    if a.trust:
        return write_trust_summary(a, argv)
    torch.set_num_threads(1)
    from data.mnist import load_mnist

    images, labels = load_mnist("test")
    model = load_vit(a.weights)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    command = "python -m model.analyze " + " ".join(argv if argv is not None else sys.argv[1:])
    if a.inside:
        write_attention_distance(model, images[:a.inside_images], labels[:a.inside_images], a.out_dir, command)
        return

    t0 = time.perf_counter()
    heads = head_importance(model, images[:a.head_images], labels[:a.head_images])
    heads["generated"] = datetime.now(UTC).isoformat(timespec="seconds")
    heads["command"] = command.strip()
    out = a.out_dir / paths.HEAD_IMPORTANCE.name
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(heads, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s): baseline accuracy {heads['baseline_accuracy']:.4f}, "
          f"largest drop {max(max(r) for r in heads['accuracy_drop']):.4f}")

    t0 = time.perf_counter()
    arrays = {"integrated_gradients": mean_abs_ig(model, images[:a.ig_images], labels[:a.ig_images], a.ig_steps),
              "n_images": np.int64(min(a.ig_images, len(images)))}
    if not a.skip_forest:
        arrays["forest_importance"] = forest_importance(a.forest)
    out = a.out_dir / paths.MEAN_ATTRIBUTION.name
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, out)
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")
    write_attention_distance(model, images[:a.inside_images], labels[:a.inside_images], a.out_dir, command)


def write_attention_distance(model: ViT, images: np.ndarray, labels: np.ndarray, out_dir: Path, command: str) -> None:
    """``attention_distance.json``: mean attention distance per head in pixels (Dosovitskiy et al.,
    2021, Fig. 7) over the test images, overall and per class (:mod:`model.explain.inside`)."""
    from model.explain.inside import test_set_attention_distance

    t0 = time.perf_counter()
    res = test_set_attention_distance(model, images, labels, BATCH)
    res["generated"] = datetime.now(UTC).isoformat(timespec="seconds")
    res["command"] = command.strip()
    out = out_dir / paths.ATTENTION_DISTANCE.name
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s): mean attention distance per layer "
          f"{[round(float(np.mean(r)), 2) for r in res['mean_attention_distance']]} px")


def write_trust_summary(a: argparse.Namespace, argv: list[str] | None) -> None:
    from data.mnist import load_mnist
    from model.explain.trust import trust_summary

    torch.set_num_threads(1)
    images, _ = load_mnist("test")
    model = load_vit(a.weights)
    x = images[:a.trust_images].astype(np.float32) / 255.0
    t0 = time.perf_counter()

    def progress(i: int, n: int) -> None:
        if i % 20 == 0 or i == n:
            print(f"  trust: {i}/{n} digits ({time.perf_counter() - t0:.0f} s)", flush=True)

    summary = trust_summary(model, x, progress=progress)
    summary["generated"] = datetime.now(UTC).isoformat(timespec="seconds")
    summary["command"] = ("python -m model.analyze " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    out = a.out_dir / paths.TRUST_SUMMARY.name
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")
    for m, r in summary["methods"].items():  # noqa: B007
        print(f"  {r['label']:28s} MPRT pass {r['pass_rate']:.1%}  signed {r['signed_pass_rate']:.1%}"
              f"  sMPRT {r['median_smprt']:.2f} (pass {r['smprt_pass_rate']:.1%})"
              f"  eMPRT {r['median_emprt']:.2f} (pass {r['emprt_pass_rate']:.1%})"
              f"  random logit {r['median_random_logit_spearman']:.2f}  ranked first {r['best_rate']:.1%}")
    print(f"  most often the best: {summary['methods'][summary['most_often_best']]['label']}")


if __name__ == "__main__":
    sys.exit(main())
