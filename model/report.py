"""A self-contained HTML report of one digit: "keep" what the app showed.

:func:`build_report` returns one HTML page with every image embedded as a base64 PNG (no
external files, scripts or fonts), so it opens offline anywhere and can be mailed: the input,
the prediction and its ten probabilities, the class token's attention rollout (Abnar &
Zuidema, 2020), an Integrated Gradients map (Sundararajan et al., 2017), trust scores when the
caller computed them, the counterfactual ("make it a D", Wachter et al., 2017) and the nearest
training images (Papernot & McDaniel, 2018) when given, and the model version: the SHA-256 of
the weights file. Images are small PNGs (a 28x28 map scaled 6x is about 1-3 kB), so a report
is tens of kilobytes, far under the 2 MB goal (``tests/test_why.py`` checks its size).
"""
from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime

import numpy as np
from PIL import Image

from model.explain import attention_summary, explain, upsample_patches
from model.inference import headline

SCALE = 6   # 28x28 images are shown 168 px wide, crisp


def _colormap(v: np.ndarray, stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """values in [0, 1] (H, W) -> RGB uint8 (H, W, 3) by linear interpolation between colour stops."""
    xs = [s for s, _ in stops]
    rgb = [np.interp(v, xs, [c[i] for _, c in stops]) for i in range(3)]
    return np.stack(rgb, -1).astype(np.uint8)


HEAT = [(0.0, (0, 0, 4)), (0.35, (120, 28, 109)), (0.7, (237, 105, 37)), (1.0, (252, 255, 164))]   # inferno-like
DIVERGING = [(0.0, (33, 102, 172)), (0.5, (0, 0, 0)), (1.0, (214, 47, 39))]   # blue - black - red


def png_data_uri(arr: np.ndarray, kind: str = "gray", scale: int = SCALE) -> str:
    """A (H, W) array as a ``data:image/png;base64,...`` URI. ``kind``: ``gray`` (values in
    [0, 1]), ``heat`` (scaled to its maximum), ``diverging`` (signed, symmetric around 0:
    red positive, blue negative)."""
    a = np.nan_to_num(np.asarray(arr, dtype=np.float32))
    if kind == "gray":
        img = (np.clip(a, 0, 1) * 255).astype(np.uint8)
    elif kind == "heat":
        m = float(a.max() - a.min()) or 1.0
        img = _colormap((a - a.min()) / m, HEAT)
    elif kind == "diverging":
        m = float(np.abs(a).max()) or 1.0
        img = _colormap(0.5 + 0.5 * a / m, DIVERGING)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(uri: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}'
            f"</figcaption></figure>")


def _probs_table(probs: np.ndarray, title: str) -> str:
    top = int(np.argmax(probs))
    cells = "".join(f'<td{" class=top" if d == top else ""}>{d}<br>{p:.1%}</td>' for d, p in enumerate(probs))
    return f"<p>{html.escape(title)}</p><table class=probs><tr>{cells}</tr></table>"


CSS = """body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}
figure{display:inline-block;margin:0 12px 12px 0;text-align:center}
figcaption{font-size:.85em;color:#555;max-width:170px}
img{image-rendering:pixelated;border:1px solid #ccc}
table.probs td{padding:4px 8px;text-align:center;border:1px solid #ddd}
td.top{background:#fde0dc;font-weight:bold}.note{color:#555;font-size:.9em}code{font-size:.85em}"""


def build_report(model, image: np.ndarray, *, source: str = "digit", weights_sha256: str = "",
                 counterfactual=None, neighbours=None, neighbour_images: np.ndarray | None = None,
                 trust: dict | None = None, ig_steps: int = 32, trust_verdict: str | None = None) -> str:
    """The HTML report of ``image`` (28, 28) in [0, 1]. ``counterfactual`` is a
    :class:`model.explain.counterfactual.Counterfactual`, ``neighbours`` a
    :class:`model.explain.neighbours.NeighbourResult` with ``neighbour_images`` (k, 28, 28) the
    training images it names; ``trust`` maps a score's name to its value (all optional);
    ``trust_verdict``: the Trust page's verdict (:func:`model.explain.trust.trust_report`), computed
    here for the predicted class when not given."""
    image = np.asarray(image, dtype=np.float32)
    att = attention_summary(model, image)
    head = headline(model, image)            # the app's one calibrated prediction
    probs, pred = head.probabilities, head.digit
    ig = explain(model, image, pred, "integrated_gradients", steps=ig_steps).map
    parts = [f"<h1>Why the ViT reads {pred}</h1>",
             f"<p class=note>{html.escape(source)}; report written "
             f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by the ViT digit explainer. Model version "
             f"(SHA-256 of the weights): <code>{html.escape(weights_sha256 or 'unknown')}</code></p>",
             "<h2>Input and prediction</h2>",
             _img(png_data_uri(image), "the 28x28 image the model read"),
             _probs_table(probs, f"Prediction: {pred} ({probs[pred]:.1%}); calibrated probabilities of the ten digits "
                                f"(softmax of logits / T = {head.temperature:.2f}):"),
             "<h2>Where it looked and what mattered</h2>",
             _img(png_data_uri(upsample_patches(att.rollout), "heat"),
                  "attention rollout (Abnar & Zuidema, 2020): bright = attended"),
             _img(png_data_uri(ig, "diverging"),
                  f"Integrated Gradients for {pred}, {ig_steps} steps, black baseline (Sundararajan et al., 2017): "
                  "red raises the score, blue lowers it")]
    if trust_verdict is None:
        from model.explain.trust import trust_report

        trust_verdict = trust_report(model, image, pred).verdict
    parts.append(f"<h2>Which map to trust (Adebayo et al., 2018; Binder et al., 2023; Hedström et al., 2023)</h2>"
                 f"<p>{html.escape(trust_verdict)}</p>")
    if trust:
        parts.append("<h2>Trust scores</h2><ul>" + "".join(
            f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in trust.items()) + "</ul>")
    if counterfactual is not None:
        cf = counterfactual
        parts.append(f"<h2>Make it a {cf.target} (counterfactual, Wachter et al., 2017)</h2>")
        if cf.found:
            parts += [_img(png_data_uri(cf.image), f"counterfactual: the ViT reads {cf.prediction}"),
                      _img(png_data_uri(cf.delta, "diverging"), "added ink red, removed ink blue"),
                      f"<p>{cf.changed_pixels} pixels changed (L1 {cf.l1:.2f}).</p>",
                      _probs_table(cf.probabilities, "ViT's probabilities on the counterfactual:")]
            if cf.forest is not None:
                parts.append(f"<p>The random forest reads the counterfactual as {cf.forest_prediction}.</p>")
        else:
            parts.append("<p>No small change found within the step budget.</p>")
    if neighbours is not None:
        parts.append(f"<h2>Nearest training images (Papernot &amp; McDaniel, 2018)</h2>"
                     f"<p>kNN vote of {len(neighbours.indices)}: {neighbours.knn_vote}. Nearest-neighbour distance at "
                     f"the {neighbours.distance_percentile:.1f}th percentile of the test images'.</p>")
        for j, (i, lab, d) in enumerate(zip(neighbours.indices, neighbours.labels, neighbours.distances)):
            if neighbour_images is not None and j < len(neighbour_images):
                parts.append(_img(png_data_uri(np.asarray(neighbour_images[j]) / (255.0 if np.asarray(
                    neighbour_images[j]).dtype == np.uint8 else 1.0), scale=3),
                    f"train #{int(i)}: {int(lab)}, d={float(d):.2f}"))
    body = "\n".join(parts)
    return (f"<!doctype html><html><head><meta charset=utf-8><title>ViT digit report: {pred}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>")
