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


def per_class_table(evaluation: dict) -> pd.DataFrame | None:
    """Accuracy per true digit, one row per model that has it (ViT, ViT + TTA, random forest); None
    when no model has per-class figures."""
    vit, rf = evaluation.get("vit", {}), evaluation.get("random_forest", {})
    per_class = {"ViT": vit.get("per_class_accuracy"), "ViT + TTA": vit.get("tta_per_class_accuracy"),
                 "random forest": rf.get("per_class_accuracy")}
    per_class = {k: v for k, v in per_class.items() if v}
    return pd.DataFrame(per_class, index=[str(d) for d in range(10)]).T if per_class else None
