"""Evaluate the shipped models on the 10,000 MNIST test images: ``python -m model.evaluate``.

Forms (other checks rely on them; keep them stable):

* ``python -m model.evaluate`` prints a readable table.
* ``python -m model.evaluate --json`` prints exactly one JSON object on stdout::

      {"vit": {"accuracy": float, "params": int, "tta_accuracy": float, "ece": float,
               "temperature": float},
       "random_forest": {"accuracy": float}, "test_size": 10000}

  ``ece`` is the expected calibration error (15 bins) on the test set of the probabilities the
  app shows, i.e. after temperature scaling with ``temperature``, which was fitted on the
  validation split by ``python -m model.train`` and is read from the checkpoint's header
  (``model/calibration.py``). The test set is used here and only here.

* ``python -m model.evaluate --write`` (re)writes ``model/artifacts/test_eval.npz`` (every test
  image's class probabilities under the ViT, the ViT with test-time augmentation and the
  forest, plus the labels) and ``model/artifacts/evaluation.json`` (accuracies, per-class
  accuracies, agreement between the models, sizes and timings), which the dashboard reads
  instead of re-evaluating at start-up. The per-image loss of any model is
  ``-log(probs[i, labels[i]])``, so it is not stored separately. Formats::

      test_eval.npz: labels int64 (N,), vit_probs, vit_tta_probs, forest_probs float32 (N, 10)
                     (vit_probs are the plain softmax; vit_calibrated_probs the app's, after scaling)
      evaluation.json: {"test_size": N,
        "vit": {"accuracy", "tta_accuracy", "params", "size_bytes", "per_class_accuracy": [10],
                "tta_per_class_accuracy": [10], "ms_per_image_batched", "ms_single_image",
                "ms_single_image_tta", "ms_per_image_batched_tta", "preprocessed_accuracy",
                "preprocessed_rejected", "ece", "ece_uncalibrated", "temperature", "nll",
                "nll_uncalibrated", "reliability": {"uncalibrated": bins, "calibrated": bins},
                "validation_split"},
        "random_forest": {"accuracy", "per_class_accuracy": [10], "size_bytes", "n_estimators",
                          "total_nodes", "ms_per_image_batched", "ms_single_image"},
        "agreement": {"both_right", "vit_only", "forest_only", "both_wrong"},
        "generated": "YYYY-MM-DD HH:MM:SS UTC", "command": "python -m model.evaluate ..."}

``--weights``, ``--forest``, ``--out`` and ``--limit`` (first N test images) serve tests and
experiments; ``--threads`` speeds up ``--json`` and the table on a bigger machine.

Timings are measured with one torch thread (``torch.set_num_threads(1)``), the way the app
runs: ``ms_per_image_batched`` is the wall time of a batched pass (1,000 images per batch)
over the test set divided by 10,000; ``ms_single_image`` is the median over repeated calls on
one image of the model's forward pass alone (the image is already 28x28, no preprocessing);
``ms_single_image_tta`` the same with test-time augmentation (7 views).

``preprocessed_accuracy`` is the ViT's accuracy when every test image first goes through
:func:`data.preprocess.preprocess`, as a drawn digit does. MNIST images already follow the
conventions preprocessing restores (20x20 box, centre of mass at the centre), so this should
stay within a few tenths of a point of ``accuracy``; a larger gap would mean preprocessing
distorts MNIST-style input.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from model import calibration, paths
from model.interpret import Interpretation

BATCH = 1000
SINGLE_RUNS = 50          # repetitions for the single-image medians (after warm-up)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(probs).argmax(1) == labels).mean())


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class."""
    p = np.asarray(probs, dtype=np.float64)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(p, 1e-12, None)).mean())


def median_ms(fn, runs: int = SINGLE_RUNS, warmup: int = 5) -> float:
    """Median wall time of fn() in milliseconds, after warm-up calls (also used by benchmarks/)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def preprocessed_images(images_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run every image through :func:`data.preprocess.preprocess`.

    Returns (images float32 (N, 28, 28), ok bool (N,)); a rejected image is all zeros.
    """
    from data.preprocess import preprocess

    out = np.zeros(images_uint8.shape, np.float32)
    ok = np.zeros(len(images_uint8), bool)
    for i, img in enumerate(images_uint8):
        p = preprocess(img)
        if p.ok:
            out[i], ok[i] = p.image, True
    return out, ok


def evaluate(
    weights: Path | str = paths.VIT_WEIGHTS,
    forest_path: Path | str = paths.FOREST,
    full: bool = False,
    limit: int | None = None,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Evaluate both models on the MNIST test set (its first ``limit`` images if given).

    Returns (summary dict, arrays for test_eval.npz). With ``full`` the summary has every
    field of evaluation.json (timings, per-class accuracy, agreement, preprocessing check);
    without, only the fields of the ``--json`` form.
    """
    from data.mnist import load_mnist
    from model.forest import forest_predict_proba, load_forest, total_nodes
    from model.inference import TTA_VIEWS, predict_proba
    from model.vit import count_params, load_vit

    images, labels = load_mnist("test")
    images, labels = images[:limit], np.asarray(labels[:limit], dtype=np.int64)
    x = images.astype(np.float32) / 255.0                                   # (N, 28, 28) in [0, 1]
    n = len(labels)

    vit = load_vit(weights)
    forest = load_forest(forest_path)

    t0 = time.perf_counter()
    vit_probs = predict_proba(vit, x, batch_size=BATCH)                    # (N, 10)
    vit_batched_ms = 1000.0 * (time.perf_counter() - t0) / n
    vit_cal_probs = predict_proba(vit, x, batch_size=BATCH, calibrated=True)   # (N, 10), what the app shows
    # TTA multiplies the batch by the number of views: keep about BATCH views per forward pass
    t0 = time.perf_counter()
    vit_tta_probs = predict_proba(vit, x, tta=True, batch_size=max(1, BATCH // len(TTA_VIEWS)))  # (N, 10)
    vit_tta_batched_ms = 1000.0 * (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    forest_probs = np.concatenate([forest_predict_proba(forest, x[i:i + BATCH]) for i in range(0, n, BATCH)])
    forest_batched_ms = 1000.0 * (time.perf_counter() - t0) / n

    summary: dict = {
        "vit": {
            "accuracy": accuracy(vit_probs, labels),
            "params": count_params(vit),
            "tta_accuracy": accuracy(vit_tta_probs, labels),
            "ece": calibration.ece(vit_cal_probs, labels),
            "temperature": float(vit.temperature),
        },
        "random_forest": {"accuracy": accuracy(forest_probs, labels)},
        "test_size": n,
    }
    arrays = {
        "labels": labels,
        "vit_probs": vit_probs.astype(np.float32),
        "vit_tta_probs": vit_tta_probs.astype(np.float32),
        "vit_calibrated_probs": vit_cal_probs.astype(np.float32),
        "forest_probs": forest_probs.astype(np.float32),
    }
    if not full:
        return summary, arrays

    interp = Interpretation.from_table(arrays)      # per-class accuracy and agreement, one definition
    one = x[:1]                                                             # (1, 28, 28)
    with torch.inference_mode():
        summary["vit"].update({
            "size_bytes": Path(weights).stat().st_size,
            "per_class_accuracy": interp.per_class_accuracy("vit").tolist(),
            "tta_per_class_accuracy": interp.per_class_accuracy("vit_tta").tolist(),
            "ms_per_image_batched": vit_batched_ms,
            "ms_per_image_batched_tta": vit_tta_batched_ms,
            "ms_single_image": median_ms(lambda: predict_proba(vit, one)),
            "ms_single_image_tta": median_ms(lambda: predict_proba(vit, one, tta=True)),
            "ece_uncalibrated": calibration.ece(vit_probs, labels),
            "nll": nll(vit_cal_probs, labels),
            "nll_uncalibrated": nll(vit_probs, labels),
            "reliability": {"uncalibrated": calibration.reliability(vit_probs, labels),
                            "calibrated": calibration.reliability(vit_cal_probs, labels)},
            "validation_split": vit.meta.get("validation_split"),
        })
    pre, ok = preprocessed_images(images)
    pre_probs = predict_proba(vit, pre, batch_size=BATCH)
    summary["vit"]["preprocessed_accuracy"] = float(((pre_probs.argmax(1) == labels) & ok).mean())
    summary["vit"]["preprocessed_rejected"] = int((~ok).sum())
    summary["random_forest"].update({
        "per_class_accuracy": interp.per_class_accuracy("forest").tolist(),
        "size_bytes": Path(forest_path).stat().st_size,
        "n_estimators": len(forest.estimators_),
        "total_nodes": total_nodes(forest),
        "ms_per_image_batched": forest_batched_ms,
        "ms_single_image": median_ms(lambda: forest_predict_proba(forest, one), runs=20, warmup=2),
    })
    summary["agreement"] = interp.disagreements("vit", "forest").counts
    summary["generated"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    summary["command"] = "python -m model.evaluate " + " ".join(sys.argv[1:])
    return summary, arrays


def write_artifacts(summary: dict, arrays: dict[str, np.ndarray], out_dir: Path | str = paths.ARTIFACTS) -> None:
    """Write test_eval.npz and evaluation.json into ``out_dir`` (formats in the module docstring)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / paths.TEST_EVAL.name, **arrays)
    (out_dir / paths.EVALUATION.name).write_text(json.dumps(summary, indent=1) + "\n")


def format_table(summary: dict) -> str:
    v, f = summary["vit"], summary["random_forest"]
    rows = [
        ("test images", f"{summary['test_size']:,}", ""),
        ("accuracy", f"{v['accuracy']:.2%}", f"{f['accuracy']:.2%}"),
        ("accuracy with TTA", f"{v['tta_accuracy']:.2%}", ""),
        ("calibration error (ECE, after temperature)", f"{v['ece']:.2%}", ""),
        ("temperature (fitted on validation)", f"{v['temperature']:.3f}", ""),
        ("parameters", f"{v['params']:,}", ""),
    ]
    if "preprocessed_accuracy" in v:
        rows.append(("accuracy after preprocess()", f"{v['preprocessed_accuracy']:.2%}", ""))
        rows.append(("file size", f"{v['size_bytes'] / 1e6:.2f} MB", f"{f['size_bytes'] / 1e6:.1f} MB"))
        rows.append(("trees / nodes", "", f"{f['n_estimators']} / {f['total_nodes']:,}"))
        rows.append(("ms per image (batched, 1 thread)", f"{v['ms_per_image_batched']:.3f}",
                     f"{f['ms_per_image_batched']:.3f}"))
        rows.append(("ms per image with TTA (batched)", f"{v['ms_per_image_batched_tta']:.3f}", ""))
        rows.append(("ms single image (median)", f"{v['ms_single_image']:.2f}", f"{f['ms_single_image']:.2f}"))
        rows.append(("ms single image with TTA", f"{v['ms_single_image_tta']:.2f}", ""))
    w0 = max(len(r[0]) for r in rows)
    lines = [f"{'':<{w0}}  {'ViT':>14}  {'random forest':>14}"]
    lines += [f"{a:<{w0}}  {b:>14}  {c:>14}" for a, b, c in rows]
    if "agreement" in summary:
        a = summary["agreement"]
        lines.append(f"both right {a['both_right']:,}, ViT only {a['vit_only']}, forest only {a['forest_only']}, "
                     f"both wrong {a['both_wrong']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Evaluate the ViT and the random forest on the MNIST test set.")
    p.add_argument("--json", action="store_true", help="print one JSON object and nothing else")
    p.add_argument("--write", action="store_true", help="(re)write test_eval.npz and evaluation.json")
    p.add_argument("--weights", type=Path, default=paths.VIT_WEIGHTS, help="ViT safetensors file")
    p.add_argument("--forest", type=Path, default=paths.FOREST, help="forest .npz file")
    p.add_argument("--out", type=Path, default=paths.ARTIFACTS, help="folder for --write")
    p.add_argument("--limit", type=int, default=None, help="first N test images only (for quick checks)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for --json and the table (--write always uses 1, as the app does)")
    a = p.parse_args(argv)
    # one thread is the app's setting; the timings in evaluation.json are measured that way
    torch.set_num_threads(1 if a.write else max(1, a.threads))
    for f in (a.weights, a.forest):
        if not f.is_file():
            print(f"error: {f} does not exist (python -m model.train / python -m model.forest make it)",
                  file=sys.stderr)
            return 1
    from model.vit import WeightsError

    try:
        summary, arrays = evaluate(a.weights, a.forest, full=a.write, limit=a.limit)
    except WeightsError as exc:         # a corrupt weights file: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if a.write:
        write_artifacts(summary, arrays, a.out)
    if a.json:
        keys = {"vit": ("accuracy", "params", "tta_accuracy", "ece", "temperature"), "random_forest": ("accuracy",)}
        print(json.dumps({**{k: {f: summary[k][f] for f in fs} for k, fs in keys.items()},
                          "test_size": summary["test_size"]}))
    else:
        print(format_table(summary))
        if a.write:
            print(f"wrote {a.out / paths.TEST_EVAL.name} and {a.out / paths.EVALUATION.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
