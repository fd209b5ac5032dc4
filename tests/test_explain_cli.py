"""``python -m model.explain SUBCOMMAND FILE --json``: one entry for every explanation family."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model.explain", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_attribute_prints_one_map_for_the_predicted_class(tmp_path, test_images):
    images, labels = test_images
    f = tmp_path / "digit.png"
    Image.fromarray((images[0] * 255).astype(np.uint8)).save(f)
    r = run("attribute", str(f), "--json", "--method", "saliency")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["target"] == int(labels[0]) and out["method"] == "saliency"
    amap = np.asarray(out["map"])
    assert amap.shape == (28, 28) and amap.max() > 0


def test_blank_and_unreadable_files_exit_1_with_a_message(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 0).save(blank)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    for f in (blank, junk, tmp_path / "missing.png"):
        r = run("attribute", str(f), "--json")
        assert r.returncode == 1
        assert r.stdout == "" and str(f.name) in r.stderr


def test_trust_prints_the_report_of_every_attributions_page_method(tmp_path, test_images):
    from model.explain import METHODS

    images, _ = test_images
    f = tmp_path / "digit.png"
    Image.fromarray((images[1] * 255).astype(np.uint8)).save(f)
    r = run("trust", str(f), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"target", "methods", "ranking", "verdict"} <= set(out) and isinstance(out["target"], int)
    assert list(out["methods"]) == list(METHODS) and sorted(out["ranking"]) == sorted(METHODS)
    assert out["verdict"].startswith(f"Read {METHODS[out['ranking'][0]].label} first")
    steps = ["head", "block 4", "block 3", "block 2", "block 1", "stem"]
    for name, m in out["methods"].items():
        assert {"mprt", "mprt_signed", "smprt", "emprt", "random_logit_spearman", "deletion_auc", "insertion_auc",
                "faithfulness_correlation", "max_sensitivity", "sparseness", "seconds"} <= set(m), name
        assert [s["step"] for s in m["mprt"]] == [s["step"] for s in m["mprt_signed"]] == steps
        assert all(-1 <= s["spearman"] <= 1 and s["ssim"] <= 1 for s in m["mprt"] + m["mprt_signed"])
        assert -1 <= m["smprt"] <= 1 and 0 <= m["sparseness"] <= 1 and m["max_sensitivity"] >= 0
        assert 0 <= m["deletion_auc"] <= 1 and 0 <= m["insertion_auc"] <= 1
    # class-agnostic maps are the same for the random other class
    assert out["methods"]["attention_rollout"]["random_logit_spearman"] == 1.0
    r = run("trust", str(tmp_path / "missing.png"), "--json")
    assert r.returncode == 1 and r.stdout == "" and "missing.png" in r.stderr
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 0).save(blank)
    r = run("trust", str(blank), "--json")
    assert r.returncode == 1 and r.stdout == "" and "blank.png" in r.stderr
