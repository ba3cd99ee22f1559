"""``compute_metrics`` factories for :class:`transformers.Trainer` (GLUE metric sets plus calibration).

The returned callables take an ``EvalPrediction`` (or any object with ``.predictions`` and ``.label_ids``,
or a ``(predictions, label_ids)`` pair). When ``predictions`` is a tuple (a model that also returns hidden
states, ...), its first element is used. Rows whose label equals ``ignore_index`` (default ``-100``) are
dropped first. Nothing is loaded from the Hugging Face hub.

* CoLA: ``matthews_correlation``; MRPC / QQP: ``f1`` + ``accuracy``; STS-B: ``pearson`` + ``spearmanr``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .metrics import calibration_report, to_probabilities

__all__ = ["classification_metrics", "regression_metrics"]

F1Average = Literal["auto", "binary", "macro"]


def _unpack(eval_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(eval_pred, "predictions") and hasattr(eval_pred, "label_ids"):
        preds, labels = eval_pred.predictions, eval_pred.label_ids
    else:
        preds, labels = eval_pred
    if isinstance(preds, tuple | list):
        preds = preds[0]
    if isinstance(labels, tuple | list):
        labels = labels[0]
    if labels is None:
        raise ValueError("compute_metrics needs label_ids; got None")
    return np.asarray(preds), np.asarray(labels)


def _drop_ignored(
    preds: np.ndarray, labels: np.ndarray, ignore_index: int | None
) -> tuple[np.ndarray, np.ndarray]:
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if labels.ndim != 1:
        raise ValueError(f"label_ids must have shape (N,), got {labels.shape}")
    if preds.shape[0] != labels.shape[0]:
        raise ValueError(f"shape mismatch: {preds.shape[0]} predictions but {labels.shape[0]} labels")
    if ignore_index is not None:
        keep = labels != ignore_index
        preds, labels = preds[keep], labels[keep]
    if labels.shape[0] == 0:
        raise ValueError("no labelled examples left after dropping ignore_index")
    return preds, labels


def classification_metrics(
    *,
    f1_average: F1Average = "auto",
    from_logits: bool = True,
    calibration: bool = True,
    n_bins: int = 15,
    ignore_index: int | None = -100,
) -> Callable[[Any], dict[str, float]]:
    """Build ``compute_metrics`` returning accuracy, f1, matthews_correlation and the calibration figures.

    ``predictions`` are logits (or probabilities with ``from_logits=False``) of shape ``(N, C)``, or a
    single positive-class score ``(N,)`` / ``(N, 1)`` for binary tasks. ``f1_average="auto"`` uses the
    positive-class (``"binary"``) F1 for two classes and ``"macro"`` F1 otherwise. With ``calibration``,
    the keys of :func:`~textmix.calibration.calibration_report` are added (ece, adaptive_ece, mce, rmsce,
    classwise_ece, brier, nll).
    """
    if f1_average not in ("auto", "binary", "macro"):
        raise ValueError(f"f1_average must be 'auto', 'binary' or 'macro', got {f1_average!r}")

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

        preds, labels = _drop_ignored(*_unpack(eval_pred), ignore_index)
        probs, y = to_probabilities(preds, labels, from_logits=from_logits)
        num_classes = probs.shape[1]
        average = ("binary" if num_classes == 2 else "macro") if f1_average == "auto" else f1_average
        if average == "binary" and num_classes != 2:
            raise ValueError(f"f1_average='binary' needs 2 classes, got {num_classes}")
        y_true = y.numpy()
        y_pred = probs.argmax(dim=1).numpy()
        out = {
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "f1": float(f1_score(y_true, y_pred, average=average, zero_division=0.0)),
            "matthews_correlation": float(matthews_corrcoef(y_true, y_pred)),
        }
        if calibration:
            report = calibration_report(probs, y, n_bins=n_bins, from_logits=False)
            out.update({k: v for k, v in report.items() if k != "accuracy"})
        return out

    return compute_metrics


def regression_metrics(*, ignore_index: float | None = -100) -> Callable[[Any], dict[str, float]]:
    """Build ``compute_metrics`` returning pearson, spearmanr (scipy) and mse for ``(N,)``/``(N, 1)`` outputs."""

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        from scipy.stats import pearsonr, spearmanr

        preds, labels = _unpack(eval_pred)
        preds = preds.reshape(-1) if preds.ndim == 2 and preds.shape[1] == 1 else preds
        if preds.ndim != 1:
            raise ValueError(f"regression predictions must have shape (N,) or (N, 1), got {preds.shape}")
        preds, labels = _drop_ignored(preds, labels, ignore_index)
        preds, labels = preds.astype(np.float64), labels.astype(np.float64)
        return {
            "pearson": float(pearsonr(preds, labels)[0]),
            "spearmanr": float(spearmanr(preds, labels)[0]),
            "mse": float(np.mean((preds - labels) ** 2)),
        }

    return compute_metrics


def multi_label_metrics(n_bins: int = 15, ignore_index: int = -100) -> Callable[[Any], dict[str, float]]:
    """`compute_metrics` for multi-label classifiers (one sigmoid per label, 0/1 targets (N, C)):

    `accuracy` (every label of a row right), `f1_micro`, `f1_macro`, `brier` and `nll` (binary
    cross-entropy) averaged over rows and labels, and `ece` / `mce` of the N x C yes/no decisions
    (confidence max(p, 1 - p), `n_bins` equal-width bins). Rows labelled `ignore_index` everywhere are dropped.
    """

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(eval_pred.label_ids, dtype=np.float64)
        keep = ~(labels == ignore_index).all(axis=1)
        logits, labels = logits[keep], labels[keep]
        probs = 1.0 / (1.0 + np.exp(-logits))
        decided = probs >= 0.5
        truth = labels >= 0.5
        tp, fp, fn = (decided & truth).sum(0), (decided & ~truth).sum(0), (~decided & truth).sum(0)
        per_label = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 1.0)
        confidence = np.where(decided, probs, 1.0 - probs).reshape(-1)
        hits = (decided == truth).reshape(-1).astype(np.float64)
        bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
        gaps = [abs(confidence[bins == b].mean() - hits[bins == b].mean()) for b in range(n_bins) if (bins == b).any()]
        weights = [(bins == b).mean() for b in range(n_bins) if (bins == b).any()]
        eps = 1e-12
        return {
            "accuracy": float((decided == truth).all(axis=1).mean()),
            "f1_micro": float(2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1)),
            "f1_macro": float(per_label.mean()),
            "brier": float(((probs - labels) ** 2).mean()),
            "nll": float(-(labels * np.log(probs + eps) + (1 - labels) * np.log(1 - probs + eps)).mean()),
            "ece": float(np.dot(weights, gaps)),
            "mce": float(max(gaps)),
        }

    return compute_metrics
