"""model/calibration.py: temperature scaling (Guo et al., 2017) and the expected calibration error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model.calibration import ece, fit_temperature, reliability, softmax_t
from model.inference import predict_proba


def _synthetic(n=20000, true_t=2.5, seed=0):
    """Logits whose labels are drawn from softmax(logits / true_t): calibrated at T = true_t."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, size=(n, 10))
    p = softmax_t(logits, true_t)
    labels = np.array([rng.choice(10, p=row) for row in p])
    return logits, labels


def _nll(logits, labels, t=1.0) -> float:
    return float(-np.log(softmax_t(logits, t)[np.arange(len(labels)), labels]).mean())


@pytest.mark.parametrize("true_t", [0.5, 2.5])
def test_fit_temperature_recovers_the_temperature_that_generated_the_labels(true_t):
    """Over- and under-confident logits: the fit finds the temperature the labels were drawn at
    (from the default 1.0, which would pass any loose range), and the NLL drops."""
    logits, labels = _synthetic(true_t=true_t)
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(true_t, rel=0.08)
    assert _nll(logits, labels, t) < _nll(logits, labels) - 0.01
    assert _nll(logits, labels, t) <= min(_nll(logits, labels, t * 0.9), _nll(logits, labels, t * 1.1))
    # and it helps: the ECE at the fitted temperature is far below the ECE of the raw softmax
    assert ece(softmax_t(logits, t), labels) < 0.02 < ece(softmax_t(logits), labels)


def test_ece_is_zero_for_a_perfectly_calibrated_bin_and_the_gap_otherwise():
    # 10 predictions at confidence 0.8, 8 right: calibrated; then all 10 right: gap 0.2
    probs = np.full((10, 2), 0.2)
    probs[:, 0] = 0.8
    labels = np.array([0] * 8 + [1] * 2)
    assert ece(probs, labels) == pytest.approx(0.0, abs=1e-12)
    assert ece(probs, np.zeros(10, dtype=int)) == pytest.approx(0.2)
    r = reliability(probs, labels)
    assert sum(r["count"]) == 10 and len(r["count"]) == 15
    i = r["count"].index(10)
    assert r["lower"][i] < 0.8 <= r["upper"][i] and r["accuracy"][i] == pytest.approx(0.8)
    assert all(a is None for a, n in zip(r["accuracy"], r["count"]) if n == 0)


def test_calibrated_prediction_keeps_the_answer_and_uses_the_model_temperature(tiny_vit, test_images):
    images, _ = test_images
    plain = predict_proba(tiny_vit, images)
    tiny_vit.temperature = 3.0
    try:
        cal = predict_proba(tiny_vit, images, calibrated=True)
        with torch.inference_mode():
            want = torch.softmax(tiny_vit(torch.from_numpy(images)[:, None]) / 3.0, -1).numpy()
    finally:
        tiny_vit.temperature = 1.0
    assert np.array_equal(cal.argmax(1), plain.argmax(1))
    assert np.allclose(cal, want, atol=1e-5)
    assert cal.max(1).mean() < plain.max(1).mean()          # T > 1 softens


def test_shipped_checkpoint_carries_its_validation_split_and_temperature(shipped_vit):
    """The stored temperature is the one that minimises the NLL on the stored validation split."""
    from data.mnist import load_mnist

    split = shipped_vit.meta.get("validation_split")
    assert split and (split["start"], split["stop"]) == (55000, 60000)
    images, labels = load_mnist("train")
    x = torch.from_numpy(images[split["start"]:split["stop"]].astype(np.float32) / 255.0)[:, None]
    y = np.asarray(labels[split["start"]:split["stop"]])
    with torch.inference_mode():
        logits = torch.cat([shipped_vit(x[i:i + 1000]) for i in range(0, len(x), 1000)]).double().numpy()
    assert fit_temperature(logits, y) == pytest.approx(shipped_vit.temperature, rel=1e-3)
    assert _nll(logits, y, shipped_vit.temperature) < _nll(logits, y)
