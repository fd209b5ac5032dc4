"""Explanations of one ViT prediction: attention maps, Captum attributions and their faithfulness.

Everything here is a pure function of ``(model, image, target, settings)`` returning numpy
arrays, so pages only render. The one registry :data:`METHODS` lists every attribution
method with its source, a "how to read this" caption and its settings (defaults and ranges);
the Attributions page builds its menu from it and calls :func:`explain` / :func:`attribute`.

Methods and sources
-------------------
* Integrated Gradients (Sundararajan et al., 2017, "Axiomatic Attribution for Deep Networks"),
  ``captum.attr.IntegratedGradients``.
* Saliency (Simonyan et al., 2014, "Deep Inside Convolutional Networks"), ``captum.attr.Saliency``.
* Input x Gradient (Shrikumar et al., 2016), ``captum.attr.InputXGradient``.
* GradientShap (Lundberg & Lee, 2017, "A Unified Approach to Interpreting Model Predictions"),
  the algorithm of ``captum.attr.GradientShap``.
* Occlusion (Zeiler & Fergus, 2014), ``captum.attr.Occlusion``.
* NoiseTunnel / SmoothGrad (Smilkov et al., 2017; VarGrad: Adebayo et al., 2018), the algorithm
  of ``captum.attr.NoiseTunnel`` around any gradient method above.
* Attention of the class token per layer and head, attention rollout (Abnar & Zuidema, 2020,
  "Quantifying Attention Flow in Transformers") and gradient-weighted rollout (Chefer, Gur &
  Wolf, 2021, "Generic Attention-model Explainability for Interpreting Bi-Modal and
  Encoder-Decoder Transformers", their Eq. 5-6), which is class-specific.
* Head knockout (Michel et al., 2019) through the model's ``head_mask`` argument.
* Deletion / insertion curves (Petsiuk et al., 2018, "RISE", Sec. 4.1).

All gradient methods explain the target class's *logit* (score before softmax), where
completeness holds (IG's attributions sum to ``logit(x) - logit(baseline)``); the faithfulness
curves track the target's *probability*, as in RISE.

Thread safety
-------------
One model instance is shared by every app session (``st.cache_resource``), so nothing here
mutates it: no hooks (Captum's layer methods register hooks, so they are not used; attention
comes back as a return value of ``model(x, return_attn=True)``), no ``train()``/``eval()``
calls, no ``requires_grad`` changes on parameters. Gradients are taken with respect to a fresh
per-call input tensor only, through ``torch.autograd.grad`` (Captum's ``compute_gradients``
uses it too), which never writes ``param.grad``. Random methods (GradientShap, NoiseTunnel,
the noise baseline, the random ranking) draw from a per-call ``torch.Generator`` seeded by a
``seed`` setting: Captum's own ``GradientShap`` and ``NoiseTunnel`` draw from the global RNGs
(``np.random`` / ``torch.normal``) that all threads share, so their results would depend on
what other sessions do at the same moment; we reimplement those two (a few lines each) with
the same formulas. ``tests/test_explain_threads.py`` checks that 8 threads give the serial
results and leave the model untouched.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from model.inference import predict_proba
from model.vit import ViT

IMAGE_SIDE = 28
BASELINES = ("black", "blurred", "noise")
BLUR_SIGMA = 3.0          # px; the blurred baseline keeps the rough shape of the digit, not its strokes

# Integrated Gradients evaluates n_steps points along the path. Captum's default
# internal_batch_size=None puts all of them in one batch; for this small model one batch of
# 50 images is the fastest on one CPU thread and needs ~10 MB, so we cap it at 64 points per
# forward/backward pass (bigger step counts are split, which keeps memory flat).
IG_INTERNAL_BATCH = 64
# Occlusion: Captum's default perturbations_per_eval=1 runs one forward pass per window
# position (169 of them for a 4x4 window with stride 2), which was 10-100x slower than
# batching them here. We evaluate up to this many occluded copies per forward pass.
OCCLUSION_PER_EVAL = 256
# Faithfulness curves: this many images per forward pass. Larger batches were slower per
# image on one thread here (activations of a few hundred images fall out of the CPU caches).
FAITHFULNESS_BATCH = 128


# ----------------------------------------------------------------------------- helpers

def _as_input(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(28, 28) array in [0, 1] -> fresh float tensor (1, 1, 28, 28), never shared with the caller."""
    x = torch.as_tensor(np.array(image, dtype=np.float32, copy=True))
    if x.ndim == 4:
        x = x.reshape(x.shape[-2], x.shape[-1])
    if tuple(x.shape) != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"expected a 28x28 image, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("image contains NaN or infinite values")
    return x.clamp(0.0, 1.0)[None, None]                               # (1, 1, 28, 28)


def _gaussian_blur(x: torch.Tensor, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Separable Gaussian blur of (B, 1, H, W), zero padding (the background is black)."""
    r = int(math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(x, k.view(1, 1, 1, -1), padding=(0, r))              # (B, 1, H, W)
    return F.conv2d(x, k.view(1, 1, -1, 1), padding=(r, 0))           # (B, 1, H, W)


def make_baseline(x: torch.Tensor, kind: str = "black", seed: int = 0, n: int = 1) -> torch.Tensor:
    """A reference input for IG, GradientShap, Occlusion and the faithfulness curves.

    ``black``: all zeros (no ink, MNIST's background); ``blurred``: the digit blurred (sigma 3 px),
    which keeps its mass but removes its strokes; ``noise``: uniform noise in [0, 1] drawn from
    a generator seeded by ``seed`` (``n`` independent draws)."""
    if kind == "black":
        return torch.zeros((n,) + tuple(x.shape[1:]), dtype=x.dtype)
    if kind == "blurred":
        return _gaussian_blur(x[:1]).expand(n, -1, -1, -1).clone()
    if kind == "noise":
        g = torch.Generator().manual_seed(int(seed))
        return torch.rand((n,) + tuple(x.shape[1:]), generator=g, dtype=x.dtype)
    raise ValueError(f"unknown baseline {kind!r}; choose one of {BASELINES}")


def upsample_patches(grid: np.ndarray, side: int = IMAGE_SIDE) -> np.ndarray:
    """(..., g, g) patch values -> (..., side, side), each patch value filling its own pixels."""
    grid = np.asarray(grid)
    f = side // grid.shape[-1]
    return np.repeat(np.repeat(grid, f, axis=-2), f, axis=-1)


def _logits_fn(model: ViT) -> Callable[[torch.Tensor], torch.Tensor]:
    """A plain forward function for Captum: Captum then never sees the module itself."""
    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(x)                                                 # (B, 10)
    return forward


def input_gradients(model: ViT, x: torch.Tensor, target: int) -> torch.Tensor:
    """d logit[target] / d x for a batch (B, 1, 28, 28), without touching any param.grad."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = model(x)[:, target].sum()
        (g,) = torch.autograd.grad(out, x)
    return g                                                            # (B, 1, 28, 28)


def _target(model: ViT, target: int | None, x: torch.Tensor) -> int:
    if target is None:
        with torch.inference_mode():
            return int(model(x).argmax(-1)[0])
    t = int(target)
    if not 0 <= t < model.cfg.num_classes:
        raise ValueError(f"target must be a class index 0..{model.cfg.num_classes - 1}, got {target}")
    return t


# ----------------------------------------------------------------------------- predictions

def predict(model: ViT, image: np.ndarray, head_mask: np.ndarray | None = None) -> np.ndarray:
    """Class probabilities (10,) for one image, optionally with heads knocked out."""
    return predict_proba(model, _as_input(image), head_mask=head_mask)[0]


def knockout_mask(model: ViT, heads: Iterable[tuple[int, int]]) -> np.ndarray:
    """(layers, heads) float mask, 0 for each ``(layer, head)`` in ``heads``."""
    mask = np.ones((model.cfg.depth, model.cfg.heads), dtype=np.float32)
    for layer, head in heads:
        mask[int(layer), int(head)] = 0.0
    return mask


def knockout_proba(model: ViT, image: np.ndarray, heads: Iterable[tuple[int, int]]) -> np.ndarray:
    """Probabilities (10,) with the given heads switched off for this call only
    (Michel et al., 2019). The shared model is not modified: the mask is an argument."""
    return predict(model, image, knockout_mask(model, heads))


def single_head_effects(model: ViT, image: np.ndarray, target: int) -> np.ndarray:
    """(layers, heads): drop in the target probability when that one head alone is knocked out."""
    L, H = model.cfg.depth, model.cfg.heads
    base = predict(model, image)[target]
    return np.array([[base - knockout_proba(model, image, [(layer, head)])[target] for head in range(H)]
                     for layer in range(L)], dtype=np.float32)


# ----------------------------------------------------------------------------- attention

@dataclass
class AttentionResult:
    """Attention of one image. ``attn`` (L, H, N, N): row = query token, column = key token,
    token 0 = class token, tokens 1..49 = patches in row-major order of the 7x7 grid."""
    attn: np.ndarray
    probs: np.ndarray          # (10,)
    cls: np.ndarray            # (L, H, g, g): the class token's attention to each patch
    cls_mean: np.ndarray       # (L, g, g): the same, mean over heads
    rollout: np.ndarray        # (g, g): attention rollout from the class token
    stats: dict[str, np.ndarray]  # (L, H) arrays, see :func:`head_stats`

    @property
    def grid(self) -> int:
        return self.cls.shape[-1]

    @property
    def cls_pixels(self) -> np.ndarray:
        """(L, H, 28, 28): the class-token maps upsampled, each patch filling its 4x4 pixels."""
        return upsample_patches(self.cls)


@torch.inference_mode()
def attention_weights(model: ViT, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(attention (L, H, N, N) float32, probabilities (10,)) for one image."""
    logits, attn = model(_as_input(image), return_attn=True)            # (1, 10), (1, L, H, N, N)
    return attn[0].numpy().astype(np.float32), F.softmax(logits, -1)[0].numpy().astype(np.float32)


def query_attention(attn: np.ndarray, layer: int, query: int = 0) -> np.ndarray:
    """(H, g, g): where token ``query`` (0 = class token, 1 + r*g + c = patch (r, c)) looks
    in every head of ``layer``; the class token's own share is left out of the map."""
    a = np.asarray(attn)[layer, :, query, 1:]                           # (H, N-1)
    g = int(round(math.sqrt(a.shape[-1])))
    return a.reshape(a.shape[0], g, g)


def rollout(attn: np.ndarray, discard_ratio: float = 0.0, head_fusion: str = "mean",
            return_matrix: bool = False) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020): fuse heads, add the residual identity,
    renormalise rows, multiply layer by layer. ``discard_ratio`` zeroes that fraction of the
    lowest fused attention weights per layer (never those from/to the class token's own row
    entry (0, 0)), as in Gildenblat's widely used vit-explain. Returns the class token's row
    over the patches (g, g), or the full (N, N) matrix whose rows each sum to 1."""
    attn = np.asarray(attn, dtype=np.float64)                           # (L, H, N, N)
    L, H, N, _ = attn.shape
    if head_fusion == "mean":
        fused = attn.mean(axis=1)
    elif head_fusion == "max":
        fused = attn.max(axis=1)
    elif head_fusion == "min":
        fused = attn.min(axis=1)
    else:
        raise ValueError(f"head_fusion must be mean, max or min, got {head_fusion!r}")
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError("discard_ratio must be in [0, 1)")
    eye = np.eye(N)
    result = eye.copy()
    for layer in range(L):
        a = fused[layer].copy()                                         # (N, N)
        k = int(a.size * discard_ratio)
        if k:
            flat = a.reshape(-1)
            idx = np.argpartition(flat, k)[:k]
            idx = idx[idx != 0]                                         # keep the class token's entry
            flat[idx] = 0.0
        a = 0.5 * a + 0.5 * eye                                         # residual connection
        a = a / a.sum(axis=-1, keepdims=True)
        result = a @ result                                             # (N, N)
    if return_matrix:
        return result
    g = int(round(math.sqrt(N - 1)))
    return result[0, 1:].reshape(g, g)


def head_stats(attn: np.ndarray) -> dict[str, np.ndarray]:
    """Per-head statistics, each (L, H):

    * ``cls_entropy``: entropy of the class token's attention row divided by log(N) (0 = looks
      at a single token, 1 = spreads evenly over all tokens);
    * ``mean_entropy``: the same averaged over every query token;
    * ``cls_share``: mean attention every token pays to the class token;
    * ``cls_self``: attention the class token pays to itself."""
    a = np.asarray(attn, dtype=np.float64)                              # (L, H, N, N)
    N = a.shape[-1]
    ent = -(a * np.log(np.clip(a, 1e-12, None))).sum(-1) / math.log(N)  # (L, H, N)
    return {
        "cls_entropy": ent[..., 0].astype(np.float32),
        "mean_entropy": ent.mean(-1).astype(np.float32),
        "cls_share": a[..., :, 0].mean(-1).astype(np.float32),
        "cls_self": a[..., 0, 0].astype(np.float32),
    }


def attention_summary(model: ViT, image: np.ndarray, discard_ratio: float = 0.0,
                      head_fusion: str = "mean") -> AttentionResult:
    """Everything the Attention page shows that needs no gradient, from one forward pass."""
    attn, probs = attention_weights(model, image)
    L, H, N, _ = attn.shape
    g = int(round(math.sqrt(N - 1)))
    cls = attn[:, :, 0, 1:].reshape(L, H, g, g)
    return AttentionResult(attn=attn, probs=probs, cls=cls, cls_mean=cls.mean(axis=1),
                           rollout=rollout(attn, discard_ratio, head_fusion).astype(np.float32),
                           stats=head_stats(attn))


def gradient_rollout(model: ViT, image: np.ndarray, target: int | None = None) -> np.ndarray:
    """Class-specific relevance (g, g) of each patch (Chefer et al., 2021, Eq. 5-6):
    ``A_bar = mean_h (grad_A * A)^+`` per layer and ``R <- R + A_bar @ R`` from ``R = I``; the
    class token's row of ``R`` over the patches. Gradients of the target logit w.r.t. the
    attention tensors themselves (kept in the graph by ``forward_features``)."""
    x = _as_input(image)
    t = _target(model, target, x)
    with torch.enable_grad():
        feats, attns = model.forward_features(x, need_weights=True)      # attns: L x (1, H, N, N)
        logit = model.head(feats)[0, t]
        grads = torch.autograd.grad(logit, attns)
    N = attns[0].shape[-1]
    R = torch.eye(N, dtype=torch.float64)
    for a, ga in zip(attns, grads):
        cam = (ga[0] * a[0].detach()).clamp(min=0).mean(0).double()     # (N, N)
        R = R + cam @ R
    g = int(round(math.sqrt(N - 1)))
    return R[0, 1:].reshape(g, g).numpy().astype(np.float32)


# ----------------------------------------------------------------------------- attribution methods
# Each method: (model, x (1,1,28,28) tensor, target int, **settings) -> (map (28,28) float32, extra dict)

def _integrated_gradients(model, x, target, steps=50, baseline="black", seed=0):
    from captum.attr import IntegratedGradients

    base = make_baseline(x, baseline, seed)
    x = x.clone().requires_grad_(True)   # a fresh per-call tensor; Captum would otherwise warn
    attr, delta = IntegratedGradients(_logits_fn(model)).attribute(
        x, baselines=base, target=target, n_steps=int(steps),
        internal_batch_size=IG_INTERNAL_BATCH, return_convergence_delta=True)
    with torch.inference_mode():
        f = model(torch.cat([x.detach(), base]))[:, target]             # (2,)
    return attr[0, 0].detach(), {"convergence_delta": float(delta[0]),
                                 "logit_input": float(f[0]), "logit_baseline": float(f[1])}


def _saliency(model, x, target, absolute=True):
    from captum.attr import Saliency

    x = x.clone().requires_grad_(True)
    attr = Saliency(_logits_fn(model)).attribute(x, target=target, abs=bool(absolute))
    return attr[0, 0].detach(), {}


def _input_x_gradient(model, x, target):
    from captum.attr import InputXGradient

    x = x.clone().requires_grad_(True)
    attr = InputXGradient(_logits_fn(model)).attribute(x, target=target)
    return attr[0, 0].detach(), {}


def _gradient_shap(model, x, target, n_samples=32, stdevs=0.1, baseline="black", seed=0):
    """GradientShap as in captum.attr.GradientShap: for each sample draw a baseline from the
    distribution, add N(0, stdevs^2) noise to the input, pick a uniform point on the straight
    line between them and multiply its gradient by (noisy input - baseline); average. All
    samples go through the model in one batch."""
    n = int(n_samples)
    g = torch.Generator().manual_seed(int(seed))
    # noise baselines: a distribution of n draws; black/blurred: a single reference repeated
    base = make_baseline(x, baseline, seed, n=n)                        # (n, 1, 28, 28)
    noisy = x + float(stdevs) * torch.randn((n,) + tuple(x.shape[1:]), generator=g)   # (n, 1, 28, 28)
    alpha = torch.rand(n, generator=g).view(n, 1, 1, 1)                 # (n, 1, 1, 1)
    points = base + alpha * (noisy - base)                              # (n, 1, 28, 28)
    grads = input_gradients(model, points, target)                      # (n, 1, 28, 28)
    attr = (grads * (noisy - base)).mean(0)                             # (1, 28, 28)
    return attr[0], {}


def _occlusion(model, x, target, window=4, stride=2, baseline="black", seed=0):
    from captum.attr import Occlusion

    window, stride = int(window), int(stride)
    if stride > window:
        raise ValueError("stride must not exceed the window (some pixels would never be occluded)")
    base = make_baseline(x, baseline, seed)
    n_windows = (math.ceil((IMAGE_SIDE - window) / stride) + 1) ** 2
    attr = Occlusion(_logits_fn(model)).attribute(
        x, sliding_window_shapes=(1, window, window), strides=(1, stride, stride),
        baselines=base, target=target,
        perturbations_per_eval=min(n_windows, OCCLUSION_PER_EVAL))
    return attr[0, 0].detach(), {"forward_passes": n_windows}


NT_BASES = ("saliency", "input_x_gradient", "integrated_gradients")
NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _noise_tunnel(model, x, target, base="saliency", nt_type="smoothgrad", nt_samples=16,
                  stdevs=0.15, seed=0, **base_settings):
    """NoiseTunnel as in captum.attr.NoiseTunnel: run ``base`` on ``nt_samples`` copies of the
    input with N(0, stdevs^2) noise (from a per-call generator) in one batch and aggregate:
    mean (SmoothGrad), mean of squares (SmoothGrad^2) or variance (VarGrad)."""
    if base not in NT_BASES:
        raise ValueError(f"NoiseTunnel base must be one of {NT_BASES}, got {base!r}")
    n = int(nt_samples)
    g = torch.Generator().manual_seed(int(seed))
    noisy = x + float(stdevs) * torch.randn((n,) + tuple(x.shape[1:]), generator=g)   # (n, 1, 28, 28)
    if base == "saliency":
        grads = input_gradients(model, noisy, target)
        maps = grads.abs() if base_settings.get("absolute", True) else grads
    elif base == "input_x_gradient":
        maps = input_gradients(model, noisy, target) * noisy
    else:
        from captum.attr import IntegratedGradients

        b = make_baseline(x, base_settings.get("baseline", "black"), int(base_settings.get("seed", seed)))
        maps = IntegratedGradients(_logits_fn(model)).attribute(
            noisy.requires_grad_(True), baselines=b.expand(n, -1, -1, -1), target=target,
            n_steps=int(base_settings.get("steps", 50)),
            internal_batch_size=max(IG_INTERNAL_BATCH, n)).detach()
    maps = maps[:, 0]                                                   # (n, 28, 28)
    if nt_type == "smoothgrad":
        out = maps.mean(0)
    elif nt_type == "smoothgrad_sq":
        out = (maps ** 2).mean(0)
    elif nt_type == "vargrad":
        out = maps.var(0, unbiased=False)
    else:
        raise ValueError(f"nt_type must be one of {NT_TYPES}")
    return out, {}


def _rollout_method(model, x, target, discard_ratio=0.0, head_fusion="mean"):
    attn, _ = attention_weights(model, x[0, 0].numpy())
    return upsample_patches(rollout(attn, float(discard_ratio), head_fusion)), {}


def _gradient_rollout_method(model, x, target):
    return upsample_patches(gradient_rollout(model, x[0, 0].numpy(), target)), {}


def _cls_attention_method(model, x, target, layer="last", head="mean"):
    attn, _ = attention_weights(model, x[0, 0].numpy())
    li = attn.shape[0] - 1 if layer == "last" else int(layer)
    maps = query_attention(attn, li, 0)                                 # (H, g, g)
    m = maps.mean(0) if head == "mean" else maps[int(head)]
    return upsample_patches(m), {}


# ----------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class Setting:
    """One user-facing setting of a method: ``kind`` is int, float, choice or bool.
    ``options_from`` ("layers"/"heads") makes choice options depend on the model."""
    name: str
    label: str
    kind: str
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: tuple = ()
    help: str = ""
    options_from: str | None = None

    def resolve(self, model: ViT | None) -> "Setting":
        if self.options_from is None or model is None:
            return self
        n = model.cfg.depth if self.options_from == "layers" else model.cfg.heads
        return replace(self, options=tuple(self.options) + tuple(range(n)), options_from=None)

    def check(self, value: Any) -> Any:
        if self.kind == "int":
            v = int(value)
            if (self.min is not None and v < self.min) or (self.max is not None and v > self.max):
                raise ValueError(f"{self.name} must be in [{self.min}, {self.max}], got {v}")
            return v
        if self.kind == "float":
            v = float(value)
            if not math.isfinite(v) or (self.min is not None and v < self.min) or (self.max is not None and v > self.max):
                raise ValueError(f"{self.name} must be in [{self.min}, {self.max}], got {v}")
            return v
        if self.kind == "bool":
            return bool(value)
        if self.options_from is None and value not in self.options:
            raise ValueError(f"{self.name} must be one of {self.options}, got {value!r}")
        return value


@dataclass(frozen=True)
class MethodSpec:
    key: str
    label: str
    fn: Callable
    source: str            # paper and, where used, the Captum class
    caption: str           # how to read this (what red and blue mean)
    settings: tuple[Setting, ...] = ()
    kind: str = "gradient"  # gradient, perturbation or attention
    signed: bool = True     # can be negative (diverging colour scale)
    class_specific: bool = True

    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.settings}

    def resolved_settings(self, model: ViT | None = None) -> tuple[Setting, ...]:
        return tuple(s.resolve(model) for s in self.settings)


_SEED = Setting("seed", "Random seed", "int", 0, 0, 2**31 - 1, 1, help="Same seed, same result.")
_BASELINE = Setting("baseline", "Baseline", "choice", "black", options=BASELINES,
                    help="The reference input meaning 'no evidence': black (no ink), the digit blurred, or uniform noise.")
_SIGNED_CAPTION = "Red pixels push the score of the target class up, blue pixels push it down; white is neutral."

METHODS: dict[str, MethodSpec] = {spec.key: spec for spec in [
    MethodSpec(
        "integrated_gradients", "Integrated Gradients", _integrated_gradients,
        "Sundararajan et al., 2017 (captum.attr.IntegratedGradients)",
        "Each pixel's share of the change in the target's score between the baseline and this digit; "
        "the shares add up to that change (the convergence delta is the leftover). " + _SIGNED_CAPTION,
        (Setting("steps", "Steps", "int", 50, 4, 300, 1, help="Points on the path from the baseline; more is more exact."),
         _BASELINE, _SEED)),
    MethodSpec(
        "saliency", "Saliency", _saliency,
        "Simonyan et al., 2014 (captum.attr.Saliency)",
        "How strongly the target's score reacts to a tiny change of each pixel (the gradient). "
        "With 'absolute' on, brighter red = more sensitive, regardless of direction; otherwise "
        "red = brightening the pixel raises the score, blue = lowers it.",
        (Setting("absolute", "Absolute value", "bool", True, help="Simonyan et al. show |gradient|."),)),
    MethodSpec(
        "input_x_gradient", "Input x Gradient", _input_x_gradient,
        "Shrikumar et al., 2016 (captum.attr.InputXGradient)",
        "The gradient times the pixel value: only ink pixels can light up. " + _SIGNED_CAPTION),
    MethodSpec(
        "gradient_shap", "GradientShap", _gradient_shap,
        "Lundberg & Lee, 2017 (algorithm of captum.attr.GradientShap, seeded per call)",
        "Expected gradients: Integrated Gradients averaged over random baselines, random points on the path "
        "and noisy copies of the digit, approximating SHAP values. " + _SIGNED_CAPTION,
        (Setting("n_samples", "Samples", "int", 32, 4, 256, 4), 
         Setting("stdevs", "Input noise (std)", "float", 0.1, 0.0, 1.0, 0.05),
         _BASELINE, _SEED)),
    MethodSpec(
        "occlusion", "Occlusion", _occlusion,
        "Zeiler & Fergus, 2014 (captum.attr.Occlusion)",
        "Slide a square patch of baseline over the digit and record how much the target's score drops; "
        "red = hiding this area lowers the score (evidence for the class), blue = hiding it raises the score.",
        (Setting("window", "Window (px)", "int", 4, 2, 14, 1),
         Setting("stride", "Stride (px)", "int", 2, 1, 7, 1, help="Must not exceed the window."),
         _BASELINE, _SEED), kind="perturbation"),
    MethodSpec(
        "noise_tunnel", "NoiseTunnel (SmoothGrad)", _noise_tunnel,
        "Smilkov et al., 2017; Adebayo et al., 2018 (algorithm of captum.attr.NoiseTunnel, seeded per call)",
        "The chosen method averaged over noisy copies of the digit, which removes the speckle of single gradients. "
        "For SmoothGrad: red = for the class, blue = against; squared and VarGrad maps are never negative.",
        (Setting("base", "Method to smooth", "choice", "saliency", options=NT_BASES),
         Setting("nt_type", "Aggregation", "choice", "smoothgrad", options=NT_TYPES),
         Setting("nt_samples", "Noisy copies", "int", 16, 2, 128, 2),
         Setting("stdevs", "Noise (std)", "float", 0.15, 0.0, 1.0, 0.05),
         _SEED)),
    MethodSpec(
        "attention_rollout", "Attention rollout", _rollout_method,
        "Abnar & Zuidema, 2020, 'Quantifying Attention Flow in Transformers'",
        "How much of the class token's information flows from each 4x4 patch, following attention through all "
        "layers (with the residual path). The same for every target class; brighter = more attention, never negative.",
        (Setting("discard_ratio", "Discard ratio", "float", 0.0, 0.0, 0.95, 0.05,
                 help="Zero this fraction of the weakest attention weights in each layer first."),
         Setting("head_fusion", "Head fusion", "choice", "mean", options=("mean", "max", "min"))),
        kind="attention", signed=False, class_specific=False),
    MethodSpec(
        "gradient_rollout", "Gradient-weighted rollout", _gradient_rollout_method,
        "Chefer, Gur & Wolf, 2021, 'Generic Attention-model Explainability'",
        "Rollout where each attention weight counts only as much as its gradient says it raises the target's "
        "score, so the map is class-specific. Brighter = more relevant to the target; never negative.",
        (), kind="attention", signed=False),
    MethodSpec(
        "cls_attention", "Class-token attention", _cls_attention_method,
        "Dosovitskiy et al., 2021 (attention weights of the model)",
        "Where the class token looks in one layer: the softmax attention weights over the 49 patches. "
        "The same for every target class; brighter = more attention, never negative.",
        (Setting("layer", "Layer", "choice", "last", options=("last",), options_from="layers"),
         Setting("head", "Head", "choice", "mean", options=("mean",), options_from="heads")),
        kind="attention", signed=False, class_specific=False),
]}

DEFAULT_COMPARISON = ("integrated_gradients", "saliency", "input_x_gradient", "gradient_shap",
                      "occlusion", "attention_rollout", "gradient_rollout")


@dataclass
class Attribution:
    """The result of one method: ``map`` (28, 28) float32 and anything else it reports
    (Integrated Gradients: ``convergence_delta``, ``logit_input``, ``logit_baseline``)."""
    method: str
    target: int
    map: np.ndarray
    settings: dict[str, Any]
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def convergence_delta(self) -> float | None:
        return self.extra.get("convergence_delta")


def method_settings(method: str, settings: dict[str, Any], model: ViT | None = None) -> dict[str, Any]:
    """Defaults of ``method`` overridden by ``settings``, checked against the schema. Unknown
    keys are refused, except that a NoiseTunnel passes its base method's settings through."""
    spec = METHODS[method]
    out = spec.defaults()
    schema = {s.name: s for s in spec.resolved_settings(model)}
    extra_ok: dict[str, Setting] = {}
    if method == "noise_tunnel":
        base = settings.get("base", out["base"])
        extra_ok = {s.name: s for s in METHODS[base].settings if s.name not in schema}
    for k, v in settings.items():
        if k in schema:
            out[k] = schema[k].check(v)
        elif k in extra_ok:
            out[k] = extra_ok[k].check(v)
        else:
            raise ValueError(f"{method} has no setting {k!r}")
    return out


def explain(model: ViT, image: np.ndarray, target: int | None = None,
            method: str = "integrated_gradients", **settings: Any) -> Attribution:
    """Run one registry method on one image; ``target=None`` explains the predicted class."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    x = _as_input(image)
    t = _target(model, target, x)
    full = method_settings(method, settings, model)
    amap, extra = METHODS[method].fn(model, x, t, **full)
    amap = np.asarray(amap.numpy() if isinstance(amap, torch.Tensor) else amap, dtype=np.float32)
    return Attribution(method, t, amap.reshape(IMAGE_SIDE, IMAGE_SIDE), full, extra)


def attribute(model: ViT, image: np.ndarray, target: int | None = None,
              method: str = "integrated_gradients", **settings: Any) -> np.ndarray:
    """Attribution map (28, 28) float32 of ``method`` for ``target`` (see :data:`METHODS`)."""
    return explain(model, image, target, method, **settings).map


# ----------------------------------------------------------------------------- faithfulness

@dataclass
class Faithfulness:
    """Deletion and insertion curves (Petsiuk et al., 2018). ``fractions`` (S+1,) is the share
    of units (pixels or patches) removed / inserted, from 0 to 1; ``deletion[name]`` and
    ``insertion[name]`` the target probability at each; ``auc`` name -> {deletion, insertion,
    score = insertion - deletion}. Low deletion AUC and high insertion AUC = faithful."""
    fractions: np.ndarray
    deletion: dict[str, np.ndarray]
    insertion: dict[str, np.ndarray]
    auc: dict[str, dict[str, float]]
    unit: str
    target: int

    @property
    def best(self) -> str:
        names = [n for n in self.auc if n != "random"]
        return max(names, key=lambda n: self.auc[n]["score"])


def _unit_scores(amap: np.ndarray, unit: str, patch: int) -> np.ndarray:
    a = np.asarray(amap, dtype=np.float64).reshape(IMAGE_SIDE, IMAGE_SIDE)
    if unit == "pixel":
        return a.reshape(-1)
    g = IMAGE_SIDE // patch
    return a.reshape(g, patch, g, patch).sum(axis=(1, 3)).reshape(-1)


def faithfulness(model: ViT, image: np.ndarray, target: int, maps: dict[str, np.ndarray],
                 unit: str = "pixel", steps: int = 20, baseline: str = "black",
                 include_random: bool = True, seed: int = 0) -> Faithfulness:
    """Remove (deletion) or add (insertion) pixels or 4x4 patches in the order each map ranks
    them, most positive first, replacing them by / taking them from ``baseline``, and record
    the target probability. Every curve point of every method is evaluated in one batched
    forward pass (a few at most). ``include_random`` adds a seeded random order as a yardstick."""
    if unit not in ("pixel", "patch"):
        raise ValueError("unit must be 'pixel' or 'patch'")
    if int(steps) < 1:
        raise ValueError("steps must be at least 1")
    x = _as_input(image)
    base = make_baseline(x, baseline, seed)
    patch = model.cfg.patch_size
    n_units = IMAGE_SIDE * IMAGE_SIDE if unit == "pixel" else (IMAGE_SIDE // patch) ** 2
    counts = np.unique(np.round(np.linspace(0, n_units, int(steps) + 1)).astype(int))  # (S+1,)
    fractions = counts / n_units
    orders: dict[str, np.ndarray] = {}
    for name, amap in maps.items():
        orders[name] = np.argsort(-_unit_scores(amap, unit, patch), kind="stable")
    if include_random:
        orders["random"] = np.random.default_rng(seed).permutation(n_units)
    names = list(orders)
    # masks[m, s, u] = unit u is among the first counts[s] units of method m's order
    ranks = np.empty((len(names), n_units), dtype=np.int64)
    for i, name in enumerate(names):
        ranks[i, orders[name]] = np.arange(n_units)
    masks = ranks[:, None, :] < counts[None, :, None]                     # (M, S+1, U)
    if unit == "patch":
        g = IMAGE_SIDE // patch
        masks = upsample_patches(masks.reshape(len(names), len(counts), g, g))
    # Step 0 and the last step are the same two images (the digit, the baseline) for every
    # method, so only the steps in between are evaluated per method.
    inner = masks[:, 1:-1]                                                # (M, S-1, ...)
    masks_t = torch.as_tensor(inner.reshape(len(names), len(counts) - 2, 1, IMAGE_SIDE, IMAGE_SIDE),
                              dtype=torch.float32)                        # (M, S-1, 1, 28, 28)
    deleted = x * (1 - masks_t) + base * masks_t                          # (M, S-1, 1, 28, 28)
    inserted = base * (1 - masks_t) + x * masks_t
    batch = torch.cat([x, base, deleted.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE),
                       inserted.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)])  # (2 + 2*M*(S-1), 1, 28, 28)
    probs = []
    with torch.inference_mode():
        for i in range(0, batch.shape[0], FAITHFULNESS_BATCH):
            probs.append(F.softmax(model(batch[i:i + FAITHFULNESS_BATCH]), -1)[:, target])
    flat = torch.cat(probs).numpy()
    p_x, p_base = flat[0], flat[1]
    mid = flat[2:].reshape(2, len(names), len(counts) - 2)
    p = np.empty((2, len(names), len(counts)), dtype=np.float32)
    p[0, :, 0], p[0, :, -1], p[0, :, 1:-1] = p_x, p_base, mid[0]          # deletion: digit -> baseline
    p[1, :, 0], p[1, :, -1], p[1, :, 1:-1] = p_base, p_x, mid[1]          # insertion: baseline -> digit
    deletion = {n: p[0, i].astype(np.float32) for i, n in enumerate(names)}
    insertion = {n: p[1, i].astype(np.float32) for i, n in enumerate(names)}
    auc = {}
    for n in names:
        d = float(np.trapezoid(deletion[n], fractions))
        ins = float(np.trapezoid(insertion[n], fractions))
        auc[n] = {"deletion": d, "insertion": ins, "score": ins - d}
    return Faithfulness(fractions.astype(np.float32), deletion, insertion, auc, unit, target)


@dataclass
class Comparison:
    attributions: dict[str, Attribution]
    faithfulness: Faithfulness


def compare(model: ViT, image: np.ndarray, target: int | None = None,
            methods: Iterable[str] = DEFAULT_COMPARISON, settings: dict[str, dict] | None = None,
            unit: str = "pixel", steps: int = 20, baseline: str = "black") -> Comparison:
    """Several methods on one digit and their deletion/insertion curves in one go."""
    x = _as_input(image)
    t = _target(model, target, x)
    settings = settings or {}
    attrs = {m: explain(model, image, t, m, **settings.get(m, {})) for m in methods}
    faith = faithfulness(model, image, t, {m: a.map for m, a in attrs.items()}, unit, steps, baseline)
    return Comparison(attrs, faith)
