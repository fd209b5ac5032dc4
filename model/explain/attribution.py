"""Attribution family: Captum's gradient and perturbation methods (and the attention maps as
attribution maps) behind one verb, :func:`explain`, with the method as an argument, and the
registry :data:`METHODS` that the pages build their menus from."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from model.explain._common import (
    BASELINES,
    IG_INTERNAL_BATCH,
    IMAGE_SIDE,
    OCCLUSION_PER_EVAL,
    _as_input,
    _logits_fn,
    _target,
    input_gradients,
    make_baseline,
    upsample_patches,
)
from model.explain._registry import TARGET, Family, Result, Setting
from model.explain.attention import attention_weights, gradient_rollout, query_attention, rollout
from model.inference import headline
from model.vit import ViT

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
                    help="The reference input meaning 'no evidence': black (no ink), the digit blurred, "
                         "or uniform noise.")
_SIGNED_CAPTION = "Red pixels push the score of the target class up, blue pixels push it down; white is neutral."

METHODS: dict[str, MethodSpec] = {spec.key: spec for spec in [
    MethodSpec(
        "integrated_gradients", "Integrated Gradients", _integrated_gradients,
        "Sundararajan et al., 2017 (captum.attr.IntegratedGradients)",
        "Each pixel's share of the change in the target's score between the baseline and this digit; "
        "the shares add up to that change (the convergence delta is the leftover). " + _SIGNED_CAPTION,
        (Setting("steps", "Steps", "int", 50, 4, 300, 1,
                 help="Points on the path from the baseline; more is more exact."),
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
class Attribution(Result):
    """The result of one method: ``map`` (28, 28) float32 and anything else it reports
    (Integrated Gradients: ``convergence_delta``, ``logit_input``, ``logit_baseline``).
    ``prediction`` is the calibrated headline (:func:`model.inference.headline`) when the
    family's verb :func:`run` made it."""
    method: str
    target: int
    map: np.ndarray
    settings: dict[str, Any]
    extra: dict[str, float] = field(default_factory=dict)
    prediction: dict | None = None

    @property
    def convergence_delta(self) -> float | None:
        return self.extra.get("convergence_delta")


def map_is_signed(method: str, settings: dict[str, Any]) -> bool:
    """Whether the map of ``method`` with these settings can be negative, so that its sign can be
    read: a signed method, except Saliency's |gradient| (``absolute``) and NoiseTunnel's squared or
    variance aggregations or a base that is itself unsigned."""
    if not METHODS[method].signed:
        return False
    if method == "saliency":
        return not settings.get("absolute", True)
    if method == "noise_tunnel":
        return settings.get("nt_type", "smoothgrad") == "smoothgrad" and \
            map_is_signed(settings.get("base", "saliency"), settings)
    return True


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


# ----------------------------------------------------------------------------- the family's verb

def _union_settings() -> tuple[Setting, ...]:
    """Every method's settings, once each by name, with default None: "the method's default"."""
    seen: dict[str, Setting] = {}
    for spec in METHODS.values():
        for st in spec.settings:
            if st.name not in seen:
                seen[st.name] = replace(st, default=None, help=(st.help or st.label) + " (methods that take it)")
    return tuple(seen.values())


def run(model: ViT, image: np.ndarray, method: str = "integrated_gradients", target: int | None = None,
        **settings: Any) -> Attribution:
    """The attribution family's verb: :func:`explain` with the method as an option; settings
    left at None take the method's defaults; one the method does not take is a ValueError."""
    a = explain(model, image, target, method, **{k: v for k, v in settings.items() if v is not None})
    a.prediction = headline(model, image).to_json()
    return a


FAMILY = Family(
    "attribute", run, "one attribution map of a digit image (the method is an option)",
    options=(Setting("method", "Method", "choice", "integrated_gradients", options=tuple(METHODS)), TARGET)
    + _union_settings(),
    source="; ".join(dict.fromkeys(spec.source for spec in METHODS.values())))

__all__ = ["DEFAULT_COMPARISON", "METHODS", "NT_BASES", "NT_TYPES", "Attribution", "MethodSpec", "Setting",
           "attribute", "explain", "map_is_signed", "method_settings"]
