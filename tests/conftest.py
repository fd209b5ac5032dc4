"""Shared test fixtures (kept small): a tiny seeded ViT, a few MNIST test images, the shipped model.

Torch runs with one thread in tests, as in the app: the CI machine has two cores.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(1)

from model.train import TINY  # noqa: E402  the smoke-test config, one definition


@pytest.fixture
def tiny_vit():
    """An untrained, seeded ViT small enough to build in milliseconds (eval mode)."""
    from model.vit import ViT, ViTConfig

    torch.manual_seed(0)
    return ViT(ViTConfig(**TINY)).eval()


@pytest.fixture(scope="session")
def test_images() -> tuple[np.ndarray, np.ndarray]:
    """The first 20 MNIST test images as float32 (20, 28, 28) in [0, 1] and their labels."""
    from data.mnist import load_mnist

    images, labels = load_mnist("test")
    return images[:20].astype(np.float32) / 255.0, np.asarray(labels[:20])


@pytest.fixture(scope="session")
def shipped_vit():
    """The shipped ViT from model/artifacts (must exist: it is committed)."""
    from model import paths
    from model.vit import load_vit

    assert paths.VIT_WEIGHTS.is_file(), f"shipped weights missing: {paths.VIT_WEIGHTS}"
    return load_vit(paths.VIT_WEIGHTS)
