"""This project's trust metrics against Quantus 0.6 (Hedström et al., 2023), side by side.

    python benchmarks/trust_vs_quantus.py [--digits 3] [--methods all|saliency,occlusion,...] [--json]

For the same MNIST test digits (each explained for its predicted class), the same methods with the
same settings (:data:`model.explain.trust.TRUST_SETTINGS`) and the same randomised models, both
compute MPRT (every cascade step), sMPRT, eMPRT, the random-logit test, faithfulness correlation,
max-sensitivity and sparseness, one thread each, timed in process CPU seconds (the machine is
shared). The same samples on both sides: sMPRT :data:`~model.explain.trust.SMOOTH_SAMPLES` copies
per model (the last noise-free), max-sensitivity over ``SMOOTH_SAMPLES - 1`` noisy copies of the
same noise, faithfulness correlation :data:`~model.explain.trust.FC_RUNS` subsets of
:data:`~model.explain.trust.FC_SUBSET` pixels, eMPRT :data:`~model.explain.trust.EMPRT_BINS` bins.

* **Quantus** is handed this project's explanation function (:func:`model.explain.explain`, i.e.
  Captum, one call per input) and cascade (its layer generator is replaced by
  :func:`model.explain.trust.randomised_cascade`, which it then does not have to build), and the
  noise and subsets it draws from ``np.random`` after ``np.random.seed(SEED)``. Each metric is one
  Quantus call, as a user would write it; they recompute some maps another metric already had.
* **Ours** (:func:`same_work`) draws the same noise and subsets from private RandomStates seeded
  the same way and computes every distinct map once: per method, the trained model's maps (the
  digit, the random class, the noisy copies) and every cascade model's (the digit; the fully
  random one also its noisy copies) in one batched pass over all the models at once, by a lean
  forward pass that gives Captum's maps up to float rounding (``tests/test_trust.py``);
  faithfulness correlation's perturbed digits in one batch for every method. It also computes SSIMs
  and signed ranks, which Quantus does not, and no deletion/insertion curves (the full report's,
  timed separately as ``report_cpu_s``).

Both sides are warmed up first, untimed (ours: one trust report; Quantus: one method's metrics on
the first digit, which imports it and builds what its first call builds).

Prints ``{"ours_s", "quantus_s", "ratio" (quantus_s / ours_s), "max_abs_difference" (over every
value of every metric), "per_metric_max_abs_difference", "report_cpu_s" (the whole trust report,
deletion/insertion included, per digit: issue 22's < 1 s of CPU on one thread), ...}``.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.explain import explain  # noqa: E402
from model.explain import trust as T  # noqa: E402

DEFAULT_METHODS = T.TRUST_METHODS


def _explain_func(method: str, settings: dict):
    def f(model, inputs, targets, **kw):
        return np.stack([explain(model, np.asarray(inp, np.float32).reshape(28, 28), int(t), method,
                                 **settings).map[None] for inp, t in zip(inputs, np.atleast_1d(targets))])
    return f


@contextlib.contextmanager
def our_cascade(model):
    """Quantus' PyTorchModel yields this project's randomised cascade instead of its own."""
    from quantus.helpers.model.pytorch_model import PyTorchModel

    steps = T.randomised_cascade(model)
    gen, length = PyTorchModel.get_random_layer_generator, PyTorchModel.random_layer_generator_length
    PyTorchModel.get_random_layer_generator = lambda self, order="top_down", seed=42: iter(steps)
    PyTorchModel.random_layer_generator_length = property(lambda self: len(steps))
    try:
        yield steps
    finally:
        PyTorchModel.get_random_layer_generator, PyTorchModel.random_layer_generator_length = gen, length


def quantus_scores(model, image: np.ndarray, target: int, method: str, smooth_map: np.ndarray) -> dict:
    """Every metric of one (digit, method) by Quantus 0.6, with this project's settings.
    ``smooth_map``: our sMPRT map of the trained model (Quantus' ``a_batch`` for SmoothMPRT)."""
    import quantus
    from quantus.functions.similarity_func import correlation_spearman

    settings = T.trust_settings(method, model)
    qmodel = copy.deepcopy(model)                   # Quantus may switch modes; never hand it a shared model
    xf = _explain_func(method, settings)
    x = np.asarray(image, np.float32)[None, None]
    y = np.array([target])
    a = xf(model, x, y).reshape(1, 1, 28, 28)
    common = dict(disable_warnings=True)
    kw = dict(model=qmodel, x_batch=x, y_batch=y, device="cpu")
    out = {}
    with warnings.catch_warnings(), our_cascade(model):
        warnings.simplefilter("ignore")
        r = quantus.MPRT(layer_order="top_down", similarity_func=correlation_spearman, abs=True, normalise=False,
                         seed=T.SEED, **common)(a_batch=a.copy(), explain_func=xf, **kw)
        out["mprt"] = [float(r[s][0]) for s, _ in T.randomised_cascade(model)]
        np.random.seed(T.SEED)
        saved = quantus.explain
        quantus.explain = xf                        # SmoothMPRT calls quantus.explain, not explain_func
        try:
            r = quantus.SmoothMPRT(layer_order="top_down", nr_samples=T.SMOOTH_SAMPLES, noise_magnitude=T.SMOOTH_NOISE,
                                   skip_layers=True, return_last_correlation=True, seed=T.SEED, **common)(
                a_batch=smooth_map.reshape(1, 1, 28, 28).copy(), explain_func=xf, **kw)
        finally:
            quantus.explain = saved
        out["smprt"] = float(r[0])
        r = quantus.EfficientMPRT(layer_order="top_down", skip_layers=True, seed=T.SEED,
                                  complexity_func_kwargs={"n_bins": T.EMPRT_BINS}, **common)(
            a_batch=a.copy(), explain_func=xf, **kw)
        out["emprt"] = float(r[0])
    r = quantus.RandomLogit(num_classes=10, seed=T.SEED, similarity_func=correlation_spearman, abs=True,
                            normalise=False, **common)(a_batch=a.copy(), explain_func=xf, **kw)
    out["random_logit"] = float(r[0])

    def black(arr, indices, **k):
        o = arr.copy()
        o[np.arange(arr.shape[0])[:, None], indices] = 0.0
        return o

    np.random.seed(T.SEED)
    r = quantus.FaithfulnessCorrelation(nr_runs=T.FC_RUNS, subset_size=T.FC_SUBSET, perturb_func=black,
                                        return_aggregate=False, **common)(a_batch=a.copy(), **kw)
    out["faithfulness_correlation"] = float(r[0])
    std = T.SMOOTH_NOISE * float(image.max() - image.min())

    def gauss(arr, **k):
        return arr + np.random.normal(0.0, std, size=arr.shape)

    np.random.seed(T.SEED)
    r = quantus.MaxSensitivity(nr_samples=T.SMOOTH_SAMPLES - 1, perturb_func=gauss, **common)(
        a_batch=a.copy(), explain_func=xf, **kw)
    out["max_sensitivity"] = float(r[0])
    out["sparseness"] = float(quantus.Sparseness(**common)(a_batch=a.copy(), **kw)[0])
    return out


def ours(r: T.MethodTrust) -> dict:
    return {"mprt": [c.spearman for c in r.cascade], "smprt": r.smprt, "emprt": r.emprt,
            "random_logit": r.random_logit_spearman, "faithfulness_correlation": r.scores["faithfulness_correlation"],
            "max_sensitivity": r.max_sensitivity, "sparseness": r.sparseness}


def same_work(model, image: np.ndarray, target: int, methods) -> T.TrustReport:
    """Ours, for the same metrics: every method's checks (cascade, sMPRT, eMPRT, random logit,
    max-sensitivity, sparseness; also SSIMs and signed ranks) and the faithfulness correlation of all
    maps in one batch. (The full report adds deletion/insertion curves, which Quantus does not run.)"""
    steps = T.randomised_cascade(model)              # looked up once per digit, as trust_report does
    res = {m: T.method_trust(model, image, target, m, steps=steps) for m in methods}
    fc = T.faithfulness_correlation(model, image, target, {m: r.map for m, r in res.items()})
    for m, r in res.items():
        r.scores = {"faithfulness_correlation": fc[m]}
    return T.TrustReport(target, res, 0.0)


def run(n_digits: int = 3, methods=DEFAULT_METHODS) -> dict:
    from data.mnist import load_mnist
    from model import paths
    from model.explain import predict
    from model.vit import load_vit

    torch.set_num_threads(1)
    model = load_vit(paths.VIT_WEIGHTS)
    images, _ = load_mnist("test")
    digits = [images[i].astype(np.float32) / 255.0 for i in range(n_digits)]
    targets = [int(predict(model, d).argmax()) for d in digits]
    T.randomised_cascade(model)                     # built once for both sides, not timed
    T.trust_report(model, digits[0], targets[0], methods)   # warm-up
    report_cpu = []                                 # the whole Trust report (all its methods), per digit
    for d, t in zip(digits, targets):
        c = time.process_time()
        T.trust_report(model, d, t, methods)
        report_cpu.append(time.process_time() - c)
    c = time.process_time()
    reports = [same_work(model, d, t, methods) for d, t in zip(digits, targets)]
    ours_s = time.process_time() - c
    quantus_scores(model, digits[0], targets[0], methods[0], reports[0].methods[methods[0]].smooth_map)  # warm-up
    c = time.process_time()
    theirs = [{m: quantus_scores(model, d, t, m, rep.methods[m].smooth_map) for m in methods}
              for d, t, rep in zip(digits, targets, reports)]
    quantus_s = time.process_time() - c
    diffs: dict[str, float] = {}
    for rep, q in zip(reports, theirs):
        for m in methods:
            o = ours(rep.methods[m])
            for k, v in q[m].items():
                d = float(np.max(np.abs(np.asarray(o[k], np.float64) - np.asarray(v, np.float64))))
                diffs[k] = max(diffs.get(k, 0.0), d)
    return {"ours_s": round(ours_s, 3), "quantus_s": round(quantus_s, 3), "ratio": round(quantus_s / ours_s, 1),
            "max_abs_difference": max(diffs.values()), "per_metric_max_abs_difference": diffs,
            "report_cpu_s": [round(v, 3) for v in report_cpu],
            "report_cpu_median_s": round(float(np.median(report_cpu)), 3),
            "digits": n_digits, "methods": list(methods), "smooth_samples": T.SMOOTH_SAMPLES,
            "metrics": sorted(diffs), "clock": "process CPU seconds, one torch thread"}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--digits", type=int, default=3, help="first N MNIST test digits")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated, or 'all'")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    methods = T.TRUST_METHODS if a.methods == "all" else tuple(a.methods.split(","))
    res = run(a.digits, methods)
    print(json.dumps(res, indent=None if a.json else 2))


if __name__ == "__main__":
    main()
