"""model/vit.py and model/inference.py: shapes, attention, head masks, checkpoints, the shipped model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from model import paths
from model.inference import TTA_VIEWS, as_batch, predict_proba, tta_views
from model.train import TINY
from model.vit import ViT, ViTConfig, count_params, load_vit, params_by_part, save_vit


def batch(n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------
# shapes and attention
# ---------------------------------------------------------------------------------------
def test_logits_and_attention_shapes(tiny_vit):
    x = batch(3)
    assert tiny_vit(x).shape == (3, 10)
    logits, attn = tiny_vit(x, return_attn=True)
    cfg = tiny_vit.cfg
    assert logits.shape == (3, 10)
    assert attn.shape == (3, cfg.depth, cfg.heads, cfg.num_tokens, cfg.num_tokens) == (3, 1, 2, 50, 50)


def test_default_config_has_50_tokens_and_4x4_heads():
    cfg = ViTConfig()
    assert cfg.grid == 7 and cfg.num_tokens == 50
    torch.manual_seed(0)
    model = ViT(ViTConfig(depth=2)).eval()     # default width, fewer blocks to stay fast
    _, attn = model(batch(2), return_attn=True)
    assert attn.shape == (2, 2, cfg.heads, 50, 50)


def test_attention_rows_are_probability_distributions(tiny_vit):
    _, attn = tiny_vit(batch(4), return_attn=True)
    assert torch.all(attn >= 0)
    assert torch.allclose(attn.sum(-1), torch.ones(attn.shape[:-1]), atol=1e-5)


def test_explicit_attention_path_equals_sdpa_path(tiny_vit):
    """return_attn computes attention by hand; the plain call uses scaled_dot_product_attention."""
    torch.manual_seed(1)
    model = ViT(ViTConfig(dim=32, depth=2, heads=4, stem_channels=8)).eval()
    x = batch(5)
    with torch.no_grad():
        fast = model(x)
        explicit, _ = model(x, return_attn=True)
    assert torch.allclose(fast, explicit, atol=1e-5)


def test_head_mask_of_ones_equals_no_mask(tiny_vit):
    x = batch(3)
    with torch.no_grad():
        plain = tiny_vit(x)
        masked = tiny_vit(x, head_mask=torch.ones(tiny_vit.cfg.depth, tiny_vit.cfg.heads))
    assert torch.allclose(plain, masked, atol=1e-6)


def test_head_mask_knocks_out_one_head_for_one_call_only(tiny_vit):
    x = batch(3)
    mask = torch.ones(tiny_vit.cfg.depth, tiny_vit.cfg.heads)
    mask[0, 1] = 0
    with torch.no_grad():
        before = tiny_vit(x)
        knocked = tiny_vit(x, head_mask=mask)
        after = tiny_vit(x)
    assert not torch.allclose(before, knocked, atol=1e-4)
    assert torch.equal(before, after)            # nothing about the shared model changed


def test_head_mask_zeroes_exactly_that_heads_output():
    """With a head masked, the block's attention output equals the one computed from the
    remaining heads alone (the masked head's slice of the projection input is zero)."""
    torch.manual_seed(2)
    model = ViT(ViTConfig(**TINY)).eval()
    attn_mod = model.blocks[0].attn
    tokens = torch.randn(2, 50, model.cfg.dim)
    seen = {}
    # a hook on a private test model (the app never hooks the shared one)
    handle = attn_mod.proj.register_forward_hook(lambda mod, inp, out: seen.update(y=inp[0]))
    try:
        attn_mod(tokens, head_mask=torch.tensor([1.0, 0.0]))
    finally:
        handle.remove()
    hd = attn_mod.head_dim
    assert torch.all(seen["y"][..., hd:2 * hd] == 0)
    assert seen["y"][..., :hd].abs().sum() > 0


def test_attention_stays_in_the_autograd_graph(tiny_vit):
    x = batch(1)
    feats, attns = tiny_vit.forward_features(x, need_weights=True)
    assert feats.shape == (1, tiny_vit.cfg.dim) and len(attns) == tiny_vit.cfg.depth
    grad = torch.autograd.grad(tiny_vit.head(feats)[0, 3], attns[0])[0]
    assert grad.shape == attns[0].shape and grad.abs().sum() > 0


def test_linear_stem_and_bad_configs():
    torch.manual_seed(0)
    model = ViT(ViTConfig(stem="linear", patch_size=7, dim=16, depth=1, heads=2)).eval()
    _, attn = model(batch(2), return_attn=True)
    assert attn.shape == (2, 1, 2, 17, 17)      # 4x4 patches of 7x7 pixels + class token
    with pytest.raises(ValueError):
        ViT(ViTConfig(stem="conv", patch_size=7))
    with pytest.raises(ValueError):
        ViT(ViTConfig(patch_size=5))
    with pytest.raises(ValueError):
        ViT(ViTConfig(stem="nope"))


def test_params_by_part_adds_up(tiny_vit):
    parts = params_by_part(tiny_vit)
    assert sum(parts.values()) == count_params(tiny_vit)
    assert all(v > 0 for v in parts.values())


def test_config_json_round_trip_ignores_unknown_keys():
    cfg = ViTConfig(dim=48, depth=3, heads=3, mlp_ratio=1.5)
    assert ViTConfig.from_json(cfg.to_json()) == cfg
    data = json.loads(cfg.to_json())
    data["from_the_future"] = 1
    assert ViTConfig.from_json(json.dumps(data)) == cfg


# ---------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------
def test_checkpoint_round_trip(tmp_path, tiny_vit):
    path = tmp_path / "m.safetensors"
    save_vit(tiny_vit, path, extra={"note": {"epochs": 3}})
    loaded = load_vit(path)
    assert loaded.cfg == tiny_vit.cfg
    assert not loaded.training
    x = batch(4)
    with torch.no_grad():
        assert torch.equal(loaded(x), tiny_vit(x))
        a1, a2 = loaded(x, return_attn=True)[1], tiny_vit(x, return_attn=True)[1]
    assert torch.equal(a1, a2)
    for k, v in tiny_vit.state_dict().items():   # batch-norm running stats included
        assert torch.equal(loaded.state_dict()[k], v), k
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert json.loads(f.metadata()["note"]) == {"epochs": 3}


def test_checkpoint_without_config_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="config"):
        load_vit(path)


def test_checkpoint_is_not_a_pickle(tmp_path, tiny_vit):
    path = tmp_path / "m.safetensors"
    save_vit(tiny_vit, path)
    head = path.read_bytes()[:16]
    assert not head.startswith(b"\x80") and b"PK" not in head[:4]   # neither pickle nor torch zip


# ---------------------------------------------------------------------------------------
# inference helpers
# ---------------------------------------------------------------------------------------
def test_as_batch_shapes():
    assert as_batch(np.zeros((28, 28))).shape == (1, 1, 28, 28)
    assert as_batch(np.zeros((5, 28, 28), np.float32)).shape == (5, 1, 28, 28)
    assert as_batch(torch.zeros(2, 1, 28, 28)).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError):
        as_batch(np.zeros((32, 32)))


def test_tta_views_first_is_identity_and_others_move_pixels():
    x = batch(2)
    v = tta_views(x)
    assert v.shape == (len(TTA_VIEWS) * 2, 1, 28, 28)
    assert torch.allclose(v[:2], x, atol=1e-5)
    assert not torch.allclose(v[2:4], x, atol=1e-2)


def test_predict_proba_shapes_batching_and_probabilities(tiny_vit, test_images):
    images, _ = test_images
    p = predict_proba(tiny_vit, images)
    assert p.shape == (20, 10) and p.dtype == np.float32
    assert np.allclose(p.sum(1), 1, atol=1e-5)
    assert np.allclose(predict_proba(tiny_vit, images, batch_size=7), p, atol=1e-5)
    assert np.allclose(predict_proba(tiny_vit, images[3])[0], p[3], atol=1e-5)
    pt = predict_proba(tiny_vit, images, tta=True)
    assert pt.shape == (20, 10) and np.allclose(pt.sum(1), 1, atol=1e-5)
    assert not tiny_vit.training


def test_tta_averages_the_softmax_over_the_views(shipped_vit, test_images):
    """TTA is the mean of the softmax over the shifted/rotated views (as the module says), so it
    differs from the plain prediction, batching it changes nothing, and calibration applies per view."""
    images, _ = test_images
    plain = predict_proba(shipped_vit, images)
    pt = predict_proba(shipped_vit, images, tta=True)
    x = as_batch(images)
    with torch.inference_mode():
        views = torch.softmax(shipped_vit(tta_views(x)), -1).view(len(TTA_VIEWS), len(images), 10)
    np.testing.assert_allclose(pt, views.mean(0).numpy(), atol=1e-6)
    np.testing.assert_allclose(views[0].numpy(), plain, atol=1e-6)          # view 0 is the image itself
    assert np.abs(pt - plain).max() > 1e-3                                  # the other views move the answer
    np.testing.assert_allclose(predict_proba(shipped_vit, images, tta=True, batch_size=3), pt, atol=1e-6)
    t = shipped_vit.temperature
    with torch.inference_mode():
        cal = torch.softmax(shipped_vit(tta_views(x)) / t, -1).view(len(TTA_VIEWS), len(images), 10).mean(0)
    np.testing.assert_allclose(predict_proba(shipped_vit, images, tta=True, calibrated=True), cal.numpy(), atol=1e-6)


# ---------------------------------------------------------------------------------------
# the shipped model
# ---------------------------------------------------------------------------------------
def test_shipped_model_is_small_and_matches_its_metrics(shipped_vit):
    assert count_params(shipped_vit) < 1_000_000
    metrics = json.loads(paths.VIT_METRICS.read_text())
    assert metrics["params"] == count_params(shipped_vit)
    assert ViTConfig(**metrics["config"]) == shipped_vit.cfg
    assert [h["epoch"] for h in metrics["history"]] == list(range(1, len(metrics["history"]) + 1))


def test_shipped_model_classifies_known_test_digits(shipped_vit):
    """The first 500 MNIST test images: the shipped model (>= 99.3 % on all 10k) gets >= 98 %."""
    from data.mnist import load_mnist

    images, labels = load_mnist("test")
    pred = predict_proba(shipped_vit, images[:500] / 255.0).argmax(1)
    acc = float((pred == labels[:500]).mean())
    assert acc >= 0.98, f"accuracy on the first 500 test images: {acc:.1%}"
