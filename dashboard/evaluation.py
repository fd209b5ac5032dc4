"""The stored test-set evaluation (``model/artifacts/evaluation.json``) as the one table of the
three models that the Baseline and Model pages show, and the command that regenerates it."""
from __future__ import annotations

import pandas as pd

from model.inference import TTA_VIEWS

EVALUATE_CMD = "python -m model.evaluate --write"


def models_table(evaluation: dict) -> pd.DataFrame:
    """One row per model (ViT, ViT + TTA, random forest): accuracy, size, MB on disk and
    milliseconds per image, batched and alone; missing figures stay empty (None)."""
    vit, rf = evaluation.get("vit", {}), evaluation.get("random_forest", {})

    def mb(n: int | None) -> float | None:
        return None if n is None else n / 1e6

    return pd.DataFrame([
        {"model": "ViT", "accuracy": vit.get("accuracy"), "size": f"{vit.get('params', 0):,} parameters",
         "MB on disk": mb(vit.get("size_bytes")), "ms / image (batched)": vit.get("ms_per_image_batched"),
         "ms for one image": vit.get("ms_single_image")},
        {"model": "ViT + TTA", "accuracy": vit.get("tta_accuracy"),
         "size": f"same model, {len(TTA_VIEWS)} shifted/rotated views averaged",
         "MB on disk": mb(vit.get("size_bytes")), "ms / image (batched)": vit.get("ms_per_image_batched_tta"),
         "ms for one image": vit.get("ms_single_image_tta")},
        {"model": "random forest", "accuracy": rf.get("accuracy"),
         "size": f"{rf.get('n_estimators', 0):,} trees, {rf.get('total_nodes', 0):,} nodes",
         "MB on disk": mb(rf.get("size_bytes")), "ms / image (batched)": rf.get("ms_per_image_batched"),
         "ms for one image": rf.get("ms_single_image")},
    ])
