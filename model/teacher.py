"""A small convolutional teacher for distilling into the ViT: ``python -m model.teacher``.

DeiT (Touvron et al., 2021, "Training data-efficient image transformers & distillation
through attention") showed that a ViT learns far better from little data when a convnet
teaches it: the convnet's inductive bias (locality, translation equivariance) reaches the
transformer through the convnet's soft predictions on the same augmented images. This is that
convnet: three conv stages (16, 32, 64 channels) with batch norm, ~60k parameters, trained on
the same 55,000 images, validation split and augmentation (flagged 1s and crossed 7s
included; its flags as they were before the ViT's were widened, :data:`TEACHER_STYLES`) as
the ViT. It is cheap enough (about a quarter of the ViT's training step) to run
beside every student step.

It writes ``model/artifacts/teacher.safetensors`` and ``teacher_metrics.json`` (per-epoch
validation accuracy). Its test accuracy is measured once, after training, by
``python -m model.teacher --evaluate`` (the ViT's recipe never reads it).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from model.paths import ARTIFACTS

TEACHER_WEIGHTS = ARTIFACTS / "teacher.safetensors"
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
EPOCHS = 4   # shipped teacher: 3 (teacher_metrics.json); 15 made a better teacher, no better ViT (experiments.jsonl)


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ConvTeacher(nn.Module):
    """(B, 1, 28, 28) in [0, 1] -> logits (B, 10)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.width = width
        self.s1 = _stage(1, width)                 # (B, w, 28, 28) -> pool -> 14
        self.s2 = _stage(width, 2 * width)         # (B, 2w, 14, 14) -> pool -> 7
        self.s3 = _stage(2 * width, 4 * width)     # (B, 4w, 7, 7) -> global mean
        self.head = nn.Linear(4 * width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - MNIST_MEAN) / MNIST_STD
        x = F.max_pool2d(self.s1(x), 2)
        x = F.max_pool2d(self.s2(x), 2)
        x = self.s3(x).mean((2, 3))                # (B, 4w)
        return self.head(x)


def save_teacher(model: ConvTeacher, path: Path | str, extra: dict | None = None) -> None:
    from safetensors.torch import save_file

    meta = {"width": str(model.width)}
    meta.update({k: json.dumps(v) for k, v in (extra or {}).items()})
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)


def load_teacher(path: Path | str = TEACHER_WEIGHTS) -> ConvTeacher:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    model = ConvTeacher(int(meta.get("width", 16)))
    model.load_state_dict(load_file(str(path)))
    model.meta = {k: json.loads(v) for k, v in meta.items() if k != "width"}
    return model.eval()


# The shipped teacher's style augmentation, from before the ViT's flags were widened
# (model/styles.py): kept, so that this command still reproduces model/artifacts/teacher.safetensors,
# the teacher the shipped ViT was distilled from.
TEACHER_STYLES = 0.4
TEACHER_FLAG_LENGTH = (0.22, 0.42)
TEACHER_FLAG_ANGLE = (25.0, 60.0)


def train_teacher(epochs: int = EPOCHS, batch_size: int = 128, lr: float = 3e-3, seed: int = 0, width: int = 16,
                  train_limit: int | None = None, val_size: int | None = None, out: Path = ARTIFACTS,
                  name: str = "teacher", progress: bool = True) -> dict:
    from data.mnist import load_mnist
    from model.styles import add_styles
    from model.train import (
        DEFAULT_ELASTIC,
        VAL_SIZE,
        augment,
        evaluate_model,
        lr_at,
        to_tensor,
        validation_split,
    )

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    split = validation_split(val_size or VAL_SIZE)
    xall, yall = load_mnist("train")
    tr = np.arange(split["start"])[:train_limit]
    va = np.arange(split["start"], split["stop"])
    xtr, ytr = to_tensor(xall[tr]), torch.from_numpy(yall[tr].astype(np.int64))
    xva, yva = to_tensor(xall[va]), torch.from_numpy(yall[va].astype(np.int64))
    model = ConvTeacher(width)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    spe = math.ceil(len(xtr) / batch_size)
    total, warmup = epochs * spe, spe // 2
    history, step, t_start = [], 0, time.time()
    for epoch in range(1, epochs + 1):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr), generator=gen)
        for b in range(spe):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            styled = add_styles(xtr[idx], ytr[idx], gen, TEACHER_STYLES, TEACHER_FLAG_LENGTH, TEACHER_FLAG_ANGLE)
            xb = augment(styled, gen, DEFAULT_ELASTIC)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, lr)
            loss = F.cross_entropy(model(xb), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if progress and b % 100 == 0:
                print(f"\repoch {epoch} batch {b}/{spe} loss {loss.item():.4f}", end="", file=sys.stderr, flush=True)
        model.eval()
        val_loss, val_acc = evaluate_model(model, xva, yva)
        history.append({"epoch": epoch, "val_loss": val_loss, "val_accuracy": val_acc, "seconds": time.time() - t0})
        print(f"\nteacher epoch {epoch}/{epochs}  val loss {val_loss:.4f}  acc {val_acc:.4f}  "
              f"({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    summary = {"name": name, "width": width, "params": sum(p.numel() for p in model.parameters()),
               "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "validation_split": split,
               "final_val_accuracy": history[-1]["val_accuracy"], "train_seconds": time.time() - t_start,
               "command": "python -m model.teacher " + " ".join(sys.argv[1:]), "history": history}
    save_teacher(model, out / f"{name}.safetensors", {"validation_split": split,
                                                       "val_accuracy": history[-1]["val_accuracy"]})
    (out / f"{name}_metrics.json").write_text(json.dumps(summary, indent=1))
    return summary


@torch.no_grad()
def test_accuracy(path: Path | str = TEACHER_WEIGHTS) -> float:
    from data.mnist import load_mnist
    from model.train import to_tensor

    x, y = load_mnist("test")
    model = load_teacher(path)
    xt = to_tensor(x)
    pred = torch.cat([model(xt[i:i + 1000]).argmax(1) for i in range(0, len(xt), 1000)]).numpy()
    return float((pred == y).mean())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ARTIFACTS)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--evaluate", action="store_true",
                   help="score the trained teacher once on the MNIST test set and record it in its metrics file")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.evaluate:
        acc = test_accuracy(a.out / "teacher.safetensors")
        mpath = a.out / "teacher_metrics.json"
        m = json.loads(mpath.read_text()) if mpath.exists() else {}
        m["test_accuracy"] = acc
        mpath.write_text(json.dumps(m, indent=1))
        print(json.dumps({"test_accuracy": acc}))
        return
    s = train_teacher(a.epochs, seed=a.seed, width=a.width, out=a.out)
    print(f"teacher: {s['params']:,} parameters, validation accuracy {s['final_val_accuracy']:.4f}, "
          f"{s['train_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
