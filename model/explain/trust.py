"""Trust family: can this map be trusted? Sanity checks and a scorecard for every attribution
method of the Attributions page, on one digit.

* **Cascading model-parameter randomisation (MPRT)**, Adebayo et al., 2018, "Sanity Checks for
  Saliency Maps", Sec. 3.1: the ViT's weights are randomised from the top down (head, block 4,
  block 3, ..., stem), cumulatively, the map is recomputed for the same digit and class after
  each step, and compared with the original map by the Spearman rank correlation of absolute
  values and by SSIM (Wang et al., 2004). A map that explains the *model* must change when the
  model's learned weights are gone; one that barely changes is describing the input (an edge
  detector), not the model's reasoning.
* **Random-logit test** (Sixt et al., 2020, "When Explanations Lie", as in Quantus'
  ``RandomLogit``): the map for the predicted class against the map for a random other class
  (seeded), Spearman of absolute values. A map that looks the same for both is not about the class.
* **Scorecard**: deletion and insertion AUC (Petsiuk et al., 2018, via
  :func:`model.explain.faithfulness.faithfulness`), faithfulness correlation (Bhatt et al., 2020,
  "Evaluating and Aggregating Feature-based Model Explanations"), max-sensitivity (Yeh et al.,
  2019, "On the (In)fidelity and Sensitivity of Explanations"), sparseness (the Gini index of
  |map|, Chalasani et al., 2020, as in Quantus), completeness for Integrated Gradients (its
  convergence delta, Sundararajan et al., 2017) and the seconds the method took. Formulas and
  defaults follow Quantus (Hedström et al., 2023); ``tests/test_trust.py`` checks our values
  against Quantus 0.6.0 on real digits.

Fewer samples than Quantus where Quantus would be slow on one image (all stated on the Trust page):

* max-sensitivity: :data:`MAX_SENS_SAMPLES` noisy copies (Quantus: 200), uniform noise of radius
  :data:`MAX_SENS_RADIUS` (Quantus: 0.2; our pixels are in [0, 1] and the model clips them);
* faithfulness correlation: Quantus' 100 random subsets, of :data:`FC_SUBSET` pixels (Quantus' 224
  is meant for 224x224 images; 98 is one pixel in eight), all in one batched forward pass;
* the expensive methods run with lighter settings, :data:`TRUST_SETTINGS` (e.g. Integrated
  Gradients with 16 steps instead of 50), so that the whole report (9 methods x 8 maps each, plus
  the noisy copies) stays near 3 s on one CPU thread.

Randomised models (thread safety): the shared model is never touched. Each cascade is a list of
deep copies, randomised with per-parameter ``torch.Generator`` seeds, built once per process and
cached by :func:`functools.lru_cache` keyed by a fingerprint of the weights and the seed.
Randomisation replaces every parameter tensor of a step's modules by Gaussian noise with the
same mean and standard deviation as the trained tensor: the learned structure is destroyed, but
activations keep their scale (re-initialising with the training init's std of 0.02 would make
the network nearly constant, and every gradient map would trivially "pass"). BatchNorm running
statistics of the stem (buffers, not weights) are kept.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import time
import zlib
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch
from scipy import ndimage, stats

from model.explain._common import IMAGE_SIDE, _as_input, _target
from model.explain.attribution import METHODS, explain, method_settings
from model.explain.faithfulness import faithfulness
from model.vit import ViT

# every method of the Attributions page's menu
TRUST_METHODS: tuple[str, ...] = tuple(METHODS)
# lighter settings of the expensive methods, so the report runs live (see the module docstring)
TRUST_SETTINGS: dict[str, dict] = {
    "integrated_gradients": {"steps": 16},
    "gradient_shap": {"n_samples": 16},
    "occlusion": {"window": 4, "stride": 4},      # one window per 4x4 ViT patch: 49 forward passes
    "noise_tunnel": {"nt_samples": 8},
}
PASS_THRESHOLD = 0.5      # Spearman of |map| below this = "the map changed" (see passes())
SAME_CLASS_MAP = 0.8      # random-logit Spearman at or above this = "nearly the same map for another class"
MAX_SENS_SAMPLES = 4
MAX_SENS_RADIUS = 0.1
FC_RUNS = 100
FC_SUBSET = 98
FAITH_STEPS = 20          # deletion/insertion curve points, as the Attributions page's default
SEED = 0
RULE = (f"A method passes on a digit when the Spearman rank correlation of its map (absolute values) with the "
        f"original map falls below {PASS_THRESHOLD} once the head and the top block are randomised, and stays "
        f"below it for every later step.")


# ----------------------------------------------------------------------------- randomised models

def cascade_steps(model: ViT) -> tuple[str, ...]:
    """Names of the cumulative randomisation steps, top down: head, block L, ..., block 1, stem."""
    return ("head",) + tuple(f"block {i}" for i in range(model.cfg.depth, 0, -1)) + ("stem",)


def _step_parameters(model: ViT, step: str) -> list[tuple[str, torch.nn.Parameter]]:
    if step == "head":
        mods = {"ln_f": model.ln_f, "head": model.head}
    elif step.startswith("block "):
        i = int(step.split()[1]) - 1
        mods = {f"blocks.{i}": model.blocks[i]}
    elif step == "stem":
        mods = {"patch_embed": model.patch_embed}
    else:
        raise ValueError(f"unknown randomisation step {step!r}")
    out = [(f"{pre}.{n}", p) for pre, m in mods.items() for n, p in m.named_parameters()]
    if step == "stem":
        out += [("cls_token", model.cls_token), ("pos_embed", model.pos_embed)]
    return out


def model_fingerprint(model: ViT) -> str:
    """SHA-1 of the config and every weight: the cache key of the randomised copies."""
    h = hashlib.sha1(model.cfg.to_json().encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class _Keyed:
    """Hashable by the fingerprint of the weights, holding the model to copy from."""

    def __init__(self, model: ViT, fingerprint: str):
        self.model, self.fingerprint = model, fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Keyed) and other.fingerprint == self.fingerprint


@functools.lru_cache(maxsize=4)
def _cascade_cached(key: _Keyed, seed: int) -> tuple[tuple[str, ViT], ...]:
    out = []
    current = copy.deepcopy(key.model)             # a private copy; the shared model is only read
    for step in cascade_steps(key.model):
        current = copy.deepcopy(current)           # cumulative: each step starts from the previous one
        with torch.no_grad():
            for name, p in _step_parameters(current, step):
                g = torch.Generator().manual_seed(int(seed) * 1_000_003 + zlib.crc32(name.encode()))
                mean, std = float(p.mean()), float(p.std(unbiased=False)) if p.numel() > 1 else 0.0
                p.copy_(mean + (std or 0.02) * torch.randn(p.shape, generator=g, dtype=p.dtype))
        current.eval()
        out.append((step, current))
    return tuple(out)


def randomised_cascade(model: ViT, seed: int = SEED) -> tuple[tuple[str, ViT], ...]:
    """``((step, model with this and every earlier step randomised), ...)``, top down; built once
    per process and weights (cached), never touching ``model``. Do not mutate the copies."""
    return _cascade_cached(_Keyed(model, model_fingerprint(model)), int(seed))


# ----------------------------------------------------------------------------- similarity

def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of |a| and |b| (flattened), as Adebayo et al. 2018 report.
    A constant map has no ranking; its correlation is reported as 0."""
    a, b = np.abs(np.asarray(a, np.float64)).ravel(), np.abs(np.asarray(b, np.float64)).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


def spearman_signed(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of the signed maps (flattened); a constant map gives 0."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float | None = None, win_size: int = 7,
         k1: float = 0.01, k2: float = 0.03) -> float:
    """Mean structural similarity (Wang et al., 2004) of two 2-D arrays, computed as
    ``skimage.metrics.structural_similarity`` does by default: a uniform ``win_size`` window
    (reflecting borders), sample covariances, the mean over the pixels at least win_size//2
    from the border. ``data_range`` defaults to the range over both arrays (as Quantus' ssim)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if data_range is None:
        data_range = float(max(a.max(), b.max()) - min(a.min(), b.min()))
    if data_range == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    f = functools.partial(ndimage.uniform_filter, size=win_size)
    n = win_size ** a.ndim
    cov_norm = n / (n - 1)                                             # sample covariance
    ux, uy = f(a), f(b)
    vx = cov_norm * (f(a * a) - ux * ux)
    vy = cov_norm * (f(b * b) - uy * uy)
    vxy = cov_norm * (f(a * b) - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    pad = (win_size - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())


def _unit_abs(a: np.ndarray) -> np.ndarray:
    """|a| / max|a| (Quantus' abs + normalise_by_max), zeros stay zeros."""
    a = np.abs(np.asarray(a, np.float64))
    m = a.max()
    return a / m if m > 0 else a


def map_similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(Spearman of |a| vs |b|, SSIM of |a|/max vs |b|/max) as in Adebayo et al. 2018, Fig. 2-4."""
    return spearman_abs(a, b), ssim(_unit_abs(a), _unit_abs(b))


# ----------------------------------------------------------------------------- metrics

def sparseness(amap: np.ndarray) -> float:
    """Gini index of |map| (Chalasani et al., 2020), exactly as Quantus' ``Sparseness``: |a|
    divided by its maximum, plus 1e-7, sorted ascending, then
    sum_i (2i - n - 1) a_i / (n sum_i a_i). 0 = evenly spread, near 1 = a few pixels carry it all."""
    a = np.sort(_unit_abs(amap).ravel() + 1e-7)
    n = a.size
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * a).sum() / (n * a.sum()))


def faithfulness_correlation(model: ViT, image: np.ndarray, target: int, maps: dict[str, np.ndarray],
                             nr_runs: int = FC_RUNS, subset_size: int = FC_SUBSET,
                             seed: int = SEED) -> dict[str, float]:
    """Faithfulness correlation (Bhatt et al., 2020), as Quantus' ``FaithfulnessCorrelation``:
    for ``nr_runs`` random subsets S of ``subset_size`` pixels, the Pearson correlation between
    sum_{i in S} a_i and the drop of the target's logit when the pixels of S are set to black
    (0, the digit's minimum). The subsets are drawn by ``np.random.RandomState(seed).choice``,
    the draws Quantus makes after ``np.random.seed(seed)``; they are shared by every map, so all
    ``nr_runs`` perturbed digits go through the model in one batch. An undefined correlation
    (a constant map) is reported as 0."""
    x = _as_input(image)                                                 # (1, 1, 28, 28)
    n = IMAGE_SIDE * IMAGE_SIDE
    rs = np.random.RandomState(int(seed))
    subsets = np.stack([rs.choice(n, int(subset_size), replace=False) for _ in range(int(nr_runs))])  # (R, S)
    keep = np.ones((int(nr_runs), n), dtype=np.float32)
    np.put_along_axis(keep, subsets, 0.0, axis=1)
    xs = x.reshape(1, n) * torch.from_numpy(keep)                        # (R, 784), black = 0
    with torch.inference_mode():
        logits = model(torch.cat([x, xs.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)]))[:, target].double().numpy()
    deltas = logits[0] - logits[1:]                                      # (R,)
    out = {}
    for name, amap in maps.items():
        a = np.asarray(amap, np.float64).ravel()
        sums = a[subsets].sum(1)                                         # (R,)
        if np.ptp(sums) == 0 or np.ptp(deltas) == 0:
            out[name] = 0.0
        else:
            out[name] = float(stats.pearsonr(sums, deltas).statistic)
    return out


def noise_draws(nr_samples: int = MAX_SENS_SAMPLES, radius: float = MAX_SENS_RADIUS,
                seed: int = SEED) -> np.ndarray:
    """(nr_samples, 28, 28) uniform noise in [-radius, radius]: the draws Quantus' uniform_noise
    makes after ``np.random.seed(seed)``, from a private RandomState."""
    rs = np.random.RandomState(int(seed))
    return np.stack([rs.uniform(-radius, radius, size=(1, IMAGE_SIDE * IMAGE_SIDE)).reshape(IMAGE_SIDE, IMAGE_SIDE)
                     for _ in range(int(nr_samples))])


def max_sensitivity(model: ViT, image: np.ndarray, target: int, method: str, settings: dict | None = None,
                    amap: np.ndarray | None = None, nr_samples: int = MAX_SENS_SAMPLES,
                    radius: float = MAX_SENS_RADIUS, seed: int = SEED) -> float:
    """Max-sensitivity (Yeh et al., 2019), as Quantus' ``MaxSensitivity``: the largest
    ||map(x + noise) - map(x)||_F / ||map(x)||_F over ``nr_samples`` uniform noise draws
    (:func:`noise_draws`); the noisy digit is clipped to [0, 1] by the model's input check.
    ``amap``: the map of ``image`` if already computed. 0 = perfectly stable."""
    settings = settings or {}
    base = np.asarray(amap if amap is not None else explain(model, image, target, method, **settings).map,
                      np.float64)
    denom = float(np.linalg.norm(base))
    x = np.asarray(image, np.float32)
    worst = 0.0
    for noise in noise_draws(nr_samples, radius, seed):
        a = explain(model, x + noise.astype(np.float32), target, method, **settings).map
        worst = max(worst, float(np.linalg.norm(a - base)))
    return worst / denom if denom > 0 else float("inf")


# ----------------------------------------------------------------------------- per method

@dataclass
class CascadeStep:
    """One randomisation step: ``spearman`` of |maps| (the test's measure), ``ssim`` of the
    |maps| scaled to [0, 1], and ``spearman_signed`` of the maps with their signs, which Adebayo
    et al. 2018 also report (Fig. 4): maps that are zero wherever there is no ink keep a high
    |map| ranking whatever the weights, while their signs may still change."""
    step: str
    spearman: float
    ssim: float
    map: np.ndarray
    spearman_signed: float = float("nan")


@dataclass
class MethodTrust:
    """Everything the trust report says about one method on one digit. ``cascade`` lists the
    cumulative randomisation steps, top down; ``seconds`` is this method's own compute time
    (plus, in a :class:`TrustReport`, its share of the batched deletion/insertion and
    faithfulness-correlation passes)."""
    method: str
    target: int
    settings: dict
    map: np.ndarray
    cascade: list[CascadeStep]
    random_class: int | None = None
    random_map: np.ndarray | None = None
    random_logit_spearman: float | None = None
    max_sensitivity: float | None = None
    sparseness: float | None = None
    completeness: float | None = None         # IG: |convergence delta| (sum of map - score change)
    seconds: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)   # deletion/insertion AUC, faithfulness corr.

    @property
    def passes(self) -> bool:
        return passes(self.cascade)

    @property
    def first_drop(self) -> str | None:
        return first_drop(self.cascade)


def trust_settings(method: str, model: ViT | None = None) -> dict:
    """The settings the trust report runs ``method`` with (defaults, lightened by TRUST_SETTINGS)."""
    return method_settings(method, TRUST_SETTINGS.get(method, {}), model)


def random_other_class(target: int, num_classes: int = 10, seed: int = SEED) -> int:
    """A seeded random class other than ``target`` (the same for every method of a digit)."""
    others = [c for c in range(num_classes) if c != target]
    return int(np.random.default_rng(int(seed) * 10 + int(target)).choice(others))


def mprt(model: ViT, image: np.ndarray, target: int, method: str, settings: dict | None = None,
         original: np.ndarray | None = None, seed: int = SEED) -> list[CascadeStep]:
    """Cascading randomisation (Adebayo et al., 2018): the map of ``method`` for the same digit
    and class on each cumulatively randomised copy, and its similarity to ``original``."""
    settings = settings if settings is not None else trust_settings(method, model)
    if original is None:
        original = explain(model, image, target, method, **settings).map
    out = []
    for step, rmodel in randomised_cascade(model, seed):
        m = explain(rmodel, image, target, method, **settings).map
        rho, s = map_similarity(original, m)
        out.append(CascadeStep(step, rho, s, m, spearman_signed(original, m)))
    return out


def passes(cascade: list[CascadeStep], threshold: float = PASS_THRESHOLD) -> bool:
    """The rule of the badge: a method passes on a digit when the Spearman correlation of its
    map with the original falls below ``threshold`` once the head and the top block are
    randomised (the second step) and stays below it for every later step. The head and the top
    block are where this ViT decides between classes: a map that survives their loss is not
    showing that decision (Adebayo et al., 2018, Sec. 3.1: 'sensitive to model parameters')."""
    return bool(len(cascade) >= 2 and all(c.spearman < threshold for c in cascade[1:]))


def first_drop(cascade: list[CascadeStep], threshold: float = PASS_THRESHOLD) -> str | None:
    """The first step after which the map stays below ``threshold`` (None: it never does)."""
    for i, c in enumerate(cascade):
        if all(d.spearman < threshold for d in cascade[i:]):
            return c.step
    return None


def method_trust(model: ViT, image: np.ndarray, target: int, method: str, seed: int = SEED,
                 sensitivity: bool = True) -> MethodTrust:
    """The per-method part of the report: original map, cascade, random-logit test, sparseness,
    IG's completeness and (with ``sensitivity``) max-sensitivity. Costs 8 runs of the method, plus
    MAX_SENS_SAMPLES with ``sensitivity`` (the page adds it later with :func:`add_sensitivity`)."""
    t0 = time.perf_counter()
    settings = trust_settings(method, model)
    orig = explain(model, image, target, method, **settings)
    res = MethodTrust(method, target, settings, orig.map, mprt(model, image, target, method, settings, orig.map, seed))
    other = random_other_class(target, model.cfg.num_classes, seed)
    res.random_class = other
    res.random_map = explain(model, image, other, method, **settings).map
    res.random_logit_spearman = spearman_abs(orig.map, res.random_map)
    res.sparseness = sparseness(orig.map)
    if orig.convergence_delta is not None:
        res.completeness = abs(orig.convergence_delta)
    res.seconds = time.perf_counter() - t0
    if sensitivity:
        add_sensitivity(model, image, res, seed)
    return res


def add_sensitivity(model: ViT, image: np.ndarray, res: MethodTrust, seed: int = SEED) -> MethodTrust:
    """Fill in ``res.max_sensitivity`` (and add its seconds)."""
    t0 = time.perf_counter()
    res.max_sensitivity = max_sensitivity(model, image, res.target, res.method, res.settings, res.map, seed=seed)
    res.seconds += time.perf_counter() - t0
    return res


def shared_scores(model: ViT, image: np.ndarray, target: int, maps: dict[str, np.ndarray],
                  seed: int = SEED) -> dict[str, dict[str, float]]:
    """The scores that batch over every map at once: deletion and insertion AUC (Petsiuk et al.,
    2018; pixels, black baseline, FAITH_STEPS points) and faithfulness correlation."""
    f = faithfulness(model, image, target, maps, unit="pixel", steps=FAITH_STEPS, baseline="black",
                     include_random=False, seed=seed)
    fc = faithfulness_correlation(model, image, target, maps, seed=seed)
    return {m: {"deletion_auc": f.auc[m]["deletion"], "insertion_auc": f.auc[m]["insertion"],
                "faithfulness_correlation": fc[m]} for m in maps}


# ----------------------------------------------------------------------------- whole report

@dataclass
class TrustReport:
    target: int
    methods: dict[str, MethodTrust]
    seconds: float

    def to_json(self) -> dict:
        """The command line's object (see :func:`add_cli`)."""
        out = {}
        for name, r in self.methods.items():
            out[name] = {"mprt": [{"step": c.step, "spearman": c.spearman, "ssim": c.ssim} for c in r.cascade],
                         "random_logit_spearman": r.random_logit_spearman,
                         "deletion_auc": r.scores["deletion_auc"], "insertion_auc": r.scores["insertion_auc"],
                         "faithfulness_correlation": r.scores["faithfulness_correlation"],
                         "max_sensitivity": r.max_sensitivity, "sparseness": r.sparseness,
                         "seconds": r.seconds}
        return {"target": self.target, "methods": out}


def trust_report(model: ViT, image: np.ndarray, target: int | None = None,
                 methods: Iterable[str] = TRUST_METHODS, seed: int = SEED) -> TrustReport:
    """Every check and score for every method on one digit (``target=None``: the prediction).
    Each method's ``seconds`` = its own runs + an equal share of the batched passes."""
    t0 = time.perf_counter()
    x = _as_input(image)
    t = _target(model, target, x)
    out = {m: method_trust(model, image, t, m, seed) for m in methods}
    t1 = time.perf_counter()
    scores = shared_scores(model, image, t, {m: r.map for m, r in out.items()}, seed)
    share = (time.perf_counter() - t1) / max(1, len(out))
    for m, r in out.items():
        r.scores = scores[m]
        r.seconds += share
    return TrustReport(t, out, time.perf_counter() - t0)


def verdict(r: MethodTrust) -> str:
    """One plain-language sentence for a learner."""
    label = METHODS[r.method].label
    if r.passes:
        msg = f"{label}: changes once the top of the model is randomised, so it does reflect what the model learned"
    elif r.first_drop is not None:
        msg = (f"{label}: changes only once the weights down to {r.first_drop} are random: it mixes the model's "
               f"reasoning with the shape of the digit")
    else:
        msg = f"{label}: looks the same with random weights: do not read it as the model's reasoning"
    if not METHODS[r.method].class_specific:
        msg += "; it is the same map for every class by construction"
    elif r.random_logit_spearman is not None and r.random_logit_spearman >= SAME_CLASS_MAP:
        msg += f"; nearly the same map for class {r.random_class}, so it hardly says why this class"
    return msg + "."


# ----------------------------------------------------------------------------- test-set summary

def trust_summary(model: ViT, images: np.ndarray, methods: Iterable[str] = TRUST_METHODS, seed: int = SEED,
                  progress=None) -> dict:
    """The randomisation and random-logit tests of every method on many digits (each explained
    for its predicted class): per method the share of digits that pass (:func:`passes`), the share
    whose map is below PASS_THRESHOLD once every weight is random, and per step the median
    Spearman (of |map| and signed) and SSIM, and the share that would pass on signed ranks.
    ``images`` (N, 28, 28) in [0, 1]; ``progress(i, n)`` is called per digit."""
    methods = list(methods)
    steps = list(cascade_steps(model))
    rho = {m: np.zeros((len(images), len(steps))) for m in methods}
    signed = {m: np.zeros((len(images), len(steps))) for m in methods}
    sim = {m: np.zeros((len(images), len(steps))) for m in methods}
    rl = {m: np.zeros(len(images)) for m in methods}
    ok = {m: np.zeros(len(images), dtype=bool) for m in methods}
    for i, img in enumerate(images):
        t = _target(model, None, _as_input(img))
        for m in methods:
            r = method_trust(model, img, t, m, seed, sensitivity=False)
            rho[m][i] = [c.spearman for c in r.cascade]
            signed[m][i] = [c.spearman_signed for c in r.cascade]
            sim[m][i] = [c.ssim for c in r.cascade]
            rl[m][i] = r.random_logit_spearman
            ok[m][i] = r.passes
        if progress is not None:
            progress(i + 1, len(images))
    out = {}
    for m in methods:
        out[m] = {"label": METHODS[m].label, "settings": trust_settings(m, model),
                  "pass_rate": float(ok[m].mean()),
                  "changed_when_all_random": float((rho[m][:, -1] < PASS_THRESHOLD).mean()),
                  "median_spearman": {s: float(np.median(rho[m][:, j])) for j, s in enumerate(steps)},
                  "median_ssim": {s: float(np.median(sim[m][:, j])) for j, s in enumerate(steps)},
                  "median_spearman_signed": {s: float(np.median(signed[m][:, j])) for j, s in enumerate(steps)},
                  "signed_pass_rate": float(np.mean([passes([CascadeStep(s, v, 0.0, None) for s, v in zip(steps, row)])
                                                     for row in signed[m]])),
                  "median_random_logit_spearman": float(np.median(rl[m]))}
    return {"n_images": int(len(images)), "steps": steps, "threshold": PASS_THRESHOLD, "seed": int(seed),
            "rule": RULE, "weights_sha1": model_fingerprint(model), "methods": out}


# ----------------------------------------------------------------------------- command line

def add_cli(subparsers):
    """``python -m model.explain trust FILE --json``: the whole trust report of one digit."""
    p = subparsers.add_parser("trust", help="sanity checks and scorecard of every attribution method",
                              description="Prints {target, methods: {name: {mprt: [{step, spearman, ssim}], "
                                          "random_logit_spearman, deletion_auc, insertion_auc, "
                                          "faithfulness_correlation, max_sensitivity, sparseness, seconds}}}.")
    p.add_argument("--target", type=int, default=None, help="class to explain (default: the prediction)")

    def run(args, model, image):
        return trust_report(model, image, args.target).to_json()

    p.set_defaults(run=run)
    return p
