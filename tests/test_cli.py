"""The command-line tools' exact output forms and error paths, run as a user runs them.

``python -m model.evaluate`` and ``python -m model.predict`` are called as subprocesses.
Form checks use a tiny model and a small forest (and ``--limit``) so they run in seconds;
the shipped artifacts are used where the result, not just the form, is checked.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data.mnist import load_mnist
from data.preprocess import MAX_FILE_BYTES
from model import paths

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def tiny_artifacts(tmp_path_factory):
    """A tiny ViT and a small forest written to a temporary folder."""
    from model.forest import save_forest, train_forest
    from model.train import TINY
    from model.vit import ViT, ViTConfig, save_vit

    folder = tmp_path_factory.mktemp("artifacts")
    torch.manual_seed(0)
    save_vit(ViT(ViTConfig(**TINY)).eval(), folder / "vit.safetensors")
    images, labels = load_mnist("train")
    save_forest(train_forest(images[:1000], labels[:1000], n_jobs=1, n_estimators=5), folder / "forest.npz")
    return folder


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """Five good files in different formats and polarities, and four bad ones."""
    folder = tmp_path_factory.mktemp("images")
    images, labels = load_mnist("test")
    big = [Image.fromarray(images[i]).resize((140, 140), Image.Resampling.BICUBIC) for i in range(5)]
    big[0].save(folder / "0.png")
    Image.eval(big[1], lambda v: 255 - v).convert("RGB").save(folder / "1_inverted.jpg", quality=95)
    rgba = np.zeros((140, 140, 4), np.uint8)
    rgba[..., 3] = np.asarray(big[2])
    Image.fromarray(rgba).save(folder / "2_transparent.webp", lossless=True)
    big[3].save(folder / "3.bmp")
    Image.fromarray(images[4]).save(folder / "4_small.png")
    good = [folder / n for n in ("0.png", "1_inverted.jpg", "2_transparent.webp", "3.bmp", "4_small.png")]
    (folder / "text.png").write_bytes(b"not an image")
    Image.new("L", (100, 100), 255).save(folder / "blank.png")
    with open(folder / "huge.png", "wb") as f:       # sparse: no disk space used, never read
        f.truncate(MAX_FILE_BYTES + 1)
    bad = [folder / "text.png", folder / "blank.png", folder / "huge.png", folder / "missing.png"]
    return [str(p) for p in good], [str(p) for p in bad], [int(v) for v in labels[:5]]


# ---------------------------------------------------------------------------------------
# python -m model.evaluate
# ---------------------------------------------------------------------------------------
def test_evaluate_json_form(tiny_artifacts):
    proc = cli("model.evaluate", "--json", "--limit", "300", "--weights", str(tiny_artifacts / "vit.safetensors"),
               "--forest", str(tiny_artifacts / "forest.npz"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)                   # the whole of stdout is one JSON object
    assert set(out) == {"vit", "random_forest", "test_size"}
    assert set(out["vit"]) == {"accuracy", "params", "tta_accuracy", "ece", "temperature"}
    assert isinstance(out["vit"]["ece"], float) and 0.0 <= out["vit"]["ece"] <= 1.0
    assert isinstance(out["vit"]["temperature"], float) and out["vit"]["temperature"] > 0
    assert set(out["random_forest"]) == {"accuracy"}
    assert out["test_size"] == 300
    assert isinstance(out["vit"]["params"], int) and out["vit"]["params"] > 0
    for v in (out["vit"]["accuracy"], out["vit"]["tta_accuracy"], out["random_forest"]["accuracy"]):
        assert isinstance(v, float) and 0.0 <= v <= 1.0
    assert out["random_forest"]["accuracy"] > 0.6    # a real forest, not noise


def test_evaluate_write_forms(tiny_artifacts, tmp_path):
    proc = cli("model.evaluate", "--write", "--limit", "200", "--out", str(tmp_path),
               "--weights", str(tiny_artifacts / "vit.safetensors"), "--forest", str(tiny_artifacts / "forest.npz"))
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout               # the readable table
    npz = np.load(tmp_path / paths.TEST_EVAL.name)
    assert set(npz.files) == {"labels", "vit_probs", "vit_tta_probs", "vit_calibrated_probs", "forest_probs"}
    labels = npz["labels"]
    assert labels.dtype == np.int64 and labels.shape == (200,)
    assert np.array_equal(labels, load_mnist("test")[1][:200])
    for key in ("vit_probs", "vit_tta_probs", "vit_calibrated_probs", "forest_probs"):
        assert npz[key].dtype == np.float32 and npz[key].shape == (200, 10)
        assert np.allclose(npz[key].sum(1), 1, atol=1e-4)

    ev = json.loads((tmp_path / paths.EVALUATION.name).read_text())
    assert ev["test_size"] == 200
    vit_keys = {"accuracy", "tta_accuracy", "params", "size_bytes", "per_class_accuracy", "tta_per_class_accuracy",
                "ms_per_image_batched", "ms_single_image", "ms_single_image_tta", "ms_per_image_batched_tta",
                "preprocessed_accuracy",
                "ece", "ece_uncalibrated", "temperature", "reliability"}
    forest_keys = {"accuracy", "per_class_accuracy", "size_bytes", "n_estimators", "total_nodes",
                   "ms_per_image_batched", "ms_single_image"}
    assert vit_keys <= set(ev["vit"]) and forest_keys <= set(ev["random_forest"])
    assert {"agreement", "generated", "command"} <= set(ev)
    assert len(ev["vit"]["per_class_accuracy"]) == 10 and len(ev["random_forest"]["per_class_accuracy"]) == 10
    assert ev["random_forest"]["n_estimators"] == 5
    timings = ("ms_per_image_batched", "ms_single_image", "ms_single_image_tta", "ms_per_image_batched_tta")
    assert all(ev["vit"][k] > 0 for k in timings)
    # the summary agrees with the stored probabilities
    vit_right = npz["vit_probs"].argmax(1) == labels
    forest_right = npz["forest_probs"].argmax(1) == labels
    assert ev["vit"]["accuracy"] == pytest.approx(vit_right.mean())
    assert ev["vit"]["tta_accuracy"] == pytest.approx((npz["vit_tta_probs"].argmax(1) == labels).mean())
    assert ev["random_forest"]["accuracy"] == pytest.approx(forest_right.mean())
    # calibration: the same answers, scaled by the checkpoint's temperature; the ECE is of the scaled ones
    from model.calibration import ece
    from model.vit import load_vit

    assert ev["vit"]["temperature"] == load_vit(tiny_artifacts / "vit.safetensors").temperature
    assert np.array_equal(npz["vit_calibrated_probs"].argmax(1), npz["vit_probs"].argmax(1))
    assert ev["vit"]["ece"] == pytest.approx(ece(npz["vit_calibrated_probs"], labels), abs=1e-6)
    assert ev["vit"]["ece_uncalibrated"] == pytest.approx(ece(npz["vit_probs"], labels), abs=1e-6)
    assert sum(ev["vit"]["reliability"]["calibrated"]["count"]) == 200
    assert ev["agreement"] == {"both_right": int((vit_right & forest_right).sum()),
                               "vit_only": int((vit_right & ~forest_right).sum()),
                               "forest_only": int((~vit_right & forest_right).sum()),
                               "both_wrong": int((~vit_right & ~forest_right).sum())}


def test_evaluate_missing_weights_fails_cleanly(tmp_path):
    proc = cli("model.evaluate", "--json", "--weights", str(tmp_path / "none.safetensors"))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------
# python -m model.predict
# ---------------------------------------------------------------------------------------
def test_predict_json_form_with_good_and_bad_files(tiny_artifacts, image_files):
    good, bad, _ = image_files
    files = [good[0], bad[0], good[1], bad[1], good[2], bad[2], good[3], bad[3], good[4]]
    proc = cli("model.predict", "--json", "--weights", str(tiny_artifacts / "vit.safetensors"), *files)
    assert proc.returncode == 1, proc.stderr        # some files failed
    out = json.loads(proc.stdout)
    assert [r["file"] for r in out] == files        # one object per file, in order
    for r in out:
        assert set(r) == {"file", "digit", "probabilities", "calibrated", "error"} and r["calibrated"] is True
        if r["file"] in good:
            assert r["error"] is None
            assert isinstance(r["digit"], int) and 0 <= r["digit"] <= 9
            assert len(r["probabilities"]) == 10 and sum(r["probabilities"]) == pytest.approx(1, abs=1e-4)
            assert r["digit"] == int(np.argmax(r["probabilities"]))
        else:
            assert r["digit"] is None and r["probabilities"] is None
            assert isinstance(r["error"], str) and r["error"]
    errors = {Path(r["file"]).name: r["error"].lower() for r in out if r["error"]}
    assert "not a readable image" in errors["text.png"]
    assert "no digit" in errors["blank.png"]
    assert "too large" in errors["huge.png"]
    assert "no such file" in errors["missing.png"]


def test_predict_all_good_exits_0_and_tta_works(tiny_artifacts, image_files):
    good, _, _ = image_files
    proc = cli("model.predict", "--json", "--tta", "--weights", str(tiny_artifacts / "vit.safetensors"), *good)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out) == len(good) and all(r["error"] is None for r in out)


def test_predict_table(tiny_artifacts, image_files):
    good, bad, _ = image_files
    proc = cli("model.predict", "--weights", str(tiny_artifacts / "vit.safetensors"), good[0], bad[0])
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["file", "digit"]
    assert any(good[0] in line and "%" in line for line in lines)
    assert any(bad[0] in line and "not a readable image" in line for line in lines)
    assert lines[-1] == "1 classified, 1 failed"


def test_predict_missing_weights_and_no_files(tmp_path, image_files):
    good, _, _ = image_files
    proc = cli("model.predict", "--weights", str(tmp_path / "none.safetensors"), good[0])
    assert proc.returncode == 2 and "does not exist" in proc.stderr and proc.stdout == ""
    proc = cli("model.predict", "--json")
    assert proc.returncode == 2 and "FILE" in proc.stderr     # argparse usage error


def test_predict_with_the_shipped_model_reads_the_files(image_files):
    good, _, labels = image_files
    proc = cli("model.predict", "--json", *good)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    digits = [r["digit"] for r in out]
    assert sum(d == t for d, t in zip(digits, labels)) >= 4, (digits, labels)


def test_predict_prints_the_calibrated_headline(shipped_vit, image_files):
    """The CLI's probabilities are model.inference.headline's (temperature-scaled), not the raw softmax."""
    from model.inference import headline, predict_proba
    from model.predict import load_digit

    good, _, _ = image_files
    assert shipped_vit.temperature != 1.0          # else calibrated and raw would be the same numbers
    proc = cli("model.predict", "--json", *good[:2])
    assert proc.returncode == 0, proc.stderr
    for r in json.loads(proc.stdout):
        image = load_digit(r["file"])
        h = headline(shipped_vit, image)
        np.testing.assert_allclose(r["probabilities"], h.probabilities, atol=1e-6)
        assert r["digit"] == h.digit
        raw = predict_proba(shipped_vit, image)[0]
        assert np.abs(np.asarray(r["probabilities"]) - raw).max() > 1e-6


@pytest.fixture(scope="module")
def corrupt_weights(tmp_path_factory):
    f = tmp_path_factory.mktemp("corrupt") / "vit.safetensors"
    f.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage}" + b"\x00" * 64)
    return f


@pytest.mark.parametrize("entry, args", [
    ("model.predict", ["--json", "FILE"]),
    ("model.evaluate", ["--json", "--limit", "10"]),
    ("model.analyze", ["--head-images", "2", "--ig-images", "2", "--skip-forest", "--out-dir", "OUT"]),
    ("model.explain", ["attribute", "FILE", "--json"]),
])
@pytest.mark.parametrize("kind", ["missing", "corrupt"])
def test_a_missing_or_corrupt_weights_file_is_one_line_and_a_nonzero_exit(entry, args, kind, corrupt_weights,
                                                                            image_files, tmp_path):
    weights = tmp_path / "none.safetensors" if kind == "missing" else corrupt_weights
    args = [str(tmp_path) if a == "OUT" else image_files[0][0] if a == "FILE" else a for a in args]
    proc = cli(entry, *args, "--weights", str(weights))
    assert proc.returncode != 0
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(weights.name) in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []          # nothing written
