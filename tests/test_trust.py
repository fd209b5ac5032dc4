"""Trust family (model/explain/trust.py): randomised copies, similarity measures, the scorecard
metrics against Quantus 0.6.0 and scikit-image (test-only dependencies) and against
hand-computed cases, the pass rule and the report's shape."""
from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch

from model import explain as E
from model.explain import trust as T
from tests.test_explain import make_digit, make_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small():
    return make_model(3)


# ----------------------------------------------------------------------------- randomised copies

def test_cascade_randomises_top_down_cumulatively_and_leaves_the_model_alone(small):
    before = {k: v.clone() for k, v in small.state_dict().items()}
    cascade = T.randomised_cascade(small, seed=0)
    assert [s for s, _ in cascade] == ["head", "block 2", "block 1", "stem"]
    assert all(torch.equal(before[k], v) for k, v in small.state_dict().items())

    def changed(m):
        return {k for k, v in m.state_dict().items() if not torch.equal(v, before[k])}

    groups = [{"ln_f", "head"}, {"blocks.1"}, {"blocks.0"}, {"patch_embed", "cls_token", "pos_embed"}]
    expected: set[str] = set()
    for (step, m), group in zip(cascade, groups):
        expected |= {k for k in before if k.split(".")[0] in group or ".".join(k.split(".")[:2]) in group}
        # BatchNorm running statistics are buffers, kept; every parameter of the step is redrawn
        params = {k for k, _ in m.named_parameters()}
        assert changed(m) == expected & params, step
        assert not m.training
    # scale is kept: a randomised weight matrix has about the trained one's std
    w0, w1 = before["blocks.1.mlp.fc1.weight"], cascade[1][1].state_dict()["blocks.1.mlp.fc1.weight"]
    assert float(w1.std()) == pytest.approx(float(w0.std()), rel=0.15)


def test_cascade_is_cached_per_weights_and_seed_and_reproducible(small):
    a = T.randomised_cascade(small, seed=0)
    assert T.randomised_cascade(small, seed=0) is a            # cached
    twin = copy.deepcopy(small)                                 # same weights, another object
    assert T.randomised_cascade(twin, seed=0) is a
    other = T.randomised_cascade(small, seed=1)
    assert other is not a
    assert not torch.equal(other[0][1].head.weight, a[0][1].head.weight)
    T._cascade_cached.cache_clear()
    again = T.randomised_cascade(small, seed=0)                 # rebuilt: the same draws
    for (_, m1), (_, m2) in zip(a, again):
        assert all(torch.equal(p, q) for p, q in zip(m1.state_dict().values(), m2.state_dict().values()))
    changed = copy.deepcopy(small)
    with torch.no_grad():
        changed.head.bias.add_(1.0)
    assert T.model_fingerprint(changed) != T.model_fingerprint(small)


# ----------------------------------------------------------------------------- similarity

def test_spearman_abs_hand_cases():
    a = np.arange(16, dtype=float).reshape(4, 4)
    assert T.spearman_abs(a, a) == pytest.approx(1.0)
    assert T.spearman_abs(a, -a) == pytest.approx(1.0)               # absolute values
    assert T.spearman_abs(a, a[::-1, ::-1]) == pytest.approx(-1.0)
    assert T.spearman_abs(a, np.zeros_like(a)) == 0.0               # no ranking
    b = np.array([1.0, 2.0, 3.0, 4.0])
    c = np.array([1.0, 3.0, 2.0, 4.0])                              # d^2 = 2: rho = 1 - 6*2/(4*15)
    assert T.spearman_abs(b, c) == pytest.approx(0.8)
    assert T.spearman_signed(a, -a) == pytest.approx(-1.0)          # signs count here
    assert T.spearman_signed(b, c) == pytest.approx(0.8)


def test_ssim_equals_scikit_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    for i in range(5):
        a = rng.random((28, 28))
        b = a + rng.normal(0, 0.1 * (i + 1), (28, 28))
        dr = float(max(a.max(), b.max()) - min(a.min(), b.min()))
        assert T.ssim(a, b) == pytest.approx(structural_similarity(a, b, data_range=dr), abs=1e-10)
        assert T.ssim(a, b, data_range=1.0) == pytest.approx(structural_similarity(a, b, data_range=1.0), abs=1e-10)
    a = rng.random((28, 28))
    assert T.ssim(a, a) == pytest.approx(1.0)
    assert T.ssim(a, 1 - a) < 0


def test_ssim_hand_case_constant_images():
    # two constant images: variances and covariance vanish, SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1)
    a, b = np.full((9, 9), 0.2), np.full((9, 9), 0.6)
    c1 = (0.01 * 1.0) ** 2
    assert T.ssim(a, b, data_range=1.0) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.04 + 0.36 + c1))


# ----------------------------------------------------------------------------- metrics by hand

def test_sparseness_gini_hand_cases():
    n = 784
    one = np.zeros((28, 28))
    one[3, 4] = -5.0                                  # all mass on one pixel: Gini = (n - 1) / n
    assert T.sparseness(one) == pytest.approx((n - 1) / n, abs=1e-4)
    assert T.sparseness(np.ones((28, 28))) == pytest.approx(0.0, abs=1e-9)
    half = np.zeros((28, 28))
    half[:14] = 1.0                                   # half the pixels equal, half zero: Gini = 1/2
    assert T.sparseness(half) == pytest.approx(0.5, abs=1e-4)


def test_faithfulness_correlation_is_one_for_a_linear_model():
    """For a model linear in the pixels, the logit drop on any subset is the sum of w_i x_i over
    the subset, so the map w * x (Input x Gradient) correlates perfectly (Bhatt et al., 2020)."""
    w = torch.from_numpy(np.random.default_rng(0).normal(size=(10, 784)).astype(np.float32))

    class Linear(torch.nn.Module):
        cfg = None

        def forward(self, x):
            return x.reshape(x.shape[0], -1) @ w.T                      # (B, 10)

    x = make_digit(1)
    amap = (w[4].numpy().reshape(28, 28) * x)
    r = T.faithfulness_correlation(Linear(), x, 4, {"ixg": amap, "neg": -amap, "flat": np.ones((28, 28))})
    assert r["ixg"] == pytest.approx(1.0, abs=1e-5)
    assert r["neg"] == pytest.approx(-1.0, abs=1e-5)
    assert r["flat"] == 0.0                                         # constant sums: undefined -> 0


def test_max_sensitivity_matches_explain_on_the_noisy_copies(small):
    x = make_digit(2)
    assert T.max_sensitivity_of(np.ones((28, 28)), np.ones((3, 28, 28))) == 0.0   # the same map: perfectly stable
    s = T.max_sensitivity(small, x, 3, "saliency")
    base = E.explain(small, x, 3, "saliency").map.astype(np.float64)
    worst = max(np.linalg.norm(E.explain(small, n, 3, "saliency").map - base) for n in T.noisy_copies(x))
    assert s == pytest.approx(worst / np.linalg.norm(base), rel=1e-5) and s > 0


def test_noise_is_quantus_smoothmprt_draws():
    x = make_digit(3)
    x[0, 0], x[1, 1] = 0.0, 1.0
    rs = np.random.RandomState(T.SEED)
    k = T.SMOOTH_SAMPLES - 1
    first = [rs.randn(1, 1, 28, 28) * T.SMOOTH_NOISE for _ in range(k)]
    second = [rs.randn(1, 1, 28, 28) * T.SMOOTH_NOISE for _ in range(k)]
    np.testing.assert_allclose(T.smooth_noise(x, 0), np.concatenate(first)[:, 0], atol=1e-12)
    np.testing.assert_allclose(T.smooth_noise(x, 1), np.concatenate(second)[:, 0], atol=1e-12)


def test_batch_maps_reproduce_explain_row_by_row(small):
    xs = np.stack([make_digit(i) for i in range(3)] + [make_digit(0) + 0.05])
    targets = [1, 4, 7, 1]
    for method in T.TRUST_METHODS:
        s = T.trust_settings(method, small)
        got = T.batch_maps(small, xs, targets, method, s)
        ref = np.stack([E.explain(small, x, t, method, **s).map for x, t in zip(xs, targets)])
        np.testing.assert_allclose(got, ref, atol=1e-5 * max(1.0, float(np.abs(ref).max())), err_msg=method)


def test_lean_pass_is_the_model_and_its_input_gradient(small, shipped_vit):
    """The lean forward (detached weights, last block for the class token only) computes ViT's
    logits, and its input gradient is autograd's through the module to 1e-6 (relative)."""
    x = torch.from_numpy(np.stack([make_digit(i) for i in range(4)]))[:, None]
    t = torch.tensor([1, 4, 7, 1])
    for model in (small, shipped_vit):
        assert T.lean_ok(model)
        with torch.inference_mode():
            ref, got = model(x), T.lean_logits(model, x)
        np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-5 * float(ref.abs().max()))
        g_ref, g = T._grads(model, x, t), T._grads(functools.partial(T.lean_logits, model), x, t)
        assert float((g - g_ref).abs().max()) <= 1e-6 * float(g_ref.abs().max())
        assert all(p.grad is None and p.requires_grad for p in model.parameters())   # the model is left alone
    training = copy.deepcopy(small).train()
    assert not T.lean_ok(training) and not T.lean_ok(torch.nn.Linear(784, 10))
    assert torch.equal(T.lean_logits(training, x), training(x))                   # falls back to the module


def test_stacked_pass_runs_every_model_of_the_cascade(small):
    """One batch for the trained model and the whole cascade gives each model's own logits, and a
    report computed that way equals one computed model by model (a plain tuple is not stackable)."""
    steps = T.randomised_cascade(small)
    assert steps.stackable and T.stackable(small, steps)
    counts = [2, 1, 3, 1, 2]
    x = torch.rand(sum(counts), 1, 28, 28)
    models = [small] + [m for _, m in steps]
    with torch.inference_mode():
        got = T.stacked_logits(small, steps, counts, x)
        ref = torch.cat([models[i](r[None]) for i, r in zip(np.repeat(np.arange(len(counts)), counts), x)])
    np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-5 * float(ref.abs().max()))
    plain = tuple(steps)
    assert not T.stackable(small, plain)
    digit = make_digit(2)
    for method in ("integrated_gradients", "occlusion", "gradient_rollout", "input_x_gradient"):
        a = T.method_trust(small, digit, 3, method, steps=steps)
        b = T.method_trust(small, digit, 3, method, steps=plain)
        scale = float(np.abs(b.map).max())
        for ca, cb in zip(a.cascade, b.cascade):
            np.testing.assert_allclose(ca.map, cb.map, atol=1e-5 * max(scale, float(np.abs(cb.map).max())))
        np.testing.assert_allclose(a.random_map, b.random_map, atol=1e-5 * scale)
        np.testing.assert_allclose(a.smooth_random_map, b.smooth_random_map, atol=1e-5 * scale)
        assert a.max_sensitivity == pytest.approx(b.max_sensitivity, rel=1e-4), method


def test_occlusion_takes_no_pass_for_black_windows(small):
    """A window that is already black leaves the digit unchanged: its drop is exactly 0, and only
    the other windows go through the model."""
    x = np.zeros((28, 28), np.float32)
    x[8:12, 12:20] = 1.0                                       # ink in two 4 x 4 windows
    s = T.trust_settings("occlusion", small)
    occ, need = T._occlusion_rows(T._as_input(x), s["window"])
    assert occ.shape[0] == 3 and int(need.sum()) == 3          # the digit and its two inked windows
    amap = T.batch_maps(small, x[None], [3], "occlusion", s)[0]
    assert np.all(amap[x == 0] == 0.0) and np.any(amap[x > 0] != 0.0)
    ref = E.explain(small, x, 3, "occlusion", **s).map
    np.testing.assert_allclose(amap, ref, atol=1e-5 * max(1.0, float(np.abs(ref).max())))


def test_ssim_rows_equals_ssim_pair_by_pair():
    rng = np.random.default_rng(4)
    a, b = rng.random((5, 28, 28)), rng.random((5, 28, 28))
    b[1] = a[1]
    a[2], b[2] = 0.5, 0.5                                      # constant and equal: 1
    a[3], b[3] = 0.0, 0.3                                      # constant and different
    got = T.ssim_rows(a, b)
    assert got == pytest.approx([T.ssim(p, q) for p, q in zip(a, b)], abs=1e-12)
    assert got[1] == pytest.approx(1.0) and got[2] == 1.0
    assert T.ssim_rows(a, b, np.full(5, 2.0)) == pytest.approx([T.ssim(p, q, data_range=2.0) for p, q in zip(a, b)],
                                                               abs=1e-12)


def test_entropy_and_emprt_hand_cases():
    flat = np.zeros((28, 28))
    assert T.discrete_entropy(flat) == 0.0 and T.emprt(flat, np.arange(784.0)) == 0.0
    two = np.zeros(784)
    two[:392] = 1.0                                            # two equal bins: entropy log 2
    assert T.discrete_entropy(two) == pytest.approx(np.log(2))
    uniform = np.arange(784.0)                                  # 784 values in 100 bins: nearly log 100
    assert T.emprt(two, uniform) == pytest.approx((T.discrete_entropy(uniform) - np.log(2)) / np.log(2))
    assert T.discrete_entropy(uniform) == pytest.approx(np.log(100), abs=0.01)
    from scipy import stats

    for seed in range(3):                                       # scipy.stats.entropy of the histogram
        a = np.random.default_rng(seed).normal(size=(28, 28)) ** (seed + 1)
        assert T.discrete_entropy(a) == pytest.approx(float(stats.entropy(np.histogram(a, bins=100)[0])), abs=1e-12)


def test_spearman_rows_equals_scipy():
    from scipy import stats

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 50)), rng.normal(size=(4, 50))
    b[0] = a[0] ** 3                                           # monotone in the signed values
    b[1, :10] = 0.0                                            # ties
    for i in range(4):
        assert T.spearman_rows(a, b)[i] == pytest.approx(stats.spearmanr(np.abs(a[i]), np.abs(b[i]))[0])
        assert T.spearman_rows(a, b, absolute=False)[i] == pytest.approx(stats.spearmanr(a[i], b[i])[0])
    assert T.spearman_rows(a, b, absolute=False)[0] == pytest.approx(1.0)
    assert T.spearman_rows(np.zeros((1, 5)), a[:1, :5])[0] == 0.0


# ----------------------------------------------------------------------------- against Quantus

@pytest.fixture(scope="module")
def digits(test_images):
    images, _ = test_images
    return images[:3]


def _bench():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "trust_vs_quantus.py"
    spec = importlib.util.spec_from_file_location("trust_vs_quantus", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_metric_agrees_with_quantus_on_real_digits(shipped_vit, digits):
    """MPRT (every step), sMPRT (quantus.SmoothMPRT), eMPRT (quantus.EfficientMPRT), random logit,
    faithfulness correlation, max-sensitivity and sparseness: Quantus 0.6 given our explanation
    function, our cascade and our settings computes the values our one batched report computes."""
    pytest.importorskip("quantus")   # pinned in requirements-dev.txt
    bench = _bench()
    for img in digits[:2]:
        t = int(E.predict(shipped_vit, img).argmax())
        for method in ("saliency", "integrated_gradients", "occlusion", "attention_rollout"):
            r = T.method_trust(shipped_vit, img, t, method)
            r.scores = {"faithfulness_correlation": T.faithfulness_correlation(shipped_vit, img, t,
                                                                              {method: r.map})[method]}
            q = bench.quantus_scores(shipped_vit, img, t, method, r.smooth_map)
            ours = bench.ours(r)
            assert set(q) == set(ours)
            np.testing.assert_allclose(ours["mprt"], q["mprt"], atol=1e-4, err_msg=method)
            for k in ("smprt", "random_logit", "faithfulness_correlation", "sparseness"):
                assert ours[k] == pytest.approx(q[k], abs=1e-4), (method, k)
            # a histogram bin edge can move by float rounding: eMPRT within 1e-3
            assert ours["emprt"] == pytest.approx(q["emprt"], abs=1e-3), method
            assert ours["max_sensitivity"] == pytest.approx(q["max_sensitivity"], rel=1e-4), method
            assert -1 <= ours["smprt"] <= 1 and np.isfinite(ours["emprt"])


# ----------------------------------------------------------------------------- checks and report

def test_random_logit_and_mprt_on_class_agnostic_and_class_specific_maps(small):
    x = make_digit(4)
    r = T.method_trust(small, x, 2, "attention_rollout")
    assert r.random_class != 2 and 0 <= r.random_class < 10
    assert r.random_logit_spearman == pytest.approx(1.0)             # the same map for every class
    assert r.cascade[0].step == "head"
    assert r.cascade[0].spearman == pytest.approx(1.0)              # the head does not change attention
    assert r.cascade[0].ssim == pytest.approx(1.0)
    r2 = T.method_trust(small, x, 2, "saliency")
    assert r2.random_class == r.random_class                        # one random class per digit
    assert r2.random_logit_spearman < 1.0
    assert r2.cascade[0].spearman < 1.0                             # the gradient goes through the head
    # every number is what it says: recomputed here from plain explain() calls
    s = T.trust_settings("saliency", small)
    other = E.explain(small, x, r2.random_class, "saliency", **s).map
    assert r2.random_logit_spearman == pytest.approx(T.spearman_abs(r2.map, other))
    for c, (step, rm) in zip(r2.cascade, T.randomised_cascade(small)):
        m = E.explain(rm, x, 2, "saliency", **s).map
        assert c.step == step and c.spearman == pytest.approx(T.spearman_abs(r2.map, m), abs=1e-9)
        assert c.spearman_signed == pytest.approx(T.spearman_signed(r2.map, m), abs=1e-9)
    last = T.randomised_cascade(small)[-1][1]
    smooth0 = np.mean([E.explain(small, n, 2, "saliency").map for n in [*T.noisy_copies(x, 0), x]], 0)
    smooth1 = np.mean([E.explain(last, n, 2, "saliency").map for n in [*T.noisy_copies(x, 1), x]], 0)
    assert r2.smprt == pytest.approx(T.spearman_abs(smooth0, smooth1), abs=1e-6)
    assert r2.emprt == pytest.approx(T.emprt(r2.map, r2.cascade[-1].map))


def test_pass_rule():
    def cascade(*rhos):
        return [T.CascadeStep(f"s{i}", r, 0.0, np.zeros((28, 28))) for i, r in enumerate(rhos)]

    assert T.passes(cascade(0.9, 0.4, 0.3, 0.1))
    assert not T.passes(cascade(0.9, 0.4, 0.6, 0.1))                # rises again
    assert not T.passes(cascade(0.9, 0.9, 0.3, 0.1))
    assert T.first_drop(cascade(0.9, 0.9, 0.3, 0.1)) == "s2"
    assert T.first_drop(cascade(0.9, 0.9, 0.9, 0.9)) is None
    signed = [T.CascadeStep(f"s{i}", 0.9, 0.0, None, r) for i, r in enumerate((0.9, 0.4, 0.3, 0.1))]
    assert not T.passes(signed) and T.passes(signed, signed=True)


def test_report_has_every_field_for_every_method_and_a_ranking(small):
    x = make_digit(5)
    methods = ("integrated_gradients", "saliency", "attention_rollout")
    rep = T.trust_report(small, x, None, methods)
    out = rep.to_json()
    assert out["target"] == int(E.predict(small, x).argmax())
    assert list(out["methods"]) == list(methods)
    keys = {"mprt", "mprt_signed", "smprt", "emprt", "random_class", "random_logit_spearman", "deletion_auc",
            "insertion_auc", "faithfulness_correlation", "max_sensitivity", "sparseness", "completeness", "tests",
            "evidence", "standing", "verdict", "seconds"}
    for name, m in out["methods"].items():
        r = rep.methods[name]
        assert set(m) == keys, name
        assert m["standing"] == T.standing(r) and m["verdict"] == T.verdict(r)
        assert [s["step"] for s in m["mprt"]] == [s["step"] for s in m["mprt_signed"]] == list(T.cascade_steps(small))
        assert [s["spearman"] for s in m["mprt_signed"]] == [c.spearman_signed for c in r.cascade]
        assert m["smprt"] == r.smprt and m["emprt"] == pytest.approx(T.emprt(r.map, r.cascade[-1].map))
        assert 0 <= m["deletion_auc"] <= 1 and 0 <= m["insertion_auc"] <= 1
        assert 0 <= m["sparseness"] <= 1 and m["max_sensitivity"] >= 0 and m["seconds"] > 0
        ev = m["evidence"]
        assert all(0 <= v <= 1 for v in ev.values())
        assert ev["total"] == pytest.approx(np.mean([ev[k] for k in ("randomisation", "random_logit", "faithfulness",
                                                                      "robustness")]))
        assert ev["randomisation"] == np.mean([m["tests"][k] for k in ("mprt", "mprt_signed", "smprt", "emprt")])
        assert ev["robustness"] == pytest.approx(1 / (1 + m["max_sensitivity"]))
    assert out["methods"]["attention_rollout"]["evidence"]["random_logit"] == 0.0     # the same for every class
    totals = [out["methods"][m]["evidence"]["total"] for m in out["ranking"]]
    assert sorted(out["ranking"]) == sorted(methods) and totals == sorted(totals, reverse=True)
    assert out["verdict"].startswith(f"Read {E.METHODS[out['ranking'][0]].label} first")
    assert E.METHODS[out["ranking"][-1]].label in out["verdict"]
    assert "Adebayo" in out["sources"] and "Binder" in out["sources"] and "Hedström" in out["sources"]
    ig = rep.methods["integrated_gradients"]
    plain = E.explain(small, x, rep.target, "integrated_gradients", **T.TRUST_SETTINGS["integrated_gradients"])
    np.testing.assert_allclose(ig.map, plain.map, atol=1e-6)                 # the stated trust settings
    assert ig.completeness == pytest.approx(abs(plain.convergence_delta), abs=1e-4)
    assert rep.methods["saliency"].completeness is None
    assert sum(m.seconds for m in rep.methods.values()) <= rep.seconds + 1e-6


def test_family_run_validates_the_target(small):
    x = make_digit(6)
    rep = T.FAMILY(small, x, target=3)
    assert isinstance(rep, T.TrustReport) and rep.target == 3 and list(rep.methods) == list(T.TRUST_METHODS)
    with pytest.raises(ValueError):
        T.FAMILY(small, x, target=12)


def test_verdicts_follow_the_rule():
    def trust(*rhos, rl=0.1, smprt=0.9):
        steps = [T.CascadeStep(f"block {i}", r, 0.0, np.zeros((28, 28))) for i, r in enumerate(rhos)]
        return T.MethodTrust("saliency", 3, {}, np.zeros((28, 28)), steps, random_class=5, random_logit_spearman=rl,
                             smprt=smprt)

    assert T.verdict(trust(0.9, 0.9, 0.9)) == ("Saliency: read it with care: it changes little when the weights are "
                                               "random. Its brightness ranking looks the same with random weights; "
                                               "even with noise averaged out (sMPRT 0.90) it hardly depends on the "
                                               "weights.")
    assert "does reflect what the model learned" in T.verdict(trust(0.9, 0.2, 0.1))
    assert "down to block 2" in T.verdict(trust(0.9, 0.9, 0.1))
    # the advice comes first and the findings do not contradict it
    assert T.verdict(trust(0.9, 0.9, 0.9, smprt=0.2)) == (
        "Saliency: read its overall pattern, not single bright pixels: its pixel ranking survives random weights, "
        "its overall pattern does not. Its brightness ranking looks the same with random weights; once noise is "
        "averaged out (sMPRT 0.20) it does depend on the weights.")
    assert "same map for class 5" in T.verdict(trust(0.9, 0.2, 0.1, rl=0.8))
    assert "class 5" not in T.verdict(trust(0.9, 0.2, 0.1, rl=0.6))
    rollout = trust(0.9, 0.2, 0.1, rl=1.0)
    rollout.method = "attention_rollout"
    assert "same map for every class by construction" in T.verdict(rollout)


def test_a_map_without_a_sign_is_never_read_by_its_sign():
    """Saliency's |gradient| (the trust report's setting) and SmoothGrad of it have no sign: the advice
    for them must not say "red for the class, blue against", whatever the tests found."""
    steps = [T.CascadeStep(f"s{i}", 0.9, 0.0, None, q) for i, q in enumerate((0.9, 0.1, 0.1))]

    def advice(method, settings):
        return T.how_to_read(T.MethodTrust(method, 3, settings, np.zeros((28, 28)), steps, random_class=5,
                                           random_logit_spearman=0.3, smprt=0.2, emprt=0.3))

    sign = "read its sign (red for the class, blue against), not its brightness"
    assert advice("integrated_gradients", T.trust_settings("integrated_gradients")) == sign
    assert advice("saliency", {"absolute": False}) == sign
    for method, settings in (("saliency", T.trust_settings("saliency")),
                             ("noise_tunnel", T.trust_settings("noise_tunnel")),
                             ("noise_tunnel", {"base": "input_x_gradient", "nt_type": "smoothgrad_sq"})):
        assert "sign" not in advice(method, settings) and "overall pattern" in advice(method, settings), method
    assert E.map_is_signed("noise_tunnel", {"base": "input_x_gradient", "nt_type": "smoothgrad"})
    assert not E.map_is_signed("attention_rollout", {})


def test_standing_counts_the_tests_passed():
    """Green with 4-5 of the 5 tests, blue/orange with 2-3, yellow/red with 0-1: the Trust page's boxes
    and the Attributions page's badges follow this one rule."""
    def trust(signed, smprt, emprt, rl):
        steps = [T.CascadeStep(f"s{i}", 0.9, 0.0, None, q) for i, q in enumerate(signed)]
        return T.MethodTrust("integrated_gradients", 3, {}, np.zeros((28, 28)), steps, random_class=5,
                             random_logit_spearman=rl, smprt=smprt, emprt=emprt)

    cases = [((0.9, 0.1, 0.1), 0.2, 0.3, 0.3, 4, "good"), ((0.9, 0.1, 0.1), 0.2, 0.3, 0.9, 3, "mixed"),
             ((0.9, 0.9, 0.9), 0.2, 0.3, 0.9, 2, "mixed"), ((0.9, 0.9, 0.9), 0.2, -0.1, 0.9, 1, "weak"),
             ((0.9, 0.9, 0.9), 0.9, -0.1, 0.9, 0, "weak")]
    for signed, smprt, emprt, rl, passed, standing in cases:
        r = trust(signed, smprt, emprt, rl)
        assert sum(r.tests().values()) == passed and T.standing(r) == standing, (passed, standing)


def test_ranking_prefers_the_method_with_more_evidence():
    def trust(method, rhos, signed, smprt, emprt, rl, fc, ms):
        steps = [T.CascadeStep(f"s{i}", r, 0.0, None, q) for i, (r, q) in enumerate(zip(rhos, signed))]
        return T.MethodTrust(method, 3, {}, np.zeros((28, 28)), steps, random_class=5, random_logit_spearman=rl,
                             smprt=smprt, emprt=emprt, max_sensitivity=ms, scores={"faithfulness_correlation": fc})

    good = trust("integrated_gradients", (0.9, 0.9, 0.9), (0.9, 0.1, 0.1), 0.2, 0.3, 0.3, 0.5, 0.2)
    bad = trust("saliency", (0.9, 0.9, 0.9), (0.9, 0.9, 0.9), 0.9, -0.1, 0.9, 0.1, 2.0)
    assert T.rank_methods({"saliency": bad, "integrated_gradients": good}) == ["integrated_gradients", "saliency"]
    assert T.how_to_read(good) == "read its sign (red for the class, blue against), not its brightness"
    assert T.evidence(good)["randomisation"] == 0.75 and T.evidence(bad)["randomisation"] == 0.0
    sentence = T.report_verdict({"saliency": bad, "integrated_gradients": good}, ["integrated_gradients", "saliency"])
    assert sentence.startswith("Read Integrated Gradients first for this digit: read its sign")
    assert "Trust Saliency least here" in sentence


def test_summary_over_digits_counts_the_passes_and_the_best(small):
    digits = np.stack([make_digit(i) for i in range(3)])
    calls = []
    methods = ("saliency", "attention_rollout")
    out = T.trust_summary(small, digits, methods, progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert out["n_images"] == 3 and out["steps"] == list(T.cascade_steps(small)) and out["rule"] == T.RULE
    assert out["weights_sha1"] == T.model_fingerprint(small)
    reports = []
    for x in digits:
        t = int(E.predict(small, x).argmax())
        reports.append(T.trust_report(small, x, t, methods))
    for m in methods:
        per_digit = [rep.methods[m] for rep in reports]
        r = out["methods"][m]
        assert r["pass_rate"] == pytest.approx(np.mean([p.passes for p in per_digit]))
        assert r["signed_pass_rate"] == pytest.approx(np.mean([p.passes_signed for p in per_digit]))
        assert r["median_smprt"] == pytest.approx(np.median([p.smprt for p in per_digit]))
        assert r["median_emprt"] == pytest.approx(np.median([p.emprt for p in per_digit]))
        assert r["best_rate"] == pytest.approx(np.mean([rep.ranking[0] == m for rep in reports]))
        assert r["median_spearman"]["head"] == pytest.approx(np.median([p.cascade[0].spearman for p in per_digit]))
        assert r["median_random_logit_spearman"] == pytest.approx(np.median([p.random_logit_spearman
                                                                               for p in per_digit]))
    assert sum(out["methods"][m]["best_rate"] for m in methods) == pytest.approx(1.0)
    assert out["most_often_best"] == max(methods, key=lambda m: out["methods"][m]["best_rate"])
    assert out["methods"]["attention_rollout"]["median_random_logit_spearman"] == pytest.approx(1.0)


def test_analyze_trust_writes_only_the_summary(tmp_path):
    """python -m model.analyze --trust on a small model: trust_summary.json and nothing else."""
    import json

    from model import analyze
    from model.vit import load_vit, save_vit

    save_vit(make_model(4), tmp_path / "vit.safetensors")
    analyze.main(["--trust", "--trust-images", "2", "--weights", str(tmp_path / "vit.safetensors"),
                  "--out-dir", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trust_summary.json", "vit.safetensors"]
    out = json.loads((tmp_path / "trust_summary.json").read_text())
    assert out["n_images"] == 2 and list(out["methods"]) == list(T.TRUST_METHODS)
    weights = tmp_path / "vit.safetensors"
    assert out["command"] == (f"python -m model.analyze --trust --trust-images 2 --weights {weights} "
                              f"--out-dir {tmp_path}")
    assert out["weights_sha1"] == T.model_fingerprint(load_vit(tmp_path / "vit.safetensors"))
    assert out["most_often_best"] in T.TRUST_METHODS
    for r in out["methods"].values():
        assert r["pass_rate"] in (0.0, 0.5, 1.0) and set(r["median_spearman"]) == set(out["steps"])
        assert r["smprt_pass_rate"] in (0.0, 0.5, 1.0) and r["best_rate"] in (0.0, 0.5, 1.0)
