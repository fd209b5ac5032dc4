"""Inside family: what each layer and head computes for one digit, read from one cached forward
pass (:meth:`model.vit.ViT.run_with_cache`, in the style of TransformerLens, Nanda & Bloom,
2022, and ViT-Prisma, Joseph et al., 2023, for vision).

* **Logit lens** (nostalgebraist, 2020, "interpreting GPT: the logit lens"): the residual
  stream after the embedding and after every block, read out through the final LayerNorm and
  the head as if the model stopped there; for the class token (ten probabilities per stage,
  the last stage being the model's own output) and for every patch token (a 7x7 grid of
  "votes"; the head was trained on the class token only, so patch votes are a probe, not
  something the model uses).
* **Direct logit attribution** (Elhage et al., 2021, "A Mathematical Framework for
  Transformer Circuits"; Nanda, TransformerLens): the class token's final residual stream is
  a sum of the embedding, every head's output and every MLP's output. With the final
  LayerNorm's scale frozen at its value in the actual forward pass, the logit is linear in
  that sum, so it splits exactly into one term per part plus a bias. Biases: each head gets
  its own value-bias path (attention rows sum to one) and an equal 1/H share of its layer's
  output-projection bias; each MLP keeps both its biases; the final LayerNorm's shift and
  the head's bias make ``bias``. Each part is mean-centred as the LayerNorm centres it. Patch
  embeddings have no direct path to the class token's residual stream (they reach it only
  through attention, so they are counted in the heads that read them).
* **Mean attention distance** per head (Dosovitskiy et al., 2021, "An Image is Worth 16x16
  Words", Fig. 7): for every patch query, the attention-weighted mean distance in pixels to
  the patches it attends to (patch centres 4 px apart; attention over the patches
  renormalised to one, the class token left out), averaged over queries.
* **Position-embedding similarity** (Dosovitskiy et al., 2021, Fig. 7 centre): the cosine
  similarity of each position's learned embedding with every other.
* **The stem's first-layer filters** (Dosovitskiy et al., 2021, Fig. 7 left, for their linear
  patch embedding; Xiao et al., 2021 for the convolutional stem) as small images.
* **Activation patching** (Meng et al., 2022, "Locating and Editing Factual Associations in
  GPT", causal tracing; Vig et al., 2020; Heimersheim & Nanda, 2024, "How to use and
  interpret activation patching"): run the current digit, but replace one activation (one
  token of the residual stream entering a block, or one head's output at every position) by
  its value on a second digit, and measure how the probability of the current prediction
  moves. All variants of one sweep run as one batch per layer.

Everything is a pure function of ``(model, image, ...)`` returning numpy arrays; the shared
model is only read (no hooks, no mode changes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.explain._common import _as_input, _target
from model.explain._registry import TARGET, Family, Result, Setting
from model.inference import headline
from model.vit import ViT

PATCH_PIXELS = 4          # patch centres are this many pixels apart (28 px / 7 patches)


# ----------------------------------------------------------------------------- names

def stage_names(model: ViT) -> list[str]:
    """Names of the logit-lens stages: the embedding, then after each block."""
    return ["embedding"] + [f"after block {i + 1}" for i in range(model.cfg.depth)]


def dla_part_names(model: ViT) -> list[str]:
    """Names of the direct-logit-attribution parts, in residual-stream order."""
    names = ["embed"]
    for layer in range(model.cfg.depth):
        names += [f"L{layer + 1}H{h + 1}" for h in range(model.cfg.heads)] + [f"L{layer + 1}MLP"]
    return names


# ----------------------------------------------------------------------------- cached forward

@torch.inference_mode()
def cached_forward(model: ViT, image: np.ndarray) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(logits (1, 10), cache) of one image: :meth:`ViT.run_with_cache` without gradients."""
    return model.run_with_cache(_as_input(image))


def _readout(model: ViT, resid: torch.Tensor) -> torch.Tensor:
    """Residual stream (..., D) through the final LayerNorm and the head -> logits (..., 10)."""
    return model.head(model.ln_f(resid))


def logit_lens(model: ViT, cache: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Logit lens of batch row 0: (class-token probabilities (S, 10), patch-token probabilities
    (S, P, 10)) for the S = depth + 1 stages of :func:`stage_names`. The last class-token row is
    the model's own output."""
    stages = [cache["embed"]] + [cache[f"blocks.{i}.resid_post"] for i in range(model.cfg.depth)]
    resid = torch.stack([s[0] for s in stages])                          # (S, N, D)
    with torch.inference_mode():
        probs = F.softmax(_readout(model, resid), dim=-1)                # (S, N, 10)
    probs = probs.numpy().astype(np.float64)
    return probs[:, 0], probs[:, 1:]


@torch.inference_mode()
def _head_outputs(model: ViT, cache: dict[str, torch.Tensor], layer: int, token: int = 0) -> torch.Tensor:
    """Each head's output (H, D) written into the residual stream at ``token`` (batch row 0),
    with an equal 1/H share of the projection bias: the heads sum to ``attn_out`` exactly."""
    attn = model.blocks[layer].attn
    H, hd = attn.heads, attn.head_dim
    z = cache[f"blocks.{layer}.attn.z"][0, :, token]                     # (H, hd)
    W = attn.proj.weight.view(-1, H, hd)                                  # (D, H, hd)
    out = torch.einsum("hk,dhk->hd", z, W)                               # (H, D)
    return out + attn.proj.bias / H


@dataclass
class DLA:
    """Direct logit attribution of batch row 0 for every class: ``parts`` (P, 10) with names
    :func:`dla_part_names`; ``bias`` (10,); ``logits`` (10,) from the actual forward pass;
    ``parts.sum(0) + bias == logits`` up to float error."""
    names: list[str]
    parts: np.ndarray
    bias: np.ndarray
    logits: np.ndarray
    scale: float               # the final LayerNorm's 1/std for the class token, frozen

    def for_class(self, target: int) -> dict:
        """{"target", "total", "bias", "parts": {name: value}} for one class."""
        t = int(target)
        return {"target": t, "total": float(self.logits[t]), "bias": float(self.bias[t]),
                "parts": {n: float(v) for n, v in zip(self.names, self.parts[:, t])}}

    @property
    def residual(self) -> np.ndarray:
        """(10,) logits minus (parts + bias): float error only."""
        return self.logits - (self.parts.sum(0) + self.bias)


def direct_logit_attribution(model: ViT, cache: dict[str, torch.Tensor], logits: torch.Tensor) -> DLA:
    """Split each class's logit into the residual-stream parts of the class token (see the
    module docstring for how biases are assigned), with the final LayerNorm scale frozen."""
    with torch.inference_mode():
        comps = [cache["embed"][0, 0][None]]                             # (1, D)
        for layer in range(model.cfg.depth):
            comps.append(_head_outputs(model, cache, layer))              # (H, D)
            comps.append(cache[f"blocks.{layer}.mlp_out"][0, 0][None])   # (1, D)
        r = torch.cat(comps).double()                                     # (P, D)
        r = r - r.mean(dim=-1, keepdim=True)                              # LayerNorm's centring, per part
        s = cache["ln_f.scale"][0, 0].double()                            # (1,)
        gamma, beta = model.ln_f.weight.double(), model.ln_f.bias.double()
        W, b = model.head.weight.double(), model.head.bias.double()       # (10, D), (10,)
        parts = (r * s * gamma) @ W.T                                     # (P, 10)
        bias = W @ beta + b                                               # (10,)
    return DLA(names=dla_part_names(model), parts=parts.numpy(), bias=bias.numpy(),
               logits=logits[0].double().numpy(), scale=float(s))


# ----------------------------------------------------------------------------- attention distance

def patch_distances(grid: int, patch_px: int = PATCH_PIXELS) -> np.ndarray:
    """(P, P) distances in pixels between the centres of the patches of a ``grid`` x ``grid``."""
    r, c = np.divmod(np.arange(grid * grid), grid)
    return patch_px * np.hypot(r[:, None] - r[None], c[:, None] - c[None])


def uniform_attention_distance(grid: int, patch_px: int = PATCH_PIXELS) -> float:
    """The mean attention distance (pixels) of a head that attends to every patch equally: the
    reference between local heads (below it) and heads that prefer far patches (above it)."""
    return float(patch_distances(grid, patch_px).mean())


def mean_attention_distance(pattern: np.ndarray | torch.Tensor, patch_px: int = PATCH_PIXELS) -> np.ndarray:
    """Mean attention distance in pixels (..., H) from patterns (..., H, N, N) with the class
    token at index 0 (Dosovitskiy et al., 2021, Fig. 7): per patch query, the attention over the
    patches renormalised to one, times the distance to each, summed; then the mean over queries."""
    a = torch.as_tensor(pattern).double()[..., 1:, 1:]                  # (..., H, P, P)
    a = a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    g = int(round(math.sqrt(a.shape[-1])))
    d = torch.as_tensor(patch_distances(g, patch_px))                   # (P, P)
    return (a * d).sum(-1).mean(-1).numpy()                             # (..., H)


@torch.inference_mode()
def test_set_attention_distance(model: ViT, images: np.ndarray, labels: np.ndarray, batch: int = 250) -> dict:
    """Mean attention distance (L, H) averaged over ``images`` (uint8 or [0, 1]), overall and per
    true class: the stored artifact the Inside page compares a digit with."""
    from model.inference import as_batch

    x_all = np.asarray(images, dtype=np.float32)
    if x_all.max() > 1.0:
        x_all = x_all / 255.0
    y = np.asarray(labels)
    L, H = model.cfg.depth, model.cfg.heads
    per_image = np.zeros((len(x_all), L, H))
    for i in range(0, len(x_all), batch):
        _, attn = model(as_batch(x_all[i:i + batch]), return_attn=True)   # (b, L, H, N, N)
        per_image[i:i + batch] = mean_attention_distance(attn)
    per_class = [per_image[y == k].mean(0) if (y == k).any() else np.full((L, H), np.nan) for k in range(10)]
    return {"n_images": int(len(x_all)), "patch_pixels": PATCH_PIXELS,
            "mean_attention_distance": np.round(per_image.mean(0), 4).tolist(),
            "std_attention_distance": np.round(per_image.std(0), 4).tolist(),
            "per_class": [np.round(p, 4).tolist() for p in per_class],
            "layers": L, "heads": H}


# ----------------------------------------------------------------------------- weights

@torch.inference_mode()
def position_similarity(model: ViT) -> np.ndarray:
    """(g, g, g, g): cosine similarity of patch position (r, c)'s embedding with every (r2, c2)."""
    pos = model.pos_embed[0, 1:].double()                               # (P, D)
    pos = pos / pos.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    g = model.cfg.grid
    return (pos @ pos.T).reshape(g, g, g, g).numpy()


@torch.inference_mode()
def stem_filters(model: ViT) -> np.ndarray:
    """(C, k, k): the first convolution's filters (conv stem: 3x3; linear patchify: 4x4)."""
    proj = model.patch_embed.proj
    conv = proj[0] if isinstance(proj, torch.nn.Sequential) else proj
    return conv.weight[:, 0].double().numpy()


# ----------------------------------------------------------------------------- one call for the page

@dataclass
class Inside:
    """Everything the Inside page shows except patching, from one cached forward pass."""
    probs: np.ndarray              # (10,)
    pred: int
    stages: list[str]
    lens: np.ndarray               # (S, 10) class-token logit lens
    patch_lens: np.ndarray         # (S, g, g, 10) patch-token logit lens
    dla: DLA
    attention_distance: np.ndarray  # (L, H) pixels
    pos_similarity: np.ndarray     # (g, g, g, g)
    filters: np.ndarray            # (C, k, k)

    @property
    def patch_votes(self) -> tuple[np.ndarray, np.ndarray]:
        """(digit (S, g, g) int, confidence (S, g, g)) of each patch token at each stage."""
        return self.patch_lens.argmax(-1), self.patch_lens.max(-1)


def inside_summary(model: ViT, image: np.ndarray) -> Inside:
    """Logit lens, direct logit attribution (all classes), mean attention distance, position
    similarity and stem filters for one image, from one cached forward pass."""
    logits, cache = cached_forward(model, image)
    lens, patch = logit_lens(model, cache)
    g = model.cfg.grid
    probs = F.softmax(logits[0].double(), -1).numpy()
    attn = torch.stack([cache[f"blocks.{i}.attn.pattern"][0] for i in range(model.cfg.depth)])  # (L, H, N, N)
    return Inside(probs=probs, pred=int(probs.argmax()), stages=stage_names(model), lens=lens,
                  patch_lens=patch.reshape(len(lens), g, g, -1),
                  dla=direct_logit_attribution(model, cache, logits),
                  attention_distance=mean_attention_distance(attn),
                  pos_similarity=position_similarity(model), filters=stem_filters(model))


# ----------------------------------------------------------------------------- activation patching

@dataclass
class Patching:
    """Effect of replacing one activation of the current digit's forward pass by its value on the
    second digit, patched minus clean, for two metrics (``metric`` "prob" or "logit_diff"):

    * ``prob``: the change in P(``target``) (negative = that activation carried evidence for
      ``target``); it saturates when the model is very sure;
    * ``logit_diff``: the change in ``logit[target] - logit[other]`` with ``other`` the second
      digit's prediction (or the current digit's runner-up when both predict ``target``), the
      measure Heimersheim & Nanda (2024) recommend; it does not saturate."""
    target: int
    other: int
    clean: np.ndarray        # (10,) probabilities of the current digit
    second: np.ndarray       # (10,) probabilities of the second digit
    # metric -> {"layer_patch" (L, g, g), "layer_cls" (L,), "layer_head" (L, H)}
    effects: dict[str, dict[str, np.ndarray]]

    @property
    def layer_patch(self) -> np.ndarray:
        """(L, g, g) change in P(target) with one patch token of the residual stream entering block l patched."""
        return self.effects["prob"]["layer_patch"]

    @property
    def layer_cls(self) -> np.ndarray:
        """(L,) change in P(target) with the class token entering block l patched."""
        return self.effects["prob"]["layer_cls"]

    @property
    def layer_head(self) -> np.ndarray:
        """(L, H) change in P(target) with one head's output (every position) in block l patched."""
        return self.effects["prob"]["layer_head"]

    def patch_importance(self, metric: str = "prob") -> np.ndarray:
        """(g, g): each patch's largest drop over the layers (0 when patching it never lowers the metric)."""
        return np.maximum(0.0, -self.effects[metric]["layer_patch"].min(axis=0))

    def top_patch(self, metric: str = "prob") -> tuple[int, int, int]:
        """(layer, row, col) of the largest drop."""
        lp = self.effects[metric]["layer_patch"]
        l, r, c = np.unravel_index(int(np.argmin(lp)), lp.shape)
        return int(l), int(r), int(c)

    def rank_of(self, row: int, col: int, metric: str = "prob") -> int:
        """1-based rank of patch (row, col) by :meth:`patch_importance` (1 = matters most; ties share a rank)."""
        imp = self.patch_importance(metric)
        return int((imp > imp[row, col]).sum()) + 1


@torch.inference_mode()
def activation_patching(model: ViT, image: np.ndarray, second: np.ndarray, target: int | None = None) -> Patching:
    """Patch the current digit's forward pass with the second digit's activations: every token
    of the residual stream entering every block (one batch of N variants per layer) and every
    head's output at every position (one batch of L*H variants), and measure the target
    (default: the current prediction); see :class:`Patching`."""
    x, x2 = _as_input(image), _as_input(second)
    L, H = model.cfg.depth, model.cfg.heads
    logits, cache = model.run_with_cache(torch.cat([x, x2]))            # row 0 current, row 1 second
    t = _target(model, target, x)
    other = int(logits[1].argmax())
    if other == t:
        other = int(logits[0].topk(2).indices[1])

    def metrics(out: torch.Tensor) -> dict[str, torch.Tensor]:          # (B, 10) -> two (B,)
        return {"prob": F.softmax(out.double(), -1)[:, t], "logit_diff": (out[:, t] - out[:, other]).double()}

    clean = metrics(logits[:1])
    N = cache["embed"].shape[1]
    eye = torch.eye(N, dtype=cache["embed"].dtype)[:, :, None]          # (N, N, 1): variant n patches token n
    token = {k: np.zeros((L, N)) for k in clean}
    for layer in range(L):
        r = cache[f"blocks.{layer}.resid_pre"]                          # (2, N, D)
        variants = r[0][None] + eye * (r[1] - r[0])[None]               # (N, N, D)
        for k, v in metrics(model.run_blocks(variants, layer)).items():
            token[k][layer] = (v - clean[k]).numpy()
    # heads: one batch of L*H variants from the embedding; variant l*H+h patches head h of layer l
    embed = cache["embed"][:1].expand(L * H, -1, -1)                    # (L*H, N, D)
    sel = torch.eye(L * H).view(L * H, L, H)                            # (L*H, L, H)
    z_patch = {layer: (sel[:, layer], cache[f"blocks.{layer}.attn.z"][1:2]) for layer in range(L)}
    patched = metrics(model.run_blocks(embed, 0, z_patch=z_patch))
    head = {k: (v - clean[k]).view(L, H).numpy() for k, v in patched.items()}
    g = model.cfg.grid
    effects = {k: {"layer_patch": token[k][:, 1:].reshape(L, g, g), "layer_cls": token[k][:, 0],
                   "layer_head": head[k]} for k in clean}
    probs = F.softmax(logits.double(), -1).numpy()
    return Patching(target=t, other=other, clean=probs[0], second=probs[1], effects=effects)


# ----------------------------------------------------------------------------- the family's verb

@dataclass
class InsideSummary(Result):
    """What ``python -m model.explain inside`` prints: the calibrated ``prediction``; the
    class-token ``logit_lens`` (S, 10) per stage; the direct logit attribution ``dla`` of
    ``target`` ({total, bias, parts}); ``mean_attention_distance`` (L, H) in pixels; the
    class that patching measures (``patching_target``) and, with a second digit, ``patching``
    ({other, prob: {...}, logit_diff: {...}}, see :class:`Patching`)."""
    prediction: dict
    target: int
    stages: list[str]
    logit_lens: np.ndarray
    dla: dict
    mean_attention_distance: np.ndarray
    patching_target: int
    patching: dict | None = None


def run(model: ViT, image: np.ndarray, target: int | None = None, second: np.ndarray | None = None) -> InsideSummary:
    """The inside family's verb: :func:`inside_summary`, the DLA of ``target`` (default: the
    prediction) and, with a ``second`` digit, :func:`activation_patching` of the prediction."""
    res = inside_summary(model, image)
    t = res.pred if target is None else _target(model, target, _as_input(image))
    d = res.dla.for_class(t)
    patching = None
    if second is not None:
        pt = activation_patching(model, image, second, res.pred)
        patching = {"other": pt.other, **pt.effects}
    return InsideSummary(headline(model, image).to_json(), t, res.stages, res.lens,
                         {"total": d["total"], "bias": d["bias"], "parts": d["parts"]},
                         res.attention_distance, res.pred, patching)


FAMILY = Family(
    "inside", run, "logit lens, direct logit attribution and attention distance of a digit image",
    options=(TARGET,
             Setting("second", "Second digit", "image", None,
                     help="a second digit image: adds activation patching of this digit with it")),
    source="nostalgebraist, 2020 (logit lens); Elhage et al., 2021 (DLA); Dosovitskiy et al., 2021; "
           "Meng et al., 2022 and Heimersheim & Nanda, 2024 (activation patching)")

__all__ = ["DLA", "Inside", "InsideSummary", "Patching", "activation_patching", "cached_forward",
           "direct_logit_attribution", "dla_part_names", "inside_summary", "logit_lens", "mean_attention_distance",
           "patch_distances", "position_similarity", "stage_names", "stem_filters", "test_set_attention_distance",
           "uniform_attention_distance"]
