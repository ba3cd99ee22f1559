"""The summary of a sweep's results: per task (and label-noise rate) and method, figures, changes, claims."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ..figures import FIGURE
from . import claims, views
from .intervals import LEVEL, REPORT_BOOTSTRAP, task_intervals
from .reading import _order_names, _skipped_methods, label_noise, variant, variant_label
from .statistics import (
    _mean_std,
    _nan_high,
    _nan_low,
    add_intervals,
    natural_shift_summary,
    paired_change,
    shift_summary,
)


def summarise(results: list[dict], baseline: str = "none", order: dict | None = None, plan: dict | None = None,
              test_set: str = views.DEFAULT_TEST_SET, n_bootstrap: int = REPORT_BOOTSTRAP) -> dict[str, Any]:
    """Per task (and label-noise rate, see `variant`) and method: mean/std of every figure, change against
    `baseline`, chance marks, best method; per task its test set, skipped methods, baseline calibration, shift
    summary and recommendation; and the `verdict` over all tasks. `order` (the grid: `tasks`, `methods`, as names
    or `{"name": ...}`) orders rows and tables, a task's noise rates following it, clean first; `plan` (plan.json)
    names skipped methods, test sets and modalities; `test_set` names a test set nobody named; `n_bootstrap`
    (>= 100): replicates of each bootstrap interval."""
    from textmix.calibration.smooth import check_bootstrap

    check_bootstrap(n_bootstrap, LEVEL)
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in results:
        by_cell[(variant(r), r["method"])].append(r)
    order = order or {}
    plan_tasks = (plan or {}).get("tasks") or {}
    plan_tasks = plan_tasks if isinstance(plan_tasks, dict) else {}
    tasks = list(dict.fromkeys([*_order_names(order, "tasks"), *(r["task"] for r in results)]))
    variants = [(variant_label(t, n), t, n) for t in tasks
                for n in sorted({label_noise(r) for r in results if r["task"] == t})]
    methods = list(dict.fromkeys([baseline, *_order_names(order, "methods"), *(r["method"] for r in results)]))
    of = {r["method"]: r["ensemble"]["method"] for r in results if r.get("ensemble")}  # ensembles after the methods,
    methods = sorted(methods, key=lambda m: (m in of, methods.index(of.get(m, m))))  # in their methods' order
    summary: dict[str, Any] = {"tasks": {}, "baseline": baseline, "methods": methods}
    for label, task, noise in variants:
        runs_here = [r for r in results if r["task"] == task and label_noise(r) == noise]
        runs_by_method = {m: by_cell[(label, m)] for m in methods if by_cell.get((label, m))}
        planned = plan_tasks.get(task) if isinstance(plan_tasks.get(task), dict) else {}
        summary["tasks"][label] = _task_entry(task, noise, runs_here, runs_by_method, baseline, planned, test_set,
                                              n_bootstrap)
    summary["verdict"] = claims.verdict(summary)
    return summary


def _method_row(runs: list[dict], pair: tuple[list[dict], list[dict]] | None, majority: float | None,
                token: bool) -> dict[str, Any]:
    """One method's row of a task: mean/std over seeds of every column, seeds at chance, changes of `pair` (the
    runs compared with, the method's runs paired with them by seed; None for the baseline itself or without one),
    the per-seed figures."""
    values = {r["seed"]: views.run_values(r) for r in runs}
    row: dict[str, Any] = {"n_seeds": len(runs), "seeds": sorted(values)}
    for col in views.COLUMNS:
        row[col], row[f"{col}_std"] = _mean_std([v[col] for v in values.values()])
    if token:  # answering O everywhere scores entity F1 0 at a token accuracy near the majority's
        at_chance = [s for s, v in values.items() if not v["task_metric"] > views.CHANCE_MARGIN]
    else:
        at_chance = [s for s, v in values.items()
                     if majority is not None and not v["accuracy"] > majority + views.CHANCE_MARGIN]
    row["at_chance_seeds"] = sorted(at_chance)
    if pair:
        row.update(_changes(*pair))
    row["per_seed"] = values
    return row


def _changes(base_runs: list[dict], runs: list[dict]) -> dict[str, dict[str, float]]:
    """`<figure>_change` of `runs` against `base_runs`, paired by seed, for every figure of `change_columns`."""
    base = {r["seed"]: views.run_values(r) for r in base_runs}
    own = {r["seed"]: views.run_values(r) for r in runs}
    return {f"{col}_change": paired_change({s: v[col] for s, v in base.items()}, {s: v[col] for s, v in own.items()})
            for col in claims.change_columns()}


def held_fixed(ensemble: dict, base_runs: list[dict]) -> list[dict]:
    """The one `ensemble` pseudo-run paired with each seed of `base_runs`: copies of it under their seeds (its
    change is then ensemble - base seed, averaged over the seeds; the t-test and the intervals see the base
    seeds' spread only, the ensemble held fixed)."""
    return [{**ensemble, "seed": r["seed"]} for r in base_runs]


def comparisons(runs_by_method: dict[str, list[dict]], baseline: str) -> dict[str, tuple[str, list[dict], list[dict]]]:
    """What each method of a task is compared with: {method: (name, its runs, the method's runs paired with them by
    seed)}. A method with seeds: `baseline`; the baseline's ensemble: the single baseline (`held_fixed`); another
    ensemble: the baseline's ensemble, or the single baseline (held fixed) where the baseline has none."""
    base_runs = runs_by_method.get(baseline)
    base_ensemble = next((m for m, runs in runs_by_method.items()
                          if (runs[0].get("ensemble") or {}).get("method") == baseline), None)
    out = {}
    for method, runs in runs_by_method.items():
        if method == baseline:
            continue
        if runs[0].get("ensemble") and base_ensemble and method != base_ensemble:
            out[method] = (base_ensemble, runs_by_method[base_ensemble], runs)
        elif base_runs:
            out[method] = (baseline, base_runs, held_fixed(runs[0], base_runs) if runs[0].get("ensemble") else runs)
    return out


def _best(pool: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The best method of `pool` by each figure of `BEST`, in its direction (NaN last)."""
    return {n: max(pool, key=lambda m: _nan_low(pool[m][n])) if FIGURE[n].higher_is_better
            else min(pool, key=lambda m: _nan_high(pool[m][n])) for n in views.BEST}


def _against_single(row: dict[str, Any], ensemble: dict, base_runs: list[dict], baseline: str, n_bootstrap: int,
                    cache: dict) -> dict[str, Any]:
    """An ensemble row's changes against the single `baseline` (`held_fixed`), with their intervals."""
    if row["compared_with"] == baseline:
        return {"compared_with": baseline, **{k: v for k, v in row.items() if k.endswith("_change")}}
    paired = held_fixed(ensemble, base_runs)
    single = {"compared_with": baseline, **_changes(base_runs, paired)}
    add_intervals({"_": single}, task_intervals({baseline: base_runs, "_": paired}, baseline, n_bootstrap=n_bootstrap,
                                                cache=cache))
    return single


def _task_entry(task: str, noise: float, runs_here: list[dict], runs_by_method: dict[str, list[dict]], baseline: str,
                planned: dict, test_set: str, n_bootstrap: int) -> dict[str, Any]:
    """The summary of one task at one label-noise rate (see `summarise`)."""
    majority = next((r.get("test_majority_accuracy") for r in runs_here), None)
    first = runs_here[0]
    metric, token = views.task_metric(first), first.get("problem_type") == "token"
    pairs = comparisons(runs_by_method, baseline)
    rows = {m: _method_row(runs, pairs[m][1:] if m in pairs else None, majority, token)
            for m, runs in runs_by_method.items()}
    cache: dict = {}  # each run's resampled figures, computed once
    for method, (name, against, paired) in pairs.items():
        rows[method]["compared_with"] = name
        add_intervals(rows, task_intervals({name: against, method: paired}, name, n_bootstrap=n_bootstrap, cache=cache))
        if paired[0].get("ensemble"):
            rows[method]["against_single_baseline"] = _against_single(rows[method], paired[0], runs_by_method[baseline],
                                                                      baseline, n_bootstrap, cache)
    learned = {m: r for m, r in rows.items() if not r["at_chance_seeds"]}
    named = list(dict.fromkeys(str(r["test_set"]) for r in runs_here if r.get("test_set")))
    shift = shift_summary(runs_by_method, baseline)
    if shift:  # severity 0 of the tables and plots: the clean test set
        shift["clean"] = {m: {k: rows[m][k] for col in views.SHIFT_SHOWN for k in (col, f"{col}_std")}
                          for m in shift["methods"]}
    natural = natural_shift_summary(runs_by_method)
    recommended, why_not = claims.recommend(rows)
    if recommended:
        recommended["calibrated_model"] = claims.calibrated_to_ship(runs_by_method.get(recommended["method"], []))
        chosen = rows[recommended["method"]]
        recommended["against_baseline_ts"] = claims.against_baseline_ts(
            recommended["method"], {**rows, recommended["method"]: chosen.get("against_single_baseline", chosen)}, baseline)
    flipped = [r["label_noise_flipped"] for r in runs_here if isinstance(r.get("label_noise_flipped"), int)]
    return {
        "majority_accuracy": majority, "methods": rows, "all_at_chance": not learned,
        "best": _best(learned) if learned else dict.fromkeys(views.BEST),  # no best where every method is at chance
        "metric": metric, "chance_rule": "entity_f1" if token else "majority_accuracy",
        "task": task, "label_noise": noise,
        "label_noise_flipped": int(round(float(np.mean(flipped)))) if flipped else None,
        "modality": first.get("modality") or planned.get("modality") or "text",
        "test_set": " / ".join(named) if named else planned.get("test_set") or test_set,
        "skipped_methods": _skipped_methods(planned.get("skipped_methods")),
        "baseline_calibration": claims.baseline_calibration(rows.get(baseline), runs_by_method.get(baseline, [])),
        "recommended": recommended, "recommendation_note": why_not, "baseline": baseline,
        "shift": shift, "natural_shift": natural,
        "claims": claims._claims(rows, {m: (b, o) for m, (_, b, o) in pairs.items()}, noise, shift),
    }
