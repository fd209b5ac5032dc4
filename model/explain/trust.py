"""Trust family: can this map be trusted? Sanity checks, a scorecard and a verdict for every
attribution method of the Attributions page, on one digit.

* **Cascading model-parameter randomisation (MPRT)**, Adebayo et al., 2018, "Sanity Checks for
  Saliency Maps", Sec. 3.1: the ViT's weights are randomised from the top down (head, block 4,
  ..., stem), cumulatively, the map is recomputed for the same digit and class after each step
  and compared with the original map by the Spearman rank correlation of |map| (the original
  test), of the signed maps (Adebayo et al. report both, Fig. 4) and by SSIM (Wang et al., 2004).
* **Smooth MPRT (sMPRT)** and **Efficient MPRT (eMPRT)**, Hedström et al., 2023, "Sanity Checks
  Revisited: An Exploration to Repair the Model Parameter Randomisation Test", as Quantus 0.6's
  ``SmoothMPRT`` / ``EfficientMPRT``: sMPRT averages each map over :data:`SMOOTH_SAMPLES` noisy
  copies of the digit (the last one noise-free, Gaussian std ``SMOOTH_NOISE * (max - min)``)
  before the Spearman of |map| between the trained and the fully randomised model (lower =
  better): gradient noise no longer decides the outcome. eMPRT is the relative rise of the map's
  discrete entropy (histogram of :data:`EMPRT_BINS` bins) from the trained to the fully random
  model (higher = better): no threshold on a similarity at all. Binder et al. (CVPR 2023,
  "Shortcomings of Top-Down Randomization-Based Sanity Checks") showed why the original test
  alone cannot rank methods: top-down randomisation keeps the scale of activations, so maps stay
  partly similar, and uninformative maps can pass.
* **Random-logit test** (Sixt et al., 2020, "When Explanations Lie", Quantus' ``RandomLogit``):
  the map for the class against the map for a random other class, drawn as Quantus draws it.
* **Scorecard**: deletion and insertion AUC (Petsiuk et al., 2018), faithfulness correlation
  (Bhatt et al., 2020), max-sensitivity (Yeh et al., 2019), sparseness (Chalasani et al., 2020),
  IG's completeness (Sundararajan et al., 2017). Formulas and defaults follow Quantus
  (Hedström et al., 2023); ``tests/test_trust.py`` checks the values against Quantus 0.6.0.
* **Verdict** (:func:`rank_methods`, rule :data:`RANK_RULE`): the methods ranked for this digit on
  four kinds of evidence, and one sentence saying which map to read first and how.

Speed (the whole report, 9 methods, < 1 s of CPU on one thread; ``benchmarks/trust_vs_quantus.py``
times the same metrics against Quantus 0.6): every map a method needs, from the trained model and
from every model of its cascade (the digit, the random class, the noisy copies), comes from one
batched pass (:func:`cascade_maps`). The cascade's models differ only in which module groups are
randomised, and every randomised group equals the fully random model's, so
:func:`stacked_logits` runs each group's trained and random version once, on its rows. The pass
is lean (:func:`lean_logits`): ViT's arithmetic on detached weights (no weight gradients, the
shared model untouched), the last block for the class token only (all the logits read).
Occlusion reuses the trained trunk's forward passes for the partial steps and takes no pass for
a window that is already black (its drop is exactly 0). Every map equals
:func:`model.explain.attribution.explain`'s (Captum) row by row up to float rounding (tests).
The noisy copies of sMPRT on the trained model are also max-sensitivity's, so their maps are
computed once. Fewer samples than Quantus' defaults (stated on the Trust page):
sMPRT :data:`SMOOTH_SAMPLES` (Quantus: 50), max-sensitivity over the same noisy copies
(Quantus: 200 uniform draws), faithfulness correlation's subsets of :data:`FC_SUBSET` pixels;
the expensive methods run with :data:`TRUST_SETTINGS`.

Randomised models (thread safety): the shared model is never touched. Each cascade is a list of
deep copies, randomised with per-parameter ``torch.Generator`` seeds, built once per process and
cached by :func:`functools.lru_cache` keyed by a fingerprint of the weights and the seed.
Randomisation replaces every parameter tensor of a step's modules by Gaussian noise with the
same mean and standard deviation as the trained tensor: the learned structure is destroyed, but
activations keep their scale. BatchNorm running statistics of the stem (buffers) are kept.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import math
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, special, stats

from model.explain._common import IMAGE_SIDE, _as_input, _target
from model.explain._registry import TARGET, Family, Result, jsonable
from model.explain.attribution import METHODS, explain, map_is_signed, method_settings
from model.explain.faithfulness import faithfulness
from model.vit import ViT

# every method of the Attributions page's menu
TRUST_METHODS: tuple[str, ...] = tuple(METHODS)
# lighter settings of the expensive methods, so the report runs live (see the module docstring)
TRUST_SETTINGS: dict[str, dict] = {
    "integrated_gradients": {"steps": 8},
    "gradient_shap": {"n_samples": 8},
    "occlusion": {"window": 4, "stride": 4},      # one window per 4x4 ViT patch: 49 forward passes
    "noise_tunnel": {"nt_samples": 8},
}
PASS_THRESHOLD = 0.5      # Spearman below this = "the map changed" (see passes())
SAME_CLASS_MAP = 0.8      # random-logit Spearman at or above this = "nearly the same map for another class"
SMOOTH_SAMPLES = 4        # sMPRT: maps averaged over this many copies, the last noise-free (Quantus: 50)
SMOOTH_NOISE = 0.1        # sMPRT noise std as a share of the digit's range (Quantus' noise_magnitude)
EMPRT_BINS = 100          # eMPRT: histogram bins of the discrete entropy (Quantus' default)
ROBUST_SENSITIVITY = 0.5  # max-sensitivity below this = "robust" (the map moves by less than half its size)
FC_RUNS = 100
FC_SUBSET = 98
FAITH_STEPS = 20          # deletion/insertion curve points, as the Attributions page's default
SEED = 0
RULE = (f"A method passes on a digit when the Spearman rank correlation of its map (absolute values) with the "
        f"original map falls below {PASS_THRESHOLD} once the head and the top block are randomised, and stays "
        f"below it for every later step.")
GOOD_STANDING = 4          # tests passed (of MethodTrust.tests' 5) for a "good" standing; see standing()
MIXED_STANDING = 2         # ... for "mixed"; fewer: "weak"
STANDING_RULE = (f"good: the map passes at least {GOOD_STANDING} of the five tests (MPRT on |map|, MPRT on signed "
                 f"maps, sMPRT, eMPRT, random logit); mixed: {MIXED_STANDING} or {GOOD_STANDING - 1}; weak: fewer.")
RANK_RULE = ("Each method gets four scores in [0, 1] and is ranked by their mean: randomisation (the share of the "
             "four randomisation tests it passes: MPRT on |map|, MPRT on signed maps, sMPRT below "
             f"{PASS_THRESHOLD}, eMPRT above 0), random logit (1 - the Spearman with the map for another class, "
             "0 for a map that is the same for every class), faithfulness (the faithfulness correlation, floored "
             "at 0) and robustness (1 / (1 + max-sensitivity)).")
SOURCES = ("Adebayo et al., 2018, 'Sanity Checks for Saliency Maps' (NeurIPS); Binder et al., 2023, 'Shortcomings "
           "of Top-Down Randomization-Based Sanity Checks for Evaluations of Deep Neural Network Explanations' "
           "(CVPR); Hedström et al., 2023, 'Sanity Checks Revisited: An Exploration to Repair the Model Parameter "
           "Randomisation Test' (XAI in Action, NeurIPS workshop)")
CANNOT_TELL = ("No test can tell whether a map is *right*: there is no ground truth for what the model used. "
               "Passing says only that the map depends on the learned weights and on the class, tracks the score "
               "when pixels are removed, and is stable under small noise; a map can pass every test and still "
               "be read wrongly.")
MEANINGS = {
    "mprt": "Spearman of |map| with the original after each randomisation step; must fall (Adebayo et al., 2018).",
    "mprt_signed": "The same with the signs kept: a map that is zero off the ink keeps its |map| ranking, "
                   "but its signs can still change.",
    "smprt": "Spearman of |map| between the trained and the fully random model, each map averaged over noisy "
             "copies first (Hedström et al., 2023); lower = the map depends on the weights.",
    "emprt": "Relative rise of the map's entropy from the trained to the fully random model (Hedström et al., "
             "2023); above 0 = random weights make the map noisier, as they should.",
    "random_logit": "Spearman of |map| between this class and a random other class (Sixt et al., 2020); "
                    "near 1 = the map does not depend on the class.",
}


# ----------------------------------------------------------------------------- randomised models

def cascade_steps(model: ViT) -> tuple[str, ...]:
    """Names of the cumulative randomisation steps, top down: head, block L, ..., block 1, stem."""
    return ("head",) + tuple(f"block {i}" for i in range(model.cfg.depth, 0, -1)) + ("stem",)


def _step_parameters(model: ViT, step: str) -> list[tuple[str, torch.nn.Parameter]]:
    if step == "head":
        mods = {"ln_f": model.ln_f, "head": model.head}
    elif step.startswith("block "):
        i = int(step.split()[1]) - 1
        mods = {f"blocks.{i}": model.blocks[i]}
    elif step == "stem":
        mods = {"patch_embed": model.patch_embed}
    else:
        raise ValueError(f"unknown randomisation step {step!r}")
    out = [(f"{pre}.{n}", p) for pre, m in mods.items() for n, p in m.named_parameters()]
    if step == "stem":
        out += [("cls_token", model.cls_token), ("pos_embed", model.pos_embed)]
    return out


def model_fingerprint(model: ViT) -> str:
    """SHA-1 of the config and every weight: the cache key of the randomised copies."""
    h = hashlib.sha1(model.cfg.to_json().encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class _Keyed:
    """Hashable by the fingerprint of the weights, holding the model to copy from."""

    def __init__(self, model: ViT, fingerprint: str):
        self.model, self.fingerprint = model, fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Keyed) and other.fingerprint == self.fingerprint


class Cascade(tuple):
    """:func:`randomised_cascade`'s tuple of ``(step, model)``; ``stackable``: every step's randomised
    parameters equal the fully random model's (checked once when built), so :func:`stacked_logits`
    may run every model of the cascade in one batch."""
    stackable: bool = False


@functools.lru_cache(maxsize=4)
def _cascade_cached(key: _Keyed, seed: int) -> Cascade:
    out = []
    current = copy.deepcopy(key.model)             # a private copy; the shared model is only read
    for step in cascade_steps(key.model):
        current = copy.deepcopy(current)           # cumulative: each step starts from the previous one
        with torch.no_grad():
            for name, p in _step_parameters(current, step):
                g = torch.Generator().manual_seed(int(seed) * 1_000_003 + zlib.crc32(name.encode()))
                mean, std = float(p.mean()), float(p.std(unbiased=False)) if p.numel() > 1 else 0.0
                p.copy_(mean + (std or 0.02) * torch.randn(p.shape, generator=g, dtype=p.dtype))
        current.eval()
        out.append((step, current))
    cascade = Cascade(out)
    last = dict(current.named_parameters())
    names = [s for s, _ in out]
    cascade.stackable = all(torch.equal(p, last[n]) for i, (_, m) in enumerate(out) for s in names[:i + 1]
                            for n, p in _step_parameters(m, s))
    return cascade


def randomised_cascade(model: ViT, seed: int = SEED) -> Cascade:
    """``((step, model with this and every earlier step randomised), ...)``, top down; built once
    per process and weights (cached), never touching ``model``. Do not mutate the copies."""
    return _cascade_cached(_Keyed(model, model_fingerprint(model)), int(seed))


# ----------------------------------------------------------------------------- similarity

def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of |a| and |b| (flattened), as Adebayo et al. 2018 report.
    A constant map has no ranking; its correlation is reported as 0."""
    a, b = np.abs(np.asarray(a, np.float64)).ravel(), np.abs(np.asarray(b, np.float64)).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


def spearman_signed(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of the signed maps (flattened); a constant map gives 0."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float | None = None, win_size: int = 7,
         k1: float = 0.01, k2: float = 0.03) -> float:
    """Mean structural similarity (Wang et al., 2004) of two 2-D arrays, computed as
    ``skimage.metrics.structural_similarity`` does by default: a uniform ``win_size`` window
    (reflecting borders), sample covariances, the mean over the pixels at least win_size//2
    from the border. ``data_range`` defaults to the range over both arrays (as Quantus' ssim)."""
    return float(ssim_rows(np.asarray(a)[None], np.asarray(b)[None], None if data_range is None else [data_range],
                           win_size, k1, k2)[0])


def ssim_rows(a: np.ndarray, b: np.ndarray, data_range=None, win_size: int = 7, k1: float = 0.01,
              k2: float = 0.03) -> np.ndarray:
    """:func:`ssim` of each pair (a[r], b[r]) of two stacks (R, H, W), all in one filtering pass;
    ``data_range``: one per pair, or None for each pair's range over both arrays."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    R = a.shape[0]
    if data_range is None:
        dr = np.maximum(a.max((1, 2)), b.max((1, 2))) - np.minimum(a.min((1, 2)), b.min((1, 2)))
    else:
        dr = np.broadcast_to(np.asarray(data_range, np.float64), (R,))
    n = win_size ** 2
    cov_norm = n / (n - 1)                                             # sample covariance
    f = ndimage.uniform_filter(np.concatenate([a, b, a * a, b * b, a * b]), size=win_size, axes=(1, 2))
    ux, uy, fxx, fyy, fxy = np.split(f, 5)
    vx = cov_norm * (fxx - ux * ux)
    vy = cov_norm * (fyy - uy * uy)
    vxy = cov_norm * (fxy - ux * uy)
    c1, c2 = ((k1 * dr) ** 2)[:, None, None], ((k2 * dr) ** 2)[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    pad = (win_size - 1) // 2
    out = s[:, pad:-pad, pad:-pad].mean((1, 2))
    flat = dr == 0                                                     # constant pair: equal or not
    out[flat] = [1.0 if np.array_equal(x, y) else 0.0 for x, y in zip(a[flat], b[flat])]
    return out


def _unit_abs(a: np.ndarray) -> np.ndarray:
    """|a| / max|a| (Quantus' abs + normalise_by_max), zeros stay zeros."""
    a = np.abs(np.asarray(a, np.float64))
    m = a.max()
    return a / m if m > 0 else a


def map_similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(Spearman of |a| vs |b|, SSIM of |a|/max vs |b|/max) as in Adebayo et al. 2018, Fig. 2-4."""
    return spearman_abs(a, b), ssim(_unit_abs(a), _unit_abs(b))


def spearman_rows(a: np.ndarray, b: np.ndarray, absolute: bool = True) -> np.ndarray:
    """Spearman rank correlation of each row of ``a`` (R, ...) with the same row of ``b``, of
    |values| when ``absolute`` (average ranks for ties, as scipy); a constant row gives 0."""
    a, b = np.asarray(a, np.float64).reshape(len(a), -1), np.asarray(b, np.float64).reshape(len(b), -1)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    r = _centred_ranks(np.concatenate([a, b]))
    return _rank_corr(r[:len(a)], r[len(a):])


def _centred_ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks (ties shared, as scipy) of each row of ``a`` (R, ...), minus their mean: (R, P)."""
    r = stats.rankdata(np.asarray(a, np.float64).reshape(len(a), -1), axis=1)
    return r - r.mean(1, keepdims=True)


def _rank_corr(ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Pearson correlation of centred ranks, row by row (``ra`` may be one row against many); a
    constant row gives 0."""
    ra, rb = np.broadcast_arrays(ra, rb)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    num = (ra * rb).sum(1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def discrete_entropy(amap: np.ndarray, bins: int = EMPRT_BINS) -> float:
    """Entropy of the histogram of the map's values in ``bins`` equal bins, as Quantus'
    ``discrete_entropy`` (eMPRT's complexity)."""
    hist, _ = np.histogram(np.asarray(amap, np.float64).ravel(), bins=int(bins))
    return float(special.entr(hist / hist.sum()).sum())                 # scipy.stats.entropy's arithmetic


def emprt(original: np.ndarray, randomised: np.ndarray, bins: int = EMPRT_BINS) -> float:
    """Efficient MPRT (Hedström et al., 2023): (H(random map) - H(map)) / H(map), H the discrete
    entropy; a map whose entropy is 0 (constant) gives 0."""
    h0 = discrete_entropy(original, bins)
    return (discrete_entropy(randomised, bins) - h0) / h0 if h0 > 0 else 0.0


# ----------------------------------------------------------------------------- a lean forward pass
# The same arithmetic as ViT.forward, written with torch.nn.functional on detached weights: the
# gradient flows to the input only (no weight gradients are computed, and the shared model is not
# touched), and the last block is run for the class token alone, the only token the logits read
# (its keys and values still come from every token). tests/test_trust.py checks it against
# ViT.forward and the maps against Captum's.

def _d(p: torch.Tensor | None) -> torch.Tensor | None:
    return None if p is None else p.detach()


def _ln(m: torch.nn.LayerNorm, h: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(h, m.normalized_shape, _d(m.weight), _d(m.bias), m.eps)


def _lin(m: torch.nn.Linear, h: torch.Tensor) -> torch.Tensor:
    return F.linear(h, _d(m.weight), _d(m.bias))


def lean_ok(model: ViT) -> bool:
    """Whether :func:`lean_logits` reproduces ``model(x)``: eval mode and a stem of known layers."""
    if not isinstance(model, ViT) or model.training:
        return False
    stem = model.patch_embed.proj
    layers = list(stem) if isinstance(stem, torch.nn.Sequential) else [stem]
    return all(type(m) in (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.GELU) for m in layers)


def _embed(model: ViT, x: torch.Tensor) -> torch.Tensor:
    """(B, 1, 28, 28) in [0, 1] -> tokens (B, N, dim): stem, class token, position embeddings."""
    from model.vit import MNIST_MEAN, MNIST_STD

    h = (x - MNIST_MEAN) / MNIST_STD
    stem = model.patch_embed.proj
    for m in (stem if isinstance(stem, torch.nn.Sequential) else [stem]):
        if isinstance(m, torch.nn.Conv2d):
            h = F.conv2d(h, _d(m.weight), _d(m.bias), m.stride, m.padding, m.dilation, m.groups)
        elif isinstance(m, torch.nn.BatchNorm2d):                  # eval: running statistics
            h = F.batch_norm(h, m.running_mean, m.running_var, _d(m.weight), _d(m.bias), False, 0.0, m.eps)
        else:
            h = F.gelu(h, approximate=m.approximate)
    h = h.flatten(2).transpose(1, 2)                                       # (B, P, dim)
    cls = _d(model.cls_token).expand(h.shape[0], -1, -1)
    return torch.cat([cls, h], 1) + _d(model.pos_embed)                   # (B, N, dim)


def _block(b, h: torch.Tensor, cls_only: bool = False, attn: list | None = None) -> torch.Tensor:
    """One pre-norm block on tokens (B, N, C) -> (B, N, C); ``cls_only``: the class token's
    output alone, (B, 1, C) (queries from token 0, keys and values from every token); ``attn``:
    computed explicitly as ViT's ``need_weights`` path does, the pattern (B, H, N, N) appended."""
    B, N, C = h.shape
    H = b.attn.heads
    a = _ln(b.ln1, h)
    w, bias = _d(b.attn.qkv.weight), _d(b.attn.qkv.bias)
    if attn is not None:
        q, k, v = F.linear(a, w, bias).reshape(B, N, 3, H, C // H).permute(2, 0, 3, 1, 4).unbind(0)
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(C // H)).softmax(dim=-1)   # (B, H, N, N)
        attn.append(att)
        y, n = att @ v, N
    elif cls_only:
        q = F.linear(a[:, :1], w[:C], None if bias is None else bias[:C])
        kv = F.linear(a, w[C:], None if bias is None else bias[C:]).reshape(B, N, 2, H, C // H).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q.reshape(B, 1, H, C // H).transpose(1, 2), *kv.unbind(0))
        h, n = h[:, :1], 1
    else:
        qkv = F.linear(a, w, bias).reshape(B, N, 3, H, C // H).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(*qkv.unbind(0))                 # (B, H, N, hd)
        n = N
    h = h + _lin(b.attn.proj, y.transpose(1, 2).reshape(B, n, C))
    return h + _lin(b.mlp.fc2, F.gelu(_lin(b.mlp.fc1, _ln(b.ln2, h))))


def _top(model: ViT, h: torch.Tensor, first: int) -> torch.Tensor:
    """Logits (B, classes) from the tokens (B, N, C) before block ``first`` (0-based; L: the head alone)."""
    L = len(model.blocks)
    for i in range(first, L):
        h = _block(model.blocks[i], h, cls_only=i == L - 1)
    return _lin(model.head, _ln(model.ln_f, h[:, 0]))


def lean_logits(model: ViT, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` (B, 1, 28, 28) -> logits (B, classes), by the lean forward pass (falls back to
    ``model(x)`` where :func:`lean_ok` is false); differentiable with respect to ``x`` only."""
    return _forward(model, x) if lean_ok(model) else model(x)


def stackable(model: ViT, steps) -> bool:
    """Whether :func:`stacked_logits` can run ``model`` and its cascade ``steps`` in one batch."""
    return (getattr(steps, "stackable", False) and [s for s, _ in steps] == list(cascade_steps(model))
            and lean_ok(model) and lean_ok(steps[-1][1]))


def _forward(model: ViT, x: torch.Tensor, attn: list | None = None, rand: ViT | None = None,
             split: dict[str, int] | None = None) -> torch.Tensor:
    """The lean pass (B, 1, 28, 28) -> logits (B, classes). ``split`` maps a module group (a
    cascade step's name) to how many leading rows use ``model``'s version; the other rows use
    ``rand``'s (every group not named: all rows use ``model``'s). ``attn``: a list that receives,
    per block, the list of its patterns (one per row group, rows in order); every block then runs
    on every token."""
    split = split or {}

    def two(f, h, slot):
        k = split.get(slot, h.shape[0])
        if k >= h.shape[0] or k <= 0:
            return f(model if k > 0 else rand, h)
        a, b = h.split([k, h.shape[0] - k])                              # (split: no zero-filled gradients)
        return torch.cat([f(model, a), f(rand, b)])

    h = two(_embed, x, "stem")
    L = len(model.blocks)
    for i in range(L):
        layer: list | None = None if attn is None else []
        h = two(lambda m, t, i=i, layer=layer: _block(m.blocks[i], t, i == L - 1 and layer is None, layer), h,
                f"block {i + 1}")
        if attn is not None:
            attn.append(layer)
    return two(lambda m, t: _lin(m.head, _ln(m.ln_f, t[:, 0])), h, "head")


def stacked_logits(model: ViT, steps, counts: Iterable[int], x: torch.Tensor,
                   attn: list | None = None) -> torch.Tensor:
    """Logits of the trained model and every model of a :func:`randomised_cascade` in one batch:
    ``x`` (B, 1, 28, 28) holds the trained model's rows first (``counts[0]`` of them), then
    ``counts[i + 1]`` rows for ``steps[i]``. Randomisation is cumulative and top down, and every
    step's randomised modules equal the fully random model's (checked when the cascade is built),
    so each module is either the trained one or the random one, the rows that use the random
    one are a suffix of the batch, and every module runs once or twice instead of once per model.
    ``attn``: as :func:`_forward`'s."""
    cum = np.cumsum([0, *counts])
    split = {name: int(cum[i + 1]) for i, (name, _) in enumerate(steps)}   # rows before use it trained
    return _forward(model, x, attn, steps[-1][1], split)


# ----------------------------------------------------------------------------- batched maps

def _captum_ig_alphas(steps: int) -> tuple[np.ndarray, np.ndarray]:
    from captum.attr._utils.approximation_methods import approximation_parameters

    sizes, alphas = approximation_parameters("gausslegendre")
    return np.asarray(sizes(steps), np.float32), np.asarray(alphas(steps), np.float32)


def _grads(logits: Callable, pts: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """d logit[target_r] / d x_r for every row r of (B, 1, 28, 28), one forward/backward pass;
    ``logits`` maps the rows to (B, classes)."""
    x = pts.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = logits(x).gather(1, targets.view(-1, 1)).sum()
        (g,) = torch.autograd.grad(out, x)
    return g


_MEMO_LOCK = threading.Lock()
_INPUT_GRADS: list[tuple] = []      # [(owner, input bytes, targets, gradients)], the last 8 calls


def _input_grads(logits: Callable, owner: tuple, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """:func:`_grads` of the rows themselves, remembered for the last few (owner = the model(s),
    rows, targets): Saliency and Input x Gradient of the same digits share one backward pass."""
    key = (x.numpy().tobytes(), tuple(t.tolist()))
    with _MEMO_LOCK:
        for o, xb, tb, g in _INPUT_GRADS:
            if len(o) == len(owner) and all(a is b or (type(a) is int and a == b) for a, b in zip(o, owner)) \
                    and (xb, tb) == key:
                return g
    g = _grads(logits, x, t)
    with _MEMO_LOCK:
        _INPUT_GRADS.append((owner, *key, g))
        del _INPUT_GRADS[:-8]
    return g


def _fast(method: str, s: dict) -> bool:
    """Whether :func:`batch_maps` has a batched form of ``method`` with these settings."""
    if method in ("saliency", "input_x_gradient"):
        return True
    if method in ("integrated_gradients", "gradient_shap"):
        return s.get("baseline") == "black"
    if method == "occlusion":
        return s.get("baseline") == "black" and s["window"] == s["stride"] and IMAGE_SIDE % s["window"] == 0
    if method == "noise_tunnel":
        return s["base"] in ("saliency", "input_x_gradient")
    return method in ("attention_rollout", "cls_attention", "gradient_rollout")


def _attention_maps(forward: Callable, x: torch.Tensor, t: torch.Tensor, method: str, s: dict) -> np.ndarray:
    """The attention-based maps of every row from one batched forward (gradient-weighted rollout:
    one forward and backward), with the formulas of :mod:`model.explain.attention`. ``forward(x,
    attn)`` returns the logits and appends, per block, the list of its patterns (row groups)."""
    from model.explain._common import upsample_patches
    from model.explain.attention import query_attention, rollout

    parts: list[list[torch.Tensor]] = []
    if method == "gradient_rollout":
        with torch.enable_grad():
            logits = forward(x.detach().clone().requires_grad_(True), parts)   # weights are detached
            flat = [a for layer in parts for a in layer]
            grads = iter(torch.autograd.grad(logits.gather(1, t.view(-1, 1)).sum(), flat))
        N = flat[0].shape[-1]
        g = int(round(np.sqrt(N - 1)))
        R = torch.eye(N, dtype=torch.float64).expand(x.shape[0], N, N)
        for layer in parts:                                               # Chefer et al., 2021, Eq. 5-6
            a = torch.cat([p.detach() for p in layer])
            ga = torch.cat([next(grads) for _ in layer])
            R = R + (ga * a).clamp(min=0).mean(1).double() @ R             # (R, N, N)
        return upsample_patches(R[:, 0, 1:].reshape(-1, g, g).numpy().astype(np.float32))
    with torch.inference_mode():
        forward(x, parts)
        attn = torch.stack([torch.cat(layer) for layer in parts], 1).numpy().astype(np.float32)   # (R, L, H, N, N)
    if method == "attention_rollout":
        return np.stack([upsample_patches(rollout(a, float(s["discard_ratio"]), s["head_fusion"])) for a in attn])
    li = attn.shape[1] - 1 if s["layer"] == "last" else int(s["layer"])
    maps = [query_attention(a, li, 0) for a in attn]                                # R x (H, g, g)
    return np.stack([upsample_patches(m.mean(0) if s["head"] == "mean" else m[int(s["head"])]) for m in maps])


def _model_attention(model: ViT) -> Callable:
    """``forward(x, attn)`` of :func:`_attention_maps` for one model: the lean pass where it
    applies, else ViT's own ``forward_features(need_weights=True)``."""
    def forward(x: torch.Tensor, attn: list) -> torch.Tensor:
        if lean_ok(model):
            return _forward(model, x, attn)
        feats, attns = model.forward_features(x.clone(), need_weights=True)
        attn.extend([a] for a in attns)
        return model.head(feats)
    return forward


def _occluded(x: torch.Tensor, w: int) -> torch.Tensor:
    """(R, 1, 28, 28) -> (R, 1 + k*k, 1, 28, 28): each digit, then a copy per w x w window
    (k = 28 / w per side, row-major) with that window set to black, as Captum's Occlusion."""
    k = IMAGE_SIDE // w
    masks = torch.zeros(k * k, 1, IMAGE_SIDE, IMAGE_SIDE)
    for i in range(k * k):
        r, c = divmod(i, k)
        masks[i, :, r * w:(r + 1) * w, c * w:(c + 1) * w] = 1.0
    return torch.cat([x[:, None], x[:, None] * (1 - masks[None])], 1)


def _occlusion_maps(logits: torch.Tensor, t: torch.Tensor, w: int) -> np.ndarray:
    """(R, 1 + k*k, C) logits of :func:`_occluded` -> (R, 1, 28, 28) Occlusion maps for targets ``t``:
    the drop of the target's logit when each window is black, spread over the window's pixels."""
    R, n, _ = logits.shape
    k = IMAGE_SIDE // w
    f = logits.gather(2, t.view(R, 1, 1).expand(R, n, 1))[..., 0]         # (R, 1 + k*k)
    diff = (f[:, :1] - f[:, 1:]).reshape(R, 1, k, k)
    return diff.repeat_interleave(w, 2).repeat_interleave(w, 3).numpy().astype(np.float32)


def _occlusion_rows(x: torch.Tensor, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs Occlusion needs a forward pass for: of :func:`_occluded`'s (R, 1 + k*k) images
    the digits and the copies that differ from their digit, (M, 1, 28, 28), and ``need`` (R, 1 + k*k)
    which ones they are. A window that is already black leaves the digit as it is: its logit drop
    is exactly 0 and takes no forward pass (MNIST's background is black: most windows)."""
    occ = _occluded(x, w)                                                  # (R, 1 + k*k, 1, 28, 28)
    need = (occ != x[:, None]).flatten(2).any(2)
    need[:, 0] = True
    return occ[need], need


def _occlusion_logits(logits: torch.Tensor, need: torch.Tensor) -> torch.Tensor:
    """(M, C) logits of :func:`_occlusion_rows`' inputs -> (R, 1 + k*k, C), each skipped copy given
    its digit's logits (a drop of exactly 0)."""
    full = logits.new_zeros(*need.shape, logits.shape[-1])
    full[need] = logits
    return torch.where(need[..., None], full, full[:, :1])


def _trunk(model: ViT, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The token states (B, N, dim) after the embedding (index 0) and after blocks 1..L-1, and the
    class token (B, 1, dim) after block L (all the head reads), by the lean forward pass."""
    h = _embed(model, x)
    out = [h]
    for block in model.blocks[:-1]:
        h = _block(block, h)
        out.append(h)
    return out, _block(model.blocks[-1], h, cls_only=True)


def occlusion_cascade(model: ViT, steps, x: np.ndarray, rows0: np.ndarray, t0: list[int], rows_last: np.ndarray,
                      target: int, w: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Occlusion maps on the trained model (``rows0`` with targets ``t0``) and on every step of the
    cascade (the digit ``x``; the last step also ``rows_last``), reusing forward passes: a step
    that randomises the head and blocks b..L leaves blocks 1..b-1 as trained, so the trained
    model's token states of the occluded digits before block b are reused and only the randomised
    top is run again, every such step in one pass (rows join at their block; the cascade must be
    :func:`stackable`). Occlusion is forward-only; black windows take no pass
    (:func:`_occlusion_rows`)."""
    uniq: dict[bytes, int] = {}
    for i, a in enumerate(rows0):
        uniq.setdefault(np.asarray(a, np.float32).tobytes(), i)
    keep = sorted(uniq.values())
    where = [keep.index(uniq[np.asarray(a, np.float32).tobytes()]) for a in rows0]
    xi = keep.index(uniq[np.asarray(x, np.float32).tobytes()])                # the digit's rows
    L, rand = len(model.blocks), steps[-1][1]
    with torch.inference_mode():
        occ, need = _occlusion_rows(torch.cat([_as_input(rows0[i]) for i in keep]), w)
        states, cls = _trunk(model, occ)
        full = _occlusion_logits(_lin(model.head, _ln(model.ln_f, cls[:, 0])), need)   # (K, 1 + k*k, C)
        maps0 = _occlusion_maps(full[where], torch.tensor(t0), w)[:, 0]
        mine = torch.arange(len(keep)).repeat_interleave(need.sum(1)) == xi   # the digit's occluded copies
        need_x = need[xi:xi + 1]
        # every partial step in one pass: step "block b" joins before block b, "head" after block L
        joins = {int(s.split()[1]) - 1: s for s, _ in steps if s.startswith("block ")}
        order, h = [], None
        for i in range(L):
            if i in joins:
                order.append(joins[i])
                h = states[i][mine] if h is None else torch.cat([h, states[i][mine]])
            if h is not None:
                h = _block(rand.blocks[i], h, cls_only=i == L - 1)
        order.append("head")
        h = cls[mine] if h is None else torch.cat([h, cls[mine]])
        lg = _lin(rand.head, _ln(rand.ln_f, h[:, 0]))
        lg = lg.reshape(len(order), -1, lg.shape[-1])                       # (steps, copies, C)
        tt = torch.tensor([target])
        partial = {s: _occlusion_maps(_occlusion_logits(lg[j], need_x), tt, w)[0, 0] for j, s in enumerate(order)}
        occ, need = _occlusion_rows(torch.cat([_as_input(a) for a in [x] + list(rows_last)]), w)
        last = _occlusion_maps(_occlusion_logits(lean_logits(rand, occ), need), tt.repeat(need.shape[0]), w)[:, 0]
    return maps0, [last if s == "stem" else partial[s][None] for s, _ in steps]


def _maps(logits_for: Callable, owner: tuple, x: torch.Tensor, t: torch.Tensor, method: str, s: dict) -> np.ndarray:
    """The gradient and occlusion maps of :func:`batch_maps` for rows ``x`` (R, 1, 28, 28) and
    targets ``t`` (R,); ``logits_for(p)`` is the logits function of a batch that holds ``p``
    consecutive points per row (row-major; Occlusion, whose rows vary: ``p`` None), ``owner``
    names the model(s) for the memo."""
    R = x.shape[0]
    if method in ("saliency", "input_x_gradient"):
        g = _input_grads(logits_for(1), owner, x, t)
        out = (g.abs() if s.get("absolute", True) else g) if method == "saliency" else g * x
    elif method == "integrated_gradients":
        n = int(s["steps"])
        sizes, alphas = map(torch.from_numpy, _captum_ig_alphas(n))
        pts = (alphas.view(1, n, 1, 1, 1) * x[:, None]).reshape(R * n, 1, IMAGE_SIDE, IMAGE_SIDE)   # black base
        g = _grads(logits_for(n), pts, t.repeat_interleave(n)).reshape(R, n, 1, IMAGE_SIDE, IMAGE_SIDE)
        out = (g * sizes.view(1, n, 1, 1, 1)).sum(1) * x
    elif method == "gradient_shap":
        n = int(s["n_samples"])
        gen = torch.Generator().manual_seed(int(s["seed"]))
        eps = torch.randn((n, 1, IMAGE_SIDE, IMAGE_SIDE), generator=gen)
        alpha = torch.rand(n, generator=gen)
        noisy = x[:, None] + float(s["stdevs"]) * eps[None]                 # (R, n, 1, 28, 28)
        pts = alpha.view(1, n, 1, 1, 1) * noisy                            # black base: base + a (noisy - base)
        g = _grads(logits_for(n), pts.reshape(R * n, 1, IMAGE_SIDE, IMAGE_SIDE), t.repeat_interleave(n))
        out = (g.reshape(R, n, 1, IMAGE_SIDE, IMAGE_SIDE) * noisy).mean(1)
    elif method == "occlusion":
        occ, need = _occlusion_rows(x, int(s["window"]))
        with torch.inference_mode():
            logits = _occlusion_logits(logits_for(None)(occ), need)        # (R, 1 + k*k, C)
        out = torch.from_numpy(_occlusion_maps(logits, t, int(s["window"])))
    else:                                                                  # noise_tunnel, gradient bases
        n = int(s["nt_samples"])
        gen = torch.Generator().manual_seed(int(s["seed"]))
        noisy = x[:, None] + float(s["stdevs"]) * torch.randn((n, 1, IMAGE_SIDE, IMAGE_SIDE), generator=gen)[None]
        g = _grads(logits_for(n), noisy.reshape(R * n, 1, IMAGE_SIDE, IMAGE_SIDE), t.repeat_interleave(n))
        g = g.reshape(R, n, 1, IMAGE_SIDE, IMAGE_SIDE)
        if s["base"] == "saliency":
            maps = g.abs() if s.get("absolute", True) else g
        else:
            maps = g * noisy
        if s["nt_type"] == "smoothgrad":
            out = maps.mean(1)
        elif s["nt_type"] == "smoothgrad_sq":
            out = (maps ** 2).mean(1)
        else:
            out = maps.var(1, unbiased=False)
    return out.detach().reshape(R, IMAGE_SIDE, IMAGE_SIDE).numpy().astype(np.float32)


_ATTENTION = ("attention_rollout", "cls_attention", "gradient_rollout")


def batch_maps(model: ViT, xs: np.ndarray, targets: Iterable[int], method: str, settings: dict) -> np.ndarray:
    """The map of ``method`` (with the full ``settings`` of :func:`method_settings`) for every row:
    ``xs`` (R, 28, 28), ``targets`` (R,) -> (R, 28, 28) float32, each row what
    :func:`model.explain.attribution.explain` returns for it (same formulas and seeded draws, up to
    float rounding), but one batched pass for all rows, by :func:`lean_logits`. Methods or
    settings without a batched form fall back to one ``explain`` per row."""
    xs = np.asarray(xs, np.float32)
    tg = [int(t) for t in targets]
    if not _fast(method, settings):
        return np.stack([explain(model, x, t, method, **settings).map for x, t in zip(xs, tg)])
    x = torch.cat([_as_input(a) for a in xs])                              # (R, 1, 28, 28), clamped
    t = torch.tensor(tg, dtype=torch.long)                                 # (R,)
    if method in _ATTENTION:
        return _attention_maps(_model_attention(model), x, t, method, settings).astype(np.float32)
    return _maps(lambda p: functools.partial(lean_logits, model), (model,), x, t, method, settings)


def cascade_maps(model: ViT, steps, rows: list[np.ndarray], targets: list[int], counts: list[int], method: str,
                 settings: dict) -> np.ndarray:
    """:func:`batch_maps` of the trained model and of every model of the cascade ``steps`` at once:
    ``rows`` holds ``counts[0]`` rows for the trained model, then ``counts[i + 1]`` for ``steps[i]``,
    all in one forward (and backward) pass by :func:`stacked_logits`. Methods with a batched form
    other than Occlusion (:func:`occlusion_cascade`) only; see also :func:`stackable`."""
    if method == "occlusion":
        raise ValueError("Occlusion's cascade is occlusion_cascade's")
    x = torch.cat([_as_input(a) for a in rows])
    t = torch.tensor([int(v) for v in targets], dtype=torch.long)
    owner = (model, steps, *counts)
    if method in _ATTENTION:
        forward = functools.partial(stacked_logits, model, steps, counts)
        return _attention_maps(forward, x, t, method, settings).astype(np.float32)

    def logits_for(p: int) -> Callable:
        return functools.partial(stacked_logits, model, steps, [c * p for c in counts])

    return _maps(logits_for, owner, x, t, method, settings)


# ----------------------------------------------------------------------------- metrics

def sparseness(amap: np.ndarray) -> float:
    """Gini index of |map| (Chalasani et al., 2020), exactly as Quantus' ``Sparseness``: |a|
    divided by its maximum, plus 1e-7, sorted ascending, then
    sum_i (2i - n - 1) a_i / (n sum_i a_i). 0 = evenly spread, near 1 = a few pixels carry it all."""
    a = np.sort(_unit_abs(amap).ravel() + 1e-7)
    n = a.size
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * a).sum() / (n * a.sum()))


def faithfulness_correlation(model: ViT, image: np.ndarray, target: int, maps: dict[str, np.ndarray],
                             nr_runs: int = FC_RUNS, subset_size: int = FC_SUBSET,
                             seed: int = SEED) -> dict[str, float]:
    """Faithfulness correlation (Bhatt et al., 2020), as Quantus' ``FaithfulnessCorrelation``:
    for ``nr_runs`` random subsets S of ``subset_size`` pixels, the Pearson correlation between
    sum_{i in S} a_i and the drop of the target's logit when the pixels of S are set to black
    (0, the digit's minimum). The subsets are drawn by ``np.random.RandomState(seed).choice``,
    the draws Quantus makes after ``np.random.seed(seed)``; they are shared by every map, so all
    ``nr_runs`` perturbed digits go through the model in one batch. An undefined correlation
    (a constant map) is reported as 0."""
    x = _as_input(image)                                                 # (1, 1, 28, 28)
    n = IMAGE_SIDE * IMAGE_SIDE
    rs = np.random.RandomState(int(seed))
    subsets = np.stack([rs.choice(n, int(subset_size), replace=False) for _ in range(int(nr_runs))])  # (R, S)
    keep = np.ones((int(nr_runs), n), dtype=np.float32)
    np.put_along_axis(keep, subsets, 0.0, axis=1)
    xs = x.reshape(1, n) * torch.from_numpy(keep)                        # (R, 784), black = 0
    with torch.inference_mode():
        logits = lean_logits(model, torch.cat([x, xs.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)]))[:, target]
        logits = logits.double().numpy()
    deltas = logits[0] - logits[1:]                                      # (R,)
    out = {}
    for name, amap in maps.items():
        a = np.asarray(amap, np.float64).ravel()
        sums = a[subsets].sum(1)                                         # (R,)
        if np.ptp(sums) == 0 or np.ptp(deltas) == 0:
            out[name] = 0.0
        else:
            out[name] = float(stats.pearsonr(sums, deltas).statistic)
    return out


# ----------------------------------------------------------------------------- noise

def smooth_noise(image: np.ndarray, chunk: int = 0, nr_samples: int = SMOOTH_SAMPLES,
                 magnitude: float = SMOOTH_NOISE, seed: int = SEED) -> np.ndarray:
    """(nr_samples - 1, 28, 28) Gaussian noise of std ``magnitude * (max - min)`` of the digit: the
    draws Quantus' ``SmoothMPRT`` makes after ``np.random.seed(seed)`` for its ``chunk``-th smoothed
    batch (0: the trained model, 1: the fully random one), from a private RandomState. Chunk 0 is
    also max-sensitivity's noise (Quantus' ``gaussian_noise`` with the same std draws the same)."""
    x = np.asarray(image, np.float64)
    k = int(nr_samples) - 1
    draws = np.random.RandomState(int(seed)).randn((int(chunk) + 1) * k, IMAGE_SIDE * IMAGE_SIDE)[int(chunk) * k:]
    return draws.reshape(k, IMAGE_SIDE, IMAGE_SIDE) * (magnitude * float(x.max() - x.min()))


def noisy_copies(image: np.ndarray, chunk: int = 0, seed: int = SEED) -> np.ndarray:
    """The digit plus each :func:`smooth_noise` draw, as float32 (what the model is given)."""
    return (np.asarray(image, np.float64)[None] + smooth_noise(image, chunk, seed=seed)).astype(np.float32)


def random_other_class(target: int, num_classes: int = 10, seed: int = SEED) -> int:
    """A random class other than ``target``, drawn as Quantus' ``RandomLogit`` draws it after
    ``np.random.seed(seed)`` (from a private RandomState)."""
    others = [c for c in range(num_classes) if c != target]
    return int(others[np.random.RandomState(int(seed)).randint(0, num_classes - 1)])


def max_sensitivity_of(base: np.ndarray, noisy_maps: np.ndarray) -> float:
    """Max-sensitivity (Yeh et al., 2019; Quantus' ``MaxSensitivity``): the largest
    ||map(x + noise) - map(x)||_F / ||map(x)||_F over the noisy copies' maps. 0 = perfectly stable."""
    base = np.asarray(base, np.float64)
    denom = float(np.linalg.norm(base))
    worst = max(float(np.linalg.norm(np.asarray(m, np.float64) - base)) for m in noisy_maps)
    return worst / denom if denom > 0 else float("inf")


def max_sensitivity(model: ViT, image: np.ndarray, target: int, method: str, settings: dict | None = None,
                    seed: int = SEED) -> float:
    """Max-sensitivity of ``method`` over the sMPRT noisy copies of the trained model (chunk 0)."""
    s = method_settings(method, settings or {}, model)
    maps = batch_maps(model, np.concatenate([np.asarray(image, np.float32)[None], noisy_copies(image, 0, seed)]),
                      [target] * SMOOTH_SAMPLES, method, s)
    return max_sensitivity_of(maps[0], maps[1:])


# ----------------------------------------------------------------------------- per method

@dataclass
class CascadeStep:
    """One randomisation step: ``spearman`` of |maps| (the original test's measure), ``ssim`` of the
    |maps| scaled to [0, 1], ``spearman_signed`` and ``ssim_signed`` of the maps with their signs
    (scaled by max |map|)."""
    step: str
    spearman: float
    ssim: float
    map: np.ndarray
    spearman_signed: float = float("nan")
    ssim_signed: float = float("nan")


@dataclass
class MethodTrust:
    """Everything the trust report says about one method on one digit. ``cascade`` lists the
    cumulative randomisation steps, top down; ``smooth_map`` / ``smooth_random_map`` are the maps
    averaged over the noisy copies on the trained / fully random model (sMPRT); ``seconds`` is this
    method's own compute time (plus, in a :class:`TrustReport`, its share of the batched passes)."""
    method: str
    target: int
    settings: dict
    map: np.ndarray
    cascade: list[CascadeStep]
    random_class: int | None = None
    random_map: np.ndarray | None = None
    random_logit_spearman: float | None = None
    max_sensitivity: float | None = None
    sparseness: float | None = None
    completeness: float | None = None         # IG: |convergence delta| (sum of map - score change)
    smprt: float | None = None
    emprt: float | None = None
    smooth_map: np.ndarray | None = None
    smooth_random_map: np.ndarray | None = None
    seconds: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)   # deletion/insertion AUC, faithfulness corr.

    @property
    def passes(self) -> bool:
        return passes(self.cascade)

    @property
    def passes_signed(self) -> bool:
        return passes(self.cascade, signed=True)

    @property
    def first_drop(self) -> str | None:
        return first_drop(self.cascade)

    @property
    def class_specific(self) -> bool:
        return METHODS[self.method].class_specific

    def tests(self) -> dict[str, bool]:
        """The randomisation and random-logit tests, passed or not."""
        return {"mprt": self.passes, "mprt_signed": self.passes_signed,
                "smprt": self.smprt is not None and self.smprt < PASS_THRESHOLD,
                "emprt": self.emprt is not None and self.emprt > 0,
                "random_logit": self.class_specific and (self.random_logit_spearman or 0.0) < SAME_CLASS_MAP}


def trust_settings(method: str, model: ViT | None = None) -> dict:
    """The settings the trust report runs ``method`` with (defaults, lightened by TRUST_SETTINGS)."""
    return method_settings(method, TRUST_SETTINGS.get(method, {}), model)


def passes(cascade: list[CascadeStep], threshold: float = PASS_THRESHOLD, signed: bool = False) -> bool:
    """The rule of the badge: a method passes on a digit when the Spearman correlation of its
    map with the original falls below ``threshold`` once the head and the top block are
    randomised (the second step) and stays below it for every later step (``signed``: the same on
    the signed maps). The head and the top block are where this ViT decides between classes."""
    vals = [c.spearman_signed if signed else c.spearman for c in cascade]
    return bool(len(vals) >= 2 and all(v < threshold for v in vals[1:]))


def first_drop(cascade: list[CascadeStep], threshold: float = PASS_THRESHOLD) -> str | None:
    """The first step after which the map stays below ``threshold`` (None: it never does)."""
    for i, c in enumerate(cascade):
        if all(d.spearman < threshold for d in cascade[i:]):
            return c.step
    return None


def _signed_unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    m = np.abs(a).max()
    return a / m if m > 0 else a


def _unit_abs_rows(a: np.ndarray) -> np.ndarray:
    """:func:`_unit_abs` of each row of a stack (R, H, W)."""
    a = np.abs(np.asarray(a, np.float64))
    m = a.max((1, 2), keepdims=True)
    return a / np.where(m > 0, m, 1.0)


def _signed_unit_rows(a: np.ndarray) -> np.ndarray:
    """:func:`_signed_unit` of each row of a stack (R, H, W)."""
    a = np.asarray(a, np.float64)
    m = np.abs(a).max((1, 2), keepdims=True)
    return a / np.where(m > 0, m, 1.0)


def method_trust(model: ViT, image: np.ndarray, target: int, method: str, seed: int = SEED,
                 steps: tuple | None = None) -> MethodTrust:
    """The per-method part of the report: original map, cascade (|map| and signed), sMPRT, eMPRT,
    random-logit test, max-sensitivity, sparseness and IG's completeness. One batched call of
    :func:`batch_maps` per model of the cascade: the trained model's rows are the digit, the
    random class (class-specific methods) and the noisy copies; the fully random model's the digit
    and its own noisy copies; every other step's only the digit. ``steps``: the
    :func:`randomised_cascade` if the caller already has it."""
    t0 = time.perf_counter()
    s = trust_settings(method, model)
    x = np.asarray(image, np.float32)
    spec = METHODS[method]
    other = random_other_class(target, model.cfg.num_classes, seed)
    k = SMOOTH_SAMPLES - 1
    n0, n1 = noisy_copies(x, 0, seed), noisy_copies(x, 1, seed)
    rows0 = [x] + ([x] if spec.class_specific else []) + list(n0)
    t_rows0 = [target] + ([other] if spec.class_specific else []) + [target] * k
    steps = steps if steps is not None else randomised_cascade(model, seed)
    lean = _fast(method, s) and stackable(model, steps)
    if method == "occlusion" and lean:
        maps0, cmaps = occlusion_cascade(model, steps, x, np.stack(rows0), t_rows0, n1, target, int(s["window"]))
    elif lean:
        counts = [len(rows0)] + [1] * (len(steps) - 1) + [1 + k]
        rows = rows0 + [x] * len(steps) + list(n1)
        allm = cascade_maps(model, steps, rows, t_rows0 + [target] * (len(steps) + k), counts, method, s)
        ends = np.cumsum(counts)
        maps0, cmaps = allm[:ends[0]], [allm[a:b] for a, b in zip(ends[:-1], ends[1:])]
    else:
        maps0 = batch_maps(model, np.stack(rows0), t_rows0, method, s)
        cmaps = []
        for i, (_, rmodel) in enumerate(steps):
            rows = np.stack([x] + (list(n1) if i == len(steps) - 1 else []))
            cmaps.append(batch_maps(rmodel, rows, [target] * len(rows), method, s))
    orig = maps0[0]
    rmap = maps0[1] if spec.class_specific else orig
    noisy0 = maps0[-k:]
    cas = np.stack([m[0] for m in cmaps])                                          # (S, 28, 28)
    S = len(steps)
    smooth0 = (orig + noisy0.sum(0)) / SMOOTH_SAMPLES
    smooth1 = (cmaps[-1][0] + cmaps[-1][1:].sum(0)) / SMOOTH_SAMPLES
    # every Spearman of the method from one ranking: |orig|, |cascade|, orig, cascade, |random map|, |smooth maps|
    r = _centred_ranks(np.concatenate([np.abs(orig[None]), np.abs(cas), orig[None], cas, np.abs(rmap[None]),
                                       np.abs(smooth0[None]), np.abs(smooth1[None])]))
    rho = _rank_corr(r[:1], r[1:S + 1])
    rho_s = _rank_corr(r[S + 1:S + 2], r[S + 2:2 * S + 2])
    sim = ssim_rows(np.broadcast_to(_unit_abs(orig), cas.shape), _unit_abs_rows(cas))
    sim_s = ssim_rows(np.broadcast_to(_signed_unit(orig), cas.shape), _signed_unit_rows(cas), np.full(S, 2.0))
    cascade = [CascadeStep(step, float(rho[i]), float(sim[i]), cas[i], float(rho_s[i]), float(sim_s[i]))
               for i, (step, _) in enumerate(steps)]
    res = MethodTrust(method, target, s, orig, cascade, random_class=other, random_map=rmap)
    res.random_logit_spearman = float(_rank_corr(r[:1], r[-3:-2])[0])
    res.smooth_map, res.smooth_random_map = smooth0, smooth1
    res.smprt = float(_rank_corr(r[-2:-1], r[-1:])[0])
    res.emprt = emprt(orig, cas[-1])
    res.max_sensitivity = max_sensitivity_of(orig, noisy0)
    res.sparseness = sparseness(orig)
    if method == "integrated_gradients" and s["baseline"] == "black":
        with torch.inference_mode():
            f = lean_logits(model, torch.cat([_as_input(x), torch.zeros(1, 1, IMAGE_SIDE, IMAGE_SIDE)]))[:, target]
        res.completeness = abs(float(orig.astype(np.float64).sum()) - float(f[0] - f[1]))
    elif method == "integrated_gradients":
        res.completeness = abs(explain(model, x, target, method, **s).convergence_delta)
    res.seconds = time.perf_counter() - t0
    return res


def mprt(model: ViT, image: np.ndarray, target: int, method: str, seed: int = SEED) -> list[CascadeStep]:
    """Cascading randomisation alone (Adebayo et al., 2018): :func:`method_trust`'s cascade."""
    return method_trust(model, image, target, method, seed).cascade


def shared_scores(model: ViT, image: np.ndarray, target: int, maps: dict[str, np.ndarray],
                  seed: int = SEED) -> dict[str, dict[str, float]]:
    """The scores that batch over every map at once: deletion and insertion AUC (Petsiuk et al.,
    2018; pixels, black baseline, FAITH_STEPS points) and faithfulness correlation."""
    f = faithfulness(model, image, target, maps, unit="pixel", steps=FAITH_STEPS, baseline="black",
                     include_random=False, seed=seed)
    fc = faithfulness_correlation(model, image, target, maps, seed=seed)
    return {m: {"deletion_auc": f.auc[m]["deletion"], "insertion_auc": f.auc[m]["insertion"],
                "faithfulness_correlation": fc[m]} for m in maps}


# ----------------------------------------------------------------------------- verdict

def evidence(r: MethodTrust) -> dict[str, float]:
    """The four scores in [0, 1] of :data:`RANK_RULE` and their mean, ``total``."""
    tests = r.tests()
    out = {"randomisation": float(np.mean([tests[k] for k in ("mprt", "mprt_signed", "smprt", "emprt")])),
           "random_logit": (1.0 - float(np.clip(r.random_logit_spearman or 0.0, 0, 1))) if r.class_specific else 0.0,
           "faithfulness": float(np.clip(r.scores.get("faithfulness_correlation", 0.0), 0, 1)),
           "robustness": 1.0 / (1.0 + (r.max_sensitivity if r.max_sensitivity is not None else np.inf))}
    out["total"] = float(np.mean(list(out.values())))
    return out


def rank_methods(methods: dict[str, MethodTrust]) -> list[str]:
    """Method names, most trustworthy first, by :func:`evidence`'s total (ties: registry order)."""
    order = list(METHODS)
    return sorted(methods, key=lambda m: (-evidence(methods[m])["total"], order.index(m)))


def how_to_read(r: MethodTrust) -> str:
    """How to read this method's map, given which tests it passed and whether the map has a sign
    (:func:`~model.explain.attribution.map_is_signed`: Saliency's |gradient| has none)."""
    t = r.tests()
    signed = map_is_signed(r.method, r.settings)
    if not r.class_specific:
        return "read it as where the model looked, not as why this class"
    if t["mprt"] and signed:
        return "its bright pixels and their colour both depend on what the model learned"
    if t["mprt"]:
        return "its bright pixels depend on what the model learned"
    if signed and (t["mprt_signed"] or t["smprt"] or t["emprt"]):
        return "read its sign (red for the class, blue against), not its brightness"
    if t["smprt"] or t["emprt"]:
        return ("read its overall pattern, not single bright pixels: its pixel ranking survives random weights, "
                "its overall pattern does not")
    return "read it with care: it changes little when the weights are random"


def reasons(r: MethodTrust) -> str:
    t = r.tests()
    names = {"mprt": "MPRT on |map|", "mprt_signed": "MPRT on signed maps", "smprt": "sMPRT", "emprt": "eMPRT",
             "random_logit": "the random-logit test"}
    ok = [names[k] for k, v in t.items() if v]
    bad = [names[k] for k, v in t.items() if not v]
    fc = r.scores.get("faithfulness_correlation")
    parts = [f"passes {', '.join(ok)}" if ok else "passes none of the randomisation tests"]
    if bad:
        parts.append(f"fails {', '.join(bad)}")
    if fc is not None:
        parts.append(f"faithfulness correlation {fc:.2f}")
    if r.max_sensitivity is not None:
        parts.append(f"max-sensitivity {r.max_sensitivity:.2f}")
    return "; ".join(parts)


def report_verdict(methods: dict[str, MethodTrust], ranking: list[str]) -> str:
    """The sentence the Trust page shows: which map to read first, how, and why."""
    best = methods[ranking[0]]
    msg = (f"Read {METHODS[best.method].label} first for this digit: {how_to_read(best)} "
           f"({reasons(best)}).")
    if len(ranking) > 1:
        worst = methods[ranking[-1]]
        msg += f" Trust {METHODS[worst.method].label} least here ({reasons(worst)})."
    return msg


def standing(r: MethodTrust) -> str:
    """How much of :data:`STANDING_RULE`'s evidence a method has on this digit: ``"good"`` (it passes
    at least 4 of the 5 tests of :meth:`MethodTrust.tests`), ``"mixed"`` (2 or 3) or ``"weak"`` (0 or
    1). The colour of its trust badge and of its line on the Trust page."""
    passed = sum(r.tests().values())
    return "good" if passed >= GOOD_STANDING else ("mixed" if passed >= MIXED_STANDING else "weak")


def verdict(r: MethodTrust) -> str:
    """One plain-language sentence about one method for a learner: how to read its map
    (:func:`how_to_read`), then what the tests found, without contradicting it."""
    label = METHODS[r.method].label
    t = r.tests()
    if r.passes:
        found = "it changes once the top of the model is randomised, so it does reflect what the model learned"
    elif r.first_drop is not None:
        found = (f"its brightness changes only once the weights down to {r.first_drop} are random, so it mixes "
                 "the model's reasoning with the shape of the digit")
    else:
        found = "its brightness ranking looks the same with random weights"
    if t["mprt_signed"] and not r.passes:
        found += "; its signs do change once the top of the model is randomised"
    if r.smprt is not None and not r.passes:
        found += (f"; once noise is averaged out (sMPRT {r.smprt:.2f}) it does depend on the weights" if t["smprt"]
                  else f"; even with noise averaged out (sMPRT {r.smprt:.2f}) it hardly depends on the weights")
    if not r.class_specific:
        found += "; it is the same map for every class by construction"
    elif r.random_logit_spearman is not None and r.random_logit_spearman >= SAME_CLASS_MAP:
        found += f"; nearly the same map for class {r.random_class}, so it hardly says why this class"
    return f"{label}: {how_to_read(r)}. {found[0].upper()}{found[1:]}."


# ----------------------------------------------------------------------------- whole report

@dataclass
class TrustReport(Result):
    target: int
    methods: dict[str, MethodTrust]
    seconds: float
    ranking: list[str] = field(default_factory=list)
    verdict: str = ""

    def to_json(self) -> dict:
        """The command line's object: per method the tests and scores, then ranking and verdict."""
        out = {}
        for name, r in self.methods.items():
            out[name] = {"mprt": [{"step": c.step, "spearman": c.spearman, "ssim": c.ssim} for c in r.cascade],
                         "mprt_signed": [{"step": c.step, "spearman": c.spearman_signed, "ssim": c.ssim_signed}
                                         for c in r.cascade],
                         "smprt": r.smprt, "emprt": r.emprt,
                         "random_class": r.random_class, "random_logit_spearman": r.random_logit_spearman,
                         "deletion_auc": r.scores["deletion_auc"], "insertion_auc": r.scores["insertion_auc"],
                         "faithfulness_correlation": r.scores["faithfulness_correlation"],
                         "max_sensitivity": r.max_sensitivity, "sparseness": r.sparseness,
                         "completeness": r.completeness, "tests": r.tests(), "evidence": evidence(r),
                         "standing": standing(r), "verdict": verdict(r), "seconds": r.seconds}
        extra = {"prediction": self.prediction} if getattr(self, "prediction", None) else {}
        return jsonable({**extra, "target": self.target, "methods": out, "ranking": self.ranking,
                         "verdict": self.verdict,
                         "rule": RANK_RULE, "sources": SOURCES, "meanings": MEANINGS, "cannot_tell": CANNOT_TELL})


def trust_report(model: ViT, image: np.ndarray, target: int | None = None,
                 methods: Iterable[str] = TRUST_METHODS, seed: int = SEED) -> TrustReport:
    """Every check and score for every method on one digit (``target=None``: the prediction),
    ranked. Each method's ``seconds`` = its own runs + an equal share of the batched passes."""
    t0 = time.perf_counter()
    t = _target(model, target, _as_input(image))
    steps = randomised_cascade(model, seed)
    out = {m: method_trust(model, image, t, m, seed, steps) for m in methods}
    return finish_report(model, image, t, out, seed, t0)


def finish_report(model: ViT, image: np.ndarray, target: int, out: dict[str, MethodTrust], seed: int = SEED,
                  t0: float | None = None) -> TrustReport:
    """Add the batched scores (deletion/insertion, faithfulness correlation), rank, and wrap up."""
    t0 = time.perf_counter() if t0 is None else t0
    t1 = time.perf_counter()
    scores = shared_scores(model, image, target, {m: r.map for m, r in out.items()}, seed)
    share = (time.perf_counter() - t1) / max(1, len(out))
    for m, r in out.items():
        r.scores = scores[m]
        r.seconds += share
    ranking = rank_methods(out) if out else []
    return TrustReport(target, out, time.perf_counter() - t0, ranking, report_verdict(out, ranking) if out else "")


def run(model: ViT, image: np.ndarray, target: int | None = None) -> TrustReport:
    """The family's verb: the whole trust report of one digit, with the calibrated headline."""
    from model.inference import headline

    report = trust_report(model, image, target)
    report.prediction = headline(model, image).to_json()
    return report


FAMILY = Family("trust", run, "sanity checks (MPRT, sMPRT, eMPRT, random logit), scorecard and verdict of every "
                "attribution method.", options=(TARGET,), source=SOURCES)


# ----------------------------------------------------------------------------- test-set summary

def trust_summary(model: ViT, images: np.ndarray, methods: Iterable[str] = TRUST_METHODS, seed: int = SEED,
                  progress=None) -> dict:
    """The randomisation tests, random logit and verdict of every method on many digits (each
    explained for its predicted class): per method the share of digits that pass MPRT on |map|
    (:func:`passes`) and on signed maps, sMPRT and eMPRT (shares passing and medians), the share
    whose map is below PASS_THRESHOLD once every weight is random, per step the median Spearman
    (|map| and signed) and SSIM, and how often the method ranks first (:func:`rank_methods`).
    ``images`` (N, 28, 28) in [0, 1]; ``progress(i, n)`` is called per digit."""
    methods = list(methods)
    steps = list(cascade_steps(model))
    n = len(images)
    rho = {m: np.zeros((n, len(steps))) for m in methods}
    signed = {m: np.zeros((n, len(steps))) for m in methods}
    sim = {m: np.zeros((n, len(steps))) for m in methods}
    cols = ("random_logit", "smprt", "emprt", "ok", "ok_signed", "ok_smprt", "ok_emprt")
    per = {m: {c: np.zeros(n) for c in cols} for m in methods}
    best = {m: 0 for m in methods}
    cascade = randomised_cascade(model, seed)
    for i, img in enumerate(images):
        t = _target(model, None, _as_input(img))
        res = {m: method_trust(model, img, t, m, seed, cascade) for m in methods}
        rep = finish_report(model, img, t, res, seed)
        best[rep.ranking[0]] += 1
        for m, r in res.items():
            rho[m][i] = [c.spearman for c in r.cascade]
            signed[m][i] = [c.spearman_signed for c in r.cascade]
            sim[m][i] = [c.ssim for c in r.cascade]
            tests = r.tests()
            for c, v in (("random_logit", r.random_logit_spearman), ("smprt", r.smprt), ("emprt", r.emprt),
                         ("ok", tests["mprt"]), ("ok_signed", tests["mprt_signed"]), ("ok_smprt", tests["smprt"]),
                         ("ok_emprt", tests["emprt"])):
                per[m][c][i] = v
        if progress is not None:
            progress(i + 1, n)
    out = {}
    for m in methods:
        p = per[m]
        out[m] = {"label": METHODS[m].label, "settings": trust_settings(m, model),
                  "pass_rate": float(p["ok"].mean()),
                  "signed_pass_rate": float(p["ok_signed"].mean()),
                  "smprt_pass_rate": float(p["ok_smprt"].mean()),
                  "emprt_pass_rate": float(p["ok_emprt"].mean()),
                  "median_smprt": float(np.median(p["smprt"])),
                  "median_emprt": float(np.median(p["emprt"])),
                  "best_rate": best[m] / max(1, n),
                  "changed_when_all_random": float((rho[m][:, -1] < PASS_THRESHOLD).mean()),
                  "median_spearman": {s: float(np.median(rho[m][:, j])) for j, s in enumerate(steps)},
                  "median_ssim": {s: float(np.median(sim[m][:, j])) for j, s in enumerate(steps)},
                  "median_spearman_signed": {s: float(np.median(signed[m][:, j])) for j, s in enumerate(steps)},
                  "median_random_logit_spearman": float(np.median(p["random_logit"]))}
    most = max(methods, key=lambda m: (best[m], -methods.index(m))) if methods else None
    return {"n_images": int(n), "steps": steps, "threshold": PASS_THRESHOLD, "seed": int(seed),
            "rule": RULE, "rank_rule": RANK_RULE, "most_often_best": most,
            "smooth_samples": SMOOTH_SAMPLES, "smooth_noise": SMOOTH_NOISE,
            "weights_sha1": model_fingerprint(model), "methods": out}
