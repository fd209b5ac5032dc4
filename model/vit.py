"""A small, inspectable Vision Transformer for 28x28 digits.

Architecture (Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words"), kept nanoGPT-small:

* **Patch embedding.** The 28x28 image is cut into a 7x7 grid of 4x4-pixel patches, each
  turned into a ``dim``-vector. With ``stem="conv"`` (the shipped model) the patchify step
  is a two-layer convolutional stem (Xiao et al., 2021, "Early Convolutions Help
  Transformers See Better"): two stride-2 3x3 convolutions, so each token still stands for
  one 4x4 patch but sees a 7x7-pixel neighbourhood. With the same recipe and epochs it
  scored 99.3-99.5 % in ``model/artifacts/experiments.jsonl`` where the plain linear
  patchify (``stem="linear"``, patch 4 or 7) scored 98.7-99.1 %.
* **Class token and learned position embeddings**, 50 tokens in all.
* **Pre-norm transformer blocks**: ``x + Attn(LN(x))`` then ``x + MLP(LN(x))``.
* **Head**: LayerNorm then a linear layer on the class token.

Attention is exposed as a return value, never through hooks, because one model instance is
shared by every user session of the app::

    logits, attn = vit(x, return_attn=True)   # attn: (B, layers, heads, 50, 50)

A ``head_mask`` argument (layers, heads) of 0/1 switches heads off for one call only
(head knockout, Michel et al., 2019, "Are Sixteen Heads Really Better than One?").

Pixels enter in [0, 1] (ink = 1, like MNIST) and are normalised inside the model, so an
all-zero image is the natural "black" baseline for attribution methods.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass
class ViTConfig:
    image_size: int = 28      # input side in pixels
    patch_size: int = 4       # side of one patch: 28/4 = 7x7 = 49 patch tokens
    stem: str = "conv"        # "conv": 2 stride-2 convolutions (patch 4 only); "linear": plain ViT patchify
    stem_channels: int = 32   # width of the first convolution of the conv stem
    dim: int = 64             # token width
    depth: int = 4            # transformer blocks
    heads: int = 4            # attention heads per block (head size dim // heads)
    mlp_ratio: float = 2.0    # MLP hidden width = mlp_ratio * dim
    # dropout in MLP and residual branches (training only); 0.1 scored lower, see experiments.jsonl
    dropout: float = 0.0
    num_classes: int = 10

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid + 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ViTConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})


class PatchEmbed(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        if cfg.image_size % cfg.patch_size:
            raise ValueError("image_size must be a multiple of patch_size")
        if cfg.stem == "conv":
            if cfg.patch_size != 4:
                raise ValueError("the conv stem makes 4x4 patches (two stride-2 convolutions)")
            c = cfg.stem_channels
            self.proj = nn.Sequential(
                nn.Conv2d(1, c, 3, stride=2, padding=1, bias=False),       # (B, c, 14, 14)
                nn.BatchNorm2d(c),
                nn.GELU(),
                nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False),   # (B, 2c, 7, 7)
                nn.BatchNorm2d(2 * c),
                nn.GELU(),
                nn.Conv2d(2 * c, cfg.dim, 1),                              # (B, dim, 7, 7)
            )
        elif cfg.stem == "linear":
            self.proj = nn.Conv2d(1, cfg.dim, cfg.patch_size, stride=cfg.patch_size)
        else:
            raise ValueError(f"unknown stem {cfg.stem!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)                      # (B, dim, g, g)
        return x.flatten(2).transpose(1, 2)   # (B, g*g, dim)


class Attention(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.heads = cfg.heads
        self.head_dim = cfg.dim // cfg.heads
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self, x: torch.Tensor, head_mask: torch.Tensor | None = None, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                              # (B, H, N, hd)
        if need_weights or head_mask is not None:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, H, N, N)
            att = att.softmax(dim=-1)
            y = att @ v                                               # (B, H, N, hd)
            if head_mask is not None:
                y = y * head_mask.view(1, -1, 1, 1).to(y.dtype)
        else:
            att = None
            y = F.scaled_dot_product_attention(q, k, v)               # (B, H, N, hd)
        y = y.transpose(1, 2).reshape(B, N, C)                        # (B, N, C)
        return self.drop(self.proj(y)), att

    def forward_cached(
        self, x: torch.Tensor, head_mask: torch.Tensor | None = None,
        z_patch: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like :meth:`forward` with explicit attention, also returning the pattern (B, H, N, N)
        and the per-head outputs ``z`` (B, H, N, hd) before the output projection.

        ``z_patch = (m, src)``: m (B, H) in [0, 1], src (B or 1, H, N, hd); head h of batch row b
        outputs ``src`` instead of its own ``z`` where ``m[b, h] = 1`` (activation patching)."""
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                              # (B, H, N, hd)
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)).softmax(dim=-1)  # (B, H, N, N)
        z = att @ v                                                   # (B, H, N, hd)
        if head_mask is not None:
            z = z * head_mask.view(1, -1, 1, 1).to(z.dtype)
        if z_patch is not None:
            m, src = z_patch
            m = m.to(z.dtype).view(B, self.heads, 1, 1)
            z = z + m * (src - z)                                     # (B, H, N, hd)
        y = z.transpose(1, 2).reshape(B, N, C)                        # (B, N, C)
        return self.drop(self.proj(y)), att, z


class MLP(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        hidden = int(cfg.dim * cfg.mlp_ratio)
        self.fc1 = nn.Linear(cfg.dim, hidden)
        self.fc2 = nn.Linear(hidden, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class Block(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.dim)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.dim)
        self.mlp = MLP(cfg)

    def forward(self, x, head_mask=None, need_weights=False):
        y, att = self.attn(self.ln1(x), head_mask, need_weights)
        x = x + y
        x = x + self.mlp(self.ln2(x))
        return x, att


class ViT(nn.Module):
    def __init__(self, cfg: ViTConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ViTConfig()
        self.temperature = 1.0    # calibration (set by load_vit from the checkpoint; model/calibration.py)
        self.meta: dict = {}      # the checkpoint header's other entries (load_vit)
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.dim))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        self.ln_f = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward_features(
        self, x: torch.Tensor, head_mask: torch.Tensor | None = None, need_weights: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the final class-token features (B, dim) and each layer's attention (B, H, N, N).

        The attention tensors are the very ones used in the computation, so gradients with
        respect to them can be taken (gradient-weighted rollout needs that).
        """
        x = (x - MNIST_MEAN) / MNIST_STD                    # (B, 1, 28, 28)
        x = self.patch_embed(x)                             # (B, 49, dim)
        cls = self.cls_token.expand(x.shape[0], -1, -1)     # (B, 1, dim)
        x = torch.cat([cls, x], dim=1) + self.pos_embed     # (B, 50, dim)
        attns: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            x, att = block(x, None if head_mask is None else head_mask[i], need_weights)
            if att is not None:
                attns.append(att)
        return self.ln_f(x[:, 0]), attns

    def forward(
        self,
        x: torch.Tensor,
        return_attn: bool = False,
        head_mask: torch.Tensor | None = None,
    ):
        """``x`` (B, 1, 28, 28) in [0, 1] -> logits (B, 10); with ``return_attn`` also
        attention (B, layers, heads, tokens, tokens). ``head_mask`` (layers, heads) of 0/1."""
        feats, attns = self.forward_features(x, head_mask, need_weights=return_attn)
        logits = self.head(feats)                           # (B, 10)
        if return_attn:
            return logits, torch.stack(attns, dim=1)        # (B, L, H, N, N)
        return logits

    # ------------------------------------------------------------------ cached forward
    # TransformerLens-style (Nanda & Bloom, 2022): one forward pass whose named activations
    # come back as a return value (no hooks: the model is shared by every app session).

    def run_with_cache(
        self, x: torch.Tensor, head_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``x`` (B, 1, 28, 28) in [0, 1] -> (logits (B, 10), cache). The logits equal
        ``self(x, head_mask=head_mask)``; the cache holds, by name:

        * ``patch_embed`` (B, P, D): the stem's patch tokens before any position embedding;
        * ``embed`` (B, N, D): class token and patches plus position embeddings (N = 1 + P);
        * per block ``i``: ``blocks.{i}.resid_pre``, ``.ln1``, ``.attn.pattern`` (B, H, N, N),
          ``.attn.z`` (B, H, N, hd) per-head outputs before the projection, ``.attn_out``,
          ``.resid_mid``, ``.ln2``, ``.mlp_out``, ``.resid_post``, each (B, N, D) unless said;
        * ``ln_f.scale`` (B, N, 1): the final LayerNorm's 1/std of the last residual stream;
        * ``final`` (B, N, D): the final LayerNorm's output for every token (logits read token 0).
        """
        cache: dict[str, torch.Tensor] = {}
        x = (x - MNIST_MEAN) / MNIST_STD                    # (B, 1, 28, 28)
        patches = self.patch_embed(x)                       # (B, P, D)
        cache["patch_embed"] = patches
        cls = self.cls_token.expand(x.shape[0], -1, -1)     # (B, 1, D)
        resid = torch.cat([cls, patches], dim=1) + self.pos_embed  # (B, N, D)
        cache["embed"] = resid
        logits = self.run_blocks(resid, 0, head_mask=head_mask, cache=cache)
        return logits, cache

    def run_blocks(
        self, resid: torch.Tensor, start: int = 0, head_mask: torch.Tensor | None = None,
        z_patch: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None,
        cache: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Run blocks ``start..depth-1`` on the residual stream ``resid`` (B, N, D) (the input
        of block ``start``), then the final LayerNorm and head -> logits (B, 10). ``z_patch``
        maps a layer to ``(m, src)`` of :meth:`Attention.forward_cached`. Activations go into
        ``cache`` when given (names as in :meth:`run_with_cache`)."""
        for i in range(start, len(self.blocks)):
            blk = self.blocks[i]
            ln1 = blk.ln1(resid)
            attn_out, att, z = blk.attn.forward_cached(
                ln1, None if head_mask is None else head_mask[i], None if z_patch is None else z_patch.get(i))
            resid_mid = resid + attn_out
            ln2 = blk.ln2(resid_mid)
            mlp_out = blk.mlp(ln2)
            resid_post = resid_mid + mlp_out
            if cache is not None:
                p = f"blocks.{i}."
                cache.update({p + "resid_pre": resid, p + "ln1": ln1, p + "attn.pattern": att, p + "attn.z": z,
                              p + "attn_out": attn_out, p + "resid_mid": resid_mid, p + "ln2": ln2,
                              p + "mlp_out": mlp_out, p + "resid_post": resid_post})
            resid = resid_post
        final = self.ln_f(resid)                            # (B, N, D)
        if cache is not None:
            var = resid.var(dim=-1, unbiased=False, keepdim=True)
            cache["ln_f.scale"] = torch.rsqrt(var + self.ln_f.eps)   # (B, N, 1)
            cache["final"] = final
        return self.head(final[:, 0])                       # (B, 10)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def params_by_part(model: ViT) -> dict[str, int]:
    parts = {
        "patch embedding": count_params(model.patch_embed),
        "class token + positions": model.cls_token.numel() + model.pos_embed.numel(),
        "attention (all blocks)": sum(count_params(b.attn) + count_params(b.ln1) for b in model.blocks),
        "MLP (all blocks)": sum(count_params(b.mlp) + count_params(b.ln2) for b in model.blocks),
        "final norm + head": count_params(model.ln_f) + count_params(model.head),
    }
    return parts


def save_vit(model: ViT, path: Path | str, extra: dict | None = None) -> None:
    """Save weights as safetensors with the config JSON in the header (loading runs no code)."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"config": model.cfg.to_json()}
    if extra:
        meta.update({k: json.dumps(v) for k, v in extra.items()})
    save_file(state, str(path), metadata=meta)


class WeightsError(ValueError):
    """The weights file is missing, unreadable or not a ViT checkpoint (one line, for users)."""


def load_vit(path: Path | str, map_location: str = "cpu") -> ViT:
    """Load a model written by :func:`save_vit`, in eval mode. The header's other entries
    (JSON values) come back as ``model.meta``; ``model.temperature`` is the calibration
    temperature fitted on the validation split (1.0 for a checkpoint without one);
    ``model.weights_sha256`` is the SHA-256 of the file's bytes, the model's one identity
    (cache keys, reports, stale-artifact checks)."""
    import hashlib

    from safetensors import safe_open
    from safetensors.torch import load

    try:
        raw = Path(path).read_bytes()
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "config" not in meta:
            raise WeightsError(f"{path} has no ViT config in its header")
        model = ViT(ViTConfig.from_json(meta["config"]))
        model.load_state_dict({k: v.to(map_location) for k, v in load(raw).items()})
    except WeightsError:
        raise
    except Exception as exc:  # missing file, SafetensorError, wrong shapes, bad JSON: one message
        raise WeightsError(f"cannot load ViT weights from {path}: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    model.weights_sha256 = hashlib.sha256(raw).hexdigest()
    model.meta = {k: json.loads(v) for k, v in meta.items() if k != "config"}
    model.temperature = float(model.meta.get("temperature", 1.0))
    return model.eval()
