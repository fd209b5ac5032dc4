"""Strokes of a drawing as the canvas records them, and their rasterisation.

The Draw page's canvas (streamlit-drawable-canvas, Fabric.js ``PencilBrush`` in freedraw
mode) returns its content as Fabric's JSON: ``{"objects": [...]}``, one path object per
stroke, in drawing order, each with ``"path"`` (commands ``["M", x, y]``, ``["Q", cx, cy, x, y]``,
``["L", x, y]`` in canvas pixels), ``"strokeWidth"`` and ``"stroke"`` (the colour), drawn with
round caps and joins. :func:`render_strokes` draws a list of such objects the way the canvas
does (white round-capped ink on black, quadratic segments flattened to short lines) into the
same RGBA array the canvas exports, so the result goes through :mod:`data.preprocess` exactly
as a drawing does. Objects that are not paths, and malformed commands, are skipped. The
object type is ``"Path"`` in the Fabric.js 6 that the canvas ships (``"path"`` in older ones);
both are accepted.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

CANVAS_SIDE = 280     # the Draw page's canvas, in CSS pixels
CURVE_STEPS = 8       # line segments per quadratic Bezier segment


def stroke_objects(json_data: dict | None) -> list[dict]:
    """The freedraw strokes (Fabric ``path`` objects) of the canvas JSON, in drawing order."""
    objs = (json_data or {}).get("objects") or []
    return [o for o in objs if isinstance(o, dict) and str(o.get("type", "")).lower() == "path"
            and isinstance(o.get("path"), list)]


def path_points(path: list) -> list[tuple[float, float]]:
    """Fabric path commands -> a polyline (quadratic curves flattened)."""
    pts: list[tuple[float, float]] = []
    for cmd in path:
        if not isinstance(cmd, (list, tuple)) or not cmd:
            continue
        op, args = cmd[0], cmd[1:]
        try:
            nums = [float(a) for a in args]
        except (TypeError, ValueError):
            continue
        if op in ("M", "L") and len(nums) >= 2:
            pts.append((nums[0], nums[1]))
        elif op == "Q" and len(nums) >= 4 and pts:
            (x0, y0), (cx, cy), (x1, y1) = pts[-1], (nums[0], nums[1]), (nums[2], nums[3])
            for t in np.linspace(0, 1, CURVE_STEPS + 1)[1:]:
                a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t ** 2
                pts.append((a * x0 + b * cx + c * x1, a * y0 + b * cy + c * y1))
    return [p for p in pts if np.isfinite(p).all()]


def render_strokes(objects: list[dict], side: int = CANVAS_SIDE) -> np.ndarray:
    """Draw stroke objects cumulatively onto a black ``side`` x ``side`` canvas -> RGBA uint8
    (side, side, 4), white ink, round caps and joins (as the canvas draws them)."""
    img = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    d = ImageDraw.Draw(img)
    for obj in objects:
        pts = path_points(obj.get("path") or [])
        if not pts:
            continue
        try:
            w = float(obj.get("strokeWidth") or 1.0)
        except (TypeError, ValueError):
            w = 1.0
        w = min(max(w, 1.0), float(side))
        r = w / 2
        if len(pts) > 1:
            d.line(pts, fill=(255, 255, 255, 255), width=max(1, int(round(w))), joint="curve")
        for x, y in (pts[0], pts[-1]):                                  # round caps
            d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 255, 255))
    return np.asarray(img)
