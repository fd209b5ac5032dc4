"""``python -m model.explain SUBCOMMAND FILE --json``: one entry for every explanation family."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
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


# ---- every family of the registry, through the generated command line -----------------------------

SEVEN = {"objects": [{"type": "Path", "strokeWidth": 20, "stroke": "#FFFFFF",
                      "path": [["M", 70, 60], ["Q", 140, 58, 205, 62], ["L", 205, 62]]},
                     {"type": "path", "strokeWidth": 20, "stroke": "#FFFFFF",
                      "path": [["M", 205, 62], ["Q", 160, 140, 120, 225], ["L", 120, 225]]}]}


@pytest.fixture(scope="module")
def digit_file(tmp_path_factory, test_images):
    """MNIST test image 0 (a 7) as a PNG, and its preprocessed image as the CLI reads it."""
    from model.predict import load_digit

    images, labels = test_images
    f = tmp_path_factory.mktemp("digit") / "seven.png"
    Image.fromarray((images[0] * 255).astype(np.uint8)).save(f)
    return f, load_digit(f), int(labels[0])


def main(capsys, *argv: str) -> tuple[int, dict | None, str]:
    """The CLI in this process (one torch import for all families): (status, JSON or None, stderr)."""
    from model.explain.__main__ import main as cli_main

    rc = cli_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else None), err


def _check_headline(out: dict, model, image) -> None:
    from model.inference import headline

    h = headline(model, image)
    p = out["prediction"]
    assert p["calibrated"] is True and p["digit"] == h.digit
    assert p["confidence"] == pytest.approx(h.confidence, abs=1e-6)
    assert p["temperature"] == pytest.approx(model.temperature) and model.temperature != 1.0


def check_attention(out, model, image, label):
    from model.explain import attention_summary, knockout_proba

    _check_headline(out, model, image)
    s = attention_summary(model, image)
    cls = np.asarray(out["cls"])
    assert cls.shape == (model.cfg.depth, model.cfg.heads, 7, 7)
    np.testing.assert_allclose(cls, s.cls, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["cls_mean"]), cls.mean(1), atol=1e-6)
    roll = np.asarray(out["rollout"])
    assert roll.shape == (7, 7) and 0 < roll.sum() < 1          # the class token keeps a share itself
    assert set(out["stats"]) == {"cls_entropy", "mean_entropy", "cls_share", "cls_self"}
    assert out["knockout"]["heads"] == [[0, 0], [1, 1]]
    np.testing.assert_allclose(out["knockout"]["probabilities"], knockout_proba(model, image, [(0, 0), (1, 1)]),
                               atol=1e-6)
    assert not np.allclose(out["knockout"]["probabilities"], out["probabilities"], atol=1e-6)


def check_attribute(out, model, image, label):
    from model.explain import explain

    _check_headline(out, model, image)
    assert out["method"] == "occlusion" and out["target"] == label == out["prediction"]["digit"]
    assert out["settings"] == {"window": 6, "stride": 2, "baseline": "black", "seed": 0}
    np.testing.assert_allclose(out["map"], explain(model, image, None, "occlusion", window=6).map, atol=1e-6)


def check_counterfactual(out, model, image, label):
    from model.inference import headline, predict_proba

    runner_up = int(np.argsort(headline(model, image).probabilities)[-2])
    assert out["target"] == runner_up != label                   # no --target: the runner-up class
    img = np.asarray(out["image"], dtype=np.float32)
    if out["found"]:
        assert int(predict_proba(model, img)[0].argmax()) == runner_up and out["changed_pixels"] > 0
    else:
        assert np.array_equal(img, image)


def check_faithfulness(out, model, image, label):
    from model.explain import DEFAULT_COMPARISON
    from model.inference import predict_proba

    _check_headline(out, model, image)
    assert out["target"] == label and out["unit"] == "patch" and out["methods"] == list(DEFAULT_COMPARISON)
    assert set(out["auc"]) == set(DEFAULT_COMPARISON) | {"random"} and out["best"] in DEFAULT_COMPARISON
    f = out["fractions"]
    assert f[0] == 0 and f[-1] == 1 and len(f) == 5
    p = float(predict_proba(model, image)[0, label])               # the curves track the raw probability
    for m in out["auc"]:
        assert out["deletion"][m][0] == pytest.approx(p, abs=1e-5) == out["insertion"][m][-1]
        a = out["auc"][m]
        assert a["score"] == pytest.approx(a["insertion"] - a["deletion"])
        assert a["deletion"] == pytest.approx(np.trapezoid(out["deletion"][m], f), abs=1e-6)


def check_inside(out, model, image, label):
    _check_headline(out, model, image)
    lens = np.asarray(out["logit_lens"])
    assert lens.shape == (model.cfg.depth + 1, 10) and out["stages"][0] == "embedding"
    assert int(lens[-1].argmax()) == label == out["patching_target"] == out["target"]
    d = out["dla"]
    assert d["total"] == pytest.approx(d["bias"] + sum(d["parts"].values()), abs=1e-3)
    assert np.asarray(out["mean_attention_distance"]).shape == (model.cfg.depth, model.cfg.heads)
    pt = out["patching"]                                           # --second: the digit itself
    assert np.abs(pt["prob"]["layer_head"]).max() < 1e-6            # patching with itself changes nothing


def check_neighbours(out, model, image, label):
    from data.mnist import load_mnist

    _, train_y = load_mnist("train")
    assert len(out["neighbours"]) == 4
    assert [n["label"] for n in out["neighbours"]] == [int(train_y[n["train_index"]]) for n in out["neighbours"]]
    d = [n["distance"] for n in out["neighbours"]]
    assert d == sorted(d) and out["knn_vote"] == label and 0 <= out["distance_percentile"] < 99


def check_replay(out, model, image, label):
    assert out["strokes"] == 2 and [s["stroke"] for s in out["steps"]] == [1, 2]
    assert out["steps"][-1]["digit"] == 7 == out["prediction"]["digit"] and out["prediction"]["calibrated"]
    np.testing.assert_allclose(out["steps"][-1]["probabilities"], out["prediction"]["probabilities"], atol=1e-6)
    assert out["turning_points"] and "7" in out["turning_points"][-1]


CHECKS = {  # family -> (extra arguments, check(out, model, image, label))
    "attention": (["--knockout", "0.0,1.1"], check_attention),
    "attribute": (["--method", "occlusion", "--window", "6"], check_attribute),
    "counterfactual": (["--steps", "60"], check_counterfactual),
    "faithfulness": (["--unit", "patch", "--steps", "4"], check_faithfulness),
    "inside": (["--second", "SELF"], check_inside),
    "neighbours": (["-k", "4"], check_neighbours),
    "replay": ([], check_replay),
}


def _families() -> list[str]:
    from model.explain._registry import families

    return sorted(families())


def _input(name: str) -> str:
    from model.explain._registry import families

    return families()[name].input


@pytest.mark.parametrize("name", _families())
def test_every_registered_family_runs_from_the_command_line(name, capsys, tmp_path, digit_file, shipped_vit):
    f, image, label = digit_file
    if _input(name) == "strokes":
        f = tmp_path / "drawing.json"
        f.write_text(json.dumps(SEVEN))
    args, check = CHECKS.get(name, ([], None))
    rc, out, err = main(capsys, name, f, "--json", *[str(digit_file[0]) if a == "SELF" else a for a in args])
    assert rc == 0, err
    assert isinstance(out, dict) and out
    if check is None:                     # a family added since: the contract's minimum
        assert out.get("prediction", {}).get("calibrated") is True, f"{name} prints no calibrated prediction"
    else:
        check(out, shipped_vit, image, label)


def test_the_families_this_test_checks_are_registered():
    assert set(CHECKS) <= set(_families())


@pytest.mark.parametrize("argv, says", [
    (["attribute", "FILE", "--method", "saliency", "--window", "3"], "saliency has no setting 'window'"),
    (["attribute", "FILE", "--method", "occlusion", "--window", "40"], "window must be in"),
    (["attention", "FILE", "--knockout", "9.9"], "no head 9.9"),
    (["attention", "FILE", "--knockout", "x"], "LAYER.HEAD"),
    (["faithfulness", "FILE", "--steps", "1"], "steps must be in"),
    (["counterfactual", "FILE", "--target", "12"], "target must be in"),
    (["replay", "FILE"], "not a canvas JSON file"),
    (["neighbours", "FILE", "--index", "MISSING"], "--write"),
    (["inside", "FILE", "--second", "MISSING"], "No such file"),
])
def test_a_bad_option_is_one_line_and_exit_1(argv, says, capsys, digit_file, tmp_path):
    argv = [str(digit_file[0]) if a == "FILE" else str(tmp_path / "none") if a == "MISSING" else a for a in argv]
    rc, out, err = main(capsys, *argv, "--json")
    assert rc == 1 and out is None
    assert len(err.strip().splitlines()) == 1 and says in err, err


def test_a_corrupt_or_missing_weights_file_is_one_line_and_exit_1(capsys, digit_file, tmp_path):
    corrupt = tmp_path / "vit.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header" + bytes(32))
    for weights in (corrupt, tmp_path / "missing.safetensors"):
        for fam in ("attention", "attribute"):
            rc, out, err = main(capsys, fam, digit_file[0], "--json", "--weights", weights)
            assert rc == 1 and out is None
            assert len(err.strip().splitlines()) == 1 and weights.name in err and "Traceback" not in err
