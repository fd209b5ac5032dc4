"""The one headline prediction every page shows: :func:`model.inference.headline`, calibrated
(softmax of logits / the fitted temperature; Guo et al., 2017), from the one cache layer, and the
one sentence that states it. Other probabilities on a page (a head knockout's, the forest's) are
labelled as what they are."""
from __future__ import annotations

import numpy as np

from dashboard import cache
from model import inference
from model.inference import Headline


def headline(model, image: np.ndarray, tta: bool = False) -> Headline:
    """The calibrated prediction of the (28, 28) digit, computed once per model, image and ``tta``."""
    return cache.compute(inference.headline, model, image, tta=bool(tta))


def reads(h: Headline) -> str:
    """'**3** (97.1%)': the headline digit and its calibrated confidence, as every page writes them."""
    return f"**{h.digit}** ({h.confidence:.1%})"


def sentence(source: str, h: Headline, label: int | None = None) -> str:
    """The line under a page's title: which digit this is and what the transformer reads."""
    known = f" (true label {label})" if label is not None else ""
    return f"Current digit: {source}{known}. The transformer reads {reads(h)}, calibrated confidence."
