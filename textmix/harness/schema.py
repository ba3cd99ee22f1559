"""The schema of a run's results.json: what every recipe writes (`recipes.common.train_and_report`) and
`textmix report` reads.

`RunResults` holds the entries of every run, `ClassifierResults` adds those of runs with a temperature
(single-label and token classifiers: `CALIBRATED` problem types); `OptionalResults` the entries written only
sometimes. A split's figures (`SplitFigures`) are those of `textmix.calibration.calibration_report` and the
trainer's metrics; a run with more test splits than `test` (`test_<name>`) has `test_<name>`,
`test_<name>_ts` and `test_<name>_majority_accuracy` beside them (`EXTRA_TEST_SPLIT`).
"""

from __future__ import annotations

import re
from typing import Any, TypedDict, get_type_hints


class SplitFigures(TypedDict, total=False):
    """The figures of one split (`validation`, `test`, `test_ts`, ...): the trainer's metrics (`loss`, the task
    metric such as `accuracy`, `f1`, `matthews_correlation`, `pearson`, `entity_f1`) and, for classifiers, the
    calibration report, the selective-prediction figures and the smooth ECE's bootstrap interval."""

    loss: float
    accuracy: float
    f1: float
    matthews_correlation: float
    pearson: float
    spearmanr: float
    entity_f1: float
    ece: float
    mce: float
    adaptive_ece: float
    rmsce: float
    classwise_ece: float
    smece: float
    smece_ci: list[float]
    ece_sweep: float
    brier: float
    nll: float
    aurc: float
    accuracy_at_coverage_50: float
    accuracy_at_coverage_80: float
    accuracy_at_coverage_90: float
    mean_confidence: float


ShiftFigures = dict[str, dict[str, dict[str, float]]]
"""`shift`: {kind: {severity (a string): figures of that corrupted test set, `<figure>_ts` after scaling, `size`}}."""
RunConfig = dict[str, dict[str, Any]]
"""`config`: the recipe's arguments by section (`model`, `data`, `training`)."""


class RunHeader(TypedDict):
    """The first entries, from the recipe (its header), naming the run and its data."""

    task: str
    method: str
    seed: int
    model: str
    modality: str
    test_set: str
    label_noise: float
    label_noise_flipped: int | None
    label_names: list[str] | None
    inputs: dict[str, Any]
    splits_made: dict[str, Any]
    dropped_unseen_labels: dict[str, Any]


class RunResults(RunHeader):
    """Every run's results.json (`train_and_report`)."""

    regression: bool
    problem_type: str
    sizes: dict[str, int]
    dropped_unlabelled: dict[str, int]
    train_time_s: float | None
    train_loss: float | None
    this_attempt: dict[str, Any]
    resumed_from: str | None
    final_model: str
    test: SplitFigures
    validation: SplitFigures
    config: RunConfig
    versions: dict[str, str]
    device: str
    world_size: int


class ClassifierResults(RunResults):
    """A classifier's results.json: a temperature fitted on validation and the figures after scaling."""

    test_ts: SplitFigures
    validation_ts: SplitFigures
    temperature: float
    temperature_at_bound: bool
    test_majority_accuracy: float


class OptionalResults(TypedDict, total=False):
    """Entries written only sometimes: `shift` (corrupted test sets), `calibrated` (`--save_calibrated`) or why
    not (`calibrated_not_written`: the temperature at its search bound), the
    NER recipe's `unscored_words` and own `task_metric` (tags that are not entities), and `grid_key` (a run of
    `textmix compare`)."""

    shift: ShiftFigures
    calibrated: str
    calibrated_not_written: str
    unscored_words: dict[str, Any]
    task_metric: str
    grid_key: str


RESULT_KEYS = frozenset(ClassifierResults.__required_keys__)
"""The entries every classifier run writes (and, with `OPTIONAL_KEYS`, all it may write)."""
RUN_KEYS = frozenset(RunResults.__required_keys__)
"""The entries every run writes, regression and multi-label included."""
OPTIONAL_KEYS = frozenset(OptionalResults.__optional_keys__)
"""The entries a run may write besides `RESULT_KEYS`."""
IDENTITY_KEYS = ("task", "method", "seed")
"""The entries without which the report cannot place a run."""
EXTRA_TEST_SPLIT = re.compile(r"test_\w+?(_ts|_majority_accuracy)?")
"""The entries of a further test split (`test_<name>`, after scaling `_ts`, its majority accuracy)."""


def _mapping_keys() -> tuple[str, ...]:
    hints = {**get_type_hints(ClassifierResults), **get_type_hints(OptionalResults)}
    keys = [k for k, v in hints.items() if v in (SplitFigures, ShiftFigures, RunConfig)]
    return tuple(sorted(keys, key=lambda k: keys.index(k.removesuffix("_ts"))))  # a split, then it after scaling


MAPPINGS = _mapping_keys()
"""Entries that must be mappings when present: the splits' figures, `config` and `shift`."""


def unknown_keys(results: dict[str, Any]) -> list[str]:
    """The entries of `results` that the schema does not declare (further test splits are declared)."""
    known = RESULT_KEYS | OPTIONAL_KEYS
    return sorted(k for k in results if k not in known and not EXTRA_TEST_SPLIT.fullmatch(k))


RESULT_NEUTRAL = frozenset({"output_dir", "logging_dir", "run_name", "report_to", "disable_tqdm",
                            "overwrite_output_dir", "resume_from_checkpoint", "save_total_limit",
                            "save_calibrated_at_bound"})
"""Training arguments that do not change a run's results (paths, reporting): left out of its run key, of the
identity a checkpoint stores and of the configuration the report compares (and `save_calibrated_at_bound`: which
files are written, not the figures)."""

PER_PROCESS = frozenset({"local_rank", "hub_token"})
"""Training arguments that differ between the processes of one run (or are secrets): not part of its identity."""
