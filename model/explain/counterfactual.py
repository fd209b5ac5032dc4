"""Counterfactual family: "make it a D". The smallest change to the digit's pixels that makes
the ViT read a target class D, found by gradient descent in pixel space.

Method (Wachter, Mittelstadt & Russell, 2017, "Counterfactual Explanations without Opening the
Black Box", Eq. 2: minimise a prediction loss plus a distance to the original), with the
distance an L1 norm as in their MNIST-free experiments and in the elastic-net attack of Chen et
al. (2018, "EAD"), and the prediction loss the hinge on the logit margin of Carlini & Wagner
(2017, "Towards Evaluating the Robustness of Neural Networks", their f_6 with confidence kappa):

    minimise   max(max_{j != D} z_j(x) - z_D(x) + kappa, 0)  +  lambda * sum_p w_p |x_p - x0_p|
    subject to x in [0, 1]^784

* Pixels are kept in [0, 1] by projecting after every Adam step (Kingma & Ba, 2015).
* ``w_p`` grows with the pixel's distance to the digit's ink (distances by repeated 3x3
  dilation of the ink mask), so ink is preferably added or removed *near the strokes*, as a pen
  would, rather than as scattered specks far away.
* Several ``lambda`` values run side by side in one batch (one forward/backward pass for all),
  so a too-strong sparsity weight that never reaches the target does not cost a second run.
* **Sparsification.** Every successful candidate is pruned: its changed pixels are ranked by
  the size of their change and only the smallest top-k that still makes the ViT read ``D``
  with the margin is kept (all k tried in one batched forward pass). The pixels left out are
  exactly the original ones again.
* **Verification.** The result is re-run through the model; ``found`` is True only when that
  forward pass reads ``D`` with logit margin >= :data:`MARGIN`. Otherwise: "no small change
  found" within the step budget.

Nothing here mutates the shared model: gradients are taken with ``torch.autograd.grad`` with
respect to the per-call change only (no ``param.grad``), no hooks, no mode changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from data.preprocess import INK_THRESHOLD
from model.explain._common import IMAGE_SIDE, _as_input
from model.explain._registry import Family, Result, Setting
from model.inference import headline
from model.vit import ViT

MARGIN = 1.0          # logit margin z_D - max_{j != D} z_j the result must reach (verified)
KAPPA = 1.5           # margin the optimisation aims for (a little above MARGIN: pruning spends it)
STEPS = 120           # Adam steps at most
LR = 0.1              # Adam step size, in pixel units
LAMBDAS = (0.03, 0.08, 0.2, 0.5)   # L1 weights run side by side in one batch
FAR_WEIGHT = 0.5      # extra L1 weight per pixel of distance from the ink beyond the first ring
CHANGED = 0.1         # a pixel counts as changed when it moves by more than this
EXTRA_STEPS = 40      # steps to go on after the first success (sparser lambdas may still succeed)
GREEDY_ROUNDS = 8     # at most this many one-pixel removals after the top-k pruning


class _Adam:
    """Adam (Kingma & Ba, 2015) on one tensor, as ``torch.optim.Adam`` computes it with its defaults
    (betas 0.9, 0.999, eps 1e-8). Written out because constructing the first ``torch.optim``
    optimizer in a process imports ``torch._dynamo``: about 2 s of CPU and tens of MB, most of the
    Why page's first view in a fresh server (py-spy)."""

    def __init__(self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps, self.t = param, lr, betas, eps, 0
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.lerp_(grad, 1 - b1)                                      # first moment
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)              # second moment
        denom = (self.v.sqrt() / (1 - b2 ** self.t) ** 0.5).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - b1 ** self.t))


@dataclass(frozen=True)
class Counterfactual(Result):
    """Outcome of :func:`counterfactual`. ``image`` is the counterfactual (28, 28) in [0, 1]
    (the original when nothing was found); ``probabilities`` are the ViT's on ``image``,
    from a fresh forward pass; ``forest`` the random forest's probabilities on it when a
    forest was given."""

    target: int
    found: bool
    image: np.ndarray                   # (28, 28) float32
    original: np.ndarray                # (28, 28) float32
    probabilities: np.ndarray           # (10,) float32, ViT on image
    original_probabilities: np.ndarray  # (10,) float32, ViT on original
    steps: int                          # Adam steps taken
    forest: np.ndarray | None = None    # (10,) forest on image
    extra: dict = field(default_factory=dict)

    @property
    def delta(self) -> np.ndarray:
        return self.image - self.original                               # (28, 28)

    @property
    def changed(self) -> np.ndarray:
        return np.abs(self.delta) > CHANGED                             # (28, 28) bool

    @property
    def changed_pixels(self) -> int:
        return int(self.changed.sum())

    @property
    def l1(self) -> float:
        return float(np.abs(self.delta).sum())

    @property
    def added(self) -> np.ndarray:
        return np.clip(self.delta, 0, None)                             # ink added, (28, 28)

    @property
    def removed(self) -> np.ndarray:
        return np.clip(-self.delta, 0, None)                            # ink removed, (28, 28)

    @property
    def prediction(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def forest_prediction(self) -> int | None:
        return None if self.forest is None else int(np.argmax(self.forest))

    @property
    def fools_vit_not_forest(self) -> bool:
        """The ViT now reads the target but the forest still reads the original's ViT answer."""
        return (self.found and self.forest is not None and self.forest_prediction != self.target)

    def to_dict(self) -> dict:
        """The command line's JSON object (``probabilities``: the ViT's softmax on the result,
        uncalibrated; this form is pinned by tests/test_why.py, so it carries no headline)."""
        return {"target": self.target, "found": self.found, "changed_pixels": self.changed_pixels,
                "l1": round(self.l1, 4), "probabilities": [float(p) for p in self.probabilities],
                "image": [[float(v) for v in row] for row in self.image]}

    def to_json(self) -> dict:
        return self.to_dict()


def distance_to_ink(image: torch.Tensor, max_dist: int = 8) -> torch.Tensor:
    """(1, 1, 28, 28) -> pixel distance (chessboard) to the nearest ink pixel, capped at
    ``max_dist``; ink itself is 0. Repeated 3x3 max-pool dilation of the ink mask."""
    mask = (image > INK_THRESHOLD).float()                                      # (1, 1, 28, 28)
    dist = torch.full_like(mask, float(max_dist))
    dist[mask > 0] = 0.0
    for d in range(1, max_dist):
        mask = F.max_pool2d(mask, 3, stride=1, padding=1)               # grow by one pixel
        dist = torch.where((mask > 0) & (dist > d), torch.full_like(dist, float(d)), dist)
    return dist


def _margins(logits: torch.Tensor, target: int) -> torch.Tensor:
    """(B, 10) -> z_target - max_{j != target} z_j, (B,)."""
    others = logits.clone()
    others[:, target] = float("-inf")
    return logits[:, target] - others.max(-1).values


def _prune(model: ViT, x0: torch.Tensor, delta: torch.Tensor, target: int) -> torch.Tensor | None:
    """Smallest top-k (by |change|) of ``delta`` (1, 28, 28) that still reaches the margin, or None."""
    flat = delta.reshape(-1)
    order = flat.abs().argsort(descending=True)
    n = int((flat.abs() > CHANGED / 2).sum())
    if n == 0:
        return None
    ks = sorted({max(1, int(round(n * f))) for f in np.geomspace(1 / max(n, 1), 1.0, 24)} | {n})
    keep = torch.zeros(len(ks), flat.numel())
    for i, k in enumerate(ks):
        keep[i, order[:k]] = 1.0
    cand = (x0.reshape(1, -1) + keep * flat).clamp(0, 1).view(-1, 1, IMAGE_SIDE, IMAGE_SIDE)   # (K, 1, 28, 28)
    with torch.inference_mode():
        ok = _margins(model(cand), target) >= MARGIN                   # (K,)
    if not ok.any():
        return None
    first = int(ok.nonzero()[0])
    return (cand[first] - x0[0]).detach()                               # (1, 28, 28)


def _greedy(delta: torch.Tensor, model: ViT, x0: torch.Tensor, target: int) -> torch.Tensor:
    """Backward elimination: drop, one at a time, the changed pixel whose removal leaves the
    largest margin, while the margin stays >= MARGIN (each round one batched forward pass)."""
    delta = delta.clone()                                               # (1, 28, 28)
    for _ in range(GREEDY_ROUNDS):
        idx = (delta.reshape(-1).abs() > 0).nonzero().flatten()
        if len(idx) <= 1:
            break
        trial = delta.reshape(1, -1).repeat(len(idx), 1)                # (k, 784)
        trial[torch.arange(len(idx)), idx] = 0.0
        with torch.inference_mode():
            m = _margins(model((x0.reshape(1, -1) + trial).view(-1, 1, IMAGE_SIDE, IMAGE_SIDE)), target)   # (k,)
        j = int(m.argmax())
        if float(m[j]) < MARGIN:
            break
        delta.reshape(-1)[idx[j]] = 0.0
    return delta


def counterfactual(model: ViT, image: np.ndarray, target: int, forest=None, steps: int = STEPS,
                   lr: float = LR, lambdas: tuple[float, ...] = LAMBDAS) -> Counterfactual:
    """A small change of ``image`` (28, 28) in [0, 1] that the ViT reads as ``target``
    (Wachter et al., 2017), or the original with ``found=False`` when none is found within
    ``steps`` Adam steps. ``forest`` (optional): a random forest whose answer on the result
    is recorded too."""
    t = int(target)
    if not 0 <= t < model.cfg.num_classes:
        raise ValueError(f"target must be a class index 0..{model.cfg.num_classes - 1}, got {target}")
    x0 = _as_input(image)                                               # (1, 1, 28, 28)
    with torch.inference_mode():
        logits0 = model(x0)                                             # (1, 10)
    p0 = F.softmax(logits0, -1)[0].numpy()
    best: torch.Tensor | None = None
    taken = 0
    if float(_margins(logits0, t)[0]) >= MARGIN:                        # already reads the target
        best = torch.zeros_like(x0[0])
    else:
        B = len(lambdas)
        lam = torch.tensor(lambdas, dtype=torch.float32).view(B, 1, 1, 1)    # (B, 1, 1, 1)
        w = 1.0 + FAR_WEIGHT * (distance_to_ink(x0) - 1).clamp(min=0)       # (1, 1, 28, 28)
        delta = torch.zeros((B, 1, IMAGE_SIDE, IMAGE_SIDE), requires_grad=True)
        adam = _Adam(delta, lr)
        latest: dict[int, torch.Tensor] = {}     # lambda index -> its latest successful change
        first_success = None
        for step in range(int(steps)):
            taken = step + 1
            with torch.enable_grad():
                logits = model(x0 + delta)                              # (B, 10)
                m = _margins(logits, t)                                 # (B,)
                hinge = (KAPPA - m).clamp(min=0)                        # (B,)
                l1 = (lam * w * delta.abs()).sum(dim=(1, 2, 3))         # (B,)
                (g,) = torch.autograd.grad((hinge + l1).sum(), delta)
            with torch.no_grad():
                for i in (m >= MARGIN).nonzero().flatten().tolist():
                    latest[i] = delta[i].detach().clone()               # (1, 28, 28)
            if latest and first_success is None:
                first_success = step
            if first_success is not None and step - first_success >= EXTRA_STEPS:
                break
            adam.step(g)
            with torch.no_grad():
                delta.copy_((x0 + delta).clamp(0, 1) - x0)              # project onto [0, 1]
        # prune each lambda's latest success (the sparsest it reached) and keep the fewest pixels
        for c in latest.values():
            pruned = _prune(model, x0, c, t)
            if pruned is not None and (best is None or
                                       int((pruned.abs() > CHANGED).sum()) < int((best.abs() > CHANGED).sum())):
                best = pruned
        if best is not None:
            best = _greedy(best, model, x0, t)
    if best is None:
        out = x0[0, 0]
    else:
        out = (x0[0] + best).clamp(0, 1)[0]
    img = out.detach().numpy().astype(np.float32)
    with torch.inference_mode():
        logits = model(torch.from_numpy(img.copy())[None, None])        # verification pass, (1, 10)
    found = best is not None and float(_margins(logits, t)[0]) >= MARGIN
    if not found:
        img = x0[0, 0].numpy().astype(np.float32)
        with torch.inference_mode():
            logits = model(x0)
    probs = F.softmax(logits, -1)[0].numpy().astype(np.float32)
    forest_p = None
    if forest is not None:
        from model.forest import forest_predict_proba

        forest_p = forest_predict_proba(forest, img)[0].astype(np.float32)
    return Counterfactual(t, bool(found), img, x0[0, 0].numpy().astype(np.float32), probs,
                          p0.astype(np.float32), taken, forest_p)


# ----------------------------------------------------------------------------- the family's verb

def run(model: ViT, image: np.ndarray, target: int | None = None, steps: int = STEPS) -> Counterfactual:
    """The counterfactual family's verb: "make it a ``target``"; without a target, the runner-up
    class of the calibrated prediction (the nearest other reading)."""
    h = headline(model, image)
    t = int(np.argsort(h.probabilities)[-2]) if target is None else target
    return counterfactual(model, image, t, steps=steps)


FAMILY = Family(
    "counterfactual", run, "the smallest pixel change that makes the ViT read a target digit",
    options=(Setting("target", "Digit to reach", "int", None, 0, 9, 1,
                     help="the digit the ViT should read (default: the runner-up class)"),
             Setting("steps", "Adam steps", "int", STEPS, 1, 2000, 1, help="Adam steps at most")),
    source="Wachter, Mittelstadt & Russell, 2017; Carlini & Wagner, 2017; Chen et al., 2018 (EAD)")

__all__ = ["CHANGED", "MARGIN", "STEPS", "Counterfactual", "counterfactual", "distance_to_ink"]
