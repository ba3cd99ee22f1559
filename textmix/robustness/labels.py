"""Seeded symmetric label noise, for training on noisy labels.

`flip_labels` picks exactly ``round_half_up(rate * n_valid)`` of the valid entries (those ``!= ignore_index``)
uniformly without replacement, and replaces each with a class drawn uniformly from the ``num_classes - 1``
other classes, so a flipped label is never its old class. Any shape works (``(N,)`` sequence labels,
``(N, L)`` token labels); ignored entries are never touched. Draws come from
``numpy.random.default_rng(seed)``: the same inputs and seed give the same noisy labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .text import check_seed

__all__ = ["flip_labels"]


def _check_labels(labels: np.ndarray | Sequence[int], num_classes: int, ignore_index: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids, got dtype {y.dtype}")
    valid = y[y != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}) or equal to ignore_index={ignore_index}; got "
                         f"values in [{int(valid.min())}, {int(valid.max())}]")
    return y


def flip_labels(labels: np.ndarray | Sequence[int], rate: float, num_classes: int, seed: int,
                ignore_index: int = -100) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy labels, flipped mask)``, both of the shape of `labels`, with a share `rate` of valid labels flipped."""
    if isinstance(rate, bool) or not isinstance(rate, int | float | np.floating | np.integer) \
            or not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"rate must be a number in [0, 1), got {rate!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    y = _check_labels(labels, int(num_classes), ignore_index)
    rng = np.random.default_rng(check_seed(seed))
    valid = np.flatnonzero(y.reshape(-1) != ignore_index)
    k = math.floor(float(rate) * valid.size + 0.5)
    chosen = rng.choice(valid, size=k, replace=False)
    noisy = y.copy().reshape(-1)
    shift = rng.integers(1, int(num_classes), size=k)
    noisy[chosen] = ((noisy[chosen].astype(np.int64) + shift) % int(num_classes)).astype(y.dtype)
    flipped = np.zeros(y.size, dtype=bool)
    flipped[chosen] = True
    return noisy.reshape(y.shape), flipped.reshape(y.shape)
