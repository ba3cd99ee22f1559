"""`textmix compare`: a resumable grid of tasks x methods x seeds (x label noise), and its report
(docs/compare.md is the reference).

A grid is a YAML/JSON mapping or a preset (`presets`; `{shared}` in its paths is
`textmix.harness.paths.shared_dir()`, `{reviews}` the csv task shipped in `textmix/harness/data/reviews`),
loaded by `grid.load_grid` and parsed once into a frozen `Sweep` (`sweep.parse_sweep`: every problem of its
structure at once). `Sweep.plan` lists its runs once (`runs.Run`: one per task x label noise x method x
seed, of the methods that fit each task, `textmix.harness.tasks.fits`; a grid-wide `data` key applies to
the tasks whose recipe has it); `check.check_grid` checks the plan whole before the first run (models,
data, recipe arguments, the sweep folder: a `GridError` lists every problem), and `execute.compare` trains
each run in `DIR/runs/<task>/<method>[/noise<rate>]/seed<k>/` under a lock, skipping finished runs (same
run key: paths aside, so a moved sweep is recognised), on this process or Ray (`textmix.harness.backends`),
all runs or one `--shard I/N`, then writes the report.
"""

from __future__ import annotations

from .execute import compare

__all__ = ["compare"]
