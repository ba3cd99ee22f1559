"""Fixtures shared by the harness tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def tiny_npz(tmp_path):
    """A tiny learnable .npz: 12 x 12 uint8 images, 3 classes with a bar each, train / validation / test."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 64), ("validation", 32), ("test", 32)):
        y = rng.integers(0, 3, n)
        x = (rng.random((n, 12, 12)) * 60).astype(np.uint8)
        x[np.arange(n), 2 + 3 * y, :] = 255  # a learnable bar per class
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y.astype(np.int64)
    path = tmp_path / "tiny.npz"
    np.savez(path, **arrays)
    return path
