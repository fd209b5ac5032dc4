"""Stroke replay: the ViT's reading after each stroke of a drawing, in the order it was drawn.

The canvas's JSON holds the strokes (:mod:`data.strokes`); stroke ``i`` of ``n`` is judged on
the image of strokes ``1..i`` rasterised as the canvas draws them and preprocessed as any
drawing is (:func:`data.preprocess.preprocess`), so the last step is the drawing itself. A
change of the predicted digit between two steps is the stroke that "turned it from 1 into 7".
The idea of explaining a sequential input by the model's output on its growing prefixes is
the occlusion idea (Zeiler & Fergus, 2014) applied along time, as in the prefix analyses of
recurrent models (Karpathy, Johnson & Fei-Fei, 2016, "Visualizing and Understanding Recurrent
Networks"); here the model only ever sees the finished image, so each step is a fresh input.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.preprocess import preprocess
from data.strokes import render_strokes
from model.explain._registry import Family, Result, Setting
from model.inference import headline, predict_proba

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
MAX_STROKES = 40      # replay at most this many strokes (one preprocessing + forward pass each)


@dataclass(frozen=True)
class ReplayStep:
    stroke: int                       # 1-based: the image holds strokes 1..stroke
    image: np.ndarray | None          # (28, 28) float32, None when preprocessing refused it
    probabilities: np.ndarray | None  # (10,) float32
    message: str | None = None        # why there is no digit yet (too small, a dot...)

    @property
    def digit(self) -> int | None:
        return None if self.probabilities is None else int(self.probabilities.argmax())


def ordinal(i: int) -> str:
    return ORDINALS[i - 1] if 1 <= i <= len(ORDINALS) else f"{i}th"


def replay(model, objects: list[dict], max_strokes: int = MAX_STROKES, calibrated: bool = False) -> list[ReplayStep]:
    """One :class:`ReplayStep` per stroke (at most ``max_strokes``) of the canvas stroke objects;
    ``calibrated``: probabilities of the temperature-scaled softmax (the headline's)."""
    steps, images, where = [], [], []
    for i in range(1, min(len(objects), max_strokes) + 1):
        pre = preprocess(render_strokes(objects[:i]))
        steps.append(ReplayStep(i, pre.image, None, pre.message))
        if pre.ok:
            images.append(pre.image)
            where.append(i - 1)
    if images:
        probs = predict_proba(model, np.stack(images), calibrated=calibrated)   # (S, 10), one batch
        for j, p in zip(where, probs):
            s = steps[j]
            steps[j] = ReplayStep(s.stroke, s.image, p, None)
    return steps


def turning_points(steps: list[ReplayStep]) -> list[str]:
    """Sentences for each stroke that changed the answer: "The third stroke turned it from 1 into 7."."""
    out, last = [], None
    for s in steps:
        if s.digit is None:
            continue
        if last is None:
            out.append(f"After the {ordinal(s.stroke)} stroke the ViT first reads a digit: {s.digit} "
                       f"({s.probabilities.max():.0%}).")
        elif s.digit != last:
            out.append(f"The {ordinal(s.stroke)} stroke turned it from {last} into {s.digit} "
                       f"({s.probabilities.max():.0%}).")
        last = s.digit
    return out


# ----------------------------------------------------------------------------- the family's verb

@dataclass
class Replay(Result):
    """What ``python -m model.explain replay`` prints: per stroke the digit and the calibrated
    probabilities (or the message why there is no digit yet), the turning-point sentences, and
    the calibrated ``prediction`` of the whole drawing (None when it is not a usable digit)."""
    prediction: dict | None
    strokes: int
    steps: list[dict]
    turning_points: list[str]


def run(model, objects: list[dict], max_strokes: int = MAX_STROKES) -> Replay:
    """The replay family's verb; ``objects`` are the canvas JSON's stroke objects."""
    steps = replay(model, objects, max_strokes, calibrated=True)
    last = steps[-1] if steps else None
    prediction = None
    if last is not None and last.image is not None and len(steps) == len(objects):
        prediction = headline(model, last.image).to_json()
    rows = [{"stroke": s.stroke, "digit": s.digit, "calibrated": True,
             "probabilities": None if s.probabilities is None else s.probabilities.tolist(),
             "message": s.message} for s in steps]
    return Replay(prediction, len(objects), rows, turning_points(steps))


FAMILY = Family(
    "replay", run, "the ViT's reading after each stroke of a drawing (FILE: the canvas JSON)",
    options=(Setting("max_strokes", "Strokes at most", "int", MAX_STROKES, 1, 200, 1,
                     help="replay at most this many strokes"),),
    source="Zeiler & Fergus, 2014 (occlusion, here along time); Karpathy, Johnson & Fei-Fei, 2016",
    input="strokes")

__all__ = ["MAX_STROKES", "Replay", "ReplayStep", "ordinal", "replay", "turning_points"]
