"""Calibration metrics for classifiers, computed in torch.

Every public function takes ``scores`` and ``labels`` and an explicit ``from_logits`` flag; nothing is guessed.

Accepted ``scores`` shapes (``N`` samples, ``C >= 2`` classes):

* ``(N, C)``: one logit (``from_logits=True``) or one probability (``from_logits=False``) per class.
  Binary tasks use ``C = 2``. Probability rows must lie in [0, 1] and sum to 1 (within ``1e-4``).
* ``(N,)`` or ``(N, 1)``: binary task given as a single positive-class score, i.e. the logit of class 1
  (``sigmoid`` is applied) or the probability of class 1. It is expanded to ``(N, 2)`` as ``[1 - p, p]``.

``labels`` holds integer class ids in ``[0, C)`` with shape ``(N,)``.

Definitions (all binned metrics use equal-width bins ``[k/B, (k+1)/B)`` over [0, 1], the last bin closed
at 1, as ``numpy.histogram`` and Guo et al. 2017 do):

* ECE / MCE / RMSCE: top-label calibration error with the l1 / max / l2 norm, computed by
  ``torchmetrics``' calibration error on (top-label confidence, top-1 correctness). Binary inputs are
  top-label too (confidence ``max(p, 1 - p)``), not positive-class calibration.
* adaptive ECE: equal-mass top-label ECE. Samples are sorted by confidence (stable sort, ties keep input
  order) and cut into ``n_bins`` contiguous groups whose sizes differ by at most one (the first
  ``N % n_bins`` groups get the extra sample, as ``numpy.array_split``); each group is weighted by its size.
* classwise ECE: for every class ``k`` the equal-width ECE of ``p_k`` against ``1[y == k]`` over all
  samples, averaged over all ``C`` classes (Kull et al. 2019).
* smECE / ECE_sweep: the smooth ECE (Błasiok & Nakkiran 2023) and the monotone-sweep ECE (Roelofs et al.
  2022) of the top-label confidence; see :mod:`.smooth`.
* Brier score: ``mean_i sum_k (p_ik - 1[y_i == k])^2`` (range [0, 2]; for binary this is twice
  scikit-learn's ``brier_score_loss``).
* NLL: mean negative log-likelihood of the true class (natural log); from probabilities, ``p`` is clamped
  below at the smallest positive float64 so that a zero gives a large finite value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

ScoresLike = torch.Tensor | np.ndarray | Sequence[Any]
LabelsLike = torch.Tensor | np.ndarray | Sequence[int]

PROB_SUM_ATOL = 1e-4
_PROB_RANGE_ATOL = 1e-6
# Largest float64 below 1: a confidence of exactly 1.0 goes into the last bin [1 - 1/B, 1] instead of the
# extra bin torchmetrics would otherwise open for it.
_BELOW_ONE = math.nextafter(1.0, 0.0)

REPORT_KEYS = ("accuracy", "ece", "adaptive_ece", "mce", "rmsce", "classwise_ece", "smece", "ece_sweep", "brier",
               "nll")

__all__ = [
    "PROB_SUM_ATOL",
    "REPORT_KEYS",
    "ReliabilityBins",
    "accuracy",
    "adaptive_calibration_error",
    "brier_per_example",
    "brier_score",
    "calibration_report",
    "classwise_calibration_error",
    "expected_calibration_error",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "nll_per_example",
    "reliability_bins",
    "rms_calibration_error",
    "to_probabilities",
]


class _Prepared(NamedTuple):
    probs: torch.Tensor  # (N, C) float64
    log_probs: torch.Tensor  # (N, C) float64
    labels: torch.Tensor  # (N,) int64


# --------------------------------------------------------------------------------------------- input checks


def _as_float_tensor(x: ScoresLike, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach().to(device="cpu", dtype=torch.float64)
    else:
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ValueError(f"`{name}` must be numeric array-like, got {type(x).__name__}: {err}") from err
    if not torch.isfinite(t).all():
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return t


def _check_n_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"`n_bins` must be an integer >= 1, got {n_bins!r}")


def _as_labels(labels: LabelsLike, n: int, num_classes: int) -> torch.Tensor:
    if isinstance(labels, torch.Tensor):
        t = labels.detach().cpu()
    else:
        try:
            t = torch.as_tensor(np.asarray(labels))
        except (TypeError, ValueError) as err:
            raise ValueError(f"`labels` must be integer class ids: {err}") from err
    if t.dim() != 1:
        raise ValueError(f"`labels` must have shape (N,), got {tuple(t.shape)}")
    if t.shape[0] != n:
        raise ValueError(f"shape mismatch: {n} score rows but {t.shape[0]} labels")
    if t.dtype == torch.bool:
        t = t.long()
    elif t.is_floating_point():
        if not torch.isfinite(t).all() or not torch.equal(t, torch.round(t)):
            raise ValueError("`labels` must be integer class ids")
    elif t.is_complex():
        raise ValueError(f"`labels` must be integer class ids, got dtype {t.dtype}")
    t = t.long()
    if n and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(
            f"labels out of range: expected values in [0, {num_classes}), got [{int(t.min())}, {int(t.max())}]"
        )
    return t


def _prepare(scores: ScoresLike, labels: LabelsLike, from_logits: bool) -> _Prepared:
    if not isinstance(from_logits, bool):
        raise ValueError(f"`from_logits` must be True or False, got {from_logits!r}")
    s = _as_float_tensor(scores, "scores")
    if s.dim() == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.dim() not in (1, 2):
        raise ValueError(f"`scores` must have shape (N,), (N, 1) or (N, C), got {tuple(s.shape)}")
    if s.shape[0] == 0:
        raise ValueError("`scores` is empty")

    if s.dim() == 1:  # binary, one positive-class score per sample
        if from_logits:
            log_probs = torch.log_softmax(torch.stack([torch.zeros_like(s), s], dim=1), dim=1)
            probs = log_probs.exp()
        else:
            _check_prob_range(s)
            p = s.clamp(0.0, 1.0)
            probs = torch.stack([1.0 - p, p], dim=1)
            log_probs = probs.clamp_min(torch.finfo(torch.float64).tiny).log()
    else:
        if from_logits:
            _warn_if_probabilities(s)
            log_probs = torch.log_softmax(s, dim=1)
            probs = torch.softmax(s, dim=1)
        else:
            _check_prob_range(s)
            row_sums = s.sum(dim=1)
            bad = (row_sums - 1.0).abs() > PROB_SUM_ATOL
            if bad.any():
                i = int(bad.nonzero()[0])
                raise ValueError(
                    f"probabilities must sum to 1 per row (atol {PROB_SUM_ATOL}); row {i} sums to "
                    f"{float(row_sums[i]):.6f}. Pass from_logits=True for logits."
                )
            probs = s.clamp(0.0, 1.0)
            log_probs = probs.clamp_min(torch.finfo(torch.float64).tiny).log()
    y = _as_labels(labels, probs.shape[0], probs.shape[1])
    return _Prepared(probs, log_probs, y)


def _warn_if_probabilities(s: torch.Tensor) -> None:
    """Warn when logits (N, C) look like probabilities: every entry in [0, 1] and every row summing to 1
    (softmax of probabilities squeezes them towards uniform, so every figure would be wrong)."""
    if s.shape[1] < 2 or (s < 0).any() or (s > 1).any():
        return
    if ((s.sum(dim=1) - 1.0).abs() <= PROB_SUM_ATOL).all():
        import warnings

        warnings.warn("the scores look like probabilities (every row in [0, 1], summing to 1) but are read as logits "
                      "(from_logits=True): pass from_logits=False for probabilities.", UserWarning, stacklevel=4)


def _check_prob_range(s: torch.Tensor) -> None:
    if (s < -_PROB_RANGE_ATOL).any() or (s > 1.0 + _PROB_RANGE_ATOL).any():
        raise ValueError(
            f"probabilities must lie in [0, 1], got values in [{float(s.min()):.4g}, {float(s.max()):.4g}]. "
            "Pass from_logits=True for logits."
        )


def to_probabilities(
    scores: ScoresLike, labels: LabelsLike, *, from_logits: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate inputs and return ``(probs (N, C) float64, labels (N,) int64)``; binary ``(N,)`` becomes ``(N, 2)``."""
    prep = _prepare(scores, labels, from_logits)
    return prep.probs, prep.labels


# ------------------------------------------------------------------------------------ tensor-level helpers


def _tm() -> Any:
    # torchmetrics takes ~2 s to import, so it is loaded on first use only.
    import torchmetrics.functional.classification as tmc

    return tmc


def _top_label(probs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    conf, pred = probs.max(dim=1)
    return conf, (pred == labels)


def _binned_ce(conf: torch.Tensor, hits: torch.Tensor, n_bins: int, norm: str) -> float:
    """torchmetrics' equal-width calibration error of ``conf`` against the 0/1 outcomes ``hits``."""
    value = _tm().binary_calibration_error(
        conf.clamp(0.0, _BELOW_ONE), hits.long(), n_bins=int(n_bins), norm=norm, validate_args=False
    )
    return float(value)


def _ece(p: _Prepared, n_bins: int, norm: str = "l1") -> float:
    conf, correct = _top_label(p.probs, p.labels)
    return _binned_ce(conf, correct, n_bins, norm)


def _adaptive_ece(p: _Prepared, n_bins: int) -> float:
    conf, correct = _top_label(p.probs, p.labels)
    order = torch.argsort(conf, stable=True)
    n = conf.numel()
    total = 0.0
    for group in torch.tensor_split(order, int(n_bins)):  # sizes differ by at most one, like np.array_split
        if group.numel() == 0:
            continue
        gap = correct[group].double().mean() - conf[group].mean()
        total += group.numel() / n * abs(float(gap))
    return total


def _classwise_ece(p: _Prepared, n_bins: int) -> float:
    per_class = [_binned_ce(p.probs[:, k], p.labels == k, n_bins, "l1") for k in range(p.probs.shape[1])]
    return float(np.mean(per_class))


def _brier_each(p: _Prepared) -> torch.Tensor:
    onehot = torch.nn.functional.one_hot(p.labels, p.probs.shape[1]).double()
    return ((p.probs - onehot) ** 2).sum(dim=1)


def _brier(p: _Prepared) -> float:
    return float(_brier_each(p).mean())


def _nll(p: _Prepared) -> float:
    return float(torch.nn.functional.nll_loss(p.log_probs, p.labels))


def _accuracy(p: _Prepared) -> float:
    # A one-liner in float64; torchmetrics' multiclass_accuracy would round the result to float32.
    return float(_top_label(p.probs, p.labels)[1].double().mean())


# ------------------------------------------------------------------------------------------- public metrics


def expected_calibration_error(
    scores: ScoresLike, labels: LabelsLike, *, n_bins: int = 15, from_logits: bool = True
) -> float:
    """Top-label ECE with ``n_bins`` equal-width bins (Guo et al. 2017), via torchmetrics (norm l1)."""
    _check_n_bins(n_bins)
    return _ece(_prepare(scores, labels, from_logits), n_bins, "l1")


def maximum_calibration_error(
    scores: ScoresLike, labels: LabelsLike, *, n_bins: int = 15, from_logits: bool = True
) -> float:
    """Top-label MCE: the largest |accuracy - confidence| over non-empty equal-width bins (torchmetrics, max)."""
    _check_n_bins(n_bins)
    return _ece(_prepare(scores, labels, from_logits), n_bins, "max")


def rms_calibration_error(
    scores: ScoresLike, labels: LabelsLike, *, n_bins: int = 15, from_logits: bool = True
) -> float:
    """Top-label RMS calibration error: sqrt(sum_b w_b (acc_b - conf_b)^2) (torchmetrics, norm l2)."""
    _check_n_bins(n_bins)
    return _ece(_prepare(scores, labels, from_logits), n_bins, "l2")


def adaptive_calibration_error(
    scores: ScoresLike, labels: LabelsLike, *, n_bins: int = 15, from_logits: bool = True
) -> float:
    """Equal-mass (adaptive) top-label ECE: ``n_bins`` groups of (nearly) equal size, sorted by confidence."""
    _check_n_bins(n_bins)
    return _adaptive_ece(_prepare(scores, labels, from_logits), n_bins)


def classwise_calibration_error(
    scores: ScoresLike, labels: LabelsLike, *, n_bins: int = 15, from_logits: bool = True
) -> float:
    """Classwise ECE: mean over classes k of the equal-width ECE of p_k against 1[y == k]."""
    _check_n_bins(n_bins)
    return _classwise_ece(_prepare(scores, labels, from_logits), n_bins)


def brier_score(scores: ScoresLike, labels: LabelsLike, *, from_logits: bool = True) -> float:
    """Multiclass Brier score ``mean_i sum_k (p_ik - 1[y_i == k])^2`` (binary: 2x sklearn's brier_score_loss)."""
    return _brier(_prepare(scores, labels, from_logits))


def negative_log_likelihood(scores: ScoresLike, labels: LabelsLike, *, from_logits: bool = True) -> float:
    """Mean negative log-likelihood of the true class (natural log)."""
    return _nll(_prepare(scores, labels, from_logits))


def brier_per_example(scores: ScoresLike, labels: LabelsLike, *, from_logits: bool = True) -> np.ndarray:
    """Each example's Brier score ``sum_k (p_ik - 1[y_i == k])^2`` (their mean is ``brier_score``)."""
    return _brier_each(_prepare(scores, labels, from_logits)).numpy()


def nll_per_example(scores: ScoresLike, labels: LabelsLike, *, from_logits: bool = True) -> np.ndarray:
    """Each example's negative log-likelihood of the true class (their mean is ``negative_log_likelihood``)."""
    p = _prepare(scores, labels, from_logits)
    return -p.log_probs.gather(1, p.labels[:, None])[:, 0].numpy()


def accuracy(scores: ScoresLike, labels: LabelsLike, *, from_logits: bool = True) -> float:
    """Top-1 accuracy (ties go to the lowest class index)."""
    return _accuracy(_prepare(scores, labels, from_logits))


def calibration_report(
    scores: ScoresLike, labels: LabelsLike, *, n_bins: int = 15, from_logits: bool = True
) -> dict[str, float]:
    """All calibration figures at once: accuracy, ece, adaptive_ece, mce, rmsce, classwise_ece, smece,
    ece_sweep, brier, nll (the keys of ``REPORT_KEYS``)."""
    from .smooth import smooth_ece_binary, sweep_ece_binary

    _check_n_bins(n_bins)
    p = _prepare(scores, labels, from_logits)
    conf, hits = _top_label(p.probs, p.labels)
    conf_np, hits_np = conf.numpy(), hits.double().numpy()
    return {
        "accuracy": _accuracy(p),
        "ece": _ece(p, n_bins, "l1"),
        "adaptive_ece": _adaptive_ece(p, n_bins),
        "mce": _ece(p, n_bins, "max"),
        "rmsce": _ece(p, n_bins, "l2"),
        "classwise_ece": _classwise_ece(p, n_bins),
        "smece": smooth_ece_binary(conf_np, hits_np)[0],
        "ece_sweep": sweep_ece_binary(conf_np, hits_np)[0],
        "brier": _brier(p),
        "nll": _nll(p),
    }


# ------------------------------------------------------------------------------------------ reliability bins


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin data behind a reliability diagram (equal-width bins over top-label confidence).

    ``confidence`` and ``accuracy`` are bin means and NaN for empty bins; ``ece`` is the top-label ECE.
    """

    edges: np.ndarray  # (n_bins + 1,)
    counts: np.ndarray  # (n_bins,) int64
    confidence: np.ndarray  # (n_bins,)
    accuracy: np.ndarray  # (n_bins,)
    ece: float

    @property
    def n_samples(self) -> int:
        return int(self.counts.sum())

    @property
    def n_bins(self) -> int:
        return int(self.counts.shape[0])


def reliability_bins(
    scores: ScoresLike, labels: LabelsLike, *, n_bins: int = 15, from_logits: bool = True
) -> ReliabilityBins:
    """Bin top-label confidences into ``n_bins`` equal-width bins; return counts, mean confidence and accuracy."""
    _check_n_bins(n_bins)
    p = _prepare(scores, labels, from_logits)
    conf, correct = _top_label(p.probs, p.labels)
    edges = torch.linspace(0.0, 1.0, int(n_bins) + 1, dtype=torch.float64)
    idx = (torch.bucketize(conf.clamp(0.0, _BELOW_ONE), edges, right=True) - 1).clamp(0, int(n_bins) - 1)
    counts = torch.bincount(idx, minlength=int(n_bins)).double()
    sum_conf = torch.bincount(idx, weights=conf, minlength=int(n_bins))
    sum_acc = torch.bincount(idx, weights=correct.double(), minlength=int(n_bins))
    mean_conf = (sum_conf / counts).numpy()  # NaN for empty bins
    mean_acc = (sum_acc / counts).numpy()
    return ReliabilityBins(
        edges=edges.numpy(),
        counts=counts.numpy().astype(np.int64),
        confidence=mean_conf,
        accuracy=mean_acc,
        ece=_binned_ce(conf, correct, n_bins, "l1"),
    )
