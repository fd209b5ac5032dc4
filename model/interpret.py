"""Cheap questions about where the models go wrong, answered from the stored test-set table.

Modelled on fastai's ``ClassificationInterpretation`` (Howard & Gugger, 2020, "fastai: A
Layered API for Deep Learning"; ``top_losses``, ``most_confused``, ``confusion_matrix``):
the expensive part (running every model over the 10,000 MNIST test images) is done once by
``python -m model.evaluate --write``, which stores labels and each model's probabilities in
``model/artifacts/test_eval.npz``. An :class:`Interpretation` is built from that table once and
then answers every query with a few numpy operations, so the app never re-runs a model over
the test set.

Models are named ``"vit"`` (the transformer), ``"vit_tta"`` (the transformer with test-time
augmentation) and ``"forest"`` (the random-forest baseline). :meth:`Interpretation.misclassified`
also accepts ``"both"``: images both the transformer and the forest get wrong.

Also here, because they are plain logic the pages need and tests can check without Streamlit:
:func:`selection_to_filter` (a confusion-matrix cell clicked in plotly -> a (true, predicted)
filter), :func:`parse_image_param` (validation of the ``?image=`` URL parameter), and two for the
Inside page: :func:`selection_to_patch` (a click on the digit -> the patch under it) and
:func:`answer_forms_at` (the logit-lens stage from which the class token reads as the answer).

No Streamlit imports in this module.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NUM_CLASSES = 10
# model name -> key of its probabilities in test_eval.npz
PROB_KEYS: dict[str, str] = {"vit": "vit_probs", "vit_tta": "vit_tta_probs", "forest": "forest_probs"}
MODEL_LABELS: dict[str, str] = {"vit": "ViT", "vit_tta": "ViT + TTA", "forest": "random forest",
                                "both": "both ViT and forest"}
# floor for probabilities inside the log, so a probability of exactly 0 gives a finite loss
_EPS = 1e-12


@dataclass(frozen=True)
class Disagreements:
    """How two models' right/wrong answers combine on the test set.

    ``counts`` has the keys ``both_right``, ``{a}_only`` (only model ``a`` right), ``{b}_only``
    and ``both_wrong`` (for the ViT and the forest: ``vit_only``, ``forest_only``, as in
    ``evaluation.json``'s ``agreement``); ``indices`` holds the test-image indices of each
    group, ascending."""

    a: str
    b: str
    counts: dict[str, int]
    indices: dict[str, np.ndarray] = field(repr=False)


class Interpretation:
    """Per-image predictions, confidences and losses of each stored model, and queries on them.

    ``labels`` (N,) int; ``probs`` maps a model name (see :data:`PROB_KEYS`) to (N, 10) class
    probabilities. Only the models present can be queried; asking for another raises KeyError
    with the names available."""

    def __init__(self, labels: np.ndarray, probs: Mapping[str, np.ndarray]):
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)                 # (N,)
        n = self.labels.shape[0]
        if n and (self.labels.min() < 0 or self.labels.max() >= NUM_CLASSES):
            raise ValueError("labels must be digits 0-9")
        self.probs: dict[str, np.ndarray] = {}
        for name, p in probs.items():
            p = np.asarray(p, dtype=np.float64)
            if p.shape != (n, NUM_CLASSES):
                raise ValueError(f"{name} probabilities have shape {p.shape}, expected ({n}, {NUM_CLASSES})")
            self.probs[name] = p                                                      # (N, 10)
        self._pred = {m: p.argmax(1) for m, p in self.probs.items()}                 # (N,)
        self._conf = {m: p.max(1) for m, p in self.probs.items()}                    # (N,)
        rows = np.arange(n)
        self._loss = {m: -np.log(np.clip(p[rows, self.labels], _EPS, None)) for m, p in self.probs.items()}

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, labels: np.ndarray, vit_probs: np.ndarray | None = None,
                    vit_tta_probs: np.ndarray | None = None,
                    forest_probs: np.ndarray | None = None) -> Interpretation:
        given = {"vit": vit_probs, "vit_tta": vit_tta_probs, "forest": forest_probs}
        return cls(labels, {k: v for k, v in given.items() if v is not None})

    @classmethod
    def from_table(cls, table: Mapping[str, np.ndarray]) -> Interpretation:
        """From a dict shaped like ``test_eval.npz`` (``labels``, ``vit_probs``...)."""
        return cls(table["labels"], {m: table[k] for m, k in PROB_KEYS.items() if k in table})

    @classmethod
    def from_npz(cls, path: Path | str) -> Interpretation:
        with np.load(path) as z:
            return cls.from_table({k: z[k] for k in z.files})

    # ---- per-image quantities ------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def models(self) -> list[str]:
        return list(self.probs)

    def _check(self, model: str) -> None:
        if model not in self.probs:
            raise KeyError(f"no probabilities for model {model!r}; available: {', '.join(self.probs) or 'none'}")

    def predictions(self, model: str) -> np.ndarray:
        """Predicted digit per image (N,)."""
        self._check(model)
        return self._pred[model]

    def confidences(self, model: str) -> np.ndarray:
        """Probability of the predicted digit per image (N,)."""
        self._check(model)
        return self._conf[model]

    def losses(self, model: str) -> np.ndarray:
        """Cross-entropy of the true label per image, ``-log p[true]`` (N,)."""
        self._check(model)
        return self._loss[model]

    def correct(self, model: str) -> np.ndarray:
        return self.predictions(model) == self.labels

    def accuracy(self, model: str) -> float:
        return float(self.correct(model).mean()) if len(self) else float("nan")

    def per_class_accuracy(self, model: str) -> np.ndarray:
        """Accuracy on the images of each true digit (10,); NaN for a digit with no images."""
        ok = self.correct(model)
        out = np.full(NUM_CLASSES, np.nan)
        for d in range(NUM_CLASSES):
            sel = self.labels == d
            if sel.any():
                out[d] = ok[sel].mean()
        return out

    # ---- fastai-style queries ------------------------------------------------------------
    def confusion_matrix(self, model: str) -> np.ndarray:
        """(10, 10) int counts; row = true digit, column = predicted digit."""
        cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
        np.add.at(cm, (self.labels, self.predictions(model)), 1)
        return cm

    def most_confused(self, model: str, min_count: int = 1) -> list[tuple[int, int, int]]:
        """Off-diagonal (true, predicted, count) with count >= ``min_count``, most frequent
        first (ties by true then predicted digit), like fastai's ``most_confused``."""
        cm = self.confusion_matrix(model)
        pairs = [(t, p, int(cm[t, p])) for t in range(NUM_CLASSES) for p in range(NUM_CLASSES)
                 if t != p and cm[t, p] >= max(min_count, 1)]
        return sorted(pairs, key=lambda x: (-x[2], x[0], x[1]))

    def top_losses(self, model: str, k: int | None = None, true: int | None = None,
                   pred: int | None = None, only_wrong: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` largest losses and their image indices, largest first (ties by index).
        Optionally only images of true digit ``true``, predicted as ``pred``, or wrong ones."""
        mask = self._mask(model, true, pred, only_wrong)
        idx = np.flatnonzero(mask)
        loss = self.losses(model)[idx]
        order = np.lexsort((idx, -loss))                # primary: loss descending; ties: index
        idx = idx[order][:k] if k is not None else idx[order]
        return self.losses(model)[idx], idx

    def _mask(self, model: str, true: int | None, pred: int | None, only_wrong: bool) -> np.ndarray:
        mask = np.ones(len(self), dtype=bool)
        if only_wrong:
            mask &= ~self.correct(model)
        if true is not None:
            mask &= self.labels == int(true)
        if pred is not None:
            mask &= self.predictions(model) == int(pred)
        return mask

    def misclassified(self, model: str = "vit", true: int | None = None, pred: int | None = None,
                      sort: str = "loss") -> pd.DataFrame:
        """The test images ``model`` gets wrong, one row each, as a DataFrame with columns
        ``index`` (test-image index), ``true``, ``pred``, ``confidence`` (probability of the
        prediction), ``p_true`` (probability of the true digit) and ``loss``.

        ``model="both"``: images the ViT and the forest both get wrong; ``pred``, ``confidence``,
        ``p_true`` and ``loss`` are the ViT's, with ``forest_pred`` and ``forest_confidence``
        added, and a ``pred`` filter applies to the ViT's prediction.

        ``sort="loss"``: largest loss first (fastai's top losses); ``sort="confidence"``: most
        confident mistakes first. Ties by index. ``true``/``pred`` keep one digit each."""
        if sort not in ("loss", "confidence"):
            raise ValueError(f"sort must be 'loss' or 'confidence', not {sort!r}")
        if model == "both":
            base = "vit"
            mask = self._mask("vit", true, pred, True) & ~self.correct("forest")
        else:
            base = model
            mask = self._mask(model, true, pred, True)
        idx = np.flatnonzero(mask)
        rows = {
            "index": idx,
            "true": self.labels[idx],
            "pred": self.predictions(base)[idx],
            "confidence": self.confidences(base)[idx],
            "p_true": self.probs[base][idx, self.labels[idx]],
            "loss": self.losses(base)[idx],
        }
        if model == "both":
            rows["forest_pred"] = self.predictions("forest")[idx]
            rows["forest_confidence"] = self.confidences("forest")[idx]
        df = pd.DataFrame(rows)
        df = df.sort_values([sort, "index"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
        return df

    def disagreements(self, a: str = "vit", b: str = "forest") -> Disagreements:
        """Counts and indices of images both models get right, only ``a``, only ``b``, neither."""
        if a == b:
            raise ValueError("compare two different models")
        ca, cb = self.correct(a), self.correct(b)
        groups = {"both_right": ca & cb, f"{a}_only": ca & ~cb, f"{b}_only": ~ca & cb, "both_wrong": ~ca & ~cb}
        return Disagreements(a, b, {k: int(v.sum()) for k, v in groups.items()},
                             {k: np.flatnonzero(v) for k, v in groups.items()})


def selection_to_filter(points: Sequence[Mapping[str, Any]] | None) -> tuple[int, int] | None:
    """The (true, predicted) digit pair of the first selected confusion-matrix cell, or None.

    ``points`` is ``event.selection.points`` from ``st.plotly_chart(on_select="rerun")``; each
    point carries ``customdata`` ``[true, pred]`` when the figure sets it, else the cell's
    ``x`` (predicted digit) and ``y`` (true digit). Points that are not a valid cell are
    skipped."""
    for pt in points or ():
        if not isinstance(pt, Mapping):
            continue
        cd = pt.get("customdata")
        if isinstance(cd, (list, tuple)) and len(cd) >= 2:
            cand = (cd[0], cd[1])
        else:
            cand = (pt.get("y"), pt.get("x"))
        try:
            t, p = (int(str(v).strip()) for v in cand)
        except (TypeError, ValueError):
            continue
        if 0 <= t < NUM_CLASSES and 0 <= p < NUM_CLASSES:
            return t, p
    return None


_DIGITS = re.compile(r"[0-9]+")
_MAX_PARAM_CHARS = 12


def parse_image_param(value: str | Iterable[str] | None, n_images: int = 10000) -> tuple[int | None, str | None]:
    """Validate the ``?image=`` URL parameter: ``(index, None)`` when it names a test image,
    ``(None, message)`` when it is unusable, ``(None, None)`` when it is absent.

    ``value`` is a string, or the list from ``st.query_params.get_all("image")`` (a repeated
    parameter is refused rather than guessed). Surrounding whitespace is ignored. The message
    never repeats the user's text, only digits already checked, so it is safe to display."""
    if value is not None and not isinstance(value, str):
        values = [str(v) for v in value]
        if not values:
            return None, None
        if len(values) > 1:
            return None, (f"The link names `image` {len(values)} times; give one test image, "
                          f"e.g. ?image=0. Showing no image from the link.")
        value = values[0]
    if value is None:
        return None, None
    hi = n_images - 1
    text = value.strip()
    if not text:
        return None, f"The link's `image` value is empty; give a test-image number from 0 to {hi}."
    if text.startswith("-") and _DIGITS.fullmatch(text[1:]):
        return None, f"The link's `image` value is negative; test images are numbered 0 to {hi}."
    if not _DIGITS.fullmatch(text):
        return None, (f"The link's `image` value is not a whole number; "
                      f"give a test-image number from 0 to {hi}, e.g. ?image=0.")
    if len(text.lstrip("0")) > _MAX_PARAM_CHARS:
        return None, f"The link's `image` number is far too large; test images are numbered 0 to {hi}."
    index = int(text)
    if index > hi:
        return None, f"There is no test image {index}; test images are numbered 0 to {hi}."
    return index, None


def selection_to_patch(points: Sequence[Mapping[str, Any]] | None, grid: int = 7,
                       side: int = 28) -> tuple[int, int] | None:
    """The (row, column) of the patch, 0-based, under the first clicked point of a plotly
    selection on a (side x side) image (pixel centres at 0..side-1, so a patch of ``side // grid``
    pixels spans [k * size - 0.5, (k + 1) * size - 0.5)); None when no point has coordinates.
    Coordinates outside the image are clamped to its edge patches."""
    size = side // grid
    for p in points or []:
        x, y = p.get("x"), p.get("y")
        if x is None or y is None:
            continue
        row, col = (int(min(grid - 1, max(0, np.floor((float(v) + 0.5) / size)))) for v in (y, x))
        return row, col
    return None


def answer_forms_at(lens: np.ndarray, answer: int) -> int | None:
    """The first stage (row of a (S, 10) logit lens) from which the top class is ``answer`` at
    every later stage too; None when the last stage does not read as ``answer``."""
    top = np.asarray(lens).argmax(1)
    stays = np.logical_and.accumulate((top == answer)[::-1])[::-1]       # (S,) answer from here to the end
    return int(np.argmax(stays)) if stays[-1] else None
