"""Walkthrough family: one digit followed through every stage of the ViT, with the real numbers.

One cached forward pass (:meth:`model.vit.ViT.run_with_cache`) gives the model's own
activations; every stage is then *recomputed* here from its input and the weights with the
textbook formulas (Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words"; Vaswani et al.,
2017, "Attention Is All You Need"), and each recomputation is compared with the model's own
value (``checks``; ``max_abs_diff`` is the largest difference, float error only):

* pixels in [0, 1] and the normalisation ``(x - mean) / std`` done inside the model;
* the convolutional stem (Xiao et al., 2021): conv 3x3/2 -> BatchNorm -> GELU (32x14x14),
  conv 3x3/2 -> BatchNorm -> GELU (64x7x7), conv 1x1 -> 49 patch tokens of 64 numbers;
* the class token prepended and the learned position embeddings added (50x64);
* every pre-norm block ``x + Attn(LN(x))`` then ``x + MLP(LN(x))``, with each head's
  ``softmax(q.k / sqrt(16)) v``, the heads concatenated and projected, GELU in the MLP;
* the class token's residual stream after every block read through the final LayerNorm and
  the head (the logit lens, nostalgebraist, 2020);
* the final LayerNorm, the head's ten logits, division by the fitted temperature (Guo et al.,
  2017) and the softmax: the calibrated probabilities of :func:`model.inference.headline`.

The result keeps the full detail for one chosen block, head and query token (``block`` and
``head`` count from 1 as the pages label them, L1 H1; ``token`` 0 is the class token and
1..49 are the patches in reading order). Pure function of ``(model, image, options)``; the
shared model is only read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.explain._common import _as_input
from model.explain._registry import Family, Result, Setting, jsonable
from model.vit import MNIST_MEAN, MNIST_STD, ViT, ViTConfig

_CFG = ViTConfig()        # the shipped shape: limits of the options (run checks them against the model too)
TOP_UNITS = 5             # the strongest MLP hidden units named


def stage_shapes(cfg: ViTConfig) -> list[dict]:
    """The stages of the forward pass with the shape of what each one produces (for diagrams)."""
    c, g, d, n, hd = cfg.stem_channels, cfg.grid, cfg.dim, cfg.num_tokens, cfg.dim // cfg.heads
    hidden = int(cfg.dim * cfg.mlp_ratio)
    return [
        {"name": "pixels", "shape": [1, cfg.image_size, cfg.image_size]},
        {"name": "normalised", "shape": [1, cfg.image_size, cfg.image_size]},
        {"name": "stem conv 1", "shape": [c, g * 2, g * 2]},
        {"name": "stem conv 2", "shape": [2 * c, g, g]},
        {"name": "patch tokens", "shape": [g * g, d]},
        {"name": "class token + positions", "shape": [n, d]},
        {"name": "LayerNorm 1", "shape": [n, d]},
        {"name": "q, k, v of one head", "shape": [3, n, hd]},
        {"name": "scores and softmax", "shape": [n]},
        {"name": "heads concatenated and projected, residual", "shape": [n, d]},
        {"name": "MLP hidden (GELU)", "shape": [n, hidden]},
        {"name": "MLP out, residual", "shape": [n, d]},
        {"name": "residual stream after each block", "shape": [cfg.depth + 1, d]},
        {"name": "final LayerNorm", "shape": [d]},
        {"name": "logits", "shape": [cfg.num_classes]},
        {"name": "probabilities", "shape": [cfg.num_classes]},
    ]


@dataclass
class WalkthroughResult(Result):
    """Every stage of one digit's forward pass (batch row 0), recomputed. Shapes for the shipped model."""
    stages: list[dict]             # [{"name", "shape"}] in order
    block: int                     # 1-based
    head: int                      # 1-based
    token: int                     # 0 = class token, 1..49 patches in reading order
    mean: float
    std: float
    pixels: np.ndarray             # (28, 28) in [0, 1]
    normalised: np.ndarray         # (28, 28)
    stem1: np.ndarray              # (32, 14, 14) after conv, BatchNorm, GELU
    stem2: np.ndarray              # (64, 7, 7)
    tokens: np.ndarray             # (49, 64) patch tokens before positions
    patches: np.ndarray            # (49, 4, 4) the pixels each token stands for
    cls_token: np.ndarray          # (64,)
    pos_embed: np.ndarray          # (50, 64)
    embed: np.ndarray              # (50, 64) class token + patches, plus positions
    pos_similarity: np.ndarray     # (50, 50) cosine similarity of the position embeddings
    resid_pre: np.ndarray          # (50, 64) entering the chosen block
    ln1: np.ndarray                # (50, 64)
    q: np.ndarray                  # (16,) the query token's query in the chosen head
    k: np.ndarray                  # (50, 16) every token's key
    v: np.ndarray                  # (50, 16) every token's value
    scores: np.ndarray             # (50,) q.k / sqrt(16)
    attention: np.ndarray          # (50,) softmax of the scores (recomputed)
    model_attention: np.ndarray    # (50,) the model's own pattern for this block, head and token
    z: np.ndarray                  # (4, 16) every head's weighted sum of values at the query token
    attn_out: np.ndarray           # (64,) heads concatenated and projected, at the query token
    resid_mid: np.ndarray          # (64,)
    ln2: np.ndarray                # (64,)
    hidden: np.ndarray             # (128,) MLP hidden units after GELU
    top_units: list[int]           # the strongest hidden units (largest activation), strongest first
    mlp_out: np.ndarray            # (64,)
    resid_post: np.ndarray         # (64,)
    query_attention: np.ndarray    # (L, H, 50) the query token's attention in every block and head (model's)
    stream: np.ndarray             # (L+1, 64) the class token's residual stream: embedding, after each block
    lens: np.ndarray               # (L+1, 10) its logit-lens probabilities (uncalibrated, as the Inside page)
    final: np.ndarray              # (64,) final LayerNorm of the class token
    recomputed_logits: np.ndarray  # (10,)
    model_logits: np.ndarray       # (10,) vit(x)
    temperature: float
    probabilities: np.ndarray      # (10,) softmax(logits / T): model.inference.headline
    checks: dict                   # stage -> max |recomputed - model's own|
    max_abs_diff: float

    def to_json(self) -> dict:
        """The command line's object: the contract keys plus the checks and a few small extras."""
        keys = ("stages", "block", "head", "token", "scores", "attention", "model_attention", "recomputed_logits",
                "model_logits", "max_abs_diff", "temperature", "probabilities", "checks", "top_units", "q", "lens")
        out = {k: getattr(self, k) for k in keys}
        d = int(np.argmax(self.probabilities))
        out["prediction"] = {"digit": d, "confidence": float(self.probabilities[d]),
                             "probabilities": self.probabilities, "temperature": self.temperature,
                             "calibrated": True}
        return jsonable(out)


def _layer_norm(x: torch.Tensor, ln: torch.nn.LayerNorm) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) * gamma + beta over the last axis."""
    mu = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    return (x - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def _conv_bn_gelu(x: torch.Tensor, conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
    """Convolution, BatchNorm with its running statistics (eval mode), GELU."""
    y = F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding)
    y = (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
    return F.gelu(y * bn.weight[:, None, None] + bn.bias[:, None, None])


def _check_options(model: ViT, block: int, head: int, token: int) -> None:
    for name, v, hi in (("block", block, model.cfg.depth), ("head", head, model.cfg.heads),
                        ("token", token, model.cfg.num_tokens - 1)):
        lo = 0 if name == "token" else 1
        if not lo <= int(v) <= hi:
            raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


@torch.inference_mode()
def run(model: ViT, image: np.ndarray, block: int = 1, head: int = 1, token: int = 0) -> WalkthroughResult:
    """Follow ``image`` (28, 28) in [0, 1] through the model; detail for ``block``/``head`` (1-based)
    and query ``token`` (0 = class token)."""
    cfg = model.cfg
    if cfg.stem != "conv":
        raise ValueError("the walkthrough follows the convolutional stem; this model has a linear one")
    _check_options(model, block, head, token)
    b, h, t = int(block) - 1, int(head) - 1, int(token)
    x = _as_input(image)                                                # (1, 1, 28, 28)
    model_logits, cache = model.run_with_cache(x)                       # the one pass: the model's own values
    checks: dict[str, float] = {}

    # pixels and the stem
    xn = (x - MNIST_MEAN) / MNIST_STD                                   # (1, 1, 28, 28)
    conv1, bn1, _, conv2, bn2, _, conv3 = model.patch_embed.proj
    s1 = _conv_bn_gelu(xn, conv1, bn1)                                  # (1, 32, 14, 14)
    s2 = _conv_bn_gelu(s1, conv2, bn2)                                  # (1, 64, 7, 7)
    tok = F.conv2d(s2, conv3.weight, conv3.bias)                        # (1, 64, 7, 7)
    tok = tok.flatten(2).transpose(1, 2)                                # (1, 49, 64)
    checks["patch tokens"] = _diff(tok, cache["patch_embed"])

    # class token and positions
    before = torch.cat([model.cls_token, tok], dim=1)                   # (1, 50, 64)
    embed = resid = before + model.pos_embed                            # (1, 50, 64)
    checks["embedding"] = _diff(embed, cache["embed"])
    pos = F.normalize(model.pos_embed[0], dim=-1)                       # (50, 64)

    # every block, by hand
    H, hd = cfg.heads, cfg.dim // cfg.heads
    stream = [resid[0, 0]]
    for i, blk in enumerate(model.blocks):
        p = f"blocks.{i}."
        ln1 = _layer_norm(resid, blk.ln1)                               # (1, 50, 64)
        qkv = ln1 @ blk.attn.qkv.weight.T + blk.attn.qkv.bias           # (1, 50, 192)
        q, k, v = qkv[0].view(-1, 3, H, hd).permute(1, 2, 0, 3)         # each (H, 50, 16)
        scores = q @ k.transpose(-2, -1) / math.sqrt(hd)                # (H, 50, 50)
        att = torch.exp(scores - scores.amax(-1, keepdim=True))
        att = att / att.sum(-1, keepdim=True)                           # softmax over the 50 keys
        z = att @ v                                                     # (H, 50, 16)
        concat = z.transpose(0, 1).reshape(1, -1, cfg.dim)              # (1, 50, 64) heads side by side
        attn_out = concat @ blk.attn.proj.weight.T + blk.attn.proj.bias
        resid_mid = resid + attn_out
        ln2 = _layer_norm(resid_mid, blk.ln2)
        hidden = F.gelu(ln2 @ blk.mlp.fc1.weight.T + blk.mlp.fc1.bias)  # (1, 50, 128)
        mlp_out = hidden @ blk.mlp.fc2.weight.T + blk.mlp.fc2.bias
        resid_post = resid_mid + mlp_out
        for name, mine in (("ln1", ln1), ("attn.pattern", att[None]), ("attn.z", z[None]), ("attn_out", attn_out),
                           ("resid_mid", resid_mid), ("ln2", ln2), ("mlp_out", mlp_out), ("resid_post", resid_post)):
            checks[f"block {i + 1} {name}"] = _diff(mine, cache[p + name])
        if i == b:
            chosen = dict(resid_pre=resid[0], ln1=ln1[0], q=q[h, t], k=k[h], v=v[h], scores=scores[h, t],
                          attention=att[h, t], z=z[:, t], attn_out=attn_out[0, t], resid_mid=resid_mid[0, t],
                          ln2=ln2[0, t], hidden=hidden[0, t], mlp_out=mlp_out[0, t], resid_post=resid_post[0, t])
        resid = resid_post
        stream.append(resid[0, 0])

    # the answer
    final = _layer_norm(resid[:, 0], model.ln_f)                        # (1, 64)
    logits = final @ model.head.weight.T + model.head.bias              # (1, 10)
    checks["logits (run_with_cache)"] = _diff(logits, model_logits)
    checks["logits (vit(x))"] = _diff(logits, model(x))
    temperature = float(getattr(model, "temperature", 1.0))
    probs = F.softmax(logits[0] / temperature, dim=-1)
    stream_t = torch.stack(stream)                                      # (L+1, 64)
    lens = F.softmax(model.head(_layer_norm(stream_t, model.ln_f)), dim=-1)

    hidden = chosen["hidden"]
    n = lambda a: a.detach().numpy().astype(np.float32)  # noqa: E731
    g, ps = cfg.grid, cfg.patch_size
    patches = x[0, 0].view(g, ps, g, ps).permute(0, 2, 1, 3).reshape(g * g, ps, ps)
    return WalkthroughResult(
        stages=stage_shapes(cfg), block=b + 1, head=h + 1, token=t, mean=MNIST_MEAN, std=MNIST_STD,
        pixels=n(x[0, 0]), normalised=n(xn[0, 0]), stem1=n(s1[0]), stem2=n(s2[0]), tokens=n(tok[0]),
        patches=n(patches), cls_token=n(model.cls_token[0, 0]), pos_embed=n(model.pos_embed[0]), embed=n(embed[0]),
        pos_similarity=n(pos @ pos.T),
        **{k: n(val) for k, val in chosen.items()},
        model_attention=n(cache[f"blocks.{b}.attn.pattern"][0, h, t]),
        top_units=[int(u) for u in torch.argsort(hidden, descending=True)[:TOP_UNITS]],
        query_attention=n(torch.stack([cache[f"blocks.{i}.attn.pattern"][0, :, t] for i in range(cfg.depth)])),
        stream=n(stream_t), lens=n(lens), final=n(final[0]), recomputed_logits=n(logits[0]),
        model_logits=n(model_logits[0]), temperature=temperature, probabilities=n(probs),
        checks=checks, max_abs_diff=max(checks.values()))


FAMILY = Family(
    "walkthrough", run, "every stage of the forward pass for one digit, recomputed and checked against the model.",
    options=(Setting("block", "Block", "int", 1, 1, _CFG.depth, 1, help="the block to open up (1 = first)"),
             Setting("head", "Head", "int", 1, 1, _CFG.heads, 1, help="the attention head to follow (1 = first)"),
             Setting("token", "Query token", "int", 0, 0, _CFG.num_tokens - 1, 1,
                     help="0 = the class token, 1..49 = the patches in reading order")),
    source="Dosovitskiy et al., 2021; Vaswani et al., 2017; nostalgebraist, 2020 (logit lens); Guo et al., 2017")
