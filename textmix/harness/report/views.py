"""The report's views of the figures (`textmix.harness.figures`), each an ordered tuple of figure names checked
against them at import, its thresholds, and the figures of one run."""

from __future__ import annotations

import math
from typing import Any

from textmix.robustness import SHIFT_FAMILIES

from ..figures import FIGURE, check_view

COLUMNS = check_view("columns", ("task_metric", "accuracy", "ece", "ece_ts", "smece", "smece_ts", "ece_sweep", "mce",
                                 "adaptive_ece", "brier", "brier_ts", "nll", "nll_ts", "aurc", "accuracy_at_coverage_80",
                                 "mean_confidence", "temperature", "validation_nll_ts", "train_time_s"))
"""The figures of a run (`run_values`) that the report averages over seeds and writes to report.csv."""
TABLE = check_view("table", ("task_metric", "accuracy", "ece", "ece_ts", "smece", "smece_ts", "mce", "adaptive_ece",
                             "brier", "nll", "aurc", "accuracy_at_coverage_80", "train_time_s"))
"""The columns of report.md's per-method table (one whose header repeats the task metric's name is left out)."""
TABLE_CHANGES = check_view("table changes", ("task_metric", "ece"))
"""Columns of report.md's table followed by their change against the baseline."""
CHANGES = check_view("changes", ("task_metric", "accuracy", "ece", "ece_ts", "smece", "smece_ts", "brier", "brier_ts",
                                 "nll", "nll_ts", "aurc"))
"""Figures whose change against the baseline each row carries (`<name>_change`), besides those the claims judge."""
CSV_CHANGES = check_view("csv changes", ("task_metric", "ece", "aurc"))
"""Changes against the baseline whose mean and p-value report.csv carries (`<name>_delta`, `<name>_p`)."""
INTERVALS = check_view("intervals", ("smece", "nll", "brier", "smece_ts", "nll_ts", "brier_ts"))
"""Figures with a bootstrap interval from the test examples (`textmix.harness.report.intervals`)."""
INTERVAL_CSV = check_view("interval csv", INTERVALS[:5])
"""Changes against the baseline whose bootstrap interval report.csv carries (`<name>_delta/_low/_high`)."""
SHIFT = check_view("shift", ("accuracy", "ece", "nll", "brier", "aurc", "mean_confidence", "ece_ts", "nll_ts"))
"""The figures of a shifted test set that the shift summary averages over seeds."""
NATURAL_SHIFT = check_view("natural shift", ("accuracy", "smece", "nll", "brier"))
"""The figures of each natural-shift test set that the natural-shift table averages over seeds (report.md's columns)."""
SHIFT_SHOWN = check_view("shift table", ("accuracy", "ece", "ece_ts"))
"""The figures of each cell of report.md's shift table (`a / b / c`), the clean test set's included."""
PLOTTED = check_view("plots", ("accuracy", "ece"))
"""The panels of the shift and label-noise plots, top to bottom."""
RECOMMENDED = check_view("recommended", ("task_metric", "accuracy", "ece", "ece_ts", "nll", "aurc"))
"""The test figures reported beside a recommendation (means over seeds)."""
RECOMMENDED_VS_TS = check_view("recommended against TS", ("nll_ts", "smece_ts"))
"""The test figures after scaling shown when the recommendation is held against the baseline + temperature scaling;
the first (NLL, the proper score the recommendation is chosen on) decides."""
BEST = check_view("best", ("task_metric", "ece", "ece_ts"))
"""The figures by which each task names its best method (of those not at chance), in report.md's order."""
REQUIRED = {kind: check_view(f"required of {kind}", names) for kind, names in (
    ("classification", ("task_metric", "accuracy", "ece")), ("token", ("task_metric", "accuracy", "ece")),
    ("multi_label", ("task_metric", "ece")), ("regression", ("task_metric",)))}
"""The figures a run of each problem type must have to count in the means; without one it is incomplete."""
assert all(FIGURE[n].per_example or FIGURE[n].resampled for n in INTERVALS), "an interval needs a resampled figure"

CHANCE_MARGIN = 0.02
"""A run 'beats the majority class clearly' when its accuracy exceeds it by more than this; a token
classification run (where always answering `O` scores an entity F1 of 0) when its entity F1 does."""
ALPHA = 0.05
"""Significance level of the verdict: a change against the baseline counts when the paired t-test over
seeds gives p < ALPHA (with few seeds the test has little power)."""
OVERCONFIDENT_T = 1.05
"""A fitted temperature above this: the model was over-confident (temperature scaling softened it)."""
UNDERCONFIDENT_T = 0.95
"""A fitted temperature below this: under-confident (scaling sharpened it); between the two: 'close to calibrated'."""
OCCLUSION_KINDS = ("occlusion", "mask")
"""Shift kinds that hide part of the input (image patches; masked words are occluded text): the
'occlusion robustness' claim. Every other kind counts towards 'corruption robustness'."""
SHIFT_KINDS = tuple(kind for kinds in SHIFT_FAMILIES.values() for kind in kinds)
"""Known shift kinds (`textmix.robustness.SHIFT_FAMILIES`), in table and plot order (others follow, sorted)."""
DEFAULT_TEST_SET = "GLUE dev"
"""What a task's test set is called when neither its results nor the caller say."""
VERDICT_MARKS = {"helps": "▲", "hurts": "▼", "no_change": "·", "at_chance": "⚠"}
"""The symbol of each list of a verdict row (`claims.verdict`) in the verdict grid and the forest plots' legend."""
VERDICT_WORDS = {"helps": "helps", "hurts": "hurts", "no_change": "unclear", "at_chance": "at chance"}
"""What each list of a verdict row is called beside its symbol."""


def judged(row: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(verdict, entry) of every method of a verdict row, in `VERDICT_MARKS` order."""
    return [(verdict, entry) for verdict in VERDICT_MARKS for entry in row[verdict]]


def rank(summary: dict[str, Any], method: str) -> int:
    """The place of `method` in the summary's method order (the tables' and plots'), unknown methods last."""
    order = summary.get("methods") or list(dict.fromkeys(m for info in summary["tasks"].values()
                                                         for m in info["methods"]))
    return order.index(method) if method in order else len(order)


def compared_with(entry: dict[str, Any], info: dict[str, Any], baseline: str) -> str:
    """`<method>`, or `<method> vs <other>` for a method compared with another row than `baseline` (an ensemble)."""
    other = entry.get("compared_with") or info["methods"].get(entry["method"], {}).get("compared_with")
    return entry["method"] if other in (None, baseline) else f"{entry['method']} vs {other}"


def task_metric(result: dict) -> str:
    """The name of a run's task metric: its own `task_metric` (the NER recipe's, for tags that are not entities);
    entity F1 for token classification; a GLUE task's (the recipe's `task_name`, else the task's name) in
    `textmix.harness.data.glue.GLUE_TASKS`; Pearson for other regression tasks; else accuracy."""
    own = result.get("task_metric")
    if isinstance(own, str) and own:
        return own
    if result.get("problem_type") == "token":
        return "entity_f1"
    data = (result.get("config") or {}).get("data") or {}
    glue = data.get("task_name") if "task_name" in data else result.get("task")
    from ..data.glue import GLUE_TASKS  # the GLUE task table declares each task's metric

    if isinstance(glue, str) and glue in GLUE_TASKS:
        return GLUE_TASKS[glue].metric
    return "pearson" if result.get("problem_type") == "regression" or result.get("regression") else "accuracy"


def source(result: dict, name: str) -> tuple[str, Any]:
    """(`split.key` of a figure in results.json, its raw value or None)."""
    figure = FIGURE[name]
    key = task_metric(result) if name == "task_metric" else figure.key
    holder = result if figure.split is None else result.get(figure.split)
    value = holder.get(key) if isinstance(holder, dict) else None
    return (key if figure.split is None else f"{figure.split}.{key}"), value


def run_values(result: dict) -> dict[str, float]:
    """The report's figures of one run's results.json (the names of `COLUMNS`; NaN where missing)."""
    return {name: number(source(result, name)[1]) for name in COLUMNS}


def number(value: Any) -> float:
    """A figure as a float (NaN for a missing or unknown one, e.g. the training time of an old resumed run)."""
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan
