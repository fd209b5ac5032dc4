"""Eight sessions at once against one shared model (as st.cache_resource shares it): every
prediction and every explanation method must give exactly the serial result, and the model
must come out untouched (same weights, no hooks, no param.grad, still in eval mode)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from model import explain as E
from model.inference import predict_proba
from model.vit import ViT, ViTConfig
from tests.test_explain import make_digit

torch.set_num_threads(1)
N_THREADS = 8


def shared_model() -> ViT:
    """The shipped architecture (default config), seeded, with weights scaled up so that the
    output depends clearly on the input."""
    torch.manual_seed(11)
    model = ViT(ViTConfig())
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model.eval()


def session(model: ViT, digit: np.ndarray, target: int, order: list[str],
            barrier: threading.Barrier | None) -> dict[str, np.ndarray]:
    """What one user session computes: prediction, every registry method (in its own order, so
    different methods overlap in time), attention, knockout and faithfulness."""
    if barrier is not None:
        barrier.wait(timeout=60)
    out: dict[str, np.ndarray] = {"predict": predict_proba(model, digit)[0],
                                  "predict_tta": predict_proba(model, digit, tta=True)[0]}
    for method in order:
        res = E.explain(model, digit, target, method)
        out[method] = res.map
        if res.convergence_delta is not None:
            out[method + "_delta"] = np.array(res.convergence_delta)
    out["nt_ig"] = E.attribute(model, digit, target, "noise_tunnel", base="integrated_gradients",
                               nt_samples=4, steps=16, seed=target)
    out["ig_noise"] = E.attribute(model, digit, target, "integrated_gradients", baseline="noise",
                                  seed=target, steps=20)
    summ = E.attention_summary(model, digit, discard_ratio=0.3, head_fusion="max")
    out["attn"], out["rollout"] = summ.attn, summ.rollout
    out["grad_rollout"] = E.gradient_rollout(model, digit, target)
    out["knockout"] = E.knockout_proba(model, digit, [(0, 1), (2, 3)])
    faith = E.faithfulness(model, digit, target, {m: out[m] for m in ("saliency", "occlusion")}, steps=14)
    for name in faith.deletion:
        out[f"del_{name}"], out[f"ins_{name}"] = faith.deletion[name], faith.insertion[name]
    # trust: randomised copies (built and cached per process, possibly by several threads at once),
    # the cascade, the random-logit test and the scorecard
    trust_methods = [m for m in order if m in ("saliency", "gradient_shap", "attention_rollout", "occlusion")]
    rep = E.trust_report(model, digit, target, trust_methods)
    for name, r in rep.methods.items():
        out[f"trust_{name}_cascade"] = np.array([[c.spearman, c.ssim] for c in r.cascade])
        out[f"trust_{name}_maps"] = np.stack([c.map for c in r.cascade])
        out[f"trust_{name}_scores"] = np.array([r.random_logit_spearman, r.max_sensitivity, r.sparseness,
                                                r.scores["deletion_auc"], r.scores["insertion_auc"],
                                                r.scores["faithfulness_correlation"]])
    return out


def test_parallel_sessions_equal_serial_and_leave_the_model_untouched():
    model = shared_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    digits = [make_digit(i) for i in range(N_THREADS)]
    methods = list(E.METHODS)
    orders = [methods[i % len(methods):] + methods[:i % len(methods)] for i in range(N_THREADS)]
    targets = [i % 10 for i in range(N_THREADS)]

    serial = [session(model, digits[i], targets[i], orders[i], None) for i in range(N_THREADS)]
    from model.explain import trust

    trust._cascade_cached.cache_clear()   # the threads build the randomised copies again, concurrently

    barrier = threading.Barrier(N_THREADS)
    with ThreadPoolExecutor(N_THREADS) as pool:
        futures = [pool.submit(session, model, digits[i], targets[i], orders[i], barrier)
                   for i in range(N_THREADS)]
        parallel = [f.result(timeout=600) for f in futures]

    for i in range(N_THREADS):
        assert serial[i].keys() == parallel[i].keys()
        for key in serial[i]:
            np.testing.assert_array_equal(parallel[i][key], serial[i][key], err_msg=f"session {i}: {key}")
    # the sessions really differ from each other (a shared result would also 'match')
    assert not np.allclose(serial[0]["integrated_gradients"], serial[1]["integrated_gradients"])
    assert not np.allclose(serial[0]["gradient_shap"], serial[2]["gradient_shap"])
    assert not np.allclose(serial[0]["trust_saliency_maps"], serial[1]["trust_saliency_maps"])

    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), "the shared model's weights changed"
    assert all(p.grad is None for p in model.parameters()), "gradients accumulated on the shared model"
    assert all(p.requires_grad for p in model.parameters())
    assert not model.training
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
        assert not m._backward_hooks and not getattr(m, "_backward_pre_hooks", {})
    assert not torch.nn.modules.module._global_forward_hooks
    assert not torch.nn.modules.module._global_backward_hooks
