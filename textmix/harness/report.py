"""`textmix report`: tables and pictures of a sweep, rebuilt from the results on disk.

Writes `report.md`, `report.csv`, `report.json` and `reliability.png` into the sweep folder:
mean +/- std over seeds per task and method, the change against the baseline with a paired t-test
over seeds, the best method per task, each task's majority-class accuracy (runs that do not beat
it clearly are marked), and a tasks x methods grid of reliability diagrams (seeds pooled).
`write_report` does the same for any list of runs' results (the image recipe's `--compare` uses it).

A run's identity is its whole configuration (`config` in results.json, less seeds, paths and
reporting options). Runs that share a task and method but differ in configuration, or repeat a
seed, are never pooled: that cell is left out of the tables and the diagrams and listed under
"Clashes" (`clashes` in report.json). A results.json that does not load is skipped with a warning
naming it and listed under "Skipped files" (`skipped`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import warnings
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

TASK_METRIC = {"cola": "matthews_correlation", "mrpc": "f1", "qqp": "f1", "stsb": "pearson"}
TOKEN_METRIC = "entity_f1"
"""The task metric of token classification runs (`problem_type` `token`, the NER recipe)."""
COLUMNS = ["task_metric", "accuracy", "ece", "ece_ts", "mce", "adaptive_ece", "brier", "nll", "train_time_s"]
LOWER_IS_BETTER = {"ece", "ece_ts", "mce", "adaptive_ece", "brier", "nll", "train_time_s"}
CHANCE_MARGIN = 0.02
"""A run 'beats the majority class clearly' when its accuracy exceeds it by more than this; a token
classification run (where always answering `O` scores an entity F1 of 0) when its entity F1 does."""


def task_metric(result: dict) -> str:
    """The name of a run's task metric: entity F1 for token classification, else the GLUE task's (or accuracy)."""
    if result.get("problem_type") == "token":
        return TOKEN_METRIC
    return TASK_METRIC.get(result["task"], "accuracy")


def run_values(result: dict) -> dict[str, float]:
    """The report's figures of one run's results.json."""
    test = result.get("test", {})
    ts = result.get("test_ts", {})
    metric = task_metric(result)
    values = {
        "task_metric": test.get(metric, math.nan),
        "accuracy": test.get("accuracy", math.nan),
        "ece": test.get("ece", math.nan),
        "ece_ts": ts.get("ece", math.nan),
        "mce": test.get("mce", math.nan),
        "adaptive_ece": test.get("adaptive_ece", math.nan),
        "brier": test.get("brier", math.nan),
        "nll": test.get("nll", math.nan),
        "train_time_s": result.get("train_time_s", math.nan),
    }
    return {k: _number(v) for k, v in values.items()}


def _number(value: Any) -> float:
    """A figure as a float (NaN for a missing or unknown one, e.g. the training time of an old resumed run)."""
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def scan(sweep_dir: str | Path) -> tuple[list[dict], list[dict[str, str]]]:
    """(every readable run's results.json under `sweep_dir/runs`, the files skipped with the reason).

    A file that is not valid JSON (a truncated write, say) or lacks `task`, `method` or `seed` is
    skipped with a warning naming it."""
    out, skipped = [], []
    for path in sorted(Path(sweep_dir).glob("runs/*/*/seed*/results.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            reason = f"not valid JSON ({err})"
        else:
            missing = [k for k in ("task", "method", "seed") if not isinstance(result, dict) or k not in result]
            reason = f"lacks {missing}" if missing else ""
        if reason:
            warnings.warn(f"{path}: {reason}; skipped (run it again, or remove the file).", stacklevel=2)
            skipped.append({"file": str(path), "reason": reason})
            continue
        result["_folder"] = str(path.parent)
        out.append(result)
    return out, skipped


def collect(sweep_dir: str | Path) -> list[dict]:
    """Every readable run's results.json under `sweep_dir/runs` (see `scan`, which also says what it skipped)."""
    return scan(sweep_dir)[0]


IDENTITY_NEUTRAL = {"seed", "output_dir", "logging_dir", "run_name", "report_to", "disable_tqdm",
                    "overwrite_output_dir", "resume_from_checkpoint", "save_total_limit", "cache_dir", "glue_dir"}
"""Configuration entries that do not make runs different experiments (seeds, paths, reporting)."""
_BASENAME_ONLY = {"model_name_or_path", "train_file", "validation_file", "test_file", "npz_path", "data_dir"}


def identity(result: dict) -> dict[str, Any]:
    """A run's configuration as flat `section.key` entries, less `IDENTITY_NEUTRAL` (paths of data and
    models reduced to their last component)."""
    flat: dict[str, Any] = {}
    for section, values in (result.get("config") or {}).items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if key in IDENTITY_NEUTRAL:
                continue
            if key in _BASENAME_ONLY and isinstance(value, str):
                value = Path(value).name
            flat[f"{section}.{key}"] = json.dumps(value, sort_keys=True, default=str)
    return flat


def find_clashes(results: list[dict]) -> tuple[list[dict], list[dict[str, Any]]]:
    """(results to report, clashes): a task and method whose runs differ in configuration (see
    `identity`) or repeat a seed is a clash, listed with its folders and the reason, and left out."""
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in results:
        by_cell[(r["task"], r["method"])].append(r)
    kept, clashes = [], []
    for (task, method), runs in by_cell.items():
        reasons = []
        seeds = defaultdict(list)
        for r in runs:
            seeds[r["seed"]].append(r)
        repeated = sorted((s for s, rs in seeds.items() if len(rs) > 1), key=str)
        if repeated:
            reasons.append("; ".join(f"seed {s} appears {len(seeds[s])} times" for s in repeated))
        ids = [identity(r) for r in runs]
        shared = set.intersection(*(set(i) for i in ids)) if ids else set()
        differing = sorted(k for k in shared if len({i[k] for i in ids}) > 1)
        if differing:
            shown = ", ".join(f"{k} ({' vs '.join(sorted({i[k] for i in ids}))})" for k in differing[:3])
            more = f" and {len(differing) - 3} more" if len(differing) > 3 else ""
            reasons.append(f"the runs differ in configuration: {shown}{more}")
        if reasons:
            clashes.append({"task": task, "method": method, "reason": "; ".join(reasons),
                            "folders": [r.get("_folder", "?") for r in runs]})
        else:
            kept.extend(runs)
    return kept, clashes


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


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


def summarise(results: list[dict], baseline: str = "none", order: dict | None = None) -> dict[str, Any]:
    """Per task and method: mean/std of every figure, change against `baseline`, chance marks, best method.

    `order` ({"tasks": [...], "methods": [...]}, e.g. the grid) fixes the order of rows and tables.
    """
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in results:
        by_cell[(r["task"], r["method"])].append(r)
    order = order or {}
    tasks = list(dict.fromkeys([*order.get("tasks", []), *(r["task"] for r in results)]))
    tasks = [t for t in tasks if any(r["task"] == t for r in results)]
    methods = list(dict.fromkeys([baseline, *order.get("methods", []), *(r["method"] for r in results)]))
    summary: dict[str, Any] = {"tasks": {}, "baseline": baseline}
    for task in tasks:
        majority = next((r.get("test_majority_accuracy") for r in results if r["task"] == task), None)
        first = next(r for r in results if r["task"] == task)
        metric, token = task_metric(first), first.get("problem_type") == "token"
        rows = {}
        for method in methods:
            runs = by_cell.get((task, method))
            if not runs:
                continue
            values = {r["seed"]: run_values(r) for r in runs}
            row: dict[str, Any] = {"n_seeds": len(runs), "seeds": sorted(values)}
            for col in COLUMNS:
                row[col], row[f"{col}_std"] = _mean_std([v[col] for v in values.values()])
            if token:  # answering O everywhere scores entity F1 0 at a token accuracy near the majority's
                at_chance = [s for s, v in values.items() if not v["task_metric"] > CHANCE_MARGIN]
            else:
                at_chance = [s for s, v in values.items()
                             if majority is not None and not v["accuracy"] > majority + CHANCE_MARGIN]
            row["at_chance_seeds"] = sorted(at_chance)
            base_runs = by_cell.get((task, baseline))
            if base_runs and method != baseline:
                base_values = {r["seed"]: run_values(r) for r in base_runs}
                for col in ("task_metric", "ece", "ece_ts", "nll"):
                    row[f"{col}_change"] = paired_change({s: v[col] for s, v in base_values.items()},
                                                         {s: v[col] for s, v in values.items()})
            row["per_seed"] = values
            rows[method] = row
        learned = {m: r for m, r in rows.items() if not r["at_chance_seeds"]}
        pool = learned or rows
        best = {
            "task_metric": max(pool, key=lambda m: _nan_low(pool[m]["task_metric"])),
            "ece": min(pool, key=lambda m: _nan_high(pool[m]["ece"])),
            "ece_ts": min(pool, key=lambda m: _nan_high(pool[m]["ece_ts"])),
        }
        summary["tasks"][task] = {"majority_accuracy": majority, "methods": rows, "best": best,
                                  "all_at_chance": not learned, "metric": metric,
                                  "chance_rule": "entity_f1" if token else "majority_accuracy"}
    return summary


def _nan_low(x: float) -> float:
    return -math.inf if math.isnan(x) else x


def _nan_high(x: float) -> float:
    return math.inf if math.isnan(x) else x


def _fmt(mean: float, std: float, digits: int = 4) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _change(change: dict | None, digits: int = 4) -> str:
    if not change or math.isnan(change["delta"]):
        return ""
    p = "" if math.isnan(change["p_value"]) else f" (p={change['p_value']:.2f})"
    return f"{change['delta']:+.{digits}f}{p}"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_markdown(summary: dict, path: Path, meta: dict) -> None:
    """report.md: per task, a table of methods (mean ± std over seeds, change against the baseline)."""
    lines = [
        "# Calibration comparison",
        "",
        f"Generated by {meta.get('source', '`textmix report`')} on {meta['date']} (textmix {meta['textmix']}, "
        f"commit {meta['commit']}).",
        f"Model: `{meta['model']}`; {meta['n_runs']} runs; baseline `{summary['baseline']}`. "
        f"Test set = {meta.get('test_set', 'GLUE dev')}.",
        "Figures: mean ± std over seeds. Change: mean paired difference against the baseline over the same "
        "seeds, with the paired t-test's p-value. ECE: 15 equal-width bins; ECE (TS): after temperature "
        f"scaling fitted on the validation split. ⚠ marks methods with seeds whose accuracy does not beat the "
        f"majority class by more than {CHANCE_MARGIN:.2f}"
        + (f" (token classification: whose entity F1 is not above {CHANCE_MARGIN:.2f}; there accuracy, ECE, "
           "Brier and NLL are over the labelled tokens, and the majority class is the most frequent tag)"
           if any(i.get("chance_rule") == "entity_f1" for i in summary["tasks"].values()) else "")
        + ": their calibration is no evidence.",
        "",
    ]
    for task, info in summary["tasks"].items():
        maj = info["majority_accuracy"]
        metric = info.get("metric") or TASK_METRIC.get(task, "accuracy")
        lines += [f"## {task}", "",
                  ("" if maj is None else f"Majority-class accuracy: {maj:.4f}." if info.get("chance_rule") !=
                   "entity_f1" else f"Majority-class accuracy (share of the most frequent tag, over labelled "
                   f"tokens): {maj:.4f}."),
                  f"Best {metric}: **{info['best']['task_metric']}**; best ECE: **{info['best']['ece']}**; "
                  f"best ECE after temperature scaling: **{info['best']['ece_ts']}**"
                  + (" (every method is at chance on this task)" if info["all_at_chance"] else "") + ".", "",
                  f"| method | {metric} | Δ {metric} |{'' if metric == 'accuracy' else ' accuracy |'} ECE | Δ ECE "
                  "| ECE (TS) | MCE | adaptive ECE | Brier | NLL | train time (s) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|" + ("" if metric == "accuracy" else "---|")]
        for method, row in info["methods"].items():
            mark = f" ⚠ {len(row['at_chance_seeds'])}/{row['n_seeds']}" if row["at_chance_seeds"] else ""
            accuracy = "" if metric == "accuracy" else f" {_fmt(row['accuracy'], row['accuracy_std'])} |"
            lines.append(
                f"| {method}{mark} | {_fmt(row['task_metric'], row['task_metric_std'])} | "
                f"{_change(row.get('task_metric_change'))} |{accuracy} "
                f"{_fmt(row['ece'], row['ece_std'])} | {_change(row.get('ece_change'))} | "
                f"{_fmt(row['ece_ts'], row['ece_ts_std'])} | {_fmt(row['mce'], row['mce_std'])} | "
                f"{_fmt(row['adaptive_ece'], row['adaptive_ece_std'])} | {_fmt(row['brier'], row['brier_std'])} | "
                f"{_fmt(row['nll'], row['nll_std'])} | {_fmt(row['train_time_s'], row['train_time_s_std'], 1)} |")
        lines.append("")
    lines += ["## Reliability diagrams", "", "Tasks (rows) x methods (columns), test predictions of all seeds "
              "pooled.", "", "![reliability diagrams](reliability.png)", ""]
    if summary.get("clashes"):
        lines += ["## Clashes", "", "Runs that claim the same task and method but differ in configuration or repeat "
                  "a seed: never pooled, left out of the tables and diagrams above. Move one set away, or re-run "
                  "them so that their method names say what differs.", ""]
        for clash in summary["clashes"]:
            lines.append(f"- {clash['task']} / {clash['method']}: {clash['reason']}; runs: "
                         + ", ".join(f"`{f}`" for f in clash["folders"]))
        lines.append("")
    if summary.get("skipped"):
        lines += ["## Skipped files", ""]
        lines += [f"- `{s['file']}`: {s['reason']}" for s in summary["skipped"]]
        lines.append("")
    if summary.get("failures"):
        lines += ["## Failed runs", ""]
        lines += [f"- {f.get('task')} / {f.get('method')} / seed {f.get('seed')}: {f.get('error')}"
                  + (f" (traceback: `{f['log']}`)" if f.get("log") else "") for f in summary["failures"]]
        lines.append("")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, path)


def write_csv(summary: dict, path: Path) -> None:
    """report.csv: one row per task and method with the summary's figures."""
    fields = ["task", "method", "n_seeds", "majority_accuracy", "at_chance_seeds"]
    for col in COLUMNS:
        fields += [col, f"{col}_std"]
    fields += ["task_metric_delta", "task_metric_p", "ece_delta", "ece_p"]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for task, info in summary["tasks"].items():
            for method, row in info["methods"].items():
                out = {"task": task, "method": method, "n_seeds": row["n_seeds"],
                       "majority_accuracy": info["majority_accuracy"],
                       "at_chance_seeds": " ".join(map(str, row["at_chance_seeds"]))}
                for col in COLUMNS:
                    out[col], out[f"{col}_std"] = row[col], row[f"{col}_std"]
                for col in ("task_metric", "ece"):
                    change = row.get(f"{col}_change") or {}
                    out[f"{col}_delta"], out[f"{col}_p"] = change.get("delta"), change.get("p_value")
                writer.writerow(out)
    os.replace(tmp, path)


def write_reliability(results: list[dict], path: Path, summary: dict | None = None) -> None:
    """Tasks (rows) x methods (columns) of reliability diagrams, in the summary's order, seeds pooled
    (token classification runs: their labelled tokens)."""
    from textmix.calibration import labelled_tokens, reliability_grid

    pooled: dict[tuple[str, str], tuple[list, list]] = {}
    for r in results:
        kind = r.get("problem_type", "regression" if r.get("regression") else "classification")
        if kind not in ("classification", "token"):
            continue
        if not r.get("_folder"):
            continue
        npz = Path(r["_folder"]) / "predictions.npz"
        if not npz.exists():
            continue
        with np.load(npz, allow_pickle=False) as arrays:
            logits, labels = arrays["test_logits"], arrays["test_labels"]
        if kind == "token":
            logits, labels = labelled_tokens(logits, labels)
        cell = pooled.setdefault((r["task"], r["method"]), ([], []))
        cell[0].append(logits)
        cell[1].append(labels)
    if pooled:
        tasks = list((summary or {}).get("tasks", {}))
        methods = list(dict.fromkeys(m for info in (summary or {}).get("tasks", {}).values() for m in info["methods"]))

        def rank(key: tuple[str, str]) -> tuple[int, int]:
            task, method = key
            return (tasks.index(task) if task in tasks else len(tasks),
                    methods.index(method) if method in methods else len(methods))

        grid = {k: (np.concatenate(pooled[k][0]), np.concatenate(pooled[k][1])) for k in sorted(pooled, key=rank)}
        reliability_grid(grid, str(path), title="Reliability (test, seeds pooled): tasks x methods")


def build_report(sweep_dir: str | Path, baseline: str = "none") -> dict:
    """Rebuild report.md/.csv/.json and reliability.png of a sweep from its results on disk (see `scan`)."""
    sweep_dir = Path(sweep_dir)
    results, skipped = scan(sweep_dir)
    if not results:
        if skipped:
            raise FileNotFoundError(f"no readable results under {sweep_dir}/runs: {len(skipped)} results.json "
                                    f"file(s) are damaged ({skipped[0]['file']}: {skipped[0]['reason']}); run "
                                    "`textmix compare` again to redo them.")
        raise FileNotFoundError(f"no results under {sweep_dir}/runs: run `textmix compare` first.")
    grid_path = sweep_dir / "grid.json"
    order = json.loads(grid_path.read_text()) if grid_path.exists() else None
    failures_path = sweep_dir / "failures.json"
    failures = json.loads(failures_path.read_text()) if failures_path.exists() else []
    return write_report(results, sweep_dir, baseline=baseline, order=order, failures=failures, skipped=skipped)


def write_report(
    results: list[dict],
    out_dir: str | Path,
    baseline: str = "none",
    order: dict | None = None,
    failures: list[dict] | None = None,
    source: str = "`textmix report`",
    test_set: str = "GLUE dev",
    skipped: list[dict[str, str]] | None = None,
) -> dict:
    """Write report.md/.csv/.json and reliability.png into `out_dir` from runs' results.json dicts.

    Each result needs `task`, `method` and `seed`, and `_folder` (the run's folder, where its
    predictions.npz is) for the reliability diagrams. Cells whose runs clash (`find_clashes`) are left
    out and listed. `order`: see `summarise`; `failures`: runs that failed and `skipped`: result files
    that did not load, both listed; `source` and `test_set` name the command and the test data in
    report.md. Returns the summary (as in report.json, with `clashes`, `skipped` and `failures`).
    """
    import textmix

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    first = results[0] if results else {}
    results, clashes = find_clashes(results)
    summary = summarise(results, baseline=baseline, order=order)
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "textmix": textmix.__version__,
            "commit": _git_commit(), "model": first.get("model"), "n_runs": len(results),
            "versions": first.get("versions"), "source": source, "test_set": test_set}
    summary["meta"], summary["failures"] = meta, failures or []
    summary["clashes"], summary["skipped"] = clashes, list(skipped or [])
    write_markdown(summary, out_dir / "report.md", meta)
    write_csv(summary, out_dir / "report.csv")
    write_reliability(results, out_dir / "reliability.png", summary)
    tmp = out_dir / "report.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, out_dir / "report.json")
    return summary
