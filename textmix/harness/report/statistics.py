"""The report's statistics: means over seeds, paired changes against the baseline, shifted test sets, verdicts of one change."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .intervals import LEVEL
from .views import ALPHA, NATURAL_SHIFT, SHIFT, SHIFT_KINDS, number


def _mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of the numbers among `values`; the std is NaN (undefined, never
    0) for one number, both NaN for none."""
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan


def paired_change(base: dict[int, float], other: dict[int, float]) -> dict[str, float]:
    """Mean of (other - base) over the seeds both have, and the paired t-test's p-value."""
    from scipy.stats import ttest_rel

    seeds = sorted(set(base) & set(other))
    a = np.asarray([base[s] for s in seeds], dtype=float)
    b = np.asarray([other[s] for s in seeds], dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size == 0:
        return {"delta": math.nan, "p_value": math.nan, "n": 0}
    delta = float((b - a).mean())
    p = math.nan
    if a.size > 1 and np.ptp(b - a) > 0:
        p = float(ttest_rel(b, a).pvalue)
    return {"delta": delta, "p_value": p, "n": int(a.size)}


def _shift_cells(result: dict, kinds: Iterable[str] | None = None) -> dict[tuple[str, str], dict]:
    """A run's shifted test sets as {(kind, severity): metrics} (severities as strings), only `kinds` if given."""
    wanted = None if kinds is None else set(kinds)
    out = {}
    shift = result.get("shift")
    for kind, severities in (shift.items() if isinstance(shift, dict) else ()):
        if (wanted is not None and kind not in wanted) or not isinstance(severities, dict):
            continue
        for severity, metrics in severities.items():
            if isinstance(metrics, dict):
                out[(str(kind), str(severity))] = metrics
    return out


def _kind_order(kinds: Iterable[str]) -> list[str]:
    kinds = set(kinds)
    return [k for k in SHIFT_KINDS if k in kinds] + sorted(kinds - set(SHIFT_KINDS))


def _severity_key(severity: str) -> tuple[int, float, str]:
    value = number(severity)
    return (1, 0.0, severity) if math.isnan(value) else (0, value, severity)


def shift_means(base_runs: list[dict], runs: list[dict], kinds: Iterable[str],
                metric: str = "accuracy") -> tuple[dict[int, float], dict[int, float]]:
    """Per seed, `metric` averaged over the (kind, severity) test sets of `kinds` that every run of
    `base_runs` and `runs` with any of them has (so both sides average the same sets): ({seed: baseline},
    {seed: other}), ready for `paired_change`. A run without those test sets has NaN."""
    kinds = tuple(kinds)
    sets = [set(cells) for cells in (_shift_cells(r, kinds) for r in [*base_runs, *runs]) if cells]
    common = set.intersection(*sets) if sets else set()

    def mean(result: dict) -> float:
        cells = _shift_cells(result, kinds)
        values = [number(cells[c].get(metric)) for c in sorted(common) if c in cells]  # sorted: a sum in one order
        values = [v for v in values if not math.isnan(v)]
        return float(np.mean(values)) if values else math.nan

    return {r["seed"]: mean(r) for r in base_runs}, {r["seed"]: mean(r) for r in runs}


def shift_summary(runs_by_method: dict[str, list[dict]], baseline: str = "none") -> dict[str, Any] | None:
    """How one task's methods fare on corrupted copies of its test set (`shift` in results.json), or None
    when no run has any: `kinds` (in `SHIFT_KINDS` order), `severities` ({kind: [severity, ...]}, as strings),
    `methods` ({method: {kind: {severity: {figure: mean, figure_std: std, n_seeds}}}} for the figures of
    `SHIFT`, over seeds) and `change` ({method: {kind: {"accuracy" | "ece": paired_change}}}: the figure
    averaged over the kind's severities per seed, against `baseline` over the same seeds)."""
    cells = {m: [_shift_cells(r) for r in runs] for m, runs in runs_by_method.items()}
    found = {c for per_run in cells.values() for run_cells in per_run for c in run_cells}
    if not found:
        return None
    kinds = _kind_order(k for k, _ in found)
    severities = {k: sorted({s for kk, s in found if kk == k}, key=_severity_key) for k in kinds}
    methods: dict[str, Any] = {}
    for method, per_run in cells.items():
        for kind in kinds:
            for severity in severities[kind]:
                got = [c[(kind, severity)] for c in per_run if (kind, severity) in c]
                if got:
                    entry: dict[str, Any] = {"n_seeds": len(got)}
                    for metric in SHIFT:
                        entry[metric], entry[f"{metric}_std"] = _mean_std(number(g.get(metric)) for g in got)
                    methods.setdefault(method, {}).setdefault(kind, {})[severity] = entry
    change: dict[str, Any] = {}
    base_runs = runs_by_method.get(baseline)
    for method, runs in runs_by_method.items():
        for kind in kinds if base_runs and method != baseline else ():
            for metric in ("accuracy", "ece"):
                diff = paired_change(*shift_means(base_runs, runs, (kind,), metric))
                if diff["n"]:
                    change.setdefault(method, {}).setdefault(kind, {})[metric] = diff
    return {"kinds": kinds, "severities": severities, "methods": methods, "change": change}


def _natural_sets(result: dict) -> list[str]:
    """The natural-shift test sets of a run (`natural_shift` in results.json) that it has figures for (`test_<name>`)."""
    named = result.get("natural_shift")
    return [n for n in (named if isinstance(named, dict) else ()) if isinstance(result.get(f"test_{n}"), dict)]


def natural_common(base_runs: list[dict], runs: list[dict]) -> list[str]:
    """The natural-shift test sets that every run of `base_runs` and `runs` with any has, sorted."""
    sets = [set(found) for found in map(_natural_sets, [*base_runs, *runs]) if found]
    return sorted(set.intersection(*sets)) if sets else []


def natural_means(base_runs: list[dict], runs: list[dict], metric: str) -> tuple[dict[int, float], dict[int, float]]:
    """Per seed, `metric` averaged over the natural-shift test sets that every run of `base_runs` and `runs` with
    any has (both sides average the same sets): ({seed: baseline}, {seed: other}), ready for `paired_change`."""
    common = natural_common(base_runs, runs)

    def mean(result: dict) -> float:
        values = [number(result[f"test_{n}"].get(metric)) for n in common if f"test_{n}" in result]
        values = [v for v in values if not math.isnan(v)]
        return float(np.mean(values)) if values else math.nan

    return {r["seed"]: mean(r) for r in base_runs}, {r["seed"]: mean(r) for r in runs}


def natural_shift_summary(runs_by_method: dict[str, list[dict]]) -> dict[str, Any] | None:
    """One task's natural-shift test sets, or None when no run has any: `sets` ({name: description}) and `methods`
    ({method: {set: {figure: mean, figure_std: std, n_seeds}}} for the figures of `views.NATURAL_SHIFT`, over seeds)."""
    sets: dict[str, str] = {}
    for r in (r for runs in runs_by_method.values() for r in runs):
        sets.update({n: str(r["natural_shift"][n]) for n in _natural_sets(r)})
    if not sets:
        return None
    methods: dict[str, Any] = {}
    for method, runs in runs_by_method.items():
        for name in sets:
            got = [r[f"test_{name}"] for r in runs if name in _natural_sets(r)]
            if got:
                entry: dict[str, Any] = {"n_seeds": len(got)}
                for metric in NATURAL_SHIFT:
                    entry[metric], entry[f"{metric}_std"] = _mean_std(number(g.get(metric)) for g in got)
                methods.setdefault(method, {})[name] = entry
    return {"sets": sets, "methods": methods}


def add_intervals(rows: dict[str, dict[str, Any]], intervals: dict[str, dict[str, dict[str, float]]]) -> None:
    """Put each method's bootstrap intervals (`task_intervals`) into its row's `<metric>_change` (`low`,
    `high`, `detectable`, `level`), making the change from the interval where results.json lacked the figure.
    An interval over fewer seeds than the t-test (some runs without predictions.npz) is left out: the row's
    change, its p-value and its verdict then come from the same seeds (the t-test's)."""
    for method, by_metric in intervals.items():
        for metric, change in by_metric.items():
            if not change["n_seeds"] or method not in rows:
                continue
            entry = rows[method].get(f"{metric}_change")
            if not entry or not entry.get("n"):
                entry = {"delta": change["delta"], "p_value": math.nan, "n": change["n_seeds"]}
            elif entry["n"] != change["n_seeds"]:
                continue
            rows[method][f"{metric}_change"] = {**entry, "low": change["low"], "high": change["high"],
                                                "detectable": change["detectable"], "level": LEVEL}


def judge(change: dict[str, Any], better: str, alpha: float = ALPHA) -> str:
    """`helps`, `hurts` or `unclear` for one metric's change against the baseline: from its bootstrap
    interval where there is one (helps when the whole interval is on the better side of 0, hurts when it
    is on the worse side), else from the paired t-test (p < `alpha`, by the sign)."""
    sign = -1.0 if better == "lower" else 1.0
    low, high = change.get("low", math.nan), change.get("high", math.nan)
    if not (math.isnan(number(low)) or math.isnan(number(high))):
        if sign * low > 0 and sign * high > 0:
            return "helps"
        if sign * low < 0 and sign * high < 0:
            return "hurts"
        return "unclear"
    p = change.get("p_value", math.nan)
    if math.isnan(number(p)) or p >= alpha or change["delta"] == 0:
        return "unclear"
    return "helps" if sign * change["delta"] > 0 else "hurts"


def _nan_low(x: float) -> float:
    return -math.inf if math.isnan(x) else x


def _nan_high(x: float) -> float:
    return math.inf if math.isnan(x) else x
