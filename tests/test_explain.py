"""Unit tests of model/explain.py on a small seeded ViT (fast; the shipped weights are not needed)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model import explain as E
from model.vit import ViT, ViTConfig

torch.set_num_threads(1)


def make_model(seed: int = 0, **cfg) -> ViT:
    """A small ViT whose weights are big enough that its output depends clearly on the input."""
    torch.manual_seed(seed)
    kw = dict(dim=16, depth=2, heads=2, stem_channels=8)
    kw.update(cfg)
    model = ViT(ViTConfig(**kw))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2 or "embed" in name or "token" in name:
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model.eval()


def make_digit(seed: int = 0) -> np.ndarray:
    """A synthetic stroke image: a thick ring or bar with some jitter, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    cy, cx = 14 + rng.uniform(-2, 2), 14 + rng.uniform(-2, 2)
    r = np.hypot(yy - cy, xx - cx)
    img = np.clip(1.5 - np.abs(r - rng.uniform(5, 8)), 0, 1)
    if seed % 2:
        img = np.maximum(img, np.clip(1.5 - np.abs(xx - cx - 3), 0, 1) * (np.abs(yy - cy) < 9))
    return img.astype(np.float32)


@pytest.fixture(scope="module")
def model() -> ViT:
    return make_model()


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    return make_digit(1)


@pytest.mark.parametrize("method", list(E.METHODS))
def test_every_method_gives_a_finite_28x28_map(model, digit, method):
    res = E.explain(model, digit, 3, method)
    assert res.map.shape == (28, 28)
    assert res.map.dtype == np.float32
    assert np.isfinite(res.map).all()
    assert res.target == 3
    assert np.abs(res.map).max() > 0, "an all-zero map explains nothing"
    if not E.METHODS[method].signed:
        assert (res.map >= 0).all()
    spec = E.METHODS[method]
    assert spec.caption and spec.source
    assert set(res.settings) >= set(spec.defaults())


@pytest.mark.parametrize("base", E.NT_BASES)
def test_noise_tunnel_wraps_every_base(model, digit, base):
    extra = {"steps": 8} if base == "integrated_gradients" else {}
    amap = E.attribute(model, digit, 2, "noise_tunnel", base=base, nt_samples=4, **extra)
    assert amap.shape == (28, 28) and np.isfinite(amap).all()


def test_noise_tunnel_without_noise_equals_its_base(model, digit):
    sal = E.attribute(model, digit, 5, "saliency")
    nt = E.attribute(model, digit, 5, "noise_tunnel", base="saliency", stdevs=0.0, nt_samples=3)
    np.testing.assert_allclose(nt, sal, rtol=1e-4, atol=1e-6)
    ig = E.attribute(model, digit, 5, "integrated_gradients", steps=20)
    nt_ig = E.attribute(model, digit, 5, "noise_tunnel", base="integrated_gradients", stdevs=0.0,
                        nt_samples=2, steps=20)
    np.testing.assert_allclose(nt_ig, ig, rtol=1e-4, atol=1e-6)


def test_predicted_class_is_the_default_target(model, digit):
    pred = int(E.predict(model, digit).argmax())
    assert E.explain(model, digit, None, "saliency").target == pred


@pytest.mark.parametrize("baseline", E.BASELINES)
def test_integrated_gradients_completeness(model, digit, baseline):
    """Attributions add up to logit(x) - logit(baseline) (Sundararajan et al., 2017, Prop. 1)."""
    res = E.explain(model, digit, 7, "integrated_gradients", steps=200, baseline=baseline)
    x = torch.as_tensor(digit)[None, None]
    base = E.make_baseline(x, baseline, seed=0)
    with torch.no_grad():
        f = model(torch.cat([x, base]))[:, 7]
    change = float(f[0] - f[1])
    assert abs(change) > 1e-2, "the test needs a baseline that changes the score"
    assert res.map.sum() == pytest.approx(change, rel=2e-2, abs=2e-3)
    assert abs(res.convergence_delta) < 2e-2 * abs(change) + 2e-3
    assert res.extra["logit_input"] == pytest.approx(float(f[0]), abs=1e-5)


def test_random_methods_are_seeded(model, digit):
    for method in ("gradient_shap", "noise_tunnel"):
        a = E.attribute(model, digit, 1, method, seed=4)
        b = E.attribute(model, digit, 1, method, seed=4)
        c = E.attribute(model, digit, 1, method, seed=5)
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)
    n1 = E.attribute(model, digit, 1, "integrated_gradients", baseline="noise", seed=1, steps=10)
    n2 = E.attribute(model, digit, 1, "integrated_gradients", baseline="noise", seed=2, steps=10)
    assert not np.allclose(n1, n2)


def test_occlusion_batching_equals_one_window_at_a_time(model, digit):
    """Raising perturbations_per_eval is only a speed-up: same numbers as Captum's default of 1."""
    from captum.attr import Occlusion

    fast = E.attribute(model, digit, 4, "occlusion", window=6, stride=3)
    x = torch.as_tensor(digit)[None, None]
    slow = Occlusion(lambda t: model(t)).attribute(x, sliding_window_shapes=(1, 6, 6), strides=(1, 3, 3),
                                                   baselines=0.0, target=4, perturbations_per_eval=1)
    np.testing.assert_allclose(fast, slow[0, 0].numpy(), rtol=1e-4, atol=1e-5)


def test_settings_are_checked(model, digit):
    with pytest.raises(ValueError):
        E.attribute(model, digit, 1, "integrated_gradients", steps=0)
    with pytest.raises(ValueError):
        E.attribute(model, digit, 1, "integrated_gradients", baseline="grey")
    with pytest.raises(ValueError):
        E.attribute(model, digit, 1, "saliency", nonsense=3)
    with pytest.raises(ValueError):
        E.attribute(model, digit, 1, "occlusion", window=3, stride=5)
    with pytest.raises(ValueError):
        E.attribute(model, digit, 10, "saliency")
    with pytest.raises(ValueError):
        E.attribute(model, digit, 1, "no_such_method")
    with pytest.raises(ValueError):
        E.attribute(model, np.zeros((27, 28)), 1, "saliency")
    with pytest.raises(ValueError):
        E.attribute(model, digit, 1, "cls_attention", layer=2)   # the small model has layers 0 and 1
    with pytest.raises(ValueError):
        E.attribute(model, digit, 1, "cls_attention", head="max")
    np.testing.assert_array_equal(E.attribute(model, digit, 1, "cls_attention", layer=1),
                                  E.attribute(model, digit, 1, "cls_attention", layer="last"))


def test_settings_schema_resolves_layers_and_heads(model):
    spec = E.METHODS["cls_attention"]
    opts = {s.name: s.options for s in spec.resolved_settings(model)}
    assert opts["layer"] == ("last", 0, 1)
    assert opts["head"] == ("mean", 0, 1)
    for key, spec in E.METHODS.items():
        for s in spec.settings:
            if s.kind in ("int", "float"):
                assert s.min <= s.default <= s.max, (key, s.name)
            if s.kind == "choice" and s.options_from is None:
                assert s.default in s.options, (key, s.name)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard", [0.0, 0.5, 0.9])
def test_rollout_rows_sum_to_one(model, digit, fusion, discard):
    attn, _ = E.attention_weights(model, digit)
    assert attn.shape == (2, 2, 50, 50)
    np.testing.assert_allclose(attn.sum(-1), 1.0, atol=1e-5)
    R = E.rollout(attn, discard, fusion, return_matrix=True)
    assert R.shape == (50, 50)
    assert (R >= 0).all()
    np.testing.assert_allclose(R.sum(-1), 1.0, atol=1e-9)
    m = E.rollout(attn, discard, fusion)
    assert m.shape == (7, 7)
    np.testing.assert_allclose(m, R[0, 1:].reshape(7, 7))


def test_rollout_of_identity_attention_is_identity():
    attn = np.broadcast_to(np.eye(50), (3, 2, 50, 50))
    np.testing.assert_allclose(E.rollout(attn, return_matrix=True), np.eye(50), atol=1e-12)


def test_attention_summary_and_head_stats(model, digit):
    s = E.attention_summary(model, digit, discard_ratio=0.2, head_fusion="max")
    assert s.cls.shape == (2, 2, 7, 7) and s.cls_mean.shape == (2, 7, 7) and s.rollout.shape == (7, 7)
    assert s.cls_pixels.shape == (2, 2, 28, 28)
    np.testing.assert_array_equal(s.cls_pixels[1, 0, 4:8, 8:12], np.full((4, 4), s.cls[1, 0, 1, 2]))
    np.testing.assert_allclose(s.cls.sum(axis=(-1, -2)) + s.attn[:, :, 0, 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(s.probs, E.predict(model, digit), atol=1e-6)
    for name, v in s.stats.items():
        assert v.shape == (2, 2), name
        assert ((v >= -1e-6) & (v <= 1 + 1e-6)).all(), name
    uniform = np.full((1, 1, 50, 50), 1 / 50)
    st = E.head_stats(uniform)
    assert st["cls_entropy"][0, 0] == pytest.approx(1.0)
    assert st["cls_share"][0, 0] == pytest.approx(1 / 50)
    onehot = np.zeros((1, 1, 50, 50))
    onehot[..., 0] = 1.0
    st = E.head_stats(onehot)
    assert st["cls_entropy"][0, 0] == pytest.approx(0.0, abs=1e-6)
    assert st["cls_share"][0, 0] == pytest.approx(1.0)
    q = E.query_attention(s.attn, 1, query=9)
    assert q.shape == (2, 7, 7)
    np.testing.assert_allclose(q, s.attn[1, :, 9, 1:].reshape(2, 7, 7))


def test_gradient_rollout_is_class_specific(model, digit):
    a = E.gradient_rollout(model, digit, 0)
    b = E.gradient_rollout(model, digit, 1)
    assert a.shape == (7, 7) and (a >= 0).all()
    assert not np.allclose(a, b)


def _reference_attention(model, digit):
    """The attention and probabilities of the model's own forward pass (``return_attn``)."""
    with torch.inference_mode():
        logits, attn = model(torch.as_tensor(digit)[None, None], return_attn=True)   # (1, 10), (1, L, H, N, N)
    return attn[0].numpy(), torch.softmax(logits, -1)[0].numpy()


def _reference_gradient_rollout(model, digit, target):
    """Chefer et al.'s Eq. 5-6 from ``forward_features``, the way it was computed before the cache."""
    with torch.enable_grad():
        feats, attns = model.forward_features(torch.as_tensor(digit)[None, None], need_weights=True)
        grads = torch.autograd.grad(model.head(feats)[0, target], attns)
    R = torch.eye(attns[0].shape[-1], dtype=torch.float64)
    for a, ga in zip(attns, grads):
        R = R + (ga[0] * a[0].detach()).clamp(min=0).mean(0).double() @ R
    return R[0, 1:].reshape(7, 7).numpy().astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attention_and_gradient_rollout_read_the_cached_pass_with_identical_results(model, seed):
    """attention_weights and gradient_rollout read ViT.run_with_cache: the same numbers, bit for
    bit, as the plain forward pass and forward_features gave."""
    digit = make_digit(seed)
    attn, probs = E.attention_weights(model, digit)
    ref_attn, ref_probs = _reference_attention(model, digit)
    assert np.array_equal(attn, ref_attn) and np.array_equal(probs, ref_probs)
    pred = int(ref_probs.argmax())
    for target in (None, pred, (pred + 1) % 10):
        want = _reference_gradient_rollout(model, digit, pred if target is None else target)
        assert np.array_equal(E.gradient_rollout(model, digit, target), want)


def test_attention_weights_use_one_forward_pass(model, digit, monkeypatch):
    calls = []

    def counted(name):
        orig = getattr(ViT, name)
        return lambda self, *a, **k: calls.append(name) or orig(self, *a, **k)

    for name in ("forward", "run_with_cache", "forward_features"):
        monkeypatch.setattr(ViT, name, counted(name))
    E.attention_weights(model, digit)
    E.gradient_rollout(model, digit)
    assert calls == ["run_with_cache", "run_with_cache"]


def test_head_knockout(model, digit):
    base = E.predict(model, digit)
    np.testing.assert_allclose(E.knockout_proba(model, digit, []), base, atol=1e-6)
    for layer in range(2):
        out = E.knockout_proba(model, digit, [(layer, h) for h in range(2)])
        assert np.abs(out - base).max() > 1e-4, f"knocking out all of layer {layer} changed nothing"
        np.testing.assert_allclose(out.sum(), 1.0, atol=1e-5)
    one = E.knockout_proba(model, digit, [(1, 0)])
    mask = E.knockout_mask(model, [(1, 0)])
    assert mask.sum() == 3 and mask[1, 0] == 0
    np.testing.assert_allclose(E.predict(model, digit, mask), one)
    eff = E.single_head_effects(model, digit, int(base.argmax()))
    assert eff.shape == (2, 2)
    assert eff[1, 0] == pytest.approx(base[base.argmax()] - one[base.argmax()], abs=1e-5)


@pytest.mark.parametrize("unit,steps", [("pixel", 20), ("pixel", 1), ("patch", 49), ("patch", 10)])
@pytest.mark.parametrize("baseline", ["black", "blurred"])
def test_deletion_insertion_curves(model, digit, unit, steps, baseline):
    target = 6
    maps = {m: E.attribute(model, digit, target, m) for m in ("saliency", "occlusion", "attention_rollout")}
    f = E.faithfulness(model, digit, target, maps, unit=unit, steps=steps, baseline=baseline)
    x = f.fractions
    assert x[0] == 0 and x[-1] == 1
    assert (np.diff(x) > 0).all(), "the fraction removed must increase along the curve"
    n_units = 784 if unit == "pixel" else 49
    assert len(x) == min(steps, n_units) + 1
    p_full = E.predict(model, digit)[target]
    xb = E.make_baseline(torch.as_tensor(digit)[None, None], baseline)[0, 0].numpy()
    p_base = E.predict(model, xb)[target]
    assert set(f.deletion) == set(maps) | {"random"}
    for name in f.deletion:
        d, ins = f.deletion[name], f.insertion[name]
        assert d.shape == ins.shape == x.shape
        assert d[0] == pytest.approx(p_full, abs=1e-5) and d[-1] == pytest.approx(p_base, abs=1e-5)
        assert ins[0] == pytest.approx(p_base, abs=1e-5) and ins[-1] == pytest.approx(p_full, abs=1e-5)
        a = f.auc[name]
        assert 0 <= a["deletion"] <= 1 and 0 <= a["insertion"] <= 1
        assert a["score"] == pytest.approx(a["insertion"] - a["deletion"])
    assert f.best in maps


def test_deletion_follows_the_ranking(model, digit):
    """Removing the pixels a map ranks first: a map that ranks one pixel top removes it first."""
    target = 2
    only = np.zeros((28, 28), np.float32)
    only[14, 14] = 1.0
    f = E.faithfulness(model, digit, target, {"one": only}, unit="pixel", steps=784, include_random=False)
    img = digit.copy()
    img[14, 14] = 0.0
    assert f.deletion["one"][1] == pytest.approx(E.predict(model, img)[target], abs=1e-5)


def test_compare_runs_every_default_method(model, digit):
    c = E.compare(model, digit, None, steps=10)
    assert set(c.attributions) == set(E.DEFAULT_COMPARISON)
    assert c.faithfulness.best in E.DEFAULT_COMPARISON
    assert c.faithfulness.target == c.attributions["saliency"].target


def test_explanations_leave_the_model_untouched(digit):
    model = make_model(3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for method in E.METHODS:
        E.explain(model, digit, 3, method)
    E.compare(model, digit, 3, steps=5)
    E.attention_summary(model, digit)
    E.gradient_rollout(model, digit, 3)
    E.single_head_effects(model, digit, 3)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert not model.training
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks


def test_analyze_writes_both_artifacts_in_the_agreed_format(tmp_path):
    """python -m model.analyze on a small model and a tiny forest: formats from the project notes."""
    import json

    from data.mnist import load_mnist
    from model import analyze
    from model.forest import save_forest, train_forest
    from model.vit import save_vit

    model = make_model(2)
    save_vit(model, tmp_path / "vit.safetensors")
    images, labels = load_mnist("test")
    save_forest(train_forest(images[:300], labels[:300], n_jobs=1, n_estimators=3, max_depth=6),
                tmp_path / "forest.npz")
    analyze.main(["--weights", str(tmp_path / "vit.safetensors"), "--forest", str(tmp_path / "forest.npz"),
                  "--out-dir", str(tmp_path), "--head-images", "60", "--ig-images", "8", "--ig-steps", "4"])
    heads = json.loads((tmp_path / "head_importance.json").read_text())
    assert heads["n_images"] == 60 and heads["layers"] == 2 and heads["heads"] == 2
    drop = np.array(heads["accuracy_drop"])
    assert drop.shape == (2, 2) and np.isfinite(drop).all()
    x = torch.as_tensor(images[:60] / 255.0, dtype=torch.float32)[:, None]
    with torch.no_grad():
        base = (model(x).argmax(-1).numpy() == labels[:60]).mean()
    assert heads["baseline_accuracy"] == pytest.approx(base)
    mask = torch.ones(2, 2)
    mask[1, 0] = 0
    with torch.no_grad():
        knocked = (model(x, head_mask=mask).argmax(-1).numpy() == labels[:60]).mean()
    assert drop[1, 0] == pytest.approx(base - knocked, abs=1e-5)   # stored to 6 decimals
    with np.load(tmp_path / "mean_attribution.npz") as z:
        assert z["integrated_gradients"].shape == (28, 28) and z["integrated_gradients"].dtype == np.float32
        assert (z["integrated_gradients"] >= 0).all() and z["integrated_gradients"].max() > 0
        assert int(z["n_images"]) == 8
        fi = z["forest_importance"]
        assert fi.shape == (28, 28) and fi.sum() == pytest.approx(1.0, abs=1e-4)


def test_the_package_exports_every_family_module_without_clashes():
    """model.explain re-exports each module's __all__ (found by walking the package): the names the
    pages use, every family (inside, counterfactual, neighbours and replay were left out by hand
    once), and no two modules export different objects under one name."""
    import importlib
    import pkgutil

    assert E._CONFLICTS == []
    for info in pkgutil.iter_modules(E.__path__):
        module = importlib.import_module(f"model.explain.{info.name}")
        for name in getattr(module, "__all__", ()):
            assert getattr(E, name) is getattr(module, name), f"{info.name}.{name}"
    for name in ("explain", "attribute", "METHODS", "Setting", "attention_summary", "compare", "trust_report",
                 "inside_summary", "activation_patching", "counterfactual", "load_index", "replay", "turning_points"):
        assert name in E.__all__, name
    assert "run" not in E.__all__ and "FAMILY" not in E.__all__        # each module's own verb stays there
    assert E.Setting is E._registry.Setting and E.attribution.Setting is E.Setting
