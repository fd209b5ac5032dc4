"""Trust family (model/explain/trust.py): randomised copies, similarity measures, the scorecard
metrics against Quantus 0.6.0 and scikit-image (test-only dependencies) and against
hand-computed cases, the pass rule and the report's shape."""
from __future__ import annotations

import copy
import warnings

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


def test_max_sensitivity_of_a_map_independent_of_the_input_is_zero(small):
    x = make_digit(2)
    assert T.max_sensitivity(small, x, 3, "attention_rollout", nr_samples=3, radius=0.0) == 0.0
    s = T.max_sensitivity(small, x, 3, "saliency", nr_samples=3, radius=0.1)
    assert s > 0 and np.isfinite(s)
    # more samples can only raise a maximum over the same draws (the draws extend, seeded)
    assert T.max_sensitivity(small, x, 3, "saliency", nr_samples=6, radius=0.1) >= s


# ----------------------------------------------------------------------------- against Quantus

@pytest.fixture(scope="module")
def digits(test_images):
    images, _ = test_images
    return images[:3]


def _quantus_inputs(model, img, method):
    t = int(E.predict(model, img).argmax())
    a = E.explain(model, img, t, method).map
    return t, a, img[None, None], np.array([t]), a[None, None].copy()


def test_sparseness_faithfulness_correlation_and_max_sensitivity_agree_with_quantus(shipped_vit, digits):
    quantus = pytest.importorskip("quantus")   # pinned in requirements-dev.txt
    qmodel = copy.deepcopy(shipped_vit)        # Quantus may switch modes; never give it a shared model

    def black(arr, indices, **kw):
        # Quantus' default perturbation also draws an unused uniform baseline from np.random on each
        # call, which shifts the stream; this one replaces the subset by black (0) and draws nothing
        out = arr.copy()
        out[np.arange(arr.shape[0])[:, None], indices] = 0.0
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, img in enumerate(digits):
            for method in ("saliency", "integrated_gradients", "occlusion"):
                t, a, xb, yb, ab = _quantus_inputs(shipped_vit, img, method)
                q = quantus.Sparseness(disable_warnings=True)(model=qmodel, x_batch=xb, y_batch=yb, a_batch=ab.copy(),
                                                              device="cpu")[0]
                assert T.sparseness(a) == pytest.approx(q, abs=1e-6), method
                np.random.seed(10 + i)
                q = quantus.FaithfulnessCorrelation(nr_runs=T.FC_RUNS, subset_size=T.FC_SUBSET, perturb_func=black,
                                                    disable_warnings=True, return_aggregate=False)(
                    model=qmodel, x_batch=xb, y_batch=yb, a_batch=ab.copy(), device="cpu")[0]
                ours = T.faithfulness_correlation(shipped_vit, img, t, {method: a}, seed=10 + i)[method]
                assert ours == pytest.approx(q, abs=1e-4), method

            method = "saliency"
            t, a, xb, yb, ab = _quantus_inputs(shipped_vit, img, method)

            def explain_func(model, inputs, targets, **kw):
                return np.stack([E.explain(shipped_vit, inp[0], int(tt), method).map[None]  # noqa: B023 (used at once)
                                 for inp, tt in zip(inputs, targets)])

            np.random.seed(20 + i)
            q = quantus.MaxSensitivity(nr_samples=T.MAX_SENS_SAMPLES, lower_bound=T.MAX_SENS_RADIUS,
                                       disable_warnings=True)(
                model=qmodel, x_batch=xb, y_batch=yb, a_batch=ab.copy(), explain_func=explain_func, device="cpu")[0]
            ours = T.max_sensitivity(shipped_vit, img, t, method, {}, a, seed=20 + i)
            assert ours == pytest.approx(q, rel=1e-5)


# ----------------------------------------------------------------------------- checks and report

def test_random_logit_and_mprt_on_class_agnostic_and_class_specific_maps(small):
    x = make_digit(4)
    r = T.method_trust(small, x, 2, "attention_rollout", sensitivity=False)
    assert r.random_class != 2 and 0 <= r.random_class < 10
    assert r.random_logit_spearman == pytest.approx(1.0)             # the same map for every class
    assert r.cascade[0].step == "head"
    assert r.cascade[0].spearman == pytest.approx(1.0)              # the head does not change attention
    assert r.cascade[0].ssim == pytest.approx(1.0)
    r2 = T.method_trust(small, x, 2, "saliency", sensitivity=False)
    assert r2.random_class == r.random_class                        # one random class per digit
    assert r2.random_logit_spearman < 1.0
    assert r2.cascade[0].spearman < 1.0                             # the gradient goes through the head


def test_pass_rule():
    def cascade(*rhos):
        return [T.CascadeStep(f"s{i}", r, 0.0, np.zeros((28, 28))) for i, r in enumerate(rhos)]

    assert T.passes(cascade(0.9, 0.4, 0.3, 0.1))
    assert not T.passes(cascade(0.9, 0.4, 0.6, 0.1))                # rises again
    assert not T.passes(cascade(0.9, 0.9, 0.3, 0.1))
    assert T.first_drop(cascade(0.9, 0.9, 0.3, 0.1)) == "s2"
    assert T.first_drop(cascade(0.9, 0.9, 0.9, 0.9)) is None


def test_report_has_every_field_for_every_method(small):
    x = make_digit(5)
    methods = ("integrated_gradients", "saliency", "attention_rollout")
    rep = T.trust_report(small, x, None, methods)
    out = rep.to_json()
    assert out["target"] == int(E.predict(small, x).argmax())
    assert list(out["methods"]) == list(methods)
    keys = {"mprt", "random_logit_spearman", "deletion_auc", "insertion_auc", "faithfulness_correlation",
            "max_sensitivity", "sparseness", "seconds"}
    for name, m in out["methods"].items():
        assert set(m) == keys, name
        assert [s["step"] for s in m["mprt"]] == list(T.cascade_steps(small))
        assert all(set(s) == {"step", "spearman", "ssim"} and -1 <= s["spearman"] <= 1 and s["ssim"] <= 1
                   for s in m["mprt"])
        assert 0 <= m["deletion_auc"] <= 1 and 0 <= m["insertion_auc"] <= 1
        assert 0 <= m["sparseness"] <= 1 and m["max_sensitivity"] >= 0 and m["seconds"] > 0
    ig = rep.methods["integrated_gradients"]
    plain = E.explain(small, x, rep.target, "integrated_gradients", steps=16)
    np.testing.assert_array_equal(ig.map, plain.map)                # the stated trust settings
    assert ig.completeness == pytest.approx(abs(plain.convergence_delta))
    assert rep.methods["saliency"].completeness is None
    assert sum(m.seconds for m in rep.methods.values()) <= rep.seconds + 1e-6


def test_verdicts_follow_the_rule():
    def trust(*rhos, rl=0.1):
        steps = [T.CascadeStep(f"block {i}", r, 0.0, np.zeros((28, 28))) for i, r in enumerate(rhos)]
        return T.MethodTrust("saliency", 3, {}, np.zeros((28, 28)), steps, random_class=5, random_logit_spearman=rl)

    assert T.verdict(trust(0.9, 0.9, 0.9)) == ("Saliency: looks the same with random weights: do not read it as "
                                               "the model's reasoning.")
    assert "does reflect what the model learned" in T.verdict(trust(0.9, 0.2, 0.1))
    assert "down to block 2" in T.verdict(trust(0.9, 0.9, 0.1))
    assert "same map for class 5" in T.verdict(trust(0.9, 0.2, 0.1, rl=0.8))
    assert "class 5" not in T.verdict(trust(0.9, 0.2, 0.1, rl=0.6))
    rollout = trust(0.9, 0.2, 0.1, rl=1.0)
    rollout.method = "attention_rollout"
    assert "same map for every class by construction" in T.verdict(rollout)


def test_summary_over_digits_counts_the_passes(small):
    digits = np.stack([make_digit(i) for i in range(3)])
    calls = []
    out = T.trust_summary(small, digits, ("saliency", "attention_rollout"), progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert out["n_images"] == 3 and out["steps"] == list(T.cascade_steps(small)) and out["rule"] == T.RULE
    assert out["weights_sha1"] == T.model_fingerprint(small)
    for m in ("saliency", "attention_rollout"):
        per_digit = []
        for x in digits:
            t = int(E.predict(small, x).argmax())
            per_digit.append(T.method_trust(small, x, t, m, sensitivity=False))
        r = out["methods"][m]
        assert r["pass_rate"] == pytest.approx(np.mean([p.passes for p in per_digit]))
        assert r["median_spearman"]["head"] == pytest.approx(np.median([p.cascade[0].spearman for p in per_digit]))
        assert r["median_random_logit_spearman"] == pytest.approx(np.median([p.random_logit_spearman
                                                                               for p in per_digit]))
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
    want = f"python -m model.analyze --trust --trust-images 2 --weights {weights} --out-dir {tmp_path}"
    assert out["command"] == want
    assert out["weights_sha1"] == T.model_fingerprint(load_vit(tmp_path / "vit.safetensors"))
    for r in out["methods"].values():
        assert r["pass_rate"] in (0.0, 0.5, 1.0) and set(r["median_spearman"]) == set(out["steps"])
