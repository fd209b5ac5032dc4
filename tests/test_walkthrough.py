"""The walkthrough family (model.explain.walkthrough), its command line and its page.

The walkthrough's numbers are recomputed from the weights, so the first tests hold them against
the model's own activations (``run_with_cache``) and logits (``vit(x)``) on MNIST test digits for
several block/head/token choices; then the CLI contract of issue 19; then the page under AppTest
(every guided step with Next, and the free mode's jump). The browser test is in tests/e2e/.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from streamlit.testing.v1 import AppTest

from dashboard.walkthrough_plots import STEPS
from model.explain import walkthrough as W
from model.inference import headline

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "walkthrough.py")
CHOICES = [(1, 1, 0), (2, 3, 10), (3, 2, 25), (4, 4, 49)]     # (block, head, token), block and head from 1
TOL = 1e-4


@pytest.mark.parametrize("block,head,token", CHOICES)
def test_recomputed_stages_reproduce_the_models_own_activations_and_logits(shipped_vit, test_images,
                                                                             block, head, token):
    images, _ = test_images
    for img in images[:4]:
        r = W.run(shipped_vit, img, block=block, head=head, token=token)
        x = torch.from_numpy(img.copy())[None, None]
        with torch.inference_mode():
            logits, cache = shipped_vit.run_with_cache(x)
            direct = shipped_vit(x)[0].numpy()
            stem = shipped_vit.patch_embed.proj[:3]((x - W.MNIST_MEAN) / W.MNIST_STD)[0].numpy()
        b, h, t = block - 1, head - 1, token
        assert r.max_abs_diff < TOL, r.checks
        assert np.abs(r.recomputed_logits - direct).max() < TOL
        assert np.abs(r.recomputed_logits - logits[0].numpy()).max() < TOL
        assert np.abs(r.attention - cache[f"blocks.{b}.attn.pattern"][0, h, t].numpy()).max() < TOL
        assert np.array_equal(r.model_attention, cache[f"blocks.{b}.attn.pattern"][0, h, t].numpy())
        assert np.abs(r.stem1 - stem).max() < TOL
        assert np.abs(r.tokens - cache["patch_embed"][0].numpy()).max() < TOL
        assert np.abs(r.z - cache[f"blocks.{b}.attn.z"][0, :, t].numpy()).max() < TOL
        assert np.abs(r.resid_post - cache[f"blocks.{b}.resid_post"][0, t].numpy()).max() < TOL
        assert np.abs(r.stream[-1] - cache[f"blocks.{shipped_vit.cfg.depth - 1}.resid_post"][0, 0].numpy()).max() < TOL
        # the pieces fit together: softmax of the scores, the weighted sum of the values
        assert np.abs(F.softmax(torch.from_numpy(r.scores), -1).numpy() - r.attention).max() < 1e-6
        assert np.abs(r.attention @ r.v - r.z[h]).max() < TOL
        assert r.probabilities.argmax() == direct.argmax()
        assert np.abs(r.probabilities - headline(shipped_vit, img).probabilities).max() < 1e-5


def test_shapes_follow_the_stage_list_and_top_units_are_the_strongest(shipped_vit, test_images):
    r = W.run(shipped_vit, test_images[0][0])
    shapes = {s["name"]: tuple(s["shape"]) for s in r.stages}
    assert r.stem1.shape == shapes["stem conv 1"] == (32, 14, 14)
    assert r.stem2.shape == shapes["stem conv 2"] == (64, 7, 7)
    assert r.tokens.shape == shapes["patch tokens"] and r.embed.shape == shapes["class token + positions"]
    assert (r.q.shape, r.k.shape, r.scores.shape, r.hidden.shape) == ((16,), (50, 16), (50,), (128,))
    assert np.allclose(r.patches.reshape(7, 7, 4, 4).transpose(0, 2, 1, 3).reshape(28, 28), r.pixels)
    assert r.hidden[r.top_units[0]] == r.hidden.max() and len(r.top_units) == W.TOP_UNITS
    assert np.allclose(np.diag(r.pos_similarity), 1, atol=1e-5)


@pytest.mark.parametrize("options", [{"block": 0}, {"block": 5}, {"head": 5}, {"token": 50}, {"token": -1},
                                     {"block": 1.5}, {"layer": 1}])
def test_bad_options_are_refused_with_a_message(shipped_vit, test_images, options):
    with pytest.raises(ValueError, match=next(iter(options))):
        W.FAMILY(shipped_vit, test_images[0][0], **options)


def test_run_itself_checks_against_the_model(shipped_vit, test_images):
    with pytest.raises(ValueError, match="head must be in"):
        W.run(shipped_vit, test_images[0][0], head=shipped_vit.cfg.heads + 1)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model.explain", "walkthrough", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_prints_the_contract(tmp_path, test_images, shipped_vit):
    images, labels = test_images
    f = tmp_path / "digit.png"
    Image.fromarray((images[0] * 255).astype(np.uint8)).save(f)
    r = _cli(str(f), "--json", "--block", "2", "--head", "3", "--token", "5")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["block"], out["head"], out["token"]) == (2, 3, 5)
    assert [len(out[k]) for k in ("scores", "attention", "model_attention")] == [50, 50, 50]
    assert [len(out[k]) for k in ("recomputed_logits", "model_logits", "probabilities")] == [10, 10, 10]
    assert all({"name", "shape"} <= set(s) for s in out["stages"]) and out["stages"][0]["shape"] == [1, 28, 28]
    assert out["max_abs_diff"] < TOL and abs(sum(out["probabilities"]) - 1) < 1e-5
    assert out["temperature"] == pytest.approx(shipped_vit.temperature)
    assert np.abs(np.subtract(out["attention"], out["model_attention"])).max() < TOL
    assert int(np.argmax(out["probabilities"])) == int(labels[0])


def test_cli_blank_file_and_bad_option_exit_1_with_one_line(tmp_path, test_images):
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 0).save(blank)
    r = _cli(str(blank), "--json")
    assert r.returncode == 1 and r.stdout == "" and "blank" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    f = tmp_path / "digit.png"
    Image.fromarray((test_images[0][1] * 255).astype(np.uint8)).save(f)
    r = _cli(str(f), "--json", "--token", "50")
    assert r.returncode == 1 and r.stdout == "" and "token" in r.stderr


# ---- the page ---------------------------------------------------------------------------------------------------
def _chart_keys(at: AppTest) -> list[str]:
    return [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]


def test_guided_mode_steps_through_every_stage_with_next():
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, at.exception
    assert any("MNIST test image #0" in i.value for i in at.info)           # no current digit: the default, said
    titles = []
    assert len(STEPS) == 10
    for step in range(len(STEPS)):
        assert not at.exception, at.exception
        assert any(m.value == f"**Step {step + 1} of 10**" for m in at.markdown)
        keys = _chart_keys(at)
        assert "walk_overview" in keys and f"walk_fig_{step}" in keys, keys
        assert len(at.latex) >= 1
        titles.append(at.subheader[0].value)
        if step < 9:
            at.button(key="walk_next").click().run()
    assert len(set(titles)) == 10 and titles[-1] == "10. The answer"
    assert at.button(key="walk_next").disabled
    at.button(key="walk_back").click().run()
    assert at.subheader[0].value == titles[-2]


def test_free_mode_jumps_to_a_stage_with_the_chosen_block_head_and_token(shipped_vit, test_images):
    from dashboard.state import KEY, CurrentDigit

    images, labels = test_images
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.session_state[KEY] = CurrentDigit.make(images[3], "test image #3", label=int(labels[3]))
    at.run()
    at.segmented_control(key="walk_mode").set_value("Free").run()
    at.segmented_control(key="walk_stage").set_value("Scores").run()
    assert not at.exception, at.exception
    assert at.subheader[0].value.startswith("6.") and "walk_fig_5" in _chart_keys(at)
    at.selectbox(key="walk_block").set_value(3)
    at.selectbox(key="walk_token").set_value(12).run()
    caption = next(c.value for c in at.caption if c.value.startswith("Digit:"))
    assert "test image #3" in caption and "Block 3, head 1, query: patch 12" in caption
    at.segmented_control(key="walk_stage").set_value("Answer").run()
    assert at.subheader[0].value == "10. The answer"
    assert at.slider(key="walk_temperature").value == pytest.approx(round(shipped_vit.temperature, 2))
    at.slider(key="walk_temperature").set_value(2.0).run()
    spec = json.loads(next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith("walk_fig_9b")))
    assert spec["layout"]["title"]["text"] == "softmax(logits / 2.00)"
