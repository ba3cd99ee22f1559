"""Selective classification: the risk-coverage curve, AURC and accuracy at a coverage.

A selective classifier answers only on the samples it is most confident about. Samples are ranked by
confidence, highest first; ties are kept in input order (a stable sort), so every figure is deterministic.
For ``k = 1..n`` the coverage is ``k / n`` and the selective risk is the error rate of the ``k`` most
confident samples. AURC (Geifman & El-Yaniv 2017; Geifman et al. 2019) is the area under that curve, the mean
of the ``n`` selective risks: 0 for a classifier that is always right, and for a perfect ranking (every
error below every correct prediction) with ``m`` correct out of ``n`` it is
``(n - m) / n - (m / n) * (H_n - H_m)``, ``H`` the harmonic numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..targets import IGNORE_INDEX
from .metrics import to_probabilities

__all__ = ["accuracy_at_coverage", "aurc", "risk_coverage", "selective_metrics"]


def _as_pair(confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence, dtype=np.float64)
    hits = np.asarray(correct)
    if conf.ndim != 1 or hits.shape != conf.shape:
        raise ValueError(f"confidence and correct must be 1-D of the same length; got shapes {conf.shape} and "
                         f"{hits.shape}")
    if conf.size == 0:
        raise ValueError("confidence is empty: nothing to rank")
    if not np.isfinite(conf).all():
        raise ValueError("confidence must be finite (no NaN or inf)")
    if hits.dtype != bool and not np.isin(hits, (0, 1)).all():
        raise ValueError("correct must hold booleans or 0/1 values")
    return conf, hits.astype(bool)


def _ranked_errors(conf: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """Errors (1.0 / 0.0) from the most to the least confident sample, ties in input order."""
    order = np.argsort(-conf, kind="stable")
    return (~hits[order]).astype(np.float64)


def risk_coverage(confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(coverage, selective risk)`` for ``k = 1..n``: ``k / n`` and the error rate of the k most confident."""
    conf, hits = _as_pair(confidence, correct)
    k = np.arange(1, conf.size + 1, dtype=np.float64)
    return k / conf.size, np.cumsum(_ranked_errors(conf, hits)) / k


def aurc(confidence: Any, correct: Any) -> float:
    """Area under the risk-coverage curve: the mean selective risk over ``k = 1..n`` (lower is better)."""
    return float(np.mean(risk_coverage(confidence, correct)[1]))


def _check_coverage(coverage: Any) -> float:
    if isinstance(coverage, bool) or not isinstance(coverage, int | float | np.floating | np.integer) \
            or not 0.0 < float(coverage) <= 1.0:
        raise ValueError(f"coverage must be a number in (0, 1], got {coverage!r}")
    return float(coverage)


def accuracy_at_coverage(confidence: Any, correct: Any, coverage: float) -> float:
    """Accuracy of the ``ceil(coverage * n)`` most confident samples (at least one).

    ``coverage * n`` is taken as the integer it is within 1e-9, so float noise (0.7 * 10) does not add a sample.
    """
    conf, hits = _as_pair(confidence, correct)
    k = max(1, math.ceil(_check_coverage(coverage) * conf.size - 1e-9))
    return float(1.0 - _ranked_errors(conf, hits)[:k].mean())


def _coverage_key(coverage: float) -> str:
    percent = coverage * 100
    text = str(round(percent)) if abs(percent - round(percent)) < 1e-9 else f"{percent:g}".replace(".", "_")
    return f"accuracy_at_coverage_{text}"


def _numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, possibly on an accelerator or requiring grad
        values = values.detach().cpu()
    return np.asarray(values)


def selective_metrics(logits_or_probs: Any, labels: Any, from_logits: bool = True,
                      coverages: Sequence[float] = (0.5, 0.8, 0.9)) -> dict[str, float]:
    """AURC, accuracy at each coverage and mean confidence of a classifier's predictions.

    `logits_or_probs` is ``(N, C)`` (or binary ``(N,)``, as in `calibration_report`) with labels ``(N,)``, or
    ``(N, L, C)`` with token labels ``(N, L)``, flattened; labels equal to -100 are left out. Confidence is the
    top-class probability. Keys: ``aurc``, ``accuracy_at_coverage_<percent>`` per coverage (50, 80, 90 by
    default) and ``mean_confidence``.
    """
    scores, y = _numpy(logits_or_probs), _numpy(labels)
    if scores.ndim == 3:
        if y.shape != scores.shape[:2]:
            raise ValueError(f"token logits (N, L, C) need labels (N, L); got {scores.shape} and {y.shape}")
        scores, y = scores.reshape(-1, scores.shape[-1]), y.reshape(-1)
    if y.ndim == 1 and (scores.ndim == 1 or scores.ndim == 2) and y.shape[0] == scores.shape[0]:
        keep = y != IGNORE_INDEX
        scores, y = scores[keep], y[keep]
        if y.size == 0:
            raise ValueError("no labelled sample (every label is -100): nothing to measure")
    probs, target = to_probabilities(scores, y, from_logits=from_logits)
    confidence, prediction = probs.max(dim=1)
    conf, hits = confidence.numpy(), (prediction == target).numpy()
    out = {"aurc": aurc(conf, hits)}
    for coverage in coverages:
        out[_coverage_key(_check_coverage(coverage))] = accuracy_at_coverage(conf, hits, coverage)
    out["mean_confidence"] = float(conf.mean())
    return out
