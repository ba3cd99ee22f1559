"""The experiment harness: data loading, training recipes, comparison grids, reports and the `textmix` command.

Kept apart from the core library (`import textmix` never loads it) and light at import time: every
heavy dependency (`datasets`, `transformers`' Trainer, `matplotlib`) is imported inside the function
that needs it. Modules:

- `textmix.harness.paths`: `shared_dir()`, where local data and weights live.
- `textmix.harness.checks`: up-front checks of inputs (output folders, model folders, "did you mean")
  and how the commands print an error.
- `textmix.harness.data`: the recipes' data (GLUE, csv/tsv/json files, hub datasets, token tags, images) and
  the contracts it enters under.
- `textmix.harness.recipes`: the `Recipe` template (`.base`) and one subclass per modality (`.glue`, `.image`,
  `.ner`); `.arguments` their argument classes and parser; `.registry` the recipe of each modality.
- `textmix.harness.compare`: grids of tasks x methods x seeds, parsed once into a `Sweep`, and their presets.
- `textmix.harness.figures`: a run's figures, each declared once; the report's views name them.
- `textmix.harness.report`: the report of a sweep (markdown, csv, json, reliability diagrams), a package split
  by job (`build_report`, `write_report`); its figures declared once (`textmix.harness.figures`), its claims
  once (`report.claims.CLAIMS`).
- `textmix.harness.runfile`: a run's files: the results.json schema, atomic writes, the header, the identity.
- `textmix.harness.cli`: the `textmix` command (`textmix compare`, `textmix train`, `textmix report`).
"""

from __future__ import annotations

from .paths import shared_dir

__all__ = ["shared_dir"]
