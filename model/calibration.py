"""Calibration of the ViT's confidence: temperature scaling and the expected calibration error.

A network trained with cross-entropy often says "99.9 %" more readily than it is right 99.9 %
of the time. Guo, Pleiss, Sun & Weinberger (2017, "On Calibration of Modern Neural Networks")
showed that one scalar fixes most of it: divide every logit by a temperature ``T`` fitted on
held-out data by minimising the negative log-likelihood. ``T > 1`` softens over-confident
probabilities, ``T < 1`` sharpens timid ones; the predicted class never changes.

The expected calibration error (ECE, Naeini et al., 2015; Guo et al., Eq. 3) sorts predictions
into equal-width confidence bins and averages ``|accuracy(bin) - confidence(bin)|`` weighted by
the bin's share of predictions. ``reliability`` returns the per-bin figures that a reliability
diagram draws.

The temperature is fitted on the validation split held out from the training set (never on
the test set) by :mod:`model.train` and stored in the checkpoint's header.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

N_BINS = 15   # Guo et al. use 15 equal-width bins


def fit_temperature(logits: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor,
                    max_iter: int = 200) -> float:
    """The temperature T > 0 that minimises the NLL of ``softmax(logits / T)`` (L-BFGS on log T)."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)              # (N, C)
    y = torch.as_tensor(np.array(labels), dtype=torch.int64)                  # (N,) (a copy: labels may be read-only)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return float(log_t.detach().exp())


def softmax_t(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities (N, C) of ``logits / temperature``, float64 for the metrics."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS) -> dict[str, list]:
    """Per confidence bin (equal width on [0, 1]): ``lower``, ``upper``, ``count``, ``confidence``
    (mean top probability) and ``accuracy`` (share right); empty bins have count 0 and None."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 cannot occur with C >= 2
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    out: dict[str, list] = {"lower": edges[:-1].tolist(), "upper": edges[1:].tolist(),
                            "count": [], "confidence": [], "accuracy": []}
    for i in range(n_bins):
        m = idx == i
        n = int(m.sum())
        out["count"].append(n)
        out["confidence"].append(float(conf[m].mean()) if n else None)
        out["accuracy"].append(float(right[m].mean()) if n else None)
    return out


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS) -> float:
    """Expected calibration error: sum over bins of (count / N) * |accuracy - confidence|."""
    r = reliability(probs, labels, n_bins)
    n = sum(r["count"])
    return float(sum(c / n * abs(a - p) for c, a, p in zip(r["count"], r["accuracy"], r["confidence"]) if c))
