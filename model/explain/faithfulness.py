"""Faithfulness family: deletion and insertion curves (Petsiuk et al., 2018, "RISE", Sec. 4.1)
of several maps on one digit, every curve point evaluated in a few batched forward passes."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.explain._common import (
    BASELINES,
    FAITHFULNESS_BATCH,
    IMAGE_SIDE,
    _as_input,
    _target,
    make_baseline,
    upsample_patches,
)
from model.explain._registry import TARGET, Family, Result, Setting
from model.explain.attribution import DEFAULT_COMPARISON, Attribution, explain
from model.inference import headline
from model.vit import ViT

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


# ----------------------------------------------------------------------------- the family's verb

@dataclass
class FaithfulnessSummary(Result):
    """What ``python -m model.explain faithfulness`` prints: the calibrated ``prediction``, the
    explained ``target``, and for each method of :data:`DEFAULT_COMPARISON` plus ``random``
    its deletion and insertion curves over ``fractions`` and their areas (``auc``); ``best``
    is the method with the highest insertion - deletion score."""
    prediction: dict
    target: int
    methods: list[str]
    unit: str
    fractions: np.ndarray
    deletion: dict[str, np.ndarray]
    insertion: dict[str, np.ndarray]
    auc: dict[str, dict[str, float]]
    best: str


def run(model: ViT, image: np.ndarray, target: int | None = None, unit: str = "pixel", steps: int = 20,
        baseline: str = "black") -> FaithfulnessSummary:
    """The faithfulness family's verb: :func:`compare` over :data:`DEFAULT_COMPARISON`."""
    c = compare(model, image, target, DEFAULT_COMPARISON, unit=unit, steps=steps, baseline=baseline)
    f = c.faithfulness
    return FaithfulnessSummary(headline(model, image).to_json(), f.target, list(DEFAULT_COMPARISON), f.unit,
                               f.fractions, f.deletion, f.insertion, f.auc, f.best)


FAMILY = Family(
    "faithfulness", run, "deletion and insertion curves of the default attribution methods on one digit",
    options=(TARGET,
             Setting("unit", "Unit", "choice", "pixel", options=("pixel", "patch"),
                     help="remove/insert single pixels or 4x4 patches"),
             Setting("steps", "Steps", "int", 20, 2, 196, 1, help="points on each curve"),
             Setting("baseline", "Baseline", "choice", "black", options=BASELINES,
                     help="what a removed pixel becomes")),
    source="Petsiuk, Das & Saenko, 2018, 'RISE', Sec. 4.1")

__all__ = ["Comparison", "Faithfulness", "FaithfulnessSummary", "compare", "faithfulness"]
