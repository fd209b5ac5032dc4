"""The Inside family (issue 13): the cached forward equals the model's forward, the logit lens
ends at the model's probabilities, direct logit attribution adds up to the logit, attention
distance and patching behave as defined; with the shipped model and a tiny random one."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import explain as E
from model.explain import inside as I
from model.inference import predict_proba

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["tiny", "shipped"])
def vit(request, tiny_vit):
    if request.param == "tiny":
        return tiny_vit
    return request.getfixturevalue("shipped_vit")


def test_run_with_cache_gives_the_models_logits_and_consistent_activations(vit, test_images):
    x = torch.as_tensor(test_images[0][:5])[:, None]
    L, H = vit.cfg.depth, vit.cfg.heads
    with torch.inference_mode():
        logits, cache = vit.run_with_cache(x)
        torch.testing.assert_close(logits, vit(x), atol=1e-5, rtol=1e-5)
        mask = torch.ones(L, H)
        mask[0, 0] = 0
        torch.testing.assert_close(vit.run_with_cache(x, head_mask=mask)[0], vit(x, head_mask=mask),
                                   atol=1e-5, rtol=1e-5)
        _, attn = vit(x, return_attn=True)
    N = vit.cfg.num_tokens
    for i in range(L):
        assert cache[f"blocks.{i}.attn.pattern"].shape == (5, H, N, N)
        torch.testing.assert_close(cache[f"blocks.{i}.attn.pattern"], attn[:, i])
        r = cache[f"blocks.{i}.resid_pre"] + cache[f"blocks.{i}.attn_out"] + cache[f"blocks.{i}.mlp_out"]
        torch.testing.assert_close(r, cache[f"blocks.{i}.resid_post"])
    torch.testing.assert_close(cache["ln_f.scale"] ** -2,
                               cache[f"blocks.{L - 1}.resid_post"].var(-1, unbiased=False, keepdim=True) + vit.ln_f.eps)


def test_logit_lens_last_row_is_the_models_probabilities(vit, test_images):
    img = test_images[0][3]
    res = E.inside_summary(vit, img)
    assert res.lens.shape == (vit.cfg.depth + 1, 10) and res.stages[0] == "embedding"
    np.testing.assert_allclose(res.lens[-1], predict_proba(vit, img)[0], atol=1e-4)
    np.testing.assert_allclose(res.lens.sum(1), 1.0, atol=1e-6)
    digits, conf = res.patch_votes
    g = vit.cfg.grid
    assert digits.shape == conf.shape == (vit.cfg.depth + 1, g, g)
    # each patch's vote is its own token read out through ln_f and the head, stage by stage
    with torch.inference_mode():
        _, cache = vit.run_with_cache(torch.as_tensor(img)[None, None])
        stages = [cache["embed"]] + [cache[f"blocks.{i}.resid_post"] for i in range(vit.cfg.depth)]
        want = torch.stack([torch.softmax(vit.head(vit.ln_f(s[0, 1:])), -1) for s in stages]).numpy()
    want = want.reshape(len(stages), g, g, 10)
    np.testing.assert_array_equal(digits, want.argmax(-1))
    np.testing.assert_allclose(conf, want.max(-1), atol=1e-5)


def test_dla_parts_plus_bias_is_the_logit_for_every_class(vit, test_images):
    img = test_images[0][1]
    res = E.inside_summary(vit, img)
    logits = torch.log(torch.as_tensor(predict_proba(vit, img)[0]).double())
    dla = res.dla
    assert dla.names[0] == "embed" and len(dla.names) == 1 + vit.cfg.depth * (vit.cfg.heads + 1)
    np.testing.assert_allclose(dla.parts.sum(0) + dla.bias, dla.logits, atol=1e-4)
    # the logits are the model's: softmax of them is its probabilities
    np.testing.assert_allclose(torch.softmax(torch.as_tensor(dla.logits), 0).numpy(), logits.exp().numpy(), atol=1e-5)
    for t in range(10):
        d = dla.for_class(t)
        assert sum(d["parts"].values()) + d["bias"] == pytest.approx(d["total"], abs=1e-4)


@torch.inference_mode()
def test_dla_heads_sum_to_the_attention_output_each_with_an_equal_share_of_the_bias(vit, test_images):
    _, cache = I.cached_forward(vit, test_images[0][0])
    H, hd = vit.cfg.heads, vit.cfg.dim // vit.cfg.heads
    for layer in range(vit.cfg.depth):
        heads = I._head_outputs(vit, cache, layer)                       # (H, D)
        torch.testing.assert_close(heads.sum(0), cache[f"blocks.{layer}.attn_out"][0, 0], atol=1e-5, rtol=1e-5)
        proj = vit.blocks[layer].attn.proj
        z = cache[f"blocks.{layer}.attn.z"][0, :, 0]                     # (H, hd)
        for h in range(H):
            own = proj.weight[:, h * hd:(h + 1) * hd] @ z[h]             # this head's slice of the projection
            torch.testing.assert_close(heads[h] - own, proj.bias / H, atol=1e-5, rtol=1e-5)


def test_mean_attention_distance_of_known_patterns():
    g, N = 7, 50
    eye = torch.eye(N)[None]                                            # every token attends to itself
    assert I.mean_attention_distance(eye)[0] == pytest.approx(0.0)
    uniform = torch.full((1, N, N), 1.0 / N)
    assert I.mean_attention_distance(uniform)[0] == pytest.approx(I.uniform_attention_distance(g))
    right = torch.zeros(1, N, N)                                        # each patch attends to its right neighbour
    for q in range(1, N):
        r, c = divmod(q - 1, g)
        right[0, q, 1 + r * g + min(c + 1, g - 1)] = 1.0
    assert I.mean_attention_distance(right)[0] == pytest.approx(4.0 * (g - 1) / g)   # the last column stays put
    assert I.patch_distances(g)[0, g + 1] == pytest.approx(4 * np.sqrt(2))


def test_mean_attention_distance_of_a_digit_is_in_pixels(vit, test_images):
    d = E.inside_summary(vit, test_images[0][0]).attention_distance
    assert d.shape == (vit.cfg.depth, vit.cfg.heads)
    assert (d > 0).all() and (d < I.patch_distances(vit.cfg.grid).max()).all()


def test_position_similarity_and_stem_filters(vit):
    g = vit.cfg.grid
    sim = E.position_similarity(vit)
    assert sim.shape == (g, g, g, g)
    np.testing.assert_allclose([sim[r, c, r, c] for r in range(g) for c in range(g)], 1.0, atol=1e-9)
    np.testing.assert_allclose(sim, sim.transpose(2, 3, 0, 1), atol=1e-12)
    f = E.stem_filters(vit)
    assert f.shape == (vit.patch_embed.proj[0].out_channels, 3, 3)


def _manual_token_patch(model, x, x2, layer, token, t):
    with torch.inference_mode():
        _, c = model.run_with_cache(torch.cat([x, x2]))
        r = c[f"blocks.{layer}.resid_pre"][:1].clone()
        r[0, token] = c[f"blocks.{layer}.resid_pre"][1, token]
        return float(torch.softmax(model.run_blocks(r, layer), -1)[0, t])


def test_patching_matches_one_patch_at_a_time(vit, test_images):
    images, labels = test_images
    a, b = images[0], images[1]
    assert labels[0] != labels[1]
    p = E.activation_patching(vit, a, b)
    L, H, g = vit.cfg.depth, vit.cfg.heads, vit.cfg.grid
    assert p.layer_patch.shape == (L, g, g) and p.layer_cls.shape == (L,) and p.layer_head.shape == (L, H)
    x, x2 = (torch.as_tensor(i)[None, None] for i in (a, b))
    clean = float(p.clean[p.target])
    for layer, token in [(0, 1), (L - 1, 25), (0, 0), (L - 1, 0)]:
        want = _manual_token_patch(vit, x, x2, layer, token, p.target) - clean
        got = p.layer_cls[layer] if token == 0 else p.layer_patch[layer].ravel()[token - 1]
        assert got == pytest.approx(want, abs=1e-5)
    assert p.layer_cls[0] == pytest.approx(0.0, abs=1e-6)            # the class token's embedding is the same
    # a head patched alone equals running with that head's z swapped by hand
    with torch.inference_mode():
        _, c = vit.run_with_cache(torch.cat([x, x2]))
        m = torch.zeros(1, H)
        m[0, H - 1] = 1
        out = vit.run_blocks(c["embed"][:1], 0, z_patch={L - 1: (m, c[f"blocks.{L - 1}.attn.z"][1:2])})
    assert p.layer_head[L - 1, H - 1] == pytest.approx(float(torch.softmax(out, -1)[0, p.target]) - clean, abs=1e-5)
    # logit difference: every metric has the same layout
    assert set(p.effects) == {"prob", "logit_diff"} and p.other != p.target
    assert 1 <= p.rank_of(*p.top_patch()[1:]) <= 1 + int((p.patch_importance() == p.patch_importance().max()).sum())


def test_patching_with_the_same_digit_changes_nothing(vit, test_images):
    img = test_images[0][4]
    p = E.activation_patching(vit, img, img)
    for e in p.effects.values():
        for arr in e.values():
            np.testing.assert_allclose(arr, 0.0, atol=1e-5)


def test_patching_every_token_at_the_embedding_gives_the_second_digits_answer(shipped_vit, test_images):
    images, _ = test_images
    x, x2 = (torch.as_tensor(i)[None, None] for i in (images[0], images[1]))
    with torch.inference_mode():
        _, c = shipped_vit.run_with_cache(torch.cat([x, x2]))
        out = shipped_vit.run_blocks(c["embed"][1:2], 0)
    np.testing.assert_allclose(torch.softmax(out, -1)[0].numpy(), predict_proba(shipped_vit, images[1])[0], atol=1e-5)


def test_test_set_attention_distance_summary(tiny_vit, test_images):
    images, labels = test_images
    res = I.test_set_attention_distance(tiny_vit, images, labels, batch=7)
    per_image = [E.inside_summary(tiny_vit, im).attention_distance for im in images]
    np.testing.assert_allclose(res["mean_attention_distance"], np.mean(per_image, 0), atol=1e-3)
    assert res["n_images"] == len(images) and len(res["per_class"]) == 10


def test_analyze_inside_writes_the_artifact(tmp_path):
    r = subprocess.run([sys.executable, "-m", "model.analyze", "--inside", "--inside-images", "30",
                        "--out-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads((tmp_path / "attention_distance.json").read_text())
    assert out["n_images"] == 30 and "--inside" in out["command"]
    assert np.asarray(out["mean_attention_distance"]).shape == (4, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attention_distance.json"]


def test_cli_inside_prints_lens_dla_distance_and_target(tmp_path, test_images):
    from model import paths
    from model.predict import load_digit
    from model.vit import load_vit

    images, _ = test_images
    f = tmp_path / "digit.png"
    Image.fromarray((images[2] * 255).astype(np.uint8)).save(f)
    r = subprocess.run([sys.executable, "-m", "model.explain", "inside", str(f), "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"prediction", "target", "stages", "logit_lens", "dla", "mean_attention_distance",
                        "patching_target", "patching"}
    assert out["patching"] is None and out["prediction"]["calibrated"] is True
    model = load_vit(paths.VIT_WEIGHTS)
    probs = predict_proba(model, load_digit(f))[0]
    lens = np.asarray(out["logit_lens"])
    assert lens.shape == (5, 10)
    np.testing.assert_allclose(lens[-1], probs, atol=1e-4)
    assert out["patching_target"] == int(probs.argmax()) == out["target"] == out["prediction"]["digit"]
    d = out["dla"]
    assert sum(d["parts"].values()) + d["bias"] == pytest.approx(d["total"], abs=1e-4)
    assert np.exp(d["total"]) / np.exp(E.inside_summary(model, load_digit(f)).dla.logits).sum() == pytest.approx(
        probs.max(), abs=1e-4)
    assert np.asarray(out["mean_attention_distance"]).shape == (4, 4)


def test_cli_inside_with_a_second_digit_adds_patching(tmp_path, test_images):
    images, _ = test_images
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray((images[0] * 255).astype(np.uint8)).save(a)
    Image.fromarray((images[1] * 255).astype(np.uint8)).save(b)
    r = subprocess.run([sys.executable, "-m", "model.explain", "inside", str(a), "--json", "--second", str(b)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)["patching"]
    assert np.asarray(p["prob"]["layer_patch"]).shape == (4, 7, 7)
    assert np.asarray(p["logit_diff"]["layer_head"]).shape == (4, 4)
    r = subprocess.run([sys.executable, "-m", "model.explain", "inside", str(a), "--json", "--second",
                        str(tmp_path / "missing.png")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stdout == "" and "missing.png" in r.stderr


def test_threads_share_the_model_and_get_the_serial_results(shipped_vit, test_images):
    from concurrent.futures import ThreadPoolExecutor

    images, _ = test_images
    before = {k: v.clone() for k, v in shipped_vit.state_dict().items()}

    def job(i):
        r = E.inside_summary(shipped_vit, images[i])
        p = E.activation_patching(shipped_vit, images[i], images[i + 1])
        return r.lens, r.dla.parts, p.effects["logit_diff"]["layer_patch"]

    serial = [job(i) for i in range(4)]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(job, [i % 4 for i in range(16)]))
    for i, got in enumerate(parallel):
        for a, b in zip(got, serial[i % 4]):
            np.testing.assert_allclose(a, b, atol=1e-6)
    for k, v in shipped_vit.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not shipped_vit.training
