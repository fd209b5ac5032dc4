"""Figures and tables of the Model page (the model card, Mitchell et al., 2019): the
architecture in words, the architecture and parameter tables of the loaded model, the training curves and facts from
``vit_metrics.json``, the experiments table from ``experiments.jsonl``, the label-smoothing note,
and a drawing's preprocessing steps (shared with the Data page). Pure functions of the model and
the stored artifacts, and :func:`preprocess_steps` of a drawing (recomputed: a few ms)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

TRAIN_CMD = "python -m model.train"

# (title, tick format, ((column, legend name, line dash), ...)) of each training-curve figure
CURVES = (
    ("loss (cross-entropy)", None, (("train_loss", "train loss", "dot"), ("val_loss", "validation loss", "solid"),
                                    ("test_loss", "test loss", "solid"))),
    ("accuracy", ".1%", (("train_accuracy", "train accuracy", "dot"), ("val_accuracy", "validation accuracy", "solid"),
                         ("test_accuracy", "test accuracy", "solid"))),
)


def architecture_text(cfg) -> str:
    """The architecture in words, with the loaded model's own grid, patch size, width, depth and heads."""
    g = cfg.grid
    return (f"A Vision Transformer (Dosovitskiy et al., 2021) reads a 28x28 digit as a sequence of "
            f"{g}x{g} = {g * g} patches of {cfg.patch_size}x{cfg.patch_size} pixels, like words in a sentence. "
            f"Each patch becomes a vector of {cfg.dim} numbers, tagged with its position; one extra "
            f"*class token* is added, so the transformer sees {cfg.num_tokens} tokens. "
            f"In each of {cfg.depth} blocks, every token looks at every other token through {cfg.heads} attention "
            f"heads (\"which other parts of the digit matter for me?\"), then each token is updated on its own. "
            f"After the last block, the class token, which has gathered information from all patches, "
            f"is turned into ten scores, one per digit.")


def config_table(cfg) -> pd.DataFrame:
    """The transformer's settings, one row each, from its stored configuration."""
    g = cfg.grid
    rows = (("input", f"{cfg.image_size}x{cfg.image_size} grayscale, ink = 1"),
            ("patch size", f"{cfg.patch_size}x{cfg.patch_size} px"),
            ("patch embedding (stem)", cfg.stem),
            ("tokens", f"{g * g} patches + 1 class token = {cfg.num_tokens}"),
            ("token width (dim)", cfg.dim),
            ("blocks (depth)", cfg.depth),
            ("attention heads per block", f"{cfg.heads} (head size {cfg.dim // cfg.heads})"),
            ("MLP hidden width", int(cfg.mlp_ratio * cfg.dim)),
            ("dropout (training only)", cfg.dropout),
            ("classes", cfg.num_classes))
    return pd.DataFrame([{"setting": k, "value": str(v)} for k, v in rows])


def params_table(vit) -> pd.DataFrame:
    """Parameters per part of the loaded model, their share, and the total."""
    from model.vit import count_params, params_by_part

    total = count_params(vit)
    rows = [{"part": k, "parameters": v, "share": v / total} for k, v in params_by_part(vit).items()]
    return pd.DataFrame(rows + [{"part": "total", "parameters": total, "share": 1.0}])


def training_curves(history: list[dict]) -> list[tuple[str, go.Figure]]:
    """(key suffix, figure) for the loss and the accuracy per epoch; series missing from the log are left out."""
    hist = pd.DataFrame(history)
    out = []
    for title, fmt, series in CURVES:
        fig = go.Figure([go.Scatter(x=hist["epoch"], y=hist[col], name=name, mode="lines+markers", line=dict(dash=dash))
                         for col, name, dash in series if col in hist])
        fig.update_xaxes(title="epoch")
        fig.update_yaxes(tickformat=fmt)
        fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), title=dict(text=title, font_size=14),
                          legend=dict(orientation="h", y=-0.25))
        out.append((series[0][0].split("_")[1], fig))
    return out


def training_facts(metrics: dict) -> str | None:
    """'Recorded by the training run: ...' (time, device, threads, images, epochs), or None."""
    secs, device = metrics.get("train_seconds"), metrics.get("device")
    facts = []
    if isinstance(secs, (int, float)):
        facts.append(f"training took {secs / 60:.1f} min")
    if device:
        threads = metrics.get("cpu_threads") if device == "cpu" else None
        facts.append(f"on {device}" + (f" with {threads} CPU threads" if threads else ""))
    if metrics.get("train_size"):
        facts.append(f"{metrics['train_size']:,} training images, {len(metrics.get('history') or [])} epochs")
    return "Recorded by the training run: " + "; ".join(facts) + "." if facts else None


def experiments_table(runs: list[dict]) -> pd.DataFrame:
    """One row per logged training run (``experiments.jsonl``); columns no run filled are dropped."""
    rows = []
    for run in runs:
        c = run.get("config") or {}
        aug = run.get("augmentation")
        secs = run.get("train_seconds")
        rows.append({
            "name": run.get("name"), "patch": c.get("patch_size"), "stem": c.get("stem"), "dim": c.get("dim"),
            "depth": c.get("depth"), "heads": c.get("heads"), "dropout": c.get("dropout"),
            "augmentation": str(aug) if isinstance(aug, (dict, list)) else aug,
            "label smoothing": run.get("label_smoothing"), "lr": run.get("lr"), "batch": run.get("batch_size"),
            "seed": run.get("seed"), "params": run.get("params"), "epochs": run.get("epochs"),
            "train images": run.get("train_size"), "elastic": run.get("elastic"), "styles": run.get("styles"),
            "low-res": run.get("lowres"), "low-res scanner blur": run.get("lowres_blur") or None,
            "teacher": "convnet" if run.get("teacher") else None,
            "weight average": run.get("ema") or None,
            "validation accuracy": run.get("final_val_accuracy"),
            "validation accuracy (raw weights)": run.get("final_val_accuracy_raw"),
            "test accuracy (older runs)": run.get("final_test_accuracy"),
            "minutes": secs / 60 if isinstance(secs, (int, float)) else None,
            "device": run.get("device"), "command": run.get("command"), "note": run.get("note")})
    return pd.DataFrame(rows).dropna(axis=1, how="all")


def smoothing_note(smoothing: float | None) -> str:
    """Why confidence never reaches 100 %: the label-smoothing target, from the training record."""
    if not isinstance(smoothing, (int, float)) or smoothing <= 0:
        return ""
    top = 1 - smoothing + smoothing / 10
    return (f"\n- The model was trained with label smoothing {smoothing:g}: its target for the right digit was "
            f"{top:.0%}, not 100%, so even a perfect drawing gets a top probability near {top:.0%} and the other "
            "nine digits share the rest about equally. Read the probabilities as a ranking, not as calibrated odds.")


def preprocess_steps(raw: np.ndarray) -> dict[str, np.ndarray]:
    """Every intermediate image of :func:`data.preprocess.preprocess` on a drawing. Not cached: it
    takes a few ms (``preprocess_ms`` in benchmarks/latency.py) while its canvas-sized steps are
    over half a MB per drawing, which a cache would hold for every learner's digit."""
    from data.preprocess import preprocess

    return preprocess(raw).steps


def step_image(step: np.ndarray) -> np.ndarray:
    """A preprocessing step as a 2-D image: a colour input is shown as its luminance."""
    img = np.asarray(step, dtype=float)
    return img[..., :3].mean(-1) if img.ndim == 3 else img
