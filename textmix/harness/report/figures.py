"""The report's policy: the figures of a run and the claims of the verdict, each declared once, and the thresholds."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textmix.robustness import SHIFT_FAMILIES

TOKEN_METRIC = "entity_f1"
"""The task metric of token classification runs (`problem_type` `token`, the NER recipe)."""


@dataclass(frozen=True)
class Column:
    """One figure of a run in the report, declared once: where it is read in results.json (`split`: a results
    entry such as `test` or `test_ts`, or None for a top-level entry; `key` in it), whether higher is better
    (True, False, or None for figures that are neither: they describe a direction), its range (`bounds`;
    None: open), its `label` in sentences and plots, and where else it appears:

    - `header`: its column in report.md's per-method table (None: not there; `{metric}`: the task's metric),
      with `digits` decimals, followed by its change against the baseline when `delta_in_table`; a column
      whose header is the task metric's name is left out (it would repeat the task metric);
    - `change`: each row carries its change against the baseline (`<name>_change`); `csv_change`: report.csv
      has its `_delta` and `_p`; `interval_csv`: report.csv has its bootstrap interval (`_delta/_low/_high`),
      at this position (0: not);
    - `shift`: averaged over seeds on each shifted test set, at this position of the shift summary (0: not);
      `shift_shown`: a figure of the shift table's cells; `plotted`: a panel of the shift and label-noise plots;
    - `recommended`: reported beside a recommendation; `best`: each task names its best method by it."""

    name: str
    split: str | None
    key: str
    higher_is_better: bool | None
    bounds: tuple[float, float | None] | None = None
    label: str = ""
    header: str | None = None
    digits: int = 4
    delta_in_table: bool = False
    change: bool = False
    csv_change: bool = False
    interval_csv: int = 0
    shift: int = 0
    shift_shown: bool = False
    plotted: bool = False
    recommended: bool = False
    best: bool = False


UNIT = (0.0, 1.0)
POSITIVE = (0.0, None)
REPORT_COLUMNS: tuple[Column, ...] = (
    Column("task_metric", "test", "", True, label="task metric", header="{metric}", delta_in_table=True,
           change=True, csv_change=True, recommended=True, best=True),
    Column("accuracy", "test", "accuracy", True, UNIT, "accuracy", header="accuracy", change=True, shift=1,
           shift_shown=True, plotted=True, recommended=True),
    Column("ece", "test", "ece", False, UNIT, "ECE", header="ECE", delta_in_table=True, change=True, csv_change=True,
           shift=2, shift_shown=True, plotted=True, recommended=True, best=True),
    Column("ece_ts", "test_ts", "ece", False, UNIT, "ECE after temperature scaling", header="ECE (TS)", change=True,
           shift=7, shift_shown=True, recommended=True, best=True),
    Column("smece", "test", "smece", False, UNIT, "smooth ECE", header="smECE", change=True, interval_csv=1),
    Column("smece_ts", "test_ts", "smece", False, UNIT, "smooth ECE after temperature scaling", header="smECE (TS)",
           change=True, interval_csv=4),
    Column("ece_sweep", "test", "ece_sweep", False, UNIT, "monotone-sweep ECE"),
    Column("mce", "test", "mce", False, UNIT, "MCE", header="MCE"),
    Column("adaptive_ece", "test", "adaptive_ece", False, UNIT, "adaptive ECE", header="adaptive ECE"),
    Column("brier", "test", "brier", False, (0.0, 2.0), "Brier score", header="Brier", change=True, interval_csv=3,
           shift=4),
    Column("brier_ts", "test_ts", "brier", False, (0.0, 2.0), "Brier score after temperature scaling", change=True),
    Column("nll", "test", "nll", False, POSITIVE, "NLL", header="NLL", change=True, interval_csv=2, shift=3,
           recommended=True),
    Column("nll_ts", "test_ts", "nll", False, POSITIVE, "NLL after temperature scaling", change=True, interval_csv=5,
           shift=8),
    Column("aurc", "test", "aurc", False, UNIT, "AURC", header="AURC", change=True, csv_change=True, shift=5,
           recommended=True),
    Column("accuracy_at_coverage_80", "test", "accuracy_at_coverage_80", True, UNIT, "accuracy at 80 % coverage",
           header="acc@80% cov."),
    Column("mean_confidence", "test", "mean_confidence", None, UNIT, "mean confidence", shift=6),
    Column("temperature", None, "temperature", None, POSITIVE, "temperature"),
    Column("validation_nll_ts", "validation_ts", "nll", False, POSITIVE, "validation NLL after temperature scaling"),
    Column("train_time_s", None, "train_time_s", False, POSITIVE, "training time (s)", header="train time (s)",
           digits=1),
)
"""The figures of a run the report reads, averages over seeds and writes to report.csv: one declaration
each, from which every list of figures below, `run_values`, report.md's table and shift table, report.csv's
columns and the plots' panels follow."""
COLUMN = {c.name: c for c in REPORT_COLUMNS}
COLUMNS = [c.name for c in REPORT_COLUMNS]
"""The figures of a run (`run_values`) that the report averages over seeds and writes to report.csv."""
LOWER_IS_BETTER = {c.name for c in REPORT_COLUMNS if c.higher_is_better is False}
"""Columns where lower is better; of the others, `temperature` and `mean_confidence` are neither (they
describe the direction of miscalibration), the rest are higher-is-better."""
TABLE_COLUMNS = tuple(c for c in REPORT_COLUMNS if c.header is not None)
"""The columns of report.md's per-method table, in its order."""
CHANGE_COLUMNS = tuple(c.name for c in REPORT_COLUMNS if c.change)
"""Columns whose change against the baseline each row carries (`<column>_change`: paired t-test over seeds,
and a bootstrap interval for those of `textmix.harness.report.intervals.EXAMPLE_METRICS`)."""
CSV_CHANGES = tuple(c.name for c in REPORT_COLUMNS if c.csv_change)
"""Changes against the baseline whose mean and p-value report.csv carries (`<column>_delta`, `<column>_p`)."""
INTERVAL_CSV = tuple(c.name for c in sorted((c for c in REPORT_COLUMNS if c.interval_csv), key=lambda c: c.interval_csv))
"""Changes against the baseline whose bootstrap interval report.csv carries (`<column>_delta/_low/_high`)."""
SHIFT_METRICS = tuple(c.name for c in sorted((c for c in REPORT_COLUMNS if c.shift), key=lambda c: c.shift))
"""The figures of a shifted test set that the shift summary averages over seeds."""
SHIFT_SHOWN = tuple(c.name for c in REPORT_COLUMNS if c.shift_shown)
"""The figures of each cell of report.md's shift table (`a / b / c`), the clean test set's included."""
PANELS = tuple((c.name, c.label) for c in REPORT_COLUMNS if c.plotted)
"""The figures of the shift and label-noise plots, top to bottom: (key in the summary, axis label)."""
BEST = tuple(c for c in REPORT_COLUMNS if c.best)
"""The figures by which each task names its best method (of those not at chance), in report.md's order."""
RECOMMENDED_TEST = tuple(c.name for c in REPORT_COLUMNS if c.recommended)
"""The test figures reported beside a recommendation (means over seeds)."""
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
SHIFT_KINDS = tuple(kind for kinds in SHIFT_FAMILIES.values() for kind in kinds)
"""Known shift kinds (`textmix.robustness.SHIFT_FAMILIES`), in the order of the tables and plots (others follow,
sorted)."""


def occluding(kind: str) -> bool:
    """A shift kind of the 'occlusion robustness' claim (`OCCLUSION_KINDS`)."""
    return kind in OCCLUSION_KINDS


def corrupting(kind: str) -> bool:
    """A shift kind of the 'corruption robustness' claim: every kind but `OCCLUSION_KINDS`."""
    return kind not in OCCLUSION_KINDS


@dataclass(frozen=True)
class Claim:
    """One claim made for mixing, judged per task against the baseline, declared in one row: its `name`;
    `text`, what it measures, for report.md; `metrics`, the report columns it is judged on (or `shifted
    accuracy`), `better` lower or higher (a method helps (hurts) only where every metric says so); which runs
    it selects: `evidence` `columns` (the summary rows' changes) or `shift` (accuracy on the shifted test sets
    whose kind `shift_kinds` accepts, averaged per seed), and `noisy_only` (only tasks trained with label
    noise); `stand_in`: a column used for a metric that older results lack; `shows_calibration`: its verdict
    row carries the baseline's miscalibration (`baseline_calibration`)."""

    name: str
    metrics: tuple[str, ...]
    better: str
    evidence: str
    text: str
    stand_in: tuple[tuple[str, str], ...] = ()
    shift_kinds: Callable[[str], bool] | None = None
    noisy_only: bool = False
    shows_calibration: bool = False

    def __post_init__(self) -> None:
        if self.better not in ("lower", "higher"):
            raise ValueError(f"claim {self.name!r}: `better` is {self.better!r}; use 'lower' or 'higher'.")
        if self.evidence not in ("columns", "shift"):
            raise ValueError(f"claim {self.name!r}: `evidence` is {self.evidence!r}; use 'columns' or 'shift'.")
        if (self.evidence == "shift") != (self.shift_kinds is not None):
            raise ValueError(f"claim {self.name!r}: a `shift` claim needs `shift_kinds`, and only it takes them.")
        unknown = [m for m in self.metrics if self.evidence == "columns" and m not in COLUMN]
        if unknown:
            raise ValueError(f"claim {self.name!r}: {unknown} are no report columns; known: {COLUMNS}.")


CLAIM_TABLE: list[Claim] = [
    Claim("calibration", ("smece", "nll", "brier"), "lower", "columns",
          "smooth ECE, NLL and Brier score on the clean test set (lower is better; helps or hurts only where all "
          "three agree: NLL and Brier are proper scores, rewarding calibration and sharpness together)",
          stand_in=(("smece", "ece"),), shows_calibration=True),
    Claim("calibration after temperature scaling", ("smece_ts", "nll_ts"), "lower", "columns",
          "does mixing + temperature scaling beat the baseline + temperature scaling: smooth ECE and NLL after "
          "scaling with the temperature fitted on validation (helps or hurts only where both agree)",
          stand_in=(("smece_ts", "ece_ts"),), shows_calibration=True),
    Claim("corruption robustness", ("shifted accuracy",), "higher", "shift",
          "test accuracy on corrupted copies of the test set, averaged per seed over every shift kind but "
          f"{' and '.join(OCCLUSION_KINDS)} and over their severities", shift_kinds=corrupting),
    Claim("occlusion robustness", ("shifted accuracy",), "higher", "shift",
          "test accuracy averaged per seed over the kinds `occlusion` (images) and `mask` (text: masked words are "
          "occluded text) and their severities", shift_kinds=occluding),
    Claim("label-noise tolerance", ("accuracy",), "higher", "columns",
          "test accuracy of runs trained with that share of training labels flipped, against the baseline trained at "
          "the same rate", noisy_only=True),
]
"""The claims of the verdict table, in its order: one row each (`register_claim` adds one)."""


def register_claim(claim: Claim) -> Claim:
    """Add `claim` to the verdict table (at its end); a second claim of the same name is an error."""
    if any(c.name == claim.name for c in CLAIM_TABLE):
        raise ValueError(f"a claim named {claim.name!r} is already declared; give it another name.")
    CLAIM_TABLE.append(claim)
    return claim


def claim_names() -> tuple[str, ...]:
    """The claims of the verdict table, in its order (`CLAIMS` reads the same, at the time it is read)."""
    return tuple(c.name for c in CLAIM_TABLE)


def __getattr__(name: str) -> Any:
    """`CLAIMS` (the claims' names) and `CLAIM_TEXT` ({name: text}), read from `CLAIM_TABLE` as it is now."""
    if name == "CLAIMS":
        return claim_names()
    if name == "CLAIM_TEXT":
        return {c.name: c.text for c in CLAIM_TABLE}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def change_columns() -> tuple[str, ...]:
    """The columns whose change against the baseline each summary row carries: `CHANGE_COLUMNS` and every column
    a claim of `CLAIM_TABLE` is judged on (or stands in for one), in column order."""
    wanted = {*CHANGE_COLUMNS, *(m for c in CLAIM_TABLE for m in c.metrics),
              *(s for c in CLAIM_TABLE for pair in c.stand_in for s in pair)}
    return tuple(c.name for c in REPORT_COLUMNS if c.name in wanted)


def unregister_claim(name: str) -> None:
    """Remove the claim `name` from the verdict table (nothing if there is none)."""
    CLAIM_TABLE[:] = [c for c in CLAIM_TABLE if c.name != name]


DEFAULT_TEST_SET = "GLUE dev"
"""What a task's test set is called when neither its results nor the caller say."""


def task_metric(result: dict) -> str:
    """The name of a run's task metric: entity F1 for token classification; for a GLUE task (the recipe's
    `task_name`, whatever the grid calls the task) its metric in `textmix.harness.data.glue.GLUE_TASKS`; Pearson for other regression tasks;
    else accuracy. Results without their configuration fall back to the task's name. A run's own
    `task_metric` (the NER recipe's, for tags that are not entities: accuracy) wins."""
    own = result.get("task_metric")
    if isinstance(own, str) and own:
        return own
    if result.get("problem_type") == "token":
        return TOKEN_METRIC
    data = (result.get("config") or {}).get("data") or {}
    glue = data.get("task_name") if "task_name" in data else result.get("task")
    from ..data.glue import GLUE_TASKS  # the GLUE task table declares each task's metric

    if isinstance(glue, str) and glue in GLUE_TASKS:
        return GLUE_TASKS[glue].metric
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
def _number(value: Any) -> float:
    """A figure as a float (NaN for a missing or unknown one, e.g. the training time of an old resumed run)."""
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


RECOMMENDED_VS_TS = ("nll_ts", "smece_ts")
"""The test figures after temperature scaling shown when the recommended method is held against the baseline
+ temperature scaling; the first (NLL, the proper score the recommendation is chosen on) decides."""


