"""Batched, thread-safe prediction with the ViT, with optional test-time augmentation (TTA).

TTA averages the softmax over the image and a few slightly shifted and rotated copies
(one-pixel shifts, +-8 degree rotations). A drawn digit that sits a little off MNIST's
conventions can get a steadier answer; on the MNIST test set it changes only a handful of
predictions either way (``python -m model.evaluate`` reports both accuracies).

Every function takes the model as an argument and only reads it: no hooks, no mode changes
beyond the model already being in eval mode, so one cached model can serve many sessions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from data.preprocess import IMAGE_SIDE
from model.vit import ViT

# (dx px, dy px, rotation degrees) of each TTA view; the first is the image itself
TTA_VIEWS: tuple[tuple[float, float, float], ...] = (
    (0, 0, 0), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 8), (0, 0, -8),
)


def as_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(28, 28), (B, 28, 28) or (B, 1, 28, 28) in [0, 1] -> float tensor (B, 1, 28, 28)."""
    if isinstance(images, torch.Tensor):
        x = images.float()
    else:
        arr = np.asarray(images, dtype=np.float32)
        # the app keeps the current digit read-only; torch cannot wrap such memory without a copy
        x = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"expected 28x28 images, got shape {tuple(x.shape)}")
    return x


def tta_views(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, 28, 28) -> (V*B, 1, 28, 28), view-major (all of view 0, then view 1, ...)."""
    B = x.shape[0]
    mats = []
    for dx, dy, deg in TTA_VIEWS:
        r = math.radians(deg)
        # affine_grid maps output to input coordinates in [-1, 1]; 1 px = 2/IMAGE_SIDE
        mats.append([[math.cos(r), -math.sin(r), -dx * 2 / IMAGE_SIDE],
                     [math.sin(r), math.cos(r), -dy * 2 / IMAGE_SIDE]])
    theta = torch.tensor(mats, dtype=x.dtype).repeat_interleave(B, dim=0)      # (V*B, 2, 3)
    xs = x.repeat(len(TTA_VIEWS), 1, 1, 1)                                     # (V*B, 1, 28, 28)
    grid = F.affine_grid(theta, list(xs.shape), align_corners=False)
    return F.grid_sample(xs, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.inference_mode()
def predict_proba(model: ViT, images: np.ndarray | torch.Tensor, tta: bool = False, batch_size: int = 1000,
                  head_mask: np.ndarray | torch.Tensor | None = None, calibrated: bool = False) -> np.ndarray:
    """Class probabilities (B, 10) as float32 numpy, optionally averaged over TTA views, and
    optionally with attention heads switched off for this call (``head_mask`` (layers, heads)).

    ``calibrated`` divides the logits by the model's temperature (``model.temperature``, fitted
    on the validation split; Guo et al., 2017, see ``model/calibration.py``) before the softmax:
    the same ranking of classes, with confidences that match how often the model is right."""
    x = as_batch(images)
    t = float(getattr(model, "temperature", 1.0)) if calibrated else 1.0
    mask = None if head_mask is None else torch.as_tensor(np.asarray(head_mask, dtype=np.float32))
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size]
        if tta:
            p = F.softmax(model(tta_views(xb), head_mask=mask) / t, dim=-1)     # (V*b, 10)
            p = p.view(len(TTA_VIEWS), xb.shape[0], -1).mean(0)                 # (b, 10)
        else:
            p = F.softmax(model(xb, head_mask=mask) / t, dim=-1)                # (b, 10)
        out.append(p)
    return torch.cat(out).numpy().astype(np.float32)


TORN_AT = 0.25  # runner-up probability from which the app says the model is torn between two digits


def torn(probabilities: np.ndarray) -> tuple[int, float] | None:
    """The runner-up digit and its probability when it has at least :data:`TORN_AT` of it (a drawing
    that could be either of two digits to the model; calibrated, so about that share of such
    digits really are the runner-up), else None."""
    p = np.asarray(probabilities, dtype=np.float64)
    d = int(np.argsort(p)[-2])
    return (d, float(p[d])) if p[d] >= TORN_AT else None


@dataclass(frozen=True)
class Headline:
    """The one prediction every page, report and CLI shows for a digit: calibrated
    (softmax of logits / the model's fitted temperature; Guo et al., 2017)."""
    digit: int
    confidence: float                 # probability of ``digit``, calibrated
    probabilities: np.ndarray         # (10,) float32, calibrated
    temperature: float
    tta: bool = False

    def to_json(self) -> dict:
        return {"digit": self.digit, "confidence": self.confidence,
                "probabilities": [float(p) for p in self.probabilities],
                "temperature": self.temperature, "calibrated": True, "tta": self.tta}


def headline(model: ViT, image: np.ndarray | torch.Tensor, tta: bool = False) -> Headline:
    """The calibrated prediction of one (28, 28) digit: the headline number of the app."""
    p = predict_proba(model, image, tta=tta, calibrated=True)[0]
    d = int(p.argmax())
    return Headline(d, float(p[d]), p, float(getattr(model, "temperature", 1.0)), tta)
