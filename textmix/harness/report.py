"""`textmix report`: tables and pictures of a sweep, rebuilt from the results on disk.

Writes `report.md`, `report.csv`, `report.json` and `reliability.png` into the sweep folder:
mean +/- std over seeds per task and method, the change against the baseline with a paired t-test
over seeds, the best method per task, each task's majority-class accuracy (runs that do not beat
it clearly are marked), and a tasks x methods grid of reliability diagrams (seeds pooled).
`write_report` does the same for any list of runs' results (the image recipe's `--compare` uses it).

A task trained with label noise (`label_noise` > 0 in results.json; runs under
`runs/<task>/<method>/noise<rate>/seed<k>/`) is a task of its own, `"<task> · label noise <rate>"`
(`variant_label`): its own table, its own comparisons with the baseline trained at the same rate.
Each task says what its test set is (`test_set`), which methods the sweep's `plan.json` skipped on
it and why, in which direction its baseline is miscalibrated (`calibration_direction`), how the
methods fare on corrupted copies of the test set (`shift`: a table and `shift_<task>.png`) and,
when it was trained at several noise rates, `label_noise_<task>.png`. A verdict table
(`verdict`) says, per claim and task, which methods help or hurt significantly, and each task
recommends the method with the lowest validation NLL after temperature scaling (`recommend`:
chosen on validation, reported with its test figures).

A run's identity is its whole configuration (`config` in results.json, less seeds, paths and
reporting options). Runs that share a task (and noise rate) and method but differ in configuration,
or repeat a seed, are never pooled: that cell is left out of the tables and the diagrams and listed
under "Clashes" (`clashes` in report.json). A results.json that does not load, or has an entry of the
wrong type, is skipped with a warning naming it and listed under "Skipped files" (`skipped`), as is a
damaged grid.json, failures.json or plan.json. A run with a missing or non-finite figure
(`incomplete_reason`) is never averaged: it is listed under "Incomplete runs" (`incomplete`), left out
of the means, and its row says how many seeds remain (`incomplete_seeds`).
"""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .checks import InputError, did_you_mean
from .intervals import LEVEL, REPORT_BOOTSTRAP, task_intervals
from .recipes.common import write_atomic, write_json_atomic

TASK_METRIC = {"cola": "matthews_correlation", "mrpc": "f1", "qqp": "f1", "stsb": "pearson"}
TOKEN_METRIC = "entity_f1"
"""The task metric of token classification runs (`problem_type` `token`, the NER recipe)."""


@dataclass(frozen=True)
class Column:
    """One figure of a run in the report: where it is read in results.json (`split`: a results entry such as
    `test` or `test_ts`, or None for a top-level entry; `key` in it), whether higher is better (True, False,
    or None for figures that are neither: they describe a direction) and its range (`bounds`; None: open)."""

    name: str
    split: str | None
    key: str
    higher_is_better: bool | None
    bounds: tuple[float, float | None] | None = None
    label: str = ""


REPORT_COLUMNS: tuple[Column, ...] = (
    Column("task_metric", "test", "", True, label="task metric"),
    Column("accuracy", "test", "accuracy", True, (0.0, 1.0), "accuracy"),
    Column("ece", "test", "ece", False, (0.0, 1.0), "ECE"),
    Column("ece_ts", "test_ts", "ece", False, (0.0, 1.0), "ECE after temperature scaling"),
    Column("smece", "test", "smece", False, (0.0, 1.0), "smooth ECE"),
    Column("smece_ts", "test_ts", "smece", False, (0.0, 1.0), "smooth ECE after temperature scaling"),
    Column("ece_sweep", "test", "ece_sweep", False, (0.0, 1.0), "monotone-sweep ECE"),
    Column("mce", "test", "mce", False, (0.0, 1.0), "MCE"),
    Column("adaptive_ece", "test", "adaptive_ece", False, (0.0, 1.0), "adaptive ECE"),
    Column("brier", "test", "brier", False, (0.0, 2.0), "Brier score"),
    Column("brier_ts", "test_ts", "brier", False, (0.0, 2.0), "Brier score after temperature scaling"),
    Column("nll", "test", "nll", False, (0.0, None), "NLL"),
    Column("nll_ts", "test_ts", "nll", False, (0.0, None), "NLL after temperature scaling"),
    Column("aurc", "test", "aurc", False, (0.0, 1.0), "AURC"),
    Column("accuracy_at_coverage_80", "test", "accuracy_at_coverage_80", True, (0.0, 1.0),
           "accuracy at 80 % coverage"),
    Column("mean_confidence", "test", "mean_confidence", None, (0.0, 1.0), "mean confidence"),
    Column("temperature", None, "temperature", None, (0.0, None), "temperature"),
    Column("validation_nll_ts", "validation_ts", "nll", False, (0.0, None),
           "validation NLL after temperature scaling"),
    Column("train_time_s", None, "train_time_s", False, (0.0, None), "training time (s)"),
)
"""The figures of a run the report reads, averages over seeds and writes to report.csv: one declaration
each, from which `COLUMNS`, `LOWER_IS_BETTER` and `run_values` follow."""
COLUMN = {c.name: c for c in REPORT_COLUMNS}
COLUMNS = [c.name for c in REPORT_COLUMNS]
"""The figures of a run (`run_values`) that the report averages over seeds and writes to report.csv."""
LOWER_IS_BETTER = {c.name for c in REPORT_COLUMNS if c.higher_is_better is False}
"""Columns where lower is better; of the others, `temperature` and `mean_confidence` are neither (they
describe the direction of miscalibration), the rest are higher-is-better."""
CHANCE_MARGIN = 0.02
"""A run 'beats the majority class clearly' when its accuracy exceeds it by more than this; a token
classification run (where always answering `O` scores an entity F1 of 0) when its entity F1 does."""
ALPHA = 0.05
"""Significance level of the verdict: a change against the baseline counts when the paired t-test over
seeds gives p < ALPHA (with few seeds the test has little power)."""
OVERCONFIDENT_T = 1.05
"""A fitted temperature above this: the model was over-confident (temperature scaling softened it)."""
UNDERCONFIDENT_T = 0.95
"""A fitted temperature below this: the model was under-confident (temperature scaling sharpened it).
Between the two the baseline is 'close to calibrated'."""
OCCLUSION_KINDS = ("occlusion", "mask")
"""Shift kinds that hide part of the input (image patches; masked words are occluded text): the
'occlusion robustness' claim. Every other kind counts towards 'corruption robustness'."""
SHIFT_KINDS = ("typo", "deletion", "swap", "mask", "gaussian_noise", "blur", "contrast", "occlusion")
"""Known shift kinds, in the order of the tables and plots (others follow, sorted)."""


@dataclass(frozen=True)
class Claim:
    """One claim made for mixing, judged per task against the baseline: on `metrics` (report columns, or
    `shifted accuracy`), `better` lower or higher; a method helps (hurts) only where every metric says so.
    `evidence` says where the per-method changes come from (`CLAIM_EVIDENCE`); `stand_in`: a column used
    for a metric that older results lack; `text`: what the claim measures, for report.md."""

    name: str
    metrics: tuple[str, ...]
    better: str
    evidence: str
    text: str
    stand_in: tuple[tuple[str, str], ...] = ()


CLAIM_TABLE: tuple[Claim, ...] = (
    Claim("calibration", ("smece", "nll", "brier"), "lower", "columns",
          "smooth ECE, NLL and Brier score on the clean test set (lower is better; helps or hurts only where all "
          "three agree: NLL and Brier are proper scores, rewarding calibration and sharpness together)",
          stand_in=(("smece", "ece"),)),
    Claim("calibration after temperature scaling", ("smece_ts", "nll_ts"), "lower", "columns",
          "does mixing + temperature scaling beat the baseline + temperature scaling: smooth ECE and NLL after "
          "scaling with the temperature fitted on validation (helps or hurts only where both agree)",
          stand_in=(("smece_ts", "ece_ts"),)),
    Claim("corruption robustness", ("shifted accuracy",), "higher", "shift",
          "test accuracy on corrupted copies of the test set, averaged per seed over every shift kind but "
          f"{' and '.join(OCCLUSION_KINDS)} and over their severities"),
    Claim("occlusion robustness", ("shifted accuracy",), "higher", "occlusion",
          "test accuracy averaged per seed over the kinds `occlusion` (images) and `mask` (text: masked words are "
          "occluded text) and their severities"),
    Claim("label-noise tolerance", ("accuracy",), "higher", "noisy",
          "test accuracy of runs trained with that share of training labels flipped, against the baseline trained at "
          "the same rate"),
)
"""The claims of the verdict table, in its order: one declaration each."""
CLAIMS = tuple(c.name for c in CLAIM_TABLE)
"""The claims of the verdict table, in its order."""
DEFAULT_TEST_SET = "GLUE dev"
"""What a task's test set is called when neither its results nor the caller say."""


def task_metric(result: dict) -> str:
    """The name of a run's task metric: entity F1 for token classification; for a GLUE task (the recipe's
    `task_name`, whatever the grid calls the task) GLUE's metric; Pearson for other regression tasks;
    else accuracy. Results without their configuration fall back to the task's name. A run's own
    `task_metric` (the NER recipe's, for tags that are not entities: accuracy) wins."""
    own = result.get("task_metric")
    if isinstance(own, str) and own:
        return own
    if result.get("problem_type") == "token":
        return TOKEN_METRIC
    data = (result.get("config") or {}).get("data") or {}
    glue = data.get("task_name") if "task_name" in data else result.get("task")
    if glue in TASK_METRIC:
        return TASK_METRIC[glue]
    return "pearson" if result.get("problem_type") == "regression" or result.get("regression") else "accuracy"


def run_values(result: dict) -> dict[str, float]:
    """The report's figures of one run's results.json (the keys of `COLUMNS`)."""
    values = {}
    for column in REPORT_COLUMNS:
        where = result if column.split is None else (result.get(column.split) or {})
        key = task_metric(result) if column.name == "task_metric" else column.key
        values[column.name] = where.get(key, math.nan) if isinstance(where, dict) else math.nan
    return {k: _number(v) for k, v in values.items()}


REQUIRED = {"classification": ("task_metric", "accuracy", "ece"), "token": ("task_metric", "accuracy", "ece"),
            "multi_label": ("task_metric", "ece"), "regression": ("task_metric",)}
"""The figures a run of each problem type must have to count in the means; without one it is incomplete."""
FIGURE_SOURCES = {"ece_ts": ("test_ts", "ece"), "validation_nll_ts": ("validation_ts", "nll"),
                  "temperature": (None, "temperature"), "train_time_s": (None, "train_time_s")}
"""Where `run_values` reads a column in results.json ((section or None for the top level, key)); the
others are `test.<column>` (`task_metric`: the task's metric)."""
MAPPINGS = ("test", "test_ts", "validation", "validation_ts", "config", "shift")
"""Entries of results.json that must be mappings when present (else the file is skipped, naming the entry)."""


def _source(result: dict, column: str) -> tuple[str, Any]:
    """(`section.key` of a column in results.json, its raw value or None)."""
    section, key = FIGURE_SOURCES.get(column, ("test", column))
    if column == "task_metric":
        key = task_metric(result)
    holder = result if section is None else (result.get(section) or {})
    return (key if section is None else f"{section}.{key}"), holder.get(key)


def incomplete_reason(result: dict) -> str | None:
    """Why a run cannot count in the means, or None: a figure its problem type needs (`REQUIRED`) is missing,
    or a figure the report averages (`COLUMNS`) is not a number or not finite (NaN, inf)."""
    kind = result.get("problem_type") or ("regression" if result.get("regression") else "classification")
    required = REQUIRED.get(kind, REQUIRED["classification"])
    found = []
    for column in COLUMNS:
        where, value = _source(result, column)
        if value is None:
            if column in required:
                found.append(f"{where} is missing")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            found.append(f"{where} is {value!r} (a {type(value).__name__}, not a number)")
        elif not math.isfinite(value):
            found.append(f"{where} is {value}")
    return "; ".join(dict.fromkeys(found)) or None  # the task metric may be accuracy itself


def split_incomplete(results: list[dict]) -> tuple[list[dict], list[dict[str, Any]]]:
    """(runs with every figure, incomplete runs as {task, method, seed, label_noise, folder, reason}): an
    incomplete run is listed, never averaged (see `incomplete_reason`)."""
    complete, incomplete = [], []
    for r in results:
        reason = incomplete_reason(r)
        if reason is None:
            complete.append(r)
        else:
            incomplete.append({"task": variant(r), "method": r["method"], "seed": r["seed"],
                               "folder": r.get("_folder", "?"), "reason": reason})
    return complete, incomplete


def _number(value: Any) -> float:
    """A figure as a float (NaN for a missing or unknown one, e.g. the training time of an old resumed run)."""
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def label_noise(result: dict) -> float:
    """The rate at which a run's training labels were flipped: `label_noise` in results.json, else (an
    older file) the `noise<rate>` folder the run lives in, else 0 (clean)."""
    value = _number(result.get("label_noise"))
    if math.isnan(value) and result.get("_folder"):
        parent = Path(result["_folder"]).parent.name
        if parent.startswith("noise"):
            value = _number(parent[len("noise"):])
    return 0.0 if math.isnan(value) else value


def variant_label(task: str, noise: float) -> str:
    """The report's name of a task trained at label-noise rate `noise`: the task itself when clean, else
    `"<task> · label noise <rate>"`."""
    return task if not noise else f"{task} · label noise {noise:g}"


def variant(result: dict) -> str:
    """The report's name of a run's task (see `variant_label`)."""
    return variant_label(result["task"], label_noise(result))


def plot_name(kind: str, task: str, noise: float = 0.0) -> str:
    """File name of a task's picture, e.g. `shift_sst2.png`, `shift_sst2_noise0.2.png`, `label_noise_sst2.png`."""
    stem = task if not noise else f"{task}_noise{noise:g}"
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', stem)}.png"


def calibration_direction(temperature: float) -> str:
    """`over-confident` (temperature > OVERCONFIDENT_T), `under-confident` (< UNDERCONFIDENT_T), `close to
    calibrated` in between, `unknown` without a temperature."""
    if temperature is None or math.isnan(temperature):
        return "unknown"
    if temperature > OVERCONFIDENT_T:
        return "over-confident"
    if temperature < UNDERCONFIDENT_T:
        return "under-confident"
    return "close to calibrated"


RUN_PATTERNS = ("runs/*/*/seed*/results.json", "runs/*/*/noise*/seed*/results.json")
"""Where a sweep's results are: clean runs, and runs trained with label noise (`noise<rate>`)."""


def scan(sweep_dir: str | Path) -> tuple[list[dict], list[dict[str, str]]]:
    """(every readable run's results.json under `sweep_dir/runs`, the files skipped with the reason).

    Runs are at `runs/<task>/<method>/seed<k>/` or, trained with label noise, at
    `runs/<task>/<method>/noise<rate>/seed<k>/`. A file that is not valid JSON (a truncated write,
    say), cannot be read, or lacks `task`, `method` or `seed` or has an entry of the wrong type
    (`_schema_problem`) is skipped with a warning naming it."""
    out, skipped = [], []
    paths = sorted({p for pattern in RUN_PATTERNS for p in Path(sweep_dir).glob(pattern)})
    for path in paths:
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            reason = f"not valid JSON ({err})"
        except OSError as err:
            reason = f"cannot be read ({err.strerror or err})"
        else:
            reason = _schema_problem(result)
        if reason:
            warnings.warn(f"{path}: {reason}; skipped (run it again, or remove the file).", stacklevel=2)
            skipped.append({"file": str(path), "reason": reason})
            continue
        result["_folder"] = str(path.parent)
        out.append(result)
    return out, skipped


def _schema_problem(result: Any) -> str:
    """What makes a loaded results.json unusable ('' when nothing): not a mapping, `task`, `method` or `seed`
    missing or of the wrong type, an entry of `MAPPINGS` that is not a mapping, a `label_noise` not a number."""
    if not isinstance(result, dict):
        return f"holds a {type(result).__name__}, not a mapping"
    missing = [k for k in ("task", "method", "seed") if k not in result]
    if missing:
        return f"lacks {missing}"
    wrong = [f"`{k}` is {result[k]!r} (a {type(result[k]).__name__}, not {want})"
             for k, ok, want in (("task", isinstance(result["task"], str), "a string"),
                                 ("method", isinstance(result["method"], str), "a string"),
                                 ("seed", isinstance(result["seed"], int) and not isinstance(result["seed"], bool),
                                  "a whole number"))
             if not ok]
    wrong += [f"`{k}` is a {type(result[k]).__name__}, not a mapping" for k in MAPPINGS
              if result.get(k) is not None and not isinstance(result[k], dict)]
    noise = result.get("label_noise")
    if noise is not None and (isinstance(noise, bool) or not isinstance(noise, (int, float))):
        wrong.append(f"`label_noise` is {noise!r} (a {type(noise).__name__}, not a number)")
    return "; ".join(wrong)


def collect(sweep_dir: str | Path) -> list[dict]:
    """Every readable run's results.json under `sweep_dir/runs` (see `scan`, which also says what it skipped)."""
    return scan(sweep_dir)[0]


IDENTITY_NEUTRAL = {"seed", "output_dir", "logging_dir", "run_name", "report_to", "disable_tqdm",
                    "overwrite_output_dir", "resume_from_checkpoint", "save_total_limit", "cache_dir", "glue_dir",
                    "save_calibrated"}
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
    """(results to report, clashes): a task (at one label-noise rate, see `variant`) and method whose runs
    differ in configuration (see `identity`) or repeat a seed is a clash, listed with its folders and
    the reason, and left out. Runs at different noise rates are different cells, never a clash."""
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in results:
        by_cell[(variant(r), r["method"])].append(r)
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


def _mean_std(values: Iterable[float]) -> tuple[float, float]:
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


SHIFT_METRICS = ("accuracy", "ece", "nll", "brier", "aurc", "mean_confidence", "ece_ts", "nll_ts")
"""The figures of a shifted test set that the shift summary averages over seeds."""


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
    value = _number(severity)
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
        values = [_number(cells[c].get(metric)) for c in common if c in cells]
        values = [v for v in values if not math.isnan(v)]
        return float(np.mean(values)) if values else math.nan

    return {r["seed"]: mean(r) for r in base_runs}, {r["seed"]: mean(r) for r in runs}


def shift_summary(runs_by_method: dict[str, list[dict]], baseline: str = "none") -> dict[str, Any] | None:
    """How one task's methods fare on corrupted copies of its test set (`shift` in results.json), or None
    when no run has any.

    Returns `kinds` (in `SHIFT_KINDS` order), `severities` ({kind: [severity, ...]}, as strings),
    `methods` ({method: {kind: {severity: {figure: mean, figure_std: std, n_seeds}}}} for the figures of
    `SHIFT_METRICS`, over seeds) and `change` ({method: {kind: {"accuracy" | "ece": paired_change}}}: the
    figure averaged over the kind's severities per seed, against `baseline` over the same seeds)."""
    cells = {c for runs in runs_by_method.values() for r in runs for c in _shift_cells(r)}
    if not cells:
        return None
    kinds = _kind_order(k for k, _ in cells)
    severities = {k: sorted({s for kk, s in cells if kk == k}, key=_severity_key) for k in kinds}
    methods: dict[str, Any] = {}
    for method, runs in runs_by_method.items():
        per_kind: dict[str, Any] = {}
        for kind in kinds:
            for severity in severities[kind]:
                got = [c[(kind, severity)] for c in (_shift_cells(r) for r in runs) if (kind, severity) in c]
                if not got:
                    continue
                entry: dict[str, Any] = {"n_seeds": len(got)}
                for metric in SHIFT_METRICS:
                    entry[metric], entry[f"{metric}_std"] = _mean_std(_number(g.get(metric)) for g in got)
                per_kind.setdefault(kind, {})[severity] = entry
        if per_kind:
            methods[method] = per_kind
    change: dict[str, Any] = {}
    base_runs = runs_by_method.get(baseline)
    for method, runs in runs_by_method.items():
        if not base_runs or method == baseline:
            continue
        for kind in kinds:
            entry = {}
            for metric in ("accuracy", "ece"):
                diff = paired_change(*shift_means(base_runs, runs, (kind,), metric))
                if diff["n"]:
                    entry[metric] = diff
            if entry:
                change.setdefault(method, {})[kind] = entry
    return {"kinds": kinds, "severities": severities, "methods": methods, "change": change}


def temperature_at_bound(temperature: float) -> bool:
    """Whether a (mean) fitted temperature sits at an end of `fit_temperature`'s search range (within 1 %):
    the search stopped there, so the value is a bound, not a fitted optimum."""
    from textmix.calibration.temperature import MAX_TEMPERATURE, MIN_TEMPERATURE

    if temperature is None or math.isnan(temperature):
        return False
    return temperature >= MAX_TEMPERATURE * 0.99 or temperature <= MIN_TEMPERATURE * 1.01


def baseline_calibration(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The baseline's miscalibration of a task: mean temperature, mean confidence and accuracy over seeds
    and the `calibration_direction`; None without a baseline row or any of those figures. A baseline with
    seeds at chance gets no direction (`not judged: at chance`: its confidence says nothing about a model
    that learned), nor does a temperature at the search bound (`at_bound`)."""
    if not row or all(math.isnan(row.get(k, math.nan)) for k in ("temperature", "mean_confidence")):
        return None
    at_bound = temperature_at_bound(row["temperature"])
    if row.get("at_chance_seeds"):
        direction = "not judged: at chance"
    elif at_bound:
        direction = "not judged: temperature at the search bound"
    else:
        direction = calibration_direction(row["temperature"])
    return {"temperature": row["temperature"], "mean_confidence": row["mean_confidence"],
            "accuracy": row["accuracy"], "direction": direction, "at_bound": at_bound}


def temperature_text(calibration: dict[str, Any], missing: str = "not recorded") -> str:
    """The temperature as report.md shows it: 2 decimals, `missing`, or marked as the search bound."""
    temperature = calibration["temperature"]
    if math.isnan(temperature):
        return missing
    return f"{temperature:.2f}" + (" (the search bound, not a fit)" if calibration.get("at_bound") else "")


RECOMMENDED_TEST = ("task_metric", "accuracy", "ece", "ece_ts", "nll", "aurc")
"""The test figures reported beside a recommendation (means over seeds)."""


def recommend(rows: dict[str, dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """(recommendation, why none): the method of a task's `rows` (as in `summarise`) with the lowest mean
    validation NLL after temperature scaling, with its test figures. Chosen on validation, never on the
    test set; methods with seeds at chance are not eligible."""
    measured = {m: r for m, r in rows.items() if not math.isnan(r.get("validation_nll_ts", math.nan))}
    if not measured:
        return None, "no run records the validation NLL after temperature scaling (`validation_ts`)"
    eligible = {m: r for m, r in measured.items() if not r["at_chance_seeds"]}
    if not eligible:
        return None, "every method with a validation NLL after temperature scaling has seeds at chance"
    best = min(eligible, key=lambda m: eligible[m]["validation_nll_ts"])
    row = eligible[best]
    test = {k: row[k] for k in RECOMMENDED_TEST}
    test.update({f"{k}_std": row[f"{k}_std"] for k in RECOMMENDED_TEST})
    return {"method": best, "validation_nll_ts": row["validation_nll_ts"],
            "validation_nll_ts_std": row["validation_nll_ts_std"], "n_seeds": row["n_seeds"],
            "chosen_on": "validation NLL after temperature scaling", "test": test}, ""


CHANGE_COLUMNS = ("task_metric", "accuracy", "ece", "ece_ts", "smece", "smece_ts", "brier", "brier_ts", "nll",
                  "nll_ts", "aurc")
"""Columns whose change against the baseline each row carries (`<column>_change`: paired t-test over seeds,
and a bootstrap interval for those of `textmix.harness.intervals.EXAMPLE_METRICS`)."""
RECOMMENDED_VS_TS = ("nll_ts", "smece_ts")
"""The test figures after temperature scaling shown when the recommended method is held against the baseline
+ temperature scaling; the first (NLL, the proper score the recommendation is chosen on) decides."""


def add_intervals(rows: dict[str, dict[str, Any]], intervals: dict[str, dict[str, dict[str, float]]]) -> None:
    """Put each method's bootstrap intervals (`task_intervals`) into its row's `<metric>_change` (`low`,
    `high`, `detectable`, `level`), making the change from the interval where results.json lacked the figure."""
    for method, by_metric in intervals.items():
        for metric, change in by_metric.items():
            if not change["n_seeds"] or method not in rows:
                continue
            entry = rows[method].get(f"{metric}_change")
            if not entry or not entry.get("n"):
                entry = {"delta": change["delta"], "p_value": math.nan, "n": change["n_seeds"]}
            rows[method][f"{metric}_change"] = {**entry, "low": change["low"], "high": change["high"],
                                                "detectable": change["detectable"], "level": LEVEL}


def against_baseline_ts(method: str, rows: dict[str, dict[str, Any]], baseline: str) -> dict[str, Any]:
    """Did `method` (the recommendation) beat `baseline` + temperature scaling on the test set: `verdict`
    (`beat`, `lost` or `unclear`: from the interval of the NLL after scaling, else its t-test) and the
    `changes` of `RECOMMENDED_VS_TS`."""
    if method == baseline:
        return {"verdict": "is the baseline", "changes": {}}
    changes = {m: c for m in RECOMMENDED_VS_TS if (c := rows.get(method, {}).get(f"{m}_change")) and c.get("n")}
    if not changes:
        return {"verdict": "unknown", "changes": {}}
    decisive = changes.get(RECOMMENDED_VS_TS[0])
    judged = "unclear" if decisive is None else judge(decisive, "lower")
    verdict = {"helps": "beat", "hurts": "lost"}.get(judged, "unclear")
    return {"verdict": verdict, "changes": changes}


def calibrated_to_ship(runs: list[dict]) -> str | None:
    """The `calibrated/` folder (written with `--save_calibrated` / a grid's `save_calibrated: true`) of the
    recommended method's seed with the lowest validation NLL after temperature scaling, or None."""
    written = [r for r in runs if r.get("calibrated") and r.get("_folder")
               and (Path(r["_folder"]) / str(r["calibrated"])).is_dir()]
    if not written:
        return None
    best = min(written, key=lambda r: _nan_high(_number((r.get("validation_ts") or {}).get("nll"))))
    return str(Path(best["_folder"]) / str(best["calibrated"]))


def _column_changes(claim: Claim, rows: dict[str, dict], others: list[str]) -> dict[str, dict]:
    """{method: {metric: change}} from the summary rows' `<metric>_change` (t-test and, where the runs'
    predictions allow, the bootstrap interval), a metric older results lack replaced by its stand-in."""
    stand_in = dict(claim.stand_in)
    out = {}
    for m in others:
        changes = {}
        for metric in claim.metrics:
            change = rows[m].get(f"{metric}_change")
            if (not change or not change["n"]) and metric in stand_in:
                metric, change = stand_in[metric], rows[m].get(f"{stand_in[metric]}_change")
            if change and change["n"]:
                changes[metric] = change
        if changes:
            out[m] = changes
    return out


CLAIM_EVIDENCE: dict[str, Callable[..., Any]] = {
    "columns": lambda claim, rows, runs, base, others, kinds, noise: _column_changes(claim, rows, others),
    "shift": lambda claim, rows, runs, base, others, kinds, noise: (
        {m: {"shifted accuracy": paired_change(*shift_means(runs[base], runs[m], chosen))} for m in others}
        if (chosen := [k for k in kinds if k not in OCCLUSION_KINDS]) else {}),
    "occlusion": lambda claim, rows, runs, base, others, kinds, noise: (
        {m: {"shifted accuracy": paired_change(*shift_means(runs[base], runs[m], chosen))} for m in others}
        if (chosen := [k for k in kinds if k in OCCLUSION_KINDS]) else {}),
    "noisy": lambda claim, rows, runs, base, others, kinds, noise: (
        {m: {"accuracy": rows[m].get("accuracy_change")} for m in others} if noise > 0 else {}),
}
"""Where each kind of claim (`Claim.evidence`) gets its changes against the baseline: {method: {metric: change}}."""


def _claims(rows: dict[str, dict], runs_by_method: dict[str, list[dict]], baseline: str, noise: float,
            shift: dict | None) -> dict[str, Any]:
    """The changes against the baseline behind each claim of `CLAIM_TABLE` on one task (claims without data left out)."""
    if baseline not in rows:
        return {}
    others = [m for m in rows if m != baseline]
    kinds = (shift or {}).get("kinds", [])
    claims: dict[str, Any] = {}
    for claim in CLAIM_TABLE:
        found = CLAIM_EVIDENCE[claim.evidence](claim, rows, runs_by_method, baseline, others, kinds, noise)
        changes = {m: {k: c for k, c in by.items() if c and c["n"]} for m, by in found.items()}
        changes = {m: by for m, by in changes.items() if by}
        if changes:
            extra = {"kinds": [k for k in kinds if (k in OCCLUSION_KINDS) == (claim.evidence == "occlusion")]} \
                if claim.evidence in ("shift", "occlusion") else {}
            claims[claim.name] = {"metric": ", ".join(claim.metrics), "better": claim.better, **extra,
                                  "changes": changes}
    return claims


def judge(change: dict[str, Any], better: str, alpha: float = ALPHA) -> str:
    """`helps`, `hurts` or `unclear` for one metric's change against the baseline: from its bootstrap
    interval where there is one (helps when the whole interval is on the better side of 0, hurts when it
    is on the worse side), else from the paired t-test (p < `alpha`, by the sign)."""
    sign = -1.0 if better == "lower" else 1.0
    low, high = change.get("low", math.nan), change.get("high", math.nan)
    if not (math.isnan(_number(low)) or math.isnan(_number(high))):
        if sign * low > 0 and sign * high > 0:
            return "helps"
        if sign * low < 0 and sign * high < 0:
            return "hurts"
        return "unclear"
    p = change.get("p_value", math.nan)
    if math.isnan(_number(p)) or p >= alpha or change["delta"] == 0:
        return "unclear"
    return "helps" if sign * change["delta"] > 0 else "hurts"


def verdict(summary: dict[str, Any], alpha: float = ALPHA) -> dict[str, Any]:
    """Does mixing do what it is said to do? For each claim of `CLAIMS` and task with data (`claims` of the
    summary's tasks), the methods that help (p < `alpha`, the right sign), hurt (p < `alpha`, the wrong
    sign), are at chance (seeds that do not beat the majority class: no evidence either way) or show no
    significant change. Calibration rows carry the baseline's `baseline_calibration`."""
    rows = []
    for claim in CLAIMS:
        for label, info in summary["tasks"].items():
            data = (info.get("claims") or {}).get(claim)
            if not data:
                continue
            base = info["methods"].get(summary["baseline"], {})
            row: dict[str, Any] = {"claim": claim, "task": label, "base_task": info.get("task", label),
                                   "label_noise": info.get("label_noise", 0.0), "metric": data["metric"],
                                   "better": data["better"], "helps": [], "hurts": [], "no_change": [],
                                   "at_chance": [], "baseline_at_chance": bool(base.get("at_chance_seeds"))}
            if "kinds" in data:
                row["kinds"] = data["kinds"]
            for method, by_metric in data["changes"].items():
                first = next(iter(by_metric.values()))
                judged = {k: judge(c, data["better"], alpha) for k, c in by_metric.items()}
                entry = {"method": method, "delta": first["delta"], "p_value": first["p_value"], "n": first["n"],
                         "metrics": {k: {**c, "judged": judged[k]} for k, c in by_metric.items()},
                         "evidence": "bootstrap interval" if all("low" in c for c in by_metric.values())
                         else "paired t-test"}
                at_chance = info["methods"].get(method, {}).get("at_chance_seeds")
                verdicts = set(judged.values())
                if at_chance:
                    entry["at_chance_seeds"] = at_chance
                    row["at_chance"].append(entry)
                elif verdicts == {"helps"}:
                    row["helps"].append(entry)
                elif verdicts == {"hurts"}:
                    row["hurts"].append(entry)
                else:
                    row["no_change"].append(entry)
            if claim.startswith("calibration"):
                row["baseline_calibration"] = info.get("baseline_calibration")
            rows.append(row)
    return {"alpha": alpha, "test": "bootstrap interval (seeds, then test examples; paired) where the runs' "
            "predictions allow, else the paired t-test over seeds, against the baseline",
            "baseline": summary["baseline"], "claims": list(CLAIMS), "rows": rows}


def _skipped_methods(entries: Any) -> dict[str, str]:
    """plan.json's methods skipped on a task as {method: reason} (a bare list of methods: reason unknown)."""
    if isinstance(entries, dict):
        return {str(m): str(why) for m, why in entries.items()}
    if isinstance(entries, (list, tuple)):
        return {str(m): "reason not recorded" for m in entries}
    return {}


def _order_names(order: dict, key: str) -> list[str]:
    """The names in `order[key]` (a grid's `tasks` or `methods`): strings, or dicts naming one (`name`)."""
    entries = order.get(key) or []
    if isinstance(entries, dict):
        entries = list(entries)
    if not isinstance(entries, (list, tuple)):
        return []
    names = [e if isinstance(e, str) else e.get("name") if isinstance(e, dict) else None for e in entries]
    return [n for n in names if isinstance(n, str)]


def summarise(results: list[dict], baseline: str = "none", order: dict | None = None, plan: dict | None = None,
              test_set: str = DEFAULT_TEST_SET, n_bootstrap: int = REPORT_BOOTSTRAP) -> dict[str, Any]:
    """Per task (and label-noise rate, see `variant`) and method: mean/std of every figure, change against
    `baseline`, chance marks, best method; per task its test set, skipped methods, baseline calibration,
    shift summary and recommendation; and the `verdict` over all tasks.

    `order` ({"tasks": [...], "methods": [...]}, e.g. the grid, whose tasks may be `{"name": ...}` dicts) fixes
    the order of rows and tables (a task's noise rates follow it, clean first). `plan`: the sweep's plan.json (`tasks.<task>.skipped_methods`,
    `test_set`, `modality`). `test_set`: what a task's test set is called when neither its results nor
    the plan say. `n_bootstrap`: replicates of each change's bootstrap interval (`textmix.harness.intervals`;
    >= 100), where the runs' predictions.npz allow one.
    """
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
    summary: dict[str, Any] = {"tasks": {}, "baseline": baseline}
    for label, task, noise in variants:
        runs_here = [r for r in results if r["task"] == task and label_noise(r) == noise]
        majority = next((r.get("test_majority_accuracy") for r in runs_here), None)
        first = runs_here[0]
        metric, token = task_metric(first), first.get("problem_type") == "token"
        rows, runs_by_method = {}, {}
        for method in methods:
            runs = by_cell.get((label, method))
            if not runs:
                continue
            runs_by_method[method] = runs
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
            base_runs = by_cell.get((label, baseline))
            if base_runs and method != baseline:
                base_values = {r["seed"]: run_values(r) for r in base_runs}
                for col in CHANGE_COLUMNS:
                    row[f"{col}_change"] = paired_change({s: v[col] for s, v in base_values.items()},
                                                         {s: v[col] for s, v in values.items()})
            row["per_seed"] = values
            rows[method] = row
        add_intervals(rows, task_intervals(runs_by_method, baseline, n_bootstrap=n_bootstrap))
        learned = {m: r for m, r in rows.items() if not r["at_chance_seeds"]}
        pool = learned or rows
        best = {
            "task_metric": max(pool, key=lambda m: _nan_low(pool[m]["task_metric"])),
            "ece": min(pool, key=lambda m: _nan_high(pool[m]["ece"])),
            "ece_ts": min(pool, key=lambda m: _nan_high(pool[m]["ece_ts"])),
        }
        planned = plan_tasks.get(task) if isinstance(plan_tasks.get(task), dict) else {}
        named = list(dict.fromkeys(str(r["test_set"]) for r in runs_here if r.get("test_set")))
        shift = shift_summary(runs_by_method, baseline)
        if shift:  # severity 0 of the tables and plots: the clean test set
            shift["clean"] = {m: {k: rows[m][k] for k in ("accuracy", "accuracy_std", "ece", "ece_std", "ece_ts",
                                                        "ece_ts_std")}
                              for m in shift["methods"]}
        recommended, why_not = recommend(rows)
        if recommended:
            recommended["calibrated_model"] = calibrated_to_ship(runs_by_method.get(recommended["method"], []))
            recommended["against_baseline_ts"] = against_baseline_ts(recommended["method"], rows, baseline)
        flipped = [r["label_noise_flipped"] for r in runs_here if isinstance(r.get("label_noise_flipped"), int)]
        summary["tasks"][label] = {
            "majority_accuracy": majority, "methods": rows, "best": best, "all_at_chance": not learned,
            "metric": metric, "chance_rule": "entity_f1" if token else "majority_accuracy",
            "task": task, "label_noise": noise,
            "label_noise_flipped": int(round(float(np.mean(flipped)))) if flipped else None,
            "modality": first.get("modality") or planned.get("modality") or "text",
            "test_set": " / ".join(named) if named else planned.get("test_set") or test_set,
            "skipped_methods": _skipped_methods(planned.get("skipped_methods")),
            "baseline_calibration": baseline_calibration(rows.get(baseline)),
            "recommended": recommended, "recommendation_note": why_not, "baseline": baseline,
            "shift": shift, "claims": _claims(rows, runs_by_method, baseline, noise, shift),
        }
    summary["verdict"] = verdict(summary)
    return summary


def _nan_low(x: float) -> float:
    return -math.inf if math.isnan(x) else x


def _nan_high(x: float) -> float:
    return math.inf if math.isnan(x) else x


def _fmt(mean: float, std: float, digits: int = 4) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _num(value: float | None, digits: int = 4) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _p(p: float) -> str:
    return "–" if math.isnan(p) else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


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


def baseline_line(baseline: str, calibration: dict[str, Any]) -> str:
    """report.md's line on the direction of a task's baseline miscalibration."""
    shown = temperature_text(calibration)
    return (f"Baseline `{baseline}`: temperature {shown} ({calibration['direction']}), mean confidence "
            f"{_num(calibration['mean_confidence'], 3)} vs accuracy {_num(calibration['accuracy'], 3)}.")


CLAIM_TEXT = {c.name: c.text for c in CLAIM_TABLE}
"""What each claim of the verdict measures, for report.md."""


def _verdict_lines(summary: dict) -> list[str]:
    judged = summary["verdict"]
    base, alpha = summary["baseline"], judged["alpha"]
    seeds = [row["n_seeds"] for info in summary["tasks"].values() for row in info["methods"].values()]
    lines = ["## Does mixing do what it is said to do?", "",
             f"One row per claim and task: every method against the baseline `{base}` over the same seeds. "
             f"Where the runs' predictions are on disk, each change has a {LEVEL:.0%} interval from a paired, "
             "hierarchical bootstrap (the seeds, then the test examples, the same resamples for every method): "
             "a method helps (hurts) where the whole interval lies on the better (worse) side of 0, and is "
             "unclear otherwise; ± is the smallest change that interval could tell from none (its half-width). "
             f"Without predictions the paired t-test over seeds decides (p < {alpha}, by the sign). A claim judged "
             "on several figures helps or hurts only where all of them agree. "
             "⚠: the method has seeds at chance, so its figures are no evidence either way. Methods are listed "
             "with their mean change, interval and p-value.", ""]
    if not judged["rows"]:
        return [*lines, "No claim has data here (it needs a baseline and another method on the same task).", ""]
    lines += [f"| claim | task | helps | hurts | unclear | at chance ⚠ | baseline `{base}` |",
              "|---|---|---|---|---|---|---|"]

    def figure(metric: str, change: dict) -> str:
        label = COLUMN[metric].label if metric in COLUMN else metric
        text = f"{label} {change['delta']:+.4f}"
        if not math.isnan(_number(change.get("low"))):
            text += f" [{change['low']:+.4f}, {change['high']:+.4f}] ±{change['detectable']:.4f}"
        return text + f", p={_p(change['p_value'])}"

    def names(entries: list[dict], mark: str = "") -> str:
        return ", ".join(f"{e['method']}{mark} ({'; '.join(figure(k, c) for k, c in e['metrics'].items())})"
                         for e in entries) or "–"

    for row in judged["rows"]:
        calibration = row.get("baseline_calibration")
        if row["claim"].startswith("calibration"):
            beside = ("–" if not calibration else
                      f"temperature {temperature_text(calibration, '–')} ({calibration['direction']}); mean "
                      f"confidence {_num(calibration['mean_confidence'], 3)} vs accuracy "
                      f"{_num(calibration['accuracy'], 3)}")
        else:
            beside = ""
        if row["baseline_at_chance"]:
            beside = f"⚠ at chance{'; ' + beside if beside else ''}"
        lines.append(f"| {row['claim']} | {row['task']} | {names(row['helps'])} | {names(row['hurts'])} | "
                     f"{names(row['no_change'])} | {names(row['at_chance'], ' ⚠')} | {beside} |")
    lines += ["", "Claims: " + "; ".join(f"**{c.name}**: {c.text}" for c in CLAIM_TABLE) + ".",
              "",
              f"Mixing is often said to calibrate; whether it helps depends on which way the baseline is off: "
              f"a temperature above {OVERCONFIDENT_T} means the baseline was over-confident (softening helps), "
              f"below {UNDERCONFIDENT_T} under-confident (softening, as mixing does, makes it worse). The baseline "
              "column says which, per task, so no row reads as a universal law.",
              "",
              f"With few seeds the test has little power: with n seeds the paired t-test has n − 1 degrees of "
              f"freedom, so with 2 seeds p-values are coarse and a real effect seldom reaches p < {alpha}; "
              f"'unclear' is not evidence of no effect: the ± beside an interval is the smallest change it could "
              f"have detected. Seeds per cell here: {min(seeds) if seeds else 0} to {max(seeds) if seeds else 0}.",
              "", _recommended_vs_ts_summary(summary), ""]
    return lines


def _recommended_vs_ts_summary(summary: dict) -> str:
    """report.md's count of tasks where the recommended method beat the baseline + temperature scaling on test."""
    base = summary["baseline"]
    verdicts = [(info.get("recommended") or {}).get("against_baseline_ts", {}).get("verdict")
                for info in summary["tasks"].values()]
    judged = [v for v in verdicts if v in ("beat", "lost", "unclear")]
    if not judged:
        return (f"Recommended method against `{base}` + temperature scaling: no task has a recommendation other "
                f"than `{base}` with the test figures after scaling to compare.")
    return (f"**The recommended method (chosen on validation) beat `{base}` + temperature scaling on the test set "
            f"on {judged.count('beat')} of {len(judged)} tasks** (by the interval of the NLL after scaling), lost on {judged.count('lost')} and was unclear on {judged.count('unclear')}"
            + (f"; on {verdicts.count('is the baseline')} more the recommendation is `{base}` itself"
               if "is the baseline" in verdicts else "") + ".")


def _versus_ts_line(chosen: dict, baseline: str) -> str:
    """One task's line: did its recommendation beat `baseline` + temperature scaling on test, by how much."""
    against = chosen.get("against_baseline_ts") or {}
    verdict = against.get("verdict")
    if verdict in (None, "unknown"):
        return ""
    if verdict == "is the baseline":
        return f" Against `{baseline}` + temperature scaling: the recommendation is `{baseline}` itself."
    parts = []
    for metric, c in against["changes"].items():
        text = f"{COLUMN[metric].label} {c['delta']:+.4f}"
        if not math.isnan(_number(c.get("low"))):
            text += f" [{c['low']:+.4f}, {c['high']:+.4f}]"
        parts.append(text)
    word = {"beat": "beat", "lost": "lost to", "unclear": "did not clearly beat"}[verdict]
    return f" On the test set it {word} `{baseline}` + temperature scaling: " + "; ".join(parts) + "."


def _recommendation_line(info: dict) -> str:
    chosen = info.get("recommended")
    if not chosen:
        return f"No recommendation: {info.get('recommendation_note') or 'no method is eligible'}."
    test, metric = chosen["test"], info.get("metric", "accuracy")
    figures = [] if metric == "accuracy" else [f"{metric} {_fmt(test['task_metric'], test['task_metric_std'])}"]
    figures += [f"accuracy {_fmt(test['accuracy'], test['accuracy_std'])}", f"ECE {_fmt(test['ece'], test['ece_std'])}",
                f"ECE after temperature scaling {_fmt(test['ece_ts'], test['ece_ts_std'])}"]
    return (f"Recommended: **{chosen['method']}**, chosen on validation NLL after temperature scaling "
            f"({_fmt(chosen['validation_nll_ts'], chosen['validation_nll_ts_std'])}; methods at chance are not "
            f"eligible, and the test set plays no part in the choice). Its test figures: {', '.join(figures)}."
            + _versus_ts_line(chosen, info.get("baseline", "none"))
            + (f" Calibrated model to ship (its seed with the lowest validation NLL, the validation temperature "
               f"folded into its head): `{chosen['calibrated_model']}`." if chosen.get("calibrated_model") else ""))


def _shift_lines(label: str, shift: dict, baseline: str) -> list[str]:
    severities = sorted({s for k in shift["kinds"] for s in shift["severities"][k]}, key=_severity_key)
    lines = [f"### {label}: distribution shift", "",
             "Accuracy / ECE / ECE after temperature scaling (the temperature fitted on the clean validation split; "
             "mean over seeds) on corrupted copies of the test set, by kind and severity; severity 0 "
             f"is the clean test set. Δ accuracy: the accuracy averaged over the kind's severities, mean paired change "
             f"against `{baseline}` over the same seeds (p-value of the paired t-test).", "",
             "| kind | method | 0 (clean) | " + " | ".join(severities) + " | Δ accuracy |",
             "|---|---|---|" + "---|" * len(severities) + "---|"]
    for kind in shift["kinds"]:
        for method, per_kind in shift["methods"].items():
            cells = per_kind.get(kind)
            if not cells:
                continue
            clean = shift.get("clean", {}).get(method, {})
            row = [f"{_num(clean.get('accuracy', math.nan))} / {_num(clean.get('ece', math.nan))} / "
                   f"{_num(clean.get('ece_ts', math.nan))}"]
            for severity in severities:
                cell = cells.get(severity)
                row.append("" if cell is None else
                           f"{_num(cell['accuracy'])} / {_num(cell['ece'])} / {_num(cell.get('ece_ts', math.nan))}")
            change = shift["change"].get(method, {}).get(kind, {}).get("accuracy")
            lines.append(f"| {kind} | {method} | " + " | ".join(row) + f" | {_change(change)} |")
    return [*lines, ""]


def write_markdown(summary: dict, path: Path, meta: dict) -> None:
    """report.md: the verdict; per task its test set, baseline calibration, recommendation and a table of
    methods (mean ± std over seeds, change against the baseline), and its shift table; then the pictures."""
    lines = [
        "# Calibration comparison",
        "",
        f"Generated by {meta.get('source', '`textmix report`')} on {meta['date']} (textmix {meta['textmix']}, "
        f"commit {meta['commit']}).",
        f"Model: {meta['model']}; {meta['n_runs']} runs; baseline `{summary['baseline']}`. "
        "Each task says what its test set is.",
        "Figures: mean ± std over seeds. Change: mean paired difference against the baseline over the same "
        "seeds, with the paired t-test's p-value. ECE: 15 equal-width bins; ECE (TS): after temperature "
        "scaling fitted on the validation split; smECE: smooth ECE (Błasiok & Nakkiran 2023: kernel-smoothed, no "
        "bins; consistent where binned ECE is not), (TS) after temperature scaling. AURC: area under the risk-coverage curve (lower is better); "
        "acc@80% cov.: accuracy on the 80 % most confident predictions. ⚠ marks methods with seeds whose "
        f"accuracy does not beat the majority class by more than {CHANCE_MARGIN:.2f}"
        + (f" (token classification: whose entity F1 is not above {CHANCE_MARGIN:.2f}; there accuracy, ECE, "
           "Brier and NLL are over the labelled tokens, and the majority class is the most frequent tag)"
           if any(i.get("chance_rule") == "entity_f1" for i in summary["tasks"].values()) else "")
        + ": their calibration is no evidence.",
        "",
    ]
    if "verdict" in summary:
        lines += _verdict_lines(summary)
    for task, info in summary["tasks"].items():
        maj = info["majority_accuracy"]
        metric = info.get("metric") or TASK_METRIC.get(task, "accuracy")
        lines += [f"## {task}", "", f"Test set: {info.get('test_set') or meta.get('test_set', DEFAULT_TEST_SET)}."]
        if info.get("skipped_methods"):
            lines.append("Methods skipped on this task: "
                         + ", ".join(f"{m} ({why})" for m, why in info["skipped_methods"].items()) + ".")
        if info.get("label_noise"):
            flipped = info.get("label_noise_flipped")
            lines.append(f"Trained with label noise: a share of {info['label_noise']:g} of the training labels "
                         f"flipped{'' if flipped is None else f' ({flipped} per run)'}; the test set is clean.")
        lines += [("" if maj is None else f"Majority-class accuracy: {maj:.4f}." if info.get("chance_rule") !=
                   "entity_f1" else f"Majority-class accuracy (share of the most frequent tag, over labelled "
                   f"tokens): {maj:.4f}.")]
        if info.get("baseline_calibration"):
            lines.append(baseline_line(summary["baseline"], info["baseline_calibration"]))
        if "recommended" in info:
            lines.append(_recommendation_line(info))
        lines += [f"Best {metric}: **{info['best']['task_metric']}**; best ECE: **{info['best']['ece']}**; "
                  f"best ECE after temperature scaling: **{info['best']['ece_ts']}**"
                  + (" (every method is at chance on this task)" if info["all_at_chance"] else "") + ".", "",
                  f"| method | {metric} | Δ {metric} |{'' if metric == 'accuracy' else ' accuracy |'} ECE | Δ ECE "
                  "| ECE (TS) | smECE | smECE (TS) | MCE | adaptive ECE | Brier | NLL | AURC | acc@80% cov. "
                  "| train time (s) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" + ("" if metric == "accuracy" else "---|")]
        for method, row in info["methods"].items():
            mark = f" ⚠ {len(row['at_chance_seeds'])}/{row['n_seeds']}" if row["at_chance_seeds"] else ""
            accuracy = "" if metric == "accuracy" else f" {_fmt(row['accuracy'], row['accuracy_std'])} |"
            lines.append(
                f"| {method}{mark}{_seeds_note(row)} | {_fmt(row['task_metric'], row['task_metric_std'])} | "
                f"{_change(row.get('task_metric_change'))} |{accuracy} "
                f"{_fmt(row['ece'], row['ece_std'])} | {_change(row.get('ece_change'))} | "
                f"{_fmt(row['ece_ts'], row['ece_ts_std'])} | {_fmt(row['smece'], row['smece_std'])} | "
                f"{_fmt(row['smece_ts'], row['smece_ts_std'])} | {_fmt(row['mce'], row['mce_std'])} | "
                f"{_fmt(row['adaptive_ece'], row['adaptive_ece_std'])} | {_fmt(row['brier'], row['brier_std'])} | "
                f"{_fmt(row['nll'], row['nll_std'])} | {_fmt(row['aurc'], row['aurc_std'])} | "
                f"{_fmt(row['accuracy_at_coverage_80'], row['accuracy_at_coverage_80_std'])} | "
                f"{_fmt(row['train_time_s'], row['train_time_s_std'], 1)} |")
        lines.append("")
        if info.get("shift"):
            lines += _shift_lines(task, info["shift"], summary["baseline"])
    lines += ["## Reliability diagrams", "", "Tasks (rows) x methods (columns), test predictions of all seeds "
              "pooled.", "", "![reliability diagrams](reliability.png)", ""]
    plots = summary.get("plots") or {}
    if plots.get("shift"):
        lines += ["## Distribution shift plots", "",
                  "Per task, after Ovadia et al. (2019): one column per shift kind, accuracy (top) and ECE (bottom) "
                  "against severity (0: the clean test set), one line per method, mean ± std over seeds (shaded).", ""]
        lines += [f"![{task}: distribution shift]({name})" for task, name in plots["shift"].items()] + [""]
    if plots.get("label_noise"):
        lines += ["## Label noise plots", "",
                  "Per task trained at several label-noise rates: test accuracy and ECE against the rate of flipped "
                  "training labels, one line per method, mean ± std over seeds.", ""]
        lines += [f"![{task}: label noise]({name})" for task, name in plots["label_noise"].items()] + [""]
    if summary.get("clashes"):
        lines += ["## Clashes", "", "Runs that claim the same task and method but differ in configuration or repeat "
                  "a seed: never pooled, left out of the tables and diagrams above. Move one set away, or re-run "
                  "them so that their method names say what differs.", ""]
        for clash in summary["clashes"]:
            lines.append(f"- {clash['task']} / {clash['method']}: {clash['reason']}; runs: "
                         + ", ".join(f"`{f}`" for f in clash["folders"]))
        lines.append("")
    if summary.get("incomplete"):
        lines += ["## Incomplete runs", "", "Runs with a missing or non-finite figure: left out of the means, "
                  "changes and diagrams above (the rows they belong to say how many seeds are left). Run them "
                  "again, or look at their run.log.", ""]
        lines += [f"- {r['task']} / {r['method']} / seed {r['seed']}: {r['reason']} (`{r['folder']}`)"
                  for r in summary["incomplete"]]
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
    text = "\n".join(lines).encode("utf-8")
    write_atomic(path, lambda f: f.write(text))


INTERVAL_CSV = ("smece", "nll", "brier", "smece_ts", "nll_ts")
"""Changes against the baseline whose bootstrap interval report.csv carries (`<column>_delta/_low/_high`)."""


def write_csv(summary: dict, path: Path) -> None:
    """report.csv: one row per task (and label-noise rate) and method with the summary's figures."""
    fields = ["task", "method", "label_noise", "n_seeds", "majority_accuracy", "at_chance_seeds", "incomplete_seeds"]
    for col in COLUMNS:
        fields += [col, f"{col}_std"]
    fields += ["task_metric_delta", "task_metric_p", "ece_delta", "ece_p", "aurc_delta", "aurc_p"]
    fields += [f"{col}_{part}" for col in INTERVAL_CSV for part in ("delta", "low", "high")]
    import io

    with io.StringIO(newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for label, info in summary["tasks"].items():
            for method, row in info["methods"].items():
                out = {"task": info.get("task", label), "method": method, "label_noise": info.get("label_noise", 0.0),
                       "n_seeds": row["n_seeds"], "majority_accuracy": info["majority_accuracy"],
                       "at_chance_seeds": " ".join(map(str, row["at_chance_seeds"])),
                       "incomplete_seeds": " ".join(map(str, row.get("incomplete_seeds") or []))}
                for col in COLUMNS:
                    out[col], out[f"{col}_std"] = row[col], row[f"{col}_std"]
                for col in ("task_metric", "ece", "aurc"):
                    change = row.get(f"{col}_change") or {}
                    out[f"{col}_delta"], out[f"{col}_p"] = change.get("delta"), change.get("p_value")
                for col in INTERVAL_CSV:
                    change = row.get(f"{col}_change") or {}
                    for part in ("delta", "low", "high"):
                        out[f"{col}_{part}"] = change.get(part)
                writer.writerow(out)
        text = f.getvalue().encode("utf-8")
    write_atomic(path, lambda g: g.write(text))


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
        cell = pooled.setdefault((variant(r), r["method"]), ([], []))
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


def write_plots(summary: dict, out_dir: Path) -> dict[str, dict[str, str]]:
    """`shift_<task>.png` for every task with shifted test sets and `label_noise_<task>.png` for every task
    trained at more than one label-noise rate, in `out_dir`; returns {"shift" | "label_noise": {task: file}}."""
    from .plots import label_noise_plot, shift_plot

    out: dict[str, dict[str, str]] = {"shift": {}, "label_noise": {}}
    by_task: dict[str, list[tuple[float, dict]]] = defaultdict(list)
    for label, info in summary["tasks"].items():
        by_task[info.get("task", label)].append((info.get("label_noise", 0.0), info))
        if info.get("shift"):
            name = plot_name("shift", info.get("task", label), info.get("label_noise", 0.0))
            shift_plot(label, info, out_dir / name, baseline=summary["baseline"])
            out["shift"][label] = name
    for task, variants in by_task.items():
        if len(variants) > 1:
            name = plot_name("label_noise", task)
            label_noise_plot(task, sorted(variants, key=lambda v: v[0]), out_dir / name, baseline=summary["baseline"])
            out["label_noise"][task] = name
    return out


def _mark_incomplete(summary: dict, incomplete: list[dict[str, Any]]) -> None:
    """Record in each row of `summary` the seeds of its incomplete runs (`incomplete_seeds`), left out of its means."""
    for info in summary["tasks"].values():
        for row in info["methods"].values():
            row["incomplete_seeds"] = []
    for run in incomplete:
        row = ((summary["tasks"].get(run["task"]) or {}).get("methods") or {}).get(run["method"])
        if row is not None:
            row["incomplete_seeds"].append(run["seed"])


def _seeds_note(row: dict) -> str:
    """' (n of m seeds)' for a row whose incomplete runs are left out of its means, else ''."""
    left_out = len(row.get("incomplete_seeds") or [])
    return f" ({row['n_seeds']} of {row['n_seeds'] + left_out} seeds)" if left_out else ""


def build_report(sweep_dir: str | Path, baseline: str = "none") -> dict:
    """Rebuild report.md/.csv/.json, reliability.png and the shift and label-noise plots of a sweep from
    its results on disk (see `scan`) and, where the sweep has them, its grid.json, plan.json and failures.json."""
    sweep_dir = Path(sweep_dir)
    results, skipped = scan(sweep_dir)
    if not results:
        if skipped:
            raise FileNotFoundError(f"no readable results under {sweep_dir}/runs: {len(skipped)} results.json "
                                    f"file(s) are damaged ({skipped[0]['file']}: {skipped[0]['reason']}); run "
                                    "`textmix compare` again to redo them.")
        raise FileNotFoundError(f"no results under {sweep_dir}/runs: run `textmix compare` first.")
    skipped = list(skipped)
    order = _sweep_file(sweep_dir / "grid.json", dict, "the tables follow the order of the results", skipped)
    failures = _sweep_file(sweep_dir / "failures.json", list, "failed runs are not listed", skipped)
    if failures is not None and not all(isinstance(f, dict) for f in failures):
        skipped.append({"file": str(sweep_dir / "failures.json"), "reason": "holds entries that are not mappings; "
                        "failed runs are not listed"})
        failures = None
    plan = _sweep_file(sweep_dir / "plan.json", dict, "the report says nothing about skipped methods", skipped)
    _check_baseline(baseline, {r["method"] for r in results}, _order_names(order or {}, "methods"))
    return write_report(results, sweep_dir, baseline=baseline, order=order, failures=failures or [], skipped=skipped,
                        plan=plan)


def _check_baseline(baseline: str, finished: set[str], planned: list[str]) -> None:
    """An `InputError` (with the closest name) when `baseline` is no method of the sweep; a warning when it is
    one but has no results (the change columns are then empty). The default `none` absent is a warning."""
    if baseline in finished:
        return
    known = sorted(finished | set(planned))
    if baseline not in known and baseline != "none":
        raise InputError(f"--baseline {baseline!r} is not a method of this sweep{did_you_mean(baseline, known)}; "
                         f"its methods are {known}.")
    warnings.warn(f"the baseline {baseline!r} has no results in this sweep: the change columns are empty; "
                  f"choose another with --baseline (one of {sorted(finished)}).", stacklevel=3)


def _sweep_file(path: Path, kind: type, without: str, skipped: list[dict[str, str]]) -> Any:
    """The content of a sweep's JSON file `path` (None when it does not exist); a file that is not valid JSON
    or not of `kind` is named in a warning and in `skipped` (saying what the report lacks without it) and
    gives None."""
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        reason = f"not valid JSON ({err})"
    else:
        if isinstance(value, kind):
            return value
        reason = f"holds a {type(value).__name__}, not a {'mapping' if kind is dict else 'list'}"
    reason += f"; {without} (run `textmix compare` again to rewrite it)"
    warnings.warn(f"{path}: {reason}.", stacklevel=3)
    skipped.append({"file": str(path), "reason": reason})
    return None


def models_line(results: list[dict]) -> str:
    """The models of the runs, each with the tasks it ran on when there are several: "`m` (a, b), `v` (c)"."""
    tasks: dict[str, list[str]] = {}
    for r in results:
        names = tasks.setdefault(str(Path(str(r.get("model"))).name if r.get("model") else "?"), [])
        if r.get("task") not in names:
            names.append(r.get("task"))
    if len(tasks) == 1:
        return f"`{next(iter(tasks))}`"
    return ", ".join(f"`{m}` ({', '.join(map(str, t))})" for m, t in tasks.items())


def write_report(
    results: list[dict],
    out_dir: str | Path,
    baseline: str = "none",
    order: dict | None = None,
    failures: list[dict] | None = None,
    source: str = "`textmix report`",
    test_set: str = DEFAULT_TEST_SET,
    skipped: list[dict[str, str]] | None = None,
    plan: dict | None = None,
) -> dict:
    """Write report.md/.csv/.json, reliability.png and the shift and label-noise plots into `out_dir` from
    runs' results.json dicts.

    Each result needs `task`, `method` and `seed`, and `_folder` (the run's folder, where its
    predictions.npz is) for the reliability diagrams. Cells whose runs clash (`find_clashes`) are left
    out and listed. `order`: see `summarise`; `failures`: runs that failed and `skipped`: result files
    that did not load, both listed; `source` names the command in report.md; `test_set` names a task's
    test data where its results do not (`test_set` in results.json); `plan`: the sweep's plan.json (methods
    skipped per task). Returns the summary (as in report.json, with `clashes`, `skipped`, `failures`,
    `verdict` and `plots`).
    """
    import textmix

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    first = results[0] if results else {}
    results, clashes = find_clashes(results)
    results, incomplete = split_incomplete(results)
    summary = summarise(results, baseline=baseline, order=order, plan=plan, test_set=test_set)
    _mark_incomplete(summary, incomplete)
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "textmix": textmix.__version__,
            "commit": _git_commit(), "model": models_line(results) or first.get("model"), "n_runs": len(results),
            "versions": first.get("versions"), "source": source, "test_set": test_set}
    summary["meta"], summary["failures"] = meta, failures or []
    summary["clashes"], summary["skipped"] = clashes, list(skipped or [])
    summary["incomplete"] = incomplete
    summary["plots"] = write_plots(summary, out_dir)
    write_markdown(summary, out_dir / "report.md", meta)
    write_csv(summary, out_dir / "report.csv")
    write_reliability(results, out_dir / "reliability.png", summary)
    write_json_atomic(out_dir / "report.json", summary)
    return summary
