"""Smooth ECE (Błasiok & Nakkiran 2023), the monotone-sweep ECE (Roelofs et al. 2022) and bootstrap intervals.

Both are top-label figures: each prediction is reduced to (confidence = its largest probability,
outcome = 1 if that class is the label), as for :func:`~textmix.calibration.expected_calibration_error`.

* **smECE** (``smooth_calibration_error``): the residuals ``r_i = f_i - y_i`` are smoothed with a Gaussian
  kernel of bandwidth ``sigma`` reflected at 0 and 1; smECE is the mean absolute smoothed residual
  weighted by the smoothed density of the confidences. ``sigma`` is chosen as the paper does: the fixed
  point ``sigma = smECE_sigma`` found by bisection. This is a numpy port of the authors' ``relplot``
  package (``relplot.smECE``; same grid, kernel discretisation and bisection, FFT convolution), which the
  tests hold it to within 1e-6. Unlike binned ECE it has no bin count and is a consistent calibration
  measure.
* **monotone-sweep ECE** (``sweep_calibration_error``, ECE_sweep of Roelofs et al. 2022): equal-mass bins
  (the rule of the adaptive ECE), as many as keep the bins' accuracies non-decreasing in confidence;
  then the l1 ECE over those bins. Less biased than a fixed bin count on small test sets.
* **bootstrap intervals** (``bootstrap_interval``): the percentile interval of a metric over resamples of
  the examples. The resampled indices depend only on ``(n, n_bootstrap, seed)``
  (``bootstrap_indices``), so every method scored on the same test set with the same seed is resampled
  identically: the intervals are paired.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import LabelsLike, ScoresLike, _prepare, _top_label

__all__ = [
    "MIN_BOOTSTRAP",
    "SmoothReliability",
    "bootstrap_indices",
    "bootstrap_interval",
    "check_bootstrap",
    "smooth_calibration_error",
    "smooth_ece_binary",
    "smooth_ece_rows",
    "smooth_reliability",
    "sweep_calibration_error",
    "sweep_ece_binary",
    "top_label",
]

MIN_BOOTSTRAP = 100
"""The fewest bootstrap resamples an interval may rest on."""
_MESH_POINTS = 200  # relplot.config.smECE_mesh_pts
_SEARCH_EPS = 1e-3  # relplot.metrics.smECE(eps=0.001)
_SEARCH_STEPS = 10  # relplot.metrics.search_param(refine=10)
_DENSITY_EPS = 1e-4  # relplot.kernels.BaseKernelMixin.smooth(eps=0.0001)


def top_label(scores: ScoresLike, labels: LabelsLike, *, from_logits: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(top-label confidence (N,), 1.0 where the top class is the label else 0.0 (N,)) as float64 arrays."""
    p = _prepare(scores, labels, from_logits)
    conf, hits = _top_label(p.probs, p.labels)
    return conf.numpy(), hits.double().numpy()


# ------------------------------------------------------------------------------------------------ smooth ECE


def _grid_values(f: np.ndarray, w: np.ndarray, points: int) -> np.ndarray:
    """Linear interpolation of the weights ``w`` at ``f`` onto ``points`` grid nodes over [0, 1]."""
    pos = f * (points - 1)
    bins = pos.astype(int).clip(0, points - 2)
    frac = pos - bins
    return np.bincount(bins, (1 - frac) * w, minlength=points) + np.bincount(bins + 1, frac * w, minlength=points)


@functools.lru_cache(maxsize=64)
def _kernel(sigma: float, points: int) -> np.ndarray:
    """The Gaussian kernel of bandwidth ``sigma`` on ``points`` grid nodes over [0, 1], centred at 0.5."""
    grid = np.linspace(0, 1, points)
    return np.exp(-((grid - 0.5) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)


def _reflected_smooth(f: np.ndarray, weights: np.ndarray, sigma: float, t: np.ndarray) -> np.ndarray:
    """Gaussian kernel sums ``sum_i w_ki K_sigma(t - f_i)`` (reflected at 0 and 1) for each row k of
    ``weights`` (K, N), evaluated at ``t`` by linear interpolation from a grid."""
    from scipy.signal import fftconvolve

    points = max(2000, round(20 / sigma)) // 2 + 1
    kernel = _kernel(float(sigma), points)
    values = np.stack([_grid_values(f, w, points) for w in weights])
    extended = np.concatenate([values[:, ::-1][:, :-1], values, values[:, ::-1][:, 1:]], axis=1)
    smoothed = fftconvolve(extended, kernel[None, :], mode="valid", axes=1)[:, points // 2: points // 2 + points]
    idx = (t * (points - 1)).astype(int).clip(0, points - 2)
    frac = t * (points - 1) - idx
    return smoothed[:, idx] * (1 - frac) + smoothed[:, idx + 1] * frac


def _smooth_curve(f: np.ndarray, y: np.ndarray, sigma: float, n_points: int) -> tuple[np.ndarray, ...]:
    """(t, smoothed residual f - y at t, smoothed density at t) on ``n_points`` points of [0, 1]."""
    t = np.linspace(0, 1, n_points)
    sums, density = _reflected_smooth(f, np.stack([f - y, np.ones_like(f)]), sigma, t)
    density = density + _DENSITY_EPS
    return t, sums / density, density


def _smece_at(f: np.ndarray, y: np.ndarray, sigma: float) -> float:
    _, residual, density = _smooth_curve(f, y, sigma, max(round(10 / sigma), _MESH_POINTS))
    return float(np.sum(np.abs(residual) * density) / np.sum(density))


def _bandwidth(f: np.ndarray, y: np.ndarray) -> float:
    """relplot's bisection for the fixed point sigma = smECE_sigma(f, y)."""

    def small_enough(sigma: float) -> bool:
        return sigma < _SEARCH_EPS or sigma < _smece_at(f, y, sigma)

    if small_enough(1.0):
        return 1.0
    start, end = 1.0, 0.0
    for _ in range(_SEARCH_STEPS):
        mid = (start + end) / 2
        if small_enough(mid):
            end = mid
        else:
            start = mid
    return start


@functools.lru_cache(maxsize=256)
def _kernel_spectrum(sigma: float, points: int, size: int) -> np.ndarray:
    """The real FFT (length `size`) of `_kernel(sigma, points)`: the bisections of many resamples share few bandwidths."""
    from scipy.fft import rfft

    return rfft(_kernel(sigma, points), size)


def _grid_rows(f: np.ndarray, w: np.ndarray, points: int) -> np.ndarray:
    """`_grid_values` of every row of (R, N) confidences and weights, in one bincount."""
    pos = f * (points - 1)
    bins = pos.astype(int).clip(0, points - 2)
    frac = pos - bins
    offset = (np.arange(f.shape[0]) * points)[:, None]
    size = f.shape[0] * points
    flat = (np.bincount((bins + offset).ravel(), ((1 - frac) * w).ravel(), minlength=size)
            + np.bincount((bins + 1 + offset).ravel(), (frac * w).ravel(), minlength=size))
    return flat.reshape(f.shape[0], points)


def _smece_rows(f: np.ndarray, y: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """`_smece_at(f[k], y[k], sigmas[k])` for every row k of (K, N) confidences and outcomes, rows with one
    grid size smoothed in one batched FFT and read off at one set of points."""
    from scipy.fft import irfft, next_fast_len, rfft

    out = np.empty(len(sigmas))
    points_of = np.array([max(2000, round(20 / s)) // 2 + 1 for s in sigmas])
    mesh_of = np.array([max(round(10 / s), _MESH_POINTS) for s in sigmas])
    for points, mesh in {(int(p), int(m)) for p, m in zip(points_of, mesh_of, strict=True)}:
        rows = np.flatnonzero((points_of == points) & (mesh_of == mesh))
        values = np.concatenate([_grid_rows(f[rows], f[rows] - y[rows], points),
                                 _grid_rows(f[rows], np.ones((rows.size, f.shape[1])), points)])
        extended = np.concatenate([values[:, ::-1][:, :-1], values, values[:, ::-1][:, 1:]], axis=1)
        size = next_fast_len(extended.shape[1] + points - 1, real=True)
        spectra = np.stack([_kernel_spectrum(float(sigmas[k]), points, size) for k in rows])
        full = irfft(rfft(extended, size, axis=1) * np.concatenate([spectra, spectra]), size, axis=1)
        smoothed = full[:, points - 1: extended.shape[1]][:, points // 2: points // 2 + points]  # "valid", sliced
        t = np.linspace(0, 1, mesh)
        idx = (t * (points - 1)).astype(int).clip(0, points - 2)
        frac = t * (points - 1) - idx
        at_t = smoothed[:, idx] * (1 - frac) + smoothed[:, idx + 1] * frac
        sums, density = at_t[: rows.size], at_t[rows.size:] + _DENSITY_EPS
        out[rows] = np.sum(np.abs(sums / density) * density, axis=1) / np.sum(density, axis=1)
    return out


def smooth_ece_rows(confidence: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """smECE of each row of (K, N) confidences against (K, N) outcomes (e.g. bootstrap resamples), each
    with its own bandwidth: `smooth_ece_binary` row by row, the bisections run side by side."""
    f, y = np.asarray(confidence, np.float64), np.asarray(outcome, np.float64)
    if f.ndim != 2 or f.shape != y.shape or f.size == 0:
        raise ValueError(f"need (K, N) confidences and outcomes of one shape, got {f.shape} and {y.shape}")
    _check_binary(f, y)
    at_one = _smece_rows(f, y, np.ones(len(f)))
    done = (1.0 < _SEARCH_EPS) | (1.0 < at_one)
    start, end = np.ones(len(f)), np.zeros(len(f))
    for _ in range(_SEARCH_STEPS):
        mid = (start + end) / 2
        ok = (mid < _SEARCH_EPS) | (mid < _smece_rows(f, y, mid))
        end, start = np.where(ok, mid, end), np.where(ok, start, mid)
    sigma = np.where(done, 1.0, start)
    return np.where(done, at_one, _smece_rows(f, y, sigma))


def _check_sigma(sigma: float | None) -> float | None:
    if sigma is None:
        return None
    s = float(sigma)
    if not math.isfinite(s) or s <= 0:
        raise ValueError(f"`sigma` must be a finite bandwidth > 0 (or None to choose it), got {sigma!r}")
    return s


def _check_binary(f: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    f, y = np.asarray(f, dtype=np.float64).reshape(-1), np.asarray(y, dtype=np.float64).reshape(-1)
    if f.shape != y.shape or f.size == 0:
        raise ValueError(f"confidences and outcomes must be non-empty and of one length, got {f.size} and {y.size}")
    if not (np.isfinite(f).all() and (f >= 0).all() and (f <= 1).all()):
        raise ValueError("confidences must be finite numbers in [0, 1]")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("outcomes must be 0 or 1")
    return f, y


def smooth_ece_binary(confidence: Any, outcome: Any, *, sigma: float | None = None) -> tuple[float, float]:
    """smECE of confidences ``f`` in [0, 1] against 0/1 outcomes ``y``: ``(smECE, sigma)``; ``sigma``
    None chooses the bandwidth as the paper (and ``relplot.smECE``) does."""
    f, y = _check_binary(confidence, outcome)
    s = _check_sigma(sigma)
    s = _bandwidth(f, y) if s is None else s
    return _smece_at(f, y, s), s


def smooth_calibration_error(
    scores: ScoresLike, labels: LabelsLike, *, from_logits: bool = True, sigma: float | None = None
) -> float:
    """Top-label smooth ECE (Błasiok & Nakkiran 2023), bandwidth chosen automatically unless ``sigma`` is given."""
    return smooth_ece_binary(*top_label(scores, labels, from_logits=from_logits), sigma=sigma)[0]


@dataclass(frozen=True)
class SmoothReliability:
    """The smoothed reliability curve: at each confidence ``t``, the kernel regression of the outcomes
    (``accuracy``) and the kernel density of the confidences (``density``, integrating to about 1), at the
    bandwidth ``sigma`` smECE chose, with ``smece``."""

    t: np.ndarray
    accuracy: np.ndarray
    density: np.ndarray
    sigma: float
    smece: float


def smooth_reliability(
    scores: ScoresLike, labels: LabelsLike, *, from_logits: bool = True, sigma: float | None = None,
    n_points: int = 200,
) -> SmoothReliability:
    """The smoothed top-label reliability curve behind smECE (what ``relplot.rel_diagram`` draws)."""
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 2:
        raise ValueError(f"`n_points` must be an integer >= 2, got {n_points!r}")
    f, y = top_label(scores, labels, from_logits=from_logits)
    value, s = smooth_ece_binary(f, y, sigma=sigma)
    t = np.linspace(0, 1, n_points)
    hits, mass = _reflected_smooth(f, np.stack([y, np.ones_like(f)]), s, t)
    # as relplot.prepare_rel_diagram: the kernel regression of the outcomes, and the kernel density estimate
    return SmoothReliability(t=t, accuracy=hits / (mass + _DENSITY_EPS), density=mass / f.size, sigma=s, smece=value)


# ---------------------------------------------------------------------------------------- monotone sweep ECE


def _equal_mass_ece(cf: np.ndarray, cy: np.ndarray, n_bins: int) -> tuple[float, np.ndarray]:
    """(l1 ECE, bin accuracies) over ``n_bins`` equal-mass bins of sorted confidences, from the cumulative
    sums ``cf``, ``cy`` (with a leading 0) of the sorted confidences and outcomes; bin sizes as ``np.array_split``."""
    n = cf.size - 1
    q, r = divmod(n, n_bins)
    sizes = q + (np.arange(n_bins) < r)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    acc = (cy[ends] - cy[starts]) / sizes
    conf = (cf[ends] - cf[starts]) / sizes
    return float(np.sum(sizes * np.abs(acc - conf)) / n), acc


def sweep_ece_binary(confidence: Any, outcome: Any) -> tuple[float, int]:
    """Monotone-sweep ECE of confidences against 0/1 outcomes: ``(ECE_sweep, number of bins)``."""
    f, y = _check_binary(confidence, outcome)
    order = np.argsort(f, kind="stable")
    cf, cy = np.concatenate([[0.0], np.cumsum(f[order])]), np.concatenate([[0.0], np.cumsum(y[order])])
    best, bins = _equal_mass_ece(cf, cy, 1)[0], 1
    for b in range(2, f.size + 1):
        value, acc = _equal_mass_ece(cf, cy, b)
        if np.any(np.diff(acc) < 0):
            break
        best, bins = value, b
    return best, bins


def sweep_calibration_error(scores: ScoresLike, labels: LabelsLike, *, from_logits: bool = True) -> float:
    """Top-label monotone-sweep ECE (ECE_sweep, equal-mass bins; Roelofs et al. 2022)."""
    return sweep_ece_binary(*top_label(scores, labels, from_logits=from_logits))[0]


# ------------------------------------------------------------------------------------------------ bootstrap


def check_bootstrap(n_bootstrap: int, level: float) -> None:
    """Raise ValueError unless ``n_bootstrap`` is an integer >= ``MIN_BOOTSTRAP`` and ``level`` is in (0, 1)."""
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < MIN_BOOTSTRAP:
        raise ValueError(f"`n_bootstrap` must be an integer >= {MIN_BOOTSTRAP} (a percentile interval needs "
                         f"resamples in the hundreds; 1000 is usual), got {n_bootstrap!r}")
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise ValueError(f"`level` must be a confidence level in (0, 1), e.g. 0.95, got {level!r}")


def bootstrap_indices(n: int, n_bootstrap: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_bootstrap, n) indices of resamples with replacement of n examples, a function of (n, n_bootstrap,
    seed) only: every method scored on one test set with one seed gets the same resamples (paired)."""
    check_bootstrap(n_bootstrap, 0.95)
    if n < 1:
        raise ValueError(f"need at least one example to resample, got {n}")
    return np.random.default_rng(seed).integers(0, n, size=(int(n_bootstrap), int(n)))


def bootstrap_interval(
    scores: ScoresLike,
    labels: LabelsLike,
    metric: Callable[[np.ndarray, np.ndarray], float] | str = "smece",
    *,
    from_logits: bool = True,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval (``level``, e.g. 0.95) of a top-label metric over resamples of the examples.

    ``metric``: ``"smece"``, ``"ece_sweep"`` or a function of (confidences, outcomes). The resamples come
    from ``bootstrap_indices(N, n_bootstrap, seed)``, so intervals of several methods on one test set are paired.
    """
    check_bootstrap(n_bootstrap, level)
    fn = _TOP_LABEL_METRICS.get(metric) if isinstance(metric, str) else metric
    if fn is None:
        raise ValueError(f"unknown metric {metric!r}; choose from {sorted(_TOP_LABEL_METRICS)} or pass a function")
    f, y = top_label(scores, labels, from_logits=from_logits)
    pool = bootstrap_indices(f.size, n_bootstrap, seed)
    if metric == "smece":
        values = smooth_ece_rows(f[pool], y[pool])
    else:
        values = np.array([fn(f[idx], y[idx]) for idx in pool])
    tail = (1.0 - float(level)) / 2
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


_TOP_LABEL_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "smece": lambda f, y: smooth_ece_binary(f, y)[0],
    "ece_sweep": lambda f, y: sweep_ece_binary(f, y)[0],
}
