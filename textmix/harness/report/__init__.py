"""`textmix report`: tables and pictures of a sweep, rebuilt from the results on disk (docs/compare.md).

`build_report` writes `report.md`, `report.csv`, `report.json`, `reliability.png` and the shift and label-noise
plots into a sweep folder; `write_report` does the same for any list of runs' results. Per task (a task trained
with label noise is a task of its own) and method: mean ± std over seeds, the change against the baseline
(paired t-test, and a paired hierarchical bootstrap interval where predictions.npz allow), chance marks, the
best method, the baseline's miscalibration, the shift table, a recommendation chosen on validation; a verdict
per claim and task. Clashing cells, incomplete runs, damaged files and failed runs are listed, never pooled.

The package, by job: `views` (the report's views of `textmix.harness.figures`, its thresholds), `reading`
(results files, damaged files, incomplete runs, clashes), `statistics` (means, paired changes, shifted test
sets), `intervals` (bootstrap intervals), `ensembles` (seed ensembles, free rows), `claims` (the claims,
recommendation and verdict), `summary`, `markdown` (report.md) and `output` (report.csv/.json, pictures,
`build_report`, `write_report`).
"""

from __future__ import annotations

from .output import build_report, write_report

__all__ = ["build_report", "write_report"]
