"""Attention family: predictions with heads knocked out (Michel et al., 2019), the class
token's attention per layer and head, attention rollout (Abnar & Zuidema, 2020) and
gradient-weighted rollout (Chefer, Gur & Wolf, 2021)."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.explain._common import _as_input, _target, upsample_patches
from model.explain._registry import Family, Result, Setting
from model.inference import headline, predict_proba
from model.vit import ViT

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


def _patterns(model: ViT, cache: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Each layer's attention pattern (B, H, N, N) from a :meth:`ViT.run_with_cache` cache."""
    return [cache[f"blocks.{i}.attn.pattern"] for i in range(model.cfg.depth)]


@torch.inference_mode()
def attention_weights(model: ViT, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(attention (L, H, N, N) float32, probabilities (10,)) for one image, read from the one
    cached forward pass (:meth:`ViT.run_with_cache`)."""
    logits, cache = model.run_with_cache(_as_input(image))              # (1, 10), names -> activations
    attn = torch.stack(_patterns(model, cache))[:, 0]                   # (L, H, N, N)
    return attn.numpy().astype(np.float32), F.softmax(logits, -1)[0].numpy().astype(np.float32)


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
    attention patterns of the cached forward pass (:meth:`ViT.run_with_cache`), which are the
    very tensors used in the computation."""
    x = _as_input(image)
    with torch.enable_grad():
        logits, cache = model.run_with_cache(x)                        # the one cached forward pass
        attns = _patterns(model, cache)                                 # L x (1, H, N, N), in the graph
        t = int(logits[0].argmax()) if target is None else _target(model, target, x)
        grads = torch.autograd.grad(logits[0, t], attns)
    N = attns[0].shape[-1]
    R = torch.eye(N, dtype=torch.float64)
    for a, ga in zip(attns, grads):
        cam = (ga[0] * a[0].detach()).clamp(min=0).mean(0).double()     # (N, N)
        R = R + cam @ R
    g = int(round(math.sqrt(N - 1)))
    return R[0, 1:].reshape(g, g).numpy().astype(np.float32)




# ----------------------------------------------------------------------------- the family's verb

@dataclass
class AttentionSummary(Result):
    """What ``python -m model.explain attention`` prints: the calibrated ``prediction``
    (:func:`model.inference.headline`), the class token's attention per layer and head ``cls``
    (L, H, g, g) and its head mean ``cls_mean`` (L, g, g), ``rollout`` (g, g), per-head
    ``stats`` (L, H each, :func:`head_stats`) and, when heads were knocked out, ``knockout``:
    {heads, probabilities (10,) uncalibrated like ``probabilities``, digit}."""
    prediction: dict
    probabilities: list            # (10,) softmax of the logits (uncalibrated), as the attention is
    discard_ratio: float
    head_fusion: str
    cls: np.ndarray
    cls_mean: np.ndarray
    rollout: np.ndarray
    stats: dict[str, np.ndarray]
    knockout: dict | None = None


def parse_heads(text: str, model: ViT) -> list[tuple[int, int]]:
    """"0.1,3.2" -> [(0, 1), (3, 2)]: layer.head pairs, 0-based."""
    heads = []
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        try:
            layer, head = (int(v) for v in part.split("."))
        except ValueError:
            raise ValueError(f"knockout takes LAYER.HEAD pairs like 0.1,3.2, got {part!r}") from None
        if not (0 <= layer < model.cfg.depth and 0 <= head < model.cfg.heads):
            raise ValueError(f"no head {part} (layers 0..{model.cfg.depth - 1}, heads 0..{model.cfg.heads - 1})")
        heads.append((layer, head))
    return heads


def run(model: ViT, image: np.ndarray, discard_ratio: float = 0.0, head_fusion: str = "mean",
        knockout: str | None = None) -> AttentionSummary:
    """The attention family's verb: :func:`attention_summary` plus the headline prediction and,
    with ``knockout="0.1,3.2"``, the probabilities with those heads switched off."""
    s = attention_summary(model, image, discard_ratio, head_fusion)
    ko = None
    if knockout:
        heads = parse_heads(knockout, model)
        p = knockout_proba(model, image, heads)
        ko = {"heads": [list(h) for h in heads], "probabilities": p, "digit": int(p.argmax())}
    return AttentionSummary(headline(model, image).to_json(), s.probs.tolist(), discard_ratio, head_fusion,
                            s.cls, s.cls_mean, s.rollout, s.stats, ko)


FAMILY = Family(
    "attention", run, "class-token attention per layer and head, attention rollout, head statistics, knockout",
    options=(Setting("discard_ratio", "Discard ratio", "float", 0.0, 0.0, 0.95, 0.05,
                     help="zero this fraction of the weakest attention weights per layer before rollout"),
             Setting("head_fusion", "Head fusion", "choice", "mean", options=("mean", "max", "min"),
                     help="how rollout fuses the heads"),
             Setting("knockout", "Heads to knock out", "text", None,
                     help="LAYER.HEAD pairs, 0-based, e.g. 0.1,3.2: adds the prediction without them")),
    source="Abnar & Zuidema, 2020 (rollout); Michel et al., 2019 (head knockout); Dosovitskiy et al., 2021")

__all__ = ["AttentionResult", "AttentionSummary", "attention_summary", "attention_weights", "gradient_rollout",
           "head_stats", "knockout_mask", "knockout_proba", "parse_heads", "predict", "query_attention",
           "rollout", "single_head_effects"]
