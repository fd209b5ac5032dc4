"""model/train.py: the --tiny smoke run (CI), its outputs, reproducibility and the pieces of the recipe."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from model.train import TINY, augment, low_resolution, lr_at, train
from model.vit import ViTConfig, load_vit

ROOT = Path(__file__).resolve().parents[1]
HISTORY_KEYS = {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}


def test_tiny_training_run_writes_weights_metrics_and_log(tmp_path):
    out = tmp_path / "out"
    log = tmp_path / "x.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "model.train", "--tiny", "--no-progress", "--threads", "1",
                           "--out", str(out), "--experiments-log", str(log)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "epoch  2/2" in proc.stdout

    model = load_vit(out / "vit.safetensors")
    assert model.cfg == ViTConfig(**TINY)
    metrics = json.loads((out / "vit_metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert all(set(h) == HISTORY_KEYS for h in metrics["history"])
    row = metrics["history"][-1]
    assert row["seconds"] > 0 and math.isfinite(row["train_loss"])
    assert row["train_loss"] < metrics["history"][0]["train_loss"] < math.log(10)   # it learns
    assert 0.0 <= row["val_accuracy"] <= 1.0 and metrics["val_size"] == 1000 and metrics["train_size"] == 4000
    assert metrics["final_val_accuracy"] == row["val_accuracy"]
    assert "test_size" not in metrics and "final_test_accuracy" not in metrics   # training never scores the test set
    # the split and the fitted temperature travel in the checkpoint's header
    assert model.meta["validation_split"] == {**metrics["validation_split"]}
    assert model.meta["validation_split"]["start"] == 59000
    assert model.temperature == metrics["temperature"] and model.temperature > 0
    assert 0.0 <= metrics["val_ece_calibrated"] <= 1.0
    assert metrics["params"] == sum(p.numel() for p in model.parameters())
    assert metrics["config"] == json.loads(model.cfg.to_json())
    assert metrics["command"].startswith("python -m model.train") and "--tiny" in metrics["command"]
    for key in ("train_seconds", "device", "seed", "epochs", "lr", "torch"):
        assert key in metrics

    lines = log.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert "history" not in entry and entry["final_val_accuracy"] == row["val_accuracy"]
    assert not (out / "experiments.jsonl").exists()      # --experiments-log was honoured

    # the reloaded model reproduces the accuracy the run reported on the same 1,000 held-out
    # training images (the last 1,000), which it never trained on
    from data.mnist import load_mnist
    from model.inference import predict_proba

    images, labels = load_mnist("train")
    acc = float((predict_proba(model, images[59000:] / 255.0).argmax(1) == labels[59000:]).mean())
    assert acc == row["val_accuracy"]
    assert acc > 0.2          # it learned something in two tiny epochs (chance is 0.1)


def test_training_is_reproducible(tmp_path):
    kw = dict(epochs=1, train_limit=256, val_size=64, batch_size=64, progress=False)
    a = train(ViTConfig(**TINY), out=tmp_path / "a", experiments_log=tmp_path / "a.jsonl", **kw)
    b = train(ViTConfig(**TINY), out=tmp_path / "b", experiments_log=tmp_path / "b.jsonl", **kw)
    assert a["history"][0]["train_loss"] == b["history"][0]["train_loss"]
    ma, mb = load_vit(tmp_path / "a" / "vit.safetensors"), load_vit(tmp_path / "b" / "vit.safetensors")
    for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.equal(va, vb), k


def test_augment_keeps_range_and_shape_and_is_seeded():
    x = torch.zeros(8, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0                                 # a bar
    a = augment(x, torch.Generator().manual_seed(0))
    b = augment(x, torch.Generator().manual_seed(0))
    c = augment(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)
    # an affine warp moves ink around but does not invent or destroy most of it
    assert np.allclose(a.sum((1, 2, 3)).numpy(), x.sum((1, 2, 3)).numpy(), rtol=0.5)


def test_low_resolution_scanner_blur_softens_half_and_draws_nothing_when_off():
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0                                 # a bar
    g0, g1 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    plain = low_resolution(x, g0, 1.0, 10, 10)                 # every row reduced to 10 px and back
    off = low_resolution(x, g1, 1.0, 10, 10, blur=0.0)
    assert torch.equal(plain, off) and torch.equal(g0.get_state(), g1.get_state())   # the shipped recipe's draws
    blurred = low_resolution(x, torch.Generator().manual_seed(0), 1.0, 10, 10, blur=0.8)
    changed = (blurred != plain).flatten(1).any(1)
    assert 0.25 < changed.float().mean() < 0.75                # about half get the scanner's blur
    edge = lambda a: (a[:, :, :, 1:] - a[:, :, :, :-1]).abs().amax((1, 2, 3))   # noqa: E731
    assert (edge(blurred[changed]) < edge(plain[changed])).all()          # softer edges ...
    assert torch.allclose(blurred.sum((1, 2, 3)), plain.sum((1, 2, 3)), rtol=0.1)   # ... the same ink


def test_learning_rate_warms_up_then_decays_to_zero():
    total, warmup, base = 1000, 100, 2e-3
    lrs = [lr_at(s, total, warmup, base) for s in range(total + 1)]
    assert lrs[0] == base / warmup and lrs[warmup - 1] == base
    assert all(x <= y for x, y in zip(lrs[:warmup], lrs[1:warmup]))           # rising
    assert all(x >= y for x, y in zip(lrs[warmup:], lrs[warmup + 1:]))         # cosine decay
    assert lrs[-1] == 0.0 and abs(lrs[warmup + (total - warmup) // 2] - base / 2) < 1e-5


def test_validation_split_is_the_tail_of_the_training_set_and_disjoint_from_training():
    from model.train import validation_split

    s = validation_split(5000)
    assert (s["start"], s["stop"]) == (55000, 60000) and "55000-59999" in s["description"]
    with np.testing.assert_raises(ValueError):
        validation_split(0)


def test_elastic_distortion_bends_strokes_smoothly_and_is_seeded():
    from model.train import elastic_field

    f = elastic_field(4, 28, torch.Generator().manual_seed(0))            # (4, 28, 28, 2) px
    g = elastic_field(4, 28, torch.Generator().manual_seed(0))
    assert f.shape == (4, 28, 28, 2) and torch.equal(f, g)
    rms = f.pow(2).mean().sqrt().item()
    assert 0.5 < rms < 3.0                      # about a pixel or two: bends strokes, does not scramble them
    # smooth: neighbouring pixels move almost together
    assert (f[:, 1:] - f[:, :-1]).abs().mean() < 0.2 * f.abs().mean()
    x = torch.zeros(8, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0
    plain = augment(x, torch.Generator().manual_seed(0))
    bent = augment(x, torch.Generator().manual_seed(0), elastic=1.0)
    assert bent.min() >= 0 and bent.max() <= 1 and not torch.equal(plain, bent)
    # strokes are stretched here and squeezed there, but the batch keeps about its ink
    assert 0.6 < float(bent.sum() / x.sum()) < 1.6 and (bent.sum((1, 2, 3)) > 0.3 * x.sum((1, 2, 3))).all()
