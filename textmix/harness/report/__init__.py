"""`textmix report`: tables and pictures of a sweep, rebuilt from the results on disk.

Writes `report.md`, `report.csv`, `report.json` and `reliability.png` into the sweep folder:
mean +/- std over seeds per task and method, the change against the baseline with a paired t-test
over seeds, the best method per task, each task's majority-class accuracy (runs that do not beat
it clearly are marked), and a tasks x methods grid of reliability diagrams (seeds pooled).
`write_report` does the same for any list of runs' results (the recipes' `--compare` is a sweep: `build_report`).

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
damaged grid.json, failures.json or plan.json, and a predictions.npz that does not load (truncated,
say: its run keeps its figures in the tables but is left out of the intervals and diagrams). A run with a missing or non-finite figure
(`incomplete_reason`) is never averaged: it is listed under "Incomplete runs" (`incomplete`), left out
of the means, and its row says how many seeds remain (`incomplete_seeds`).

The package, by job: `figures` (the figures and claims, declared once, and the thresholds), `reading`
(results files, damaged files, incomplete runs, clashes), `statistics` (means, paired changes, shifted
test sets), `intervals` (paired, hierarchical bootstrap intervals), `claims` (recommendation and verdict), `summary`, `markdown` (report.md) and `output`
(report.csv/.json, pictures, `build_report`, `write_report`). Every name is importable from here.
"""

from __future__ import annotations

from typing import Any

from ..runfile import MAPPINGS  # noqa: F401
from .claims import (  # noqa: F401
    against_baseline_ts,
    baseline_calibration,
    calibrated_to_ship,
    calibration_direction,
    recommend,
    temperature_at_bound,
    temperature_text,
    verdict,
)
from .figures import (  # noqa: F401
    ALPHA,
    CHANCE_MARGIN,
    CHANGE_COLUMNS,
    CLAIM_TABLE,
    COLUMN,
    COLUMNS,
    CSV_CHANGES,
    DEFAULT_TEST_SET,
    INTERVAL_CSV,
    LOWER_IS_BETTER,
    OCCLUSION_KINDS,
    OVERCONFIDENT_T,
    PANELS,
    RECOMMENDED_TEST,
    RECOMMENDED_VS_TS,
    REPORT_COLUMNS,
    REQUIRED,
    SHIFT_KINDS,
    SHIFT_METRICS,
    SHIFT_SHOWN,
    TABLE_COLUMNS,
    TOKEN_METRIC,
    UNDERCONFIDENT_T,
    Claim,
    Column,
    claim_names,
    corrupting,
    occluding,
    register_claim,
    run_values,
    task_metric,
    unregister_claim,
)
from .markdown import (  # noqa: F401
    baseline_line,
    write_markdown,
)
from .output import (  # noqa: F401
    build_report,
    models_line,
    write_csv,
    write_plots,
    write_reliability,
    write_report,
)
from .reading import (  # noqa: F401
    RUN_PATTERNS,
    collect,
    find_clashes,
    identity,
    incomplete_reason,
    label_noise,
    plot_name,
    scan,
    split_incomplete,
    variant,
    variant_label,
)
from .statistics import (  # noqa: F401
    add_intervals,
    judge,
    paired_change,
    shift_means,
    shift_summary,
)
from .summary import (  # noqa: F401
    summarise,
)


def __getattr__(name: str) -> Any:
    """`CLAIMS` and `CLAIM_TEXT`, read from `CLAIM_TABLE` as it is now (see `figures`)."""
    from . import figures

    return getattr(figures, name)
