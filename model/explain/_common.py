"""Shared pieces of every explanation family: input checking, baselines, gradients of the
ViT with respect to a fresh per-call input, the target class, and patch upsampling.

Nothing here mutates the model (see the package docstring, "Thread safety")."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from data.preprocess import IMAGE_SIDE
from model.vit import ViT

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




__all__ = ["BASELINES", "BLUR_SIGMA", "FAITHFULNESS_BATCH", "IG_INTERNAL_BATCH", "IMAGE_SIDE", "OCCLUSION_PER_EVAL",
           "input_gradients", "make_baseline", "upsample_patches"]
