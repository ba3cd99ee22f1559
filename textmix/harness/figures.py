"""The figures of a run, each declared once: where results.json holds it, whether higher is better, its range, its
label and digits and, for a figure with an interval from the test examples, how it is recomputed on resampled
examples. The report's views (`textmix.harness.report.views`) and the results schema's split figures
(`split_figure_names`) are read from here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from textmix.calibration.metrics import brier_per_example, nll_per_example

NLL = partial(nll_per_example, from_logits=False)
BRIER = partial(brier_per_example, from_logits=False)


def smece_of_rows(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The top-label smooth ECE of each of K resamples, given (K, N, C) probabilities and (K, N) labels."""
    from textmix.calibration.smooth import smooth_ece_rows

    return smooth_ece_rows(probs.max(axis=2), (probs.argmax(axis=2) == labels).astype(np.float64))


@dataclass(frozen=True)
class Figure:
    """One figure of a run: `split` (a results.json entry such as `test` or `test_ts`; None: top level) and `key`
    in it (`task_metric`: the run's task metric), `higher_is_better` (None: neither, it describes a direction),
    `bounds` (None: open), `label` in sentences and plots, `short` in table headers, `digits`. The report's intervals
    resample it by `per_example` (one value per example, their mean the figure) or `resampled` (the figure of each
    of K resamples at once), after temperature scaling when its split ends in `_ts` (`scaled`)."""

    name: str
    split: str | None
    key: str
    higher_is_better: bool | None
    bounds: tuple[float, float | None] | None
    label: str
    short: str = ""
    digits: int = 4
    per_example: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    resampled: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    @property
    def scaled(self) -> bool:
        return bool(self.split and self.split.endswith("_ts"))


UNIT, POSITIVE, TWO = (0.0, 1.0), (0.0, None), (0.0, 2.0)
FIGURES: tuple[Figure, ...] = (
    Figure("task_metric", "test", "", True, None, "task metric", "{metric}"),
    Figure("accuracy", "test", "accuracy", True, UNIT, "accuracy", "accuracy"),
    Figure("ece", "test", "ece", False, UNIT, "ECE", "ECE"),
    Figure("ece_ts", "test_ts", "ece", False, UNIT, "ECE after temperature scaling", "ECE (TS)"),
    Figure("smece", "test", "smece", False, UNIT, "smooth ECE", "smECE", resampled=smece_of_rows),
    Figure("smece_ts", "test_ts", "smece", False, UNIT, "smooth ECE after temperature scaling", "smECE (TS)",
           resampled=smece_of_rows),
    Figure("ece_sweep", "test", "ece_sweep", False, UNIT, "monotone-sweep ECE"),
    Figure("mce", "test", "mce", False, UNIT, "MCE", "MCE"),
    Figure("adaptive_ece", "test", "adaptive_ece", False, UNIT, "adaptive ECE", "adaptive ECE"),
    Figure("brier", "test", "brier", False, TWO, "Brier score", "Brier", per_example=BRIER),
    Figure("brier_ts", "test_ts", "brier", False, TWO, "Brier score after temperature scaling",
           per_example=BRIER),
    Figure("nll", "test", "nll", False, POSITIVE, "NLL", "NLL", per_example=NLL),
    Figure("nll_ts", "test_ts", "nll", False, POSITIVE, "NLL after temperature scaling", per_example=NLL),
    Figure("aurc", "test", "aurc", False, UNIT, "AURC", "AURC"),
    Figure("accuracy_at_coverage_80", "test", "accuracy_at_coverage_80", True, UNIT, "accuracy at 80 % coverage",
           "acc@80% cov."),
    Figure("mean_confidence", "test", "mean_confidence", None, UNIT, "mean confidence"),
    Figure("temperature", None, "temperature", None, POSITIVE, "temperature"),
    Figure("validation_nll_ts", "validation_ts", "nll", False, POSITIVE, "validation NLL after temperature scaling"),
    Figure("train_time_s", None, "train_time_s", False, POSITIVE, "training time (s)", "train time (s)", digits=1),
    # a split's figures that no view of the report reads (the task metrics are read as `task_metric`)
    Figure("loss", "test", "loss", False, POSITIVE, "loss"),
    Figure("f1", "test", "f1", True, UNIT, "F1"),
    Figure("matthews_correlation", "test", "matthews_correlation", True, (-1.0, 1.0), "Matthews correlation"),
    Figure("pearson", "test", "pearson", True, (-1.0, 1.0), "Pearson correlation"),
    Figure("spearmanr", "test", "spearmanr", True, (-1.0, 1.0), "Spearman correlation"),
    Figure("entity_f1", "test", "entity_f1", True, UNIT, "entity F1"),
    Figure("rmsce", "test", "rmsce", False, UNIT, "RMS calibration error"),
    Figure("classwise_ece", "test", "classwise_ece", False, UNIT, "classwise ECE"),
    Figure("accuracy_at_coverage_50", "test", "accuracy_at_coverage_50", True, UNIT, "accuracy at 50 % coverage"),
    Figure("accuracy_at_coverage_90", "test", "accuracy_at_coverage_90", True, UNIT, "accuracy at 90 % coverage"),
)
"""Every figure of a run, in the order of report.csv's columns and report.md's table."""
FIGURE = {f.name: f for f in FIGURES}
assert len(FIGURE) == len(FIGURES), "a figure name is declared twice"


def check_view(view: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` (a view: an ordered tuple of figure names), or a ValueError naming those that are no figure."""
    unknown = [n for n in names if n not in FIGURE]
    if unknown:
        raise ValueError(f"view {view!r}: {unknown} are no figures of `textmix.harness.figures.FIGURES`; "
                         f"known: {list(FIGURE)}.")
    return names


def split_figure_names() -> dict[str, type]:
    """{key: type} of the figures of one split of results.json (`test`, `validation`, `test_ts`, ...), the smooth
    ECE's bootstrap interval (`smece_ci`) included."""
    keys = [f.key for f in FIGURES if f.split is not None and f.key]
    return {**dict.fromkeys(keys, float), "smece_ci": list[float]}
