"""The counterfactual's own Adam: the same steps as torch.optim.Adam, without its import cost."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from model.explain.counterfactual import _Adam

ROOT = Path(__file__).resolve().parent.parent


def test_adam_steps_equal_torch_optim_adam():
    torch.manual_seed(0)
    a = torch.randn(4, 1, 28, 28, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    opt, mine = torch.optim.Adam([a], lr=0.1), _Adam(b, 0.1)
    for _ in range(30):
        g = torch.randn(4, 1, 28, 28)
        a.grad = g.clone()
        opt.step()
        mine.step(g)
    assert torch.allclose(a, b, atol=1e-7)


def test_counterfactual_does_not_import_dynamo():
    code = ("import sys, torch; from model.explain._common import _as_input; "
            "from model.explain.counterfactual import counterfactual; from model.vit import ViT, ViTConfig; "
            "import numpy as np; m = ViT(ViTConfig()).eval(); "
            "counterfactual(m, np.zeros((28, 28), np.float32), 3, steps=3); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
