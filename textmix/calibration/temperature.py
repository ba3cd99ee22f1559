"""Temperature scaling (Guo et al. 2017): one scalar ``T > 0`` that divides the logits.

``T`` is fitted on a validation split by minimising the mean NLL over ``log T`` with Brent's bounded method
(``scipy.optimize.minimize_scalar``), which is deterministic and, because the NLL is unimodal in ``log T``,
finds the global minimum inside ``[min_temperature, max_temperature]``. Binary logits of shape ``(N,)`` or
``(N, 1)`` are read as positive-class logits (``sigmoid(s / T)``), exactly like :mod:`.metrics`.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
import torch

from .metrics import (
    LabelsLike,
    ScoresLike,
    _as_float_tensor,
    _as_labels,
    _warn_if_probabilities,
    calibration_report,
)

__all__ = ["NLL_FLAT_TOL", "TEMPERATURE_BOUNDS", "apply_temperature", "at_search_bound", "fit_temperature",
           "temperature_scaling_report"]

TEMPERATURE_BOUNDS = (1e-2, 1e2)
"""`fit_temperature`'s default search interval."""


NLL_FLAT_TOL = 1e-4
"""`at_search_bound`'s tolerance (nats of mean NLL): a fit whose NLL is within it of the NLL at an end of
the search interval is not told apart from that end."""


def at_search_bound(temperature: float, bounds: tuple[float, float] = TEMPERATURE_BOUNDS, rtol: float = 0.01, *,
                    logits: ScoresLike | None = None, labels: LabelsLike | None = None,
                    nll_tol: float = NLL_FLAT_TOL) -> bool:
    """Whether a fitted `temperature` is an end of the search interval `bounds` rather than a fit, by two
    criteria (either flags it):

    - it lies within `rtol` (relative) of an end: the NLL was still falling there;
    - given the validation `logits` and `labels` it was fitted on, the mean NLL at an end of the interval is
      at most `nll_tol` (nats) above the NLL at `temperature`: the NLL is flat between the two, so any
      temperature there fits as well. This is the case of validation predictions that are all right with
      large margins: the NLL falls to (nearly) 0 well before the lower bound and the bounded search stops
      anywhere in that flat stretch, inside the interval, where the first criterion alone misses it. A
      genuine optimum has a clearly higher NLL at both ends (a wrong prediction costs ~margin / T at the
      lower end; every prediction costs ~log C at the upper end); a constant model (the NLL flat
      everywhere) is flagged too: its temperature is undetermined.

    Without `logits` and `labels` only the first criterion is checked."""
    lo, hi = bounds
    if temperature <= lo * (1 + rtol) or temperature >= hi * (1 - rtol):
        return True
    if logits is None or labels is None:
        return False
    s = _logit_matrix(logits)
    y = _as_labels(labels, s.shape[0], s.shape[1])

    def nll(t: float) -> float:
        return float(torch.nn.functional.cross_entropy(s / t, y))

    at = nll(float(temperature))
    return min(nll(lo), nll(hi)) - at <= nll_tol


_A = TypeVar("_A", torch.Tensor, np.ndarray)


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not math.isfinite(t) or t <= 0.0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


def apply_temperature(logits: _A, temperature: float) -> _A:
    """Return ``logits / temperature`` (a tensor for a tensor, a numpy array otherwise)."""
    t = _check_temperature(temperature)
    if isinstance(logits, torch.Tensor):
        return logits / t
    return np.asarray(logits) / t


def _logit_matrix(logits: ScoresLike) -> torch.Tensor:
    s = _as_float_tensor(logits, "logits")
    if s.dim() == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.dim() == 1:  # positive-class logit s  ->  [0, s]: softmax([0, s] / T) == [1 - sigmoid(s / T), ...]
        s = torch.stack([torch.zeros_like(s), s], dim=1)
    if s.dim() != 2 or s.shape[0] == 0:
        raise ValueError(
            f"`logits` must be a non-empty array of shape (N,), (N, 1) or (N, C), got {tuple(s.shape)}"
        )
    return s


MIN_TEMPERATURE = 1e-2
"""The lower end of `fit_temperature`'s search (its default)."""
MAX_TEMPERATURE = 1e2
"""The upper end of `fit_temperature`'s search (its default): a fit ending here is a bound, not an optimum."""


def fit_temperature(
    val_logits: ScoresLike,
    val_labels: LabelsLike,
    *,
    min_temperature: float = MIN_TEMPERATURE,
    max_temperature: float = MAX_TEMPERATURE,
    xatol: float = 1e-9,
) -> float:
    """Fit the temperature that minimises validation NLL of ``softmax(logits / T)``; returns ``T`` as a float.

    ``T > 1`` softens over-confident logits, ``T < 1`` sharpens under-confident ones. The result is
    searched within ``[min_temperature, max_temperature]``. When every prediction is correct the NLL keeps
    falling as ``T -> 0`` and reaches 0 in float64 near the lower bound, so any ``T`` in that flat region may be
    returned: `at_search_bound` (with the validation logits and labels) tells such a fit from an optimum.
    The returned ``T`` never has a higher NLL than ``T = 1``.
    """
    from scipy.optimize import minimize_scalar

    lo, hi = _check_temperature(min_temperature), _check_temperature(max_temperature)
    if not lo <= 1.0 <= hi:
        raise ValueError(f"need min_temperature <= 1 <= max_temperature, got [{lo}, {hi}]")
    logits = _logit_matrix(val_logits)
    if logits.shape[1] >= 2 and _as_float_tensor(val_logits, "logits").dim() == 2:
        _warn_if_probabilities(logits)
    labels = _as_labels(val_labels, logits.shape[0], logits.shape[1])

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(logits * math.exp(-log_t), labels))

    res = minimize_scalar(
        nll, bounds=(math.log(lo), math.log(hi)), method="bounded", options={"xatol": xatol}
    )
    log_t = float(res.x)
    if nll(log_t) > nll(0.0):  # cannot happen for a unimodal objective; keep the guarantee anyway
        return 1.0
    return math.exp(log_t)


def temperature_scaling_report(
    val_logits: ScoresLike,
    val_labels: LabelsLike,
    test_logits: ScoresLike,
    test_labels: LabelsLike,
    *,
    n_bins: int = 15,
) -> dict[str, Any]:
    """Fit ``T`` on the validation split and report test metrics before and after scaling.

    Returns ``{"temperature": T, "before": calibration_report(test), "after": calibration_report(test / T)}``.
    """
    t = fit_temperature(val_logits, val_labels)
    test = _logit_matrix(test_logits)
    return {
        "temperature": t,
        "before": calibration_report(test, test_labels, n_bins=n_bins, from_logits=True),
        "after": calibration_report(test / t, test_labels, n_bins=n_bins, from_logits=True),
    }
