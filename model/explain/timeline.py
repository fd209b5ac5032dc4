"""Watch it learn: the current digit read by the ViT at points along its own training run.

The shipped training run (``python -m model.train``) saves float16 snapshots of the weights it
would ship at log-spaced steps, from the first updates to the end, each
with its validation accuracy (``model/artifacts/vit_snapshots.safetensors``). This family runs
one digit through each snapshot and through the shipped model itself, which is the last point
of the timeline, so the last probabilities are exactly the shipped model's.

Every point's probabilities are the softmax of its logits divided by the shipped model's
fitted temperature (Guo et al., 2017), the same transformation as the app's headline number;
the last point is therefore :func:`model.inference.headline` to the last digit. The class
token's attention rollout (Abnar & Zuidema, 2020) shows where each snapshot looked.

``python -m model.explain timeline FILE --json`` prints ``{"snapshots": [{"step", "epoch",
"val_accuracy", "probabilities", "predicted"}...], "first_read_step", "sentence"}``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from model import paths
from model.explain._registry import Family, Result
from model.explain.attention import rollout
from model.inference import Headline, as_batch
from model.vit import ViT, ViTConfig

__all__ = ["TimelineResult", "TimelinePoint", "SnapshotError", "load_snapshots"]


class SnapshotError(ValueError):
    """The snapshot file is missing, unreadable or belongs to other weights."""


@dataclass
class TimelinePoint(Result):
    step: int
    epoch: float
    val_accuracy: float
    probabilities: list[float]
    predicted: int
    rollout: list[list[float]]        # (7, 7) class-token attention rollout


@dataclass
class TimelineResult(Result):
    snapshots: list[TimelinePoint]
    first_read_step: int | None       # first step from which on the final answer was always given
    first_read_epoch: float | None
    sentence: str
    weights_sha256: str
    prediction: dict                  # the shipped model's calibrated headline (the last point)


@lru_cache(maxsize=2)
def _load(path: str, mtime: float) -> tuple[tuple[dict, ...], dict, tuple[ViT, ...]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
    cfg = ViTConfig.from_json(meta["config"])
    infos = tuple(json.loads(meta["snapshots"]))
    final = json.loads(meta["final"])
    tensors = load_file(path)
    models = []
    for i in range(len(infos)):
        m = ViT(cfg)
        prefix = f"s{i}."
        m.load_state_dict({k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)})
        models.append(m.eval())
    return infos, final, tuple(models)


def load_snapshots(path: Path | str = paths.VIT_SNAPSHOTS) -> tuple[tuple[dict, ...], dict, tuple[ViT, ...]]:
    """(snapshot infos, final info, snapshot models), loaded once per process and file version."""
    p = Path(path)
    try:
        return _load(str(p), p.stat().st_mtime)
    except Exception as exc:  # missing, corrupt, wrong header: one line for the user
        raise SnapshotError(f"cannot read training snapshots {p}: {type(exc).__name__}: {exc}".splitlines()[0]) from exc


@torch.inference_mode()
def _read(model: ViT, x: torch.Tensor, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    logits, attn = model(x, return_attn=True)                # (1, 10), (1, L, H, N, N)
    p = torch.softmax(logits / temperature, -1)[0].numpy().astype(np.float32)
    return p, rollout(attn[0].numpy())                       # (10,), (7, 7)


def run(model: ViT, image: np.ndarray, snapshots: str | None = None) -> TimelineResult:
    """The digit read by every training snapshot and, last, by ``model`` (the shipped weights)."""
    infos, final, models = load_snapshots(snapshots or paths.VIT_SNAPSHOTS)
    sha = getattr(model, "weights_sha256", "")
    if final.get("weights_sha256") and sha and final["weights_sha256"] != sha:
        raise SnapshotError("the training snapshots belong to other weights than the model given "
                            "(retrain with python -m model.train to make both)")
    t = float(getattr(model, "temperature", 1.0))
    x = as_batch(image)
    points = []
    for info, m in list(zip(infos, models)) + [(final, model)]:
        p, r = _read(m, x, t)
        points.append(TimelinePoint(int(info["step"]), float(info["epoch"]), float(info["val_accuracy"]),
                                    [float(v) for v in p], int(p.argmax()), r.round(5).tolist()))
    answer = points[-1].predicted
    first = len(points) - 1
    while first > 0 and points[first - 1].predicted == answer:
        first -= 1
    pt = points[first]
    if first == 0:
        sentence = (f"Your digit was read as {answer} from the first snapshot on (after {pt.step:,} steps, "
                    f"epoch {pt.epoch:.2f}), when the model had {100 * pt.val_accuracy:.0f} % validation accuracy.")
    else:
        sentence = (f"Your digit was first read as {answer} for good after {pt.step:,} steps (epoch {pt.epoch:.1f}); "
                    f"the model then had {100 * pt.val_accuracy:.1f} % validation accuracy. Before that it read "
                    f"{points[first - 1].predicted}.")
    last = np.float32(points[-1].probabilities)   # the shipped model's reading: the headline, not recomputed
    shipped = Headline(answer, float(last[answer]), last, t).to_json()
    return TimelineResult(points, pt.step, pt.epoch, sentence, sha, shipped)


FAMILY = Family(
    "timeline", run, "the digit read by the ViT at snapshots along its training run (watch it learn)",
    source="training snapshots of the shipped run; rollout: Abnar & Zuidema, 2020; temperature: Guo et al., 2017",
)
