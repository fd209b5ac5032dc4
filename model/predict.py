"""Classify image files from the command line: ``python -m model.predict [--json] [--tta] FILE...``.

Each file goes through exactly what an upload in the app goes through:
:func:`data.preprocess.decode_image` (size limits, no animation, corrupt files refused) and
:func:`data.preprocess.preprocess` (grayscale, alpha, polarity, crop, 20x20 box, centre of mass;
see that module), so PNG, JPEG, BMP or WebP of any size, RGB, RGBA or grayscale, light ink on
dark or dark ink on light, all work.

Output (other checks rely on this form; keep it stable): with ``--json`` a JSON list with one
object per file, in the order given::

    {"file": str, "digit": int or null, "probabilities": [10 floats] or null, "calibrated": true,
     "error": null or str}

The probabilities are the app's headline prediction (:func:`model.inference.headline`):
calibrated, the softmax of the logits divided by the model's fitted temperature, computed
here for a whole batch at once (``predict_proba(..., calibrated=True)``, the same numbers).

A file that is missing, unreadable, oversized, not an image, or blank gets ``"error"`` (and
null digit/probabilities) while the other files are still classified; the exit status is 1 if
any file failed, else 0. Without ``--json`` a readable table is printed.

Speed: files are decoded and preprocessed one at a time, then classified in batches of 1,000
with one forward pass each, so thousands of files take
seconds (``python benchmarks/predict_files.py`` measures the 10,000 MNIST test images).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from data.preprocess import MAX_FILE_BYTES, ImageInputError, decode_image, preprocess
from model import paths

BATCH = 1000


def load_digit(path: Path | str) -> np.ndarray:
    """Read one image file and return its preprocessed (28, 28) float32 image in [0, 1].

    Raises :class:`ImageInputError` with a message for the user when the file cannot be
    used (missing, unreadable, too large, not an image, animated, blank, a dot, a scribble).
    """
    path = Path(path)
    try:
        size = os.stat(path).st_size
        if not path.is_file():
            raise ImageInputError("Not a regular file.")
        if size > MAX_FILE_BYTES:   # refuse before reading it into memory
            raise ImageInputError(f"The file is too large ({size / 1e6:.1f} MB); "
                                  f"the limit is {MAX_FILE_BYTES // 2**20} MB.")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageInputError("No such file.") from None
    except PermissionError:
        raise ImageInputError("Permission denied.") from None
    except IsADirectoryError:
        raise ImageInputError("Not a regular file.") from None
    except OSError as exc:
        raise ImageInputError(f"Cannot read the file ({exc.strerror or type(exc).__name__}).") from None
    image = decode_image(data)
    try:
        result = preprocess(image)
    except ValueError as exc:
        raise ImageInputError(f"This image cannot be used: {exc}.") from None
    if not result.ok:
        raise ImageInputError(result.message or "No digit found.")
    return result.image


def classify_files(
    files: list[str], model=None, tta: bool = False, batch_size: int = BATCH
) -> list[dict]:
    """Classify image files; one result dict per file, in order (see the module docstring).

    ``model`` defaults to the shipped ViT. Files are processed in chunks of ``batch_size``:
    decode and preprocess each file of the chunk, then one forward pass for the chunk.
    """
    from model.inference import TTA_VIEWS, predict_proba

    if model is None:
        from model.vit import load_vit

        model = load_vit(paths.VIT_WEIGHTS)
    results: list[dict] = []
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        images: list[np.ndarray] = []
        rows: list[dict] = []
        for f in chunk:
            row = {"file": str(f), "digit": None, "probabilities": None, "calibrated": True, "error": None}
            try:
                images.append(load_digit(f))
            except ImageInputError as exc:
                row["error"] = str(exc)
            except Exception as exc:  # never let one odd file stop the others
                row["error"] = f"Unexpected error reading this file ({type(exc).__name__}: {exc})."
            rows.append(row)
        if images:
            probs = predict_proba(model, np.stack(images), tta=tta, calibrated=True,     # (n_ok, 10): headline
                                  batch_size=max(1, batch_size // len(TTA_VIEWS)) if tta else batch_size)
            ok_rows = (r for r in rows if r["error"] is None)
            for row, p in zip(ok_rows, probs):
                row["digit"] = int(p.argmax())
                row["probabilities"] = [float(v) for v in p]
        results.extend(rows)
    return results


def format_table(results: list[dict]) -> str:
    width = min(60, max([4] + [len(r["file"]) for r in results]))
    lines = [f"{'file':<{width}}  digit  confidence  note (confidence: calibrated)"]
    for r in results:
        name = r["file"] if len(r["file"]) <= width else "..." + r["file"][-(width - 3):]
        if r["error"] is None:
            lines.append(f"{name:<{width}}  {r['digit']:>5}  {max(r['probabilities']):>10.1%}")
        else:
            lines.append(f"{name:<{width}}  {'-':>5}  {'-':>10}  {r['error']}")
    n_bad = sum(r["error"] is not None for r in results)
    lines.append(f"{len(results) - n_bad} classified, {n_bad} failed")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Classify handwritten-digit image files with the shipped ViT.")
    p.add_argument("files", nargs="+", metavar="FILE", help="image files (PNG, JPEG, BMP, WebP, ...)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
    p.add_argument("--tta", action="store_true", help="average over small shifts/rotations (test-time augmentation)")
    p.add_argument("--weights", type=Path, default=paths.VIT_WEIGHTS, help="ViT safetensors file")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, like the app)")
    a = p.parse_args(argv)
    import torch

    from model.vit import WeightsError, load_vit

    torch.set_num_threads(max(1, a.threads))
    if not a.weights.is_file():
        print(f"error: weights file {a.weights} does not exist (python -m model.train makes it)", file=sys.stderr)
        return 2
    try:
        model = load_vit(a.weights)
    except WeightsError as exc:         # corrupt or not a ViT checkpoint: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = classify_files(a.files, model, tta=a.tta)
    print(json.dumps(results) if a.json else format_table(results))
    return 1 if any(r["error"] is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
