"""A paired, hierarchical bootstrap of each change of a figure (`views.INTERVALS`) against the baseline: the seeds
both methods have, with replacement, then for each seed drawn one of `POOL` resamples of the test examples, the
same for every method of the task and seed (`textmix.calibration.bootstrap_indices` with the runs'
`BOOTSTRAP_SEED`: the resamples behind each run's own `smece_ci`). A replicate's change is the mean over the
seeds drawn of (method - baseline) on the examples drawn; the interval is the percentile interval of the
replicates, its half-width the smallest change it can tell from none (`detectable`). The figures come from each
run's predictions.npz (token runs: their labelled tokens) and results.json's temperature."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..figures import FIGURE, Figure
from .views import INTERVALS

POOL: int | None = None
"""Resamples of the test examples per run; None: the runs' own `RUN_BOOTSTRAP` (the indices of their `smece_ci`)."""
REPORT_BOOTSTRAP = 1000
"""Hierarchical replicates behind each interval of the report."""
LEVEL = 0.95
"""The intervals' confidence level."""
REPORT_SEED = 0
"""Seed of the seed-level draws (the example-level resamples use the runs' `BOOTSTRAP_SEED`)."""


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def run_predictions(result: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(test probabilities, the same after temperature scaling, labels) of a single-label or token
    classification run from its predictions.npz, or None when the run has none (or no temperature)."""
    from .reading import classifier_predictions

    temperature = result.get("temperature")
    if not isinstance(temperature, int | float):
        return None
    try:
        loaded = classifier_predictions(result)
    except Exception:  # noqa: BLE001 - a damaged file (named by `reading.check_predictions` in a report)
        return None
    if loaded is None:
        return None
    logits = _logit_matrix(loaded[0])
    return _softmax(logits), _softmax(logits / float(temperature)), np.asarray(loaded[1]).astype(np.int64)


def _logit_matrix(logits: Any) -> np.ndarray:
    """(N, C) float64 logits; one positive-class logit per row becomes (0, logit)."""
    logits = np.asarray(logits, np.float64)
    if logits.ndim == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    return np.stack([np.zeros_like(logits), logits], axis=1) if logits.ndim == 1 else logits


def resampled_values(predictions: tuple[np.ndarray, np.ndarray, np.ndarray], figure: Figure,
                     pool: np.ndarray) -> tuple[float, np.ndarray]:
    """(the figure on all test examples, the figure on each resample of `pool` (K, N))."""
    probs = predictions[1] if figure.scaled else predictions[0]
    labels = predictions[2]
    if figure.per_example is not None:
        values = figure.per_example(probs, labels)
        return float(values.mean()), values[pool].mean(axis=1)
    assert figure.resampled is not None, f"{figure.name} has no interval from the test examples"
    return float(figure.resampled(probs[None], labels[None])[0]), figure.resampled(probs[pool], labels[pool])


def hierarchical_change(base: Mapping[int, tuple[float, np.ndarray]], other: Mapping[int, tuple[float, np.ndarray]],
                        *, n_bootstrap: int = REPORT_BOOTSTRAP, level: float = LEVEL,
                        seed: int = REPORT_SEED) -> dict[str, float]:
    """The change from `base` to `other` ({seed: (figure, figure on each example resample)}, the resamples
    paired) over the seeds both have: `delta` (mean over seeds of the change), `low` / `high` (the
    percentile interval of seeds-then-examples replicates), `detectable` (its half-width) and `n_seeds`."""
    from textmix.calibration.smooth import check_bootstrap

    check_bootstrap(n_bootstrap, level)
    seeds = sorted(set(base) & set(other))
    if not seeds:
        return {"delta": math.nan, "low": math.nan, "high": math.nan, "detectable": math.nan, "n_seeds": 0}
    point = np.array([other[s][0] - base[s][0] for s in seeds])
    diffs = np.stack([other[s][1] - base[s][1] for s in seeds])  # (seeds, K): paired resamples
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(seeds), size=(n_bootstrap, len(seeds)))  # stage 1: seeds
    resample = rng.integers(0, diffs.shape[1], size=(n_bootstrap, len(seeds)))  # stage 2: examples
    replicates = diffs[picked, resample].mean(axis=1)
    tail = (1.0 - level) / 2
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return {"delta": float(point.mean()), "low": float(low), "high": float(high),
            "detectable": float((high - low) / 2), "n_seeds": len(seeds)}


def task_intervals(runs_by_method: Mapping[str, Sequence[Mapping[str, Any]]], baseline: str,
                   metrics: Sequence[str] = INTERVALS, *, n_bootstrap: int = REPORT_BOOTSTRAP,
                   level: float = LEVEL, cache: dict | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """{method: {metric: hierarchical_change}} for every method of one task against `baseline`, from the
    runs' predictions (methods or seeds without predictions, or whose test sets differ in size, are left out).
    `cache`: the resampled figures of each run folder, kept across calls (a run held fixed under several seeds)."""
    from textmix.calibration.smooth import bootstrap_indices

    from ..recipes.common import BOOTSTRAP_SEED, RUN_BOOTSTRAP

    loaded = {m: {int(r["seed"]): p for r in runs if (p := run_predictions(r)) is not None}
              for m, runs in runs_by_method.items()}
    sizes = {p[2].size for p in (loaded.get(baseline) or {}).values()}
    if len(sizes) != 1:  # no baseline predictions, or test sets of several sizes
        return {}
    pool = bootstrap_indices(sizes.pop(), POOL or RUN_BOOTSTRAP, BOOTSTRAP_SEED)
    cache = {} if cache is None else cache
    folders = {(m, int(r["seed"])): r.get("_folder") for m, runs in runs_by_method.items() for r in runs}

    def value(method: str, seed: int, p: tuple[np.ndarray, np.ndarray, np.ndarray], name: str) -> tuple[float, np.ndarray]:
        key = (folders[(method, seed)], name, pool.shape)
        if key[0] is None:
            return resampled_values(p, FIGURE[name], pool)
        if key not in cache:
            cache[key] = resampled_values(p, FIGURE[name], pool)
        return cache[key]

    values = {method: {name: {s: value(method, s, p, name) for s, p in by_seed.items() if p[2].size == pool.shape[1]}
                       for name in metrics} for method, by_seed in loaded.items()}
    changes = {method: {name: hierarchical_change(values[baseline][name], values[method][name], n_bootstrap=n_bootstrap,
                                                  level=level) for name in metrics} for method in values if method != baseline}
    return {method: c for method, c in changes.items() if any(x["n_seeds"] for x in c.values())}


def natural_intervals(base_runs: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]], sets: Sequence[str],
                      metrics: Sequence[str], *, n_bootstrap: int = REPORT_BOOTSTRAP) -> dict[str, dict[str, float]]:
    """{metric: hierarchical_change} of each figure (unscaled) averaged over the natural-shift test `sets`
    (`test_<set>` in predictions.npz, each resampled with its own example resamples, averaged resample by
    resample), `runs` against `base_runs` paired by seed; {} where a single-label run lacks those predictions."""
    from textmix.calibration.smooth import bootstrap_indices

    from ..recipes.common import BOOTSTRAP_SEED, RUN_BOOTSTRAP
    from .reading import load_test_predictions

    def values(result: Mapping[str, Any]) -> dict[str, tuple[float, np.ndarray]] | None:
        if result.get("problem_type", "classification") != "classification":
            return None
        try:
            loaded = [load_test_predictions(result, f"test_{name}") for name in sets]
        except Exception:  # noqa: BLE001 - a damaged file (named by `reading.check_predictions`)
            return None
        if not sets or any(p is None for p in loaded):
            return None
        probs = [(_softmax(_logit_matrix(x)), np.asarray(y).astype(np.int64)) for x, y in loaded]  # type: ignore[misc]
        pools = [bootstrap_indices(y.size, POOL or RUN_BOOTSTRAP, BOOTSTRAP_SEED) for _, y in probs]
        out = {}
        for metric in metrics:
            per_set = [resampled_values((p, p, y), FIGURE[metric], pool) for (p, y), pool in zip(probs, pools, strict=True)]
            out[metric] = (float(np.mean([v for v, _ in per_set])), np.mean([r for _, r in per_set], axis=0))
        return out

    base = {int(r["seed"]): v for r in base_runs if (v := values(r)) is not None}
    own = {int(r["seed"]): v for r in runs if (v := values(r)) is not None}
    if len(base) < len(base_runs) or len(own) < len(runs):
        return {}
    return {m: hierarchical_change({s: v[m] for s, v in base.items()}, {s: v[m] for s, v in own.items()},
                                   n_bootstrap=n_bootstrap) for m in metrics}
