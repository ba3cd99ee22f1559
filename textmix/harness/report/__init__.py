"""`textmix report`: tables and pictures of a sweep, rebuilt from the results on disk.

Writes `report.md`, `report.csv`, `report.json` and `reliability.png` into the sweep folder:
mean +/- std over seeds per task and method, the change against the baseline with a paired t-test
over seeds, the best method per task, each task's majority-class accuracy (runs that do not beat
it clearly are marked), and a tasks x methods grid of reliability diagrams (seeds pooled).
`write_report` does the same for any list of runs' results.

A task trained with label noise (`label_noise` > 0 in results.json; runs under
`runs/<task>/<method>/noise<rate>/seed<k>/`) is a task of its own, `"<task> · label noise <rate>"`:
its own table, its own comparisons with the baseline trained at the same rate. Each task says what its
test set is, which methods the sweep's `plan.json` skipped on it and why, in which direction its
baseline is miscalibrated, how the methods fare on corrupted copies of the test set (a table and
`shift_<task>.png`) and, when it was trained at several noise rates, `label_noise_<task>.png`. A
verdict table says, per claim and task, which methods help or hurt significantly, and each task
recommends the method with the lowest validation NLL after temperature scaling (chosen on validation,
reported with its test figures).

Runs that share a task (and noise rate) and method but differ in configuration, or repeat a seed, are
never pooled: that cell is left out and listed under "Clashes". A results.json that does not load, or
has an entry of the wrong type, is skipped with a warning and listed under "Skipped files", as is a
damaged grid.json, failures.json or plan.json, and a predictions.npz that does not load (its run keeps
its figures in the tables but is left out of the intervals and diagrams). A run with a missing or
non-finite figure is never averaged: it is listed under "Incomplete runs" and its row says how many
seeds remain.

The package, by job: `views` (the report's views of `textmix.harness.figures`, its thresholds), `reading`
(results files, damaged files, incomplete runs, clashes), `statistics` (means, paired changes, shifted
test sets), `intervals` (paired, hierarchical bootstrap intervals), `claims` (the claims, declared once,
the recommendation and the verdict), `summary`, `markdown` (report.md) and `output` (report.csv/.json,
pictures, `build_report`, `write_report`).
"""

from __future__ import annotations

from .output import build_report, write_report

__all__ = ["build_report", "write_report"]
