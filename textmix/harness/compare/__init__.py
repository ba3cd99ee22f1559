"""`textmix compare`: a resumable grid of tasks x methods x seeds (x label noise), and its report
(docs/compare.md is the reference). The path: `grid.load_grid` (a preset and/or a YAML/JSON file) ->
`sweep.parse_sweep` (a frozen `Sweep`, every problem of its structure at once) -> `Sweep.plan` (the `runs.Run`s,
of the methods that fit each task) -> `check.check_grid` (the plan whole, before the first run) ->
`execute.compare` (each run under a lock in `DIR/runs/<task>/<method>[/noise<rate>]/seed<k>/`, finished runs
skipped by run key, on this process or Ray, all runs or one `--shard I/N`) -> the report.
"""

from __future__ import annotations

from .execute import compare

__all__ = ["compare"]
