"""`textmix compare`: a resumable grid of tasks x methods x seeds (x label noise), and its report.

A grid is a YAML/JSON mapping (or a preset) like

    model_name_or_path: ../shared/models/bert-tiny
    glue_dir: ../shared/data/glue
    tasks:                                  # GLUE names, or mappings (see textmix.harness.tasks)
      - sst2
      - {name: reviews, train_file: data/train.csv, test_file: data/test.csv, label_column: sentiment}
      - {name: digits, modality: image, train_file: ../shared/data/mnist/mnist.npz}
      - {name: wnut17, modality: tokens, train_file: ../shared/data/wnut17/train.conll,
         test_file: ../shared/data/wnut17/test.conll}
    methods: [none, label_smoothing, embedding, hidden, span, mixup, cutmix]   # each where it fits
    seeds: [0, 1, 2]
    data: {max_train_samples: 2000, max_seq_length: 128}          # recipe DataArguments fields
    training: {num_train_epochs: 3, learning_rate: 1.0e-4}         # MixTrainingArguments fields
    task_args: {sst2: {data: {max_seq_length: 64}}}                # per-task overrides (data, model, training)
    method_args: {hidden: {mix_layers: [1, 2]}}                    # per-method overrides
    shift: {text: [typo, mask], image: [occlusion], severities: [1, 3, 5]}   # corrupted test sets
    label_noise: [0.0, 0.2]                                        # training labels flipped at these rates

Methods run on the tasks they fit (`textmix.harness.tasks.fits`): a method that fits no task is an
error, one that fits some is skipped elsewhere (`plan.json` and the report say where). A grid-wide
`data` key applies to the tasks whose recipe has it. `shift` tests every trained model also on
corrupted copies of its test set (text kinds on text and token tasks, image kinds on image tasks);
`label_noise` trains each cell once per rate (runs with a rate > 0 in `.../<method>/noise<rate>/`).

`{shared}` in a preset's paths is `textmix.harness.paths.shared_dir()` ($TEXTMIX_SHARED, else the
`shared` folder beside the checkout, else ../shared from the working directory); `{reviews}` the
csv task shipped with textmix (`textmix/harness/data/reviews`).

Each run lives in `DIR/runs/<task>/<method>/seed<k>/`. Finished runs (a `results.json` with the same
run key) are skipped; an interrupted run resumes from its last complete checkpoint of the same
configuration (see `textmix.harness.recipes.resume.resume_checkpoint`). The run key
(`Run.key`) hashes what determines a run's results: its data and training arguments (not paths:
not `output_dir`, nor where the data files are), the model (its files' contents and sizes, not its
path) and the task's data files (their sizes): a sweep copied or moved elsewhere, or started from
another folder, is recognised.

The whole grid is checked before the first run, and every problem is reported at once
(`GridError`): unknown keys at any level (with the closest known one), values the recipes'
arguments refuse, paths, the model folders, the data of each task (files, columns, labels, images),
shift kinds and severities, label-noise rates and the sweep folder. While a run trains,
`DIR/runs/<task>/<method>/seed<k>/.textmix-run.lock` holds the pid and host of the process training
it: a second `textmix compare` on the same sweep (another shard, another machine of a cluster)
leaves the run alone, and takes over a lock whose local process is gone (saying so). Runs are
independent: `--backend ray` trains them in parallel (`textmix.harness.backends`), `--shard I/N`
splits them between the processes of a job array.
"""

from __future__ import annotations

from .check import check_grid
from .execute import (
    LOCK_FILE,
    PLAN_FILE,
    SweepFailed,
    acquire_lock,
    compare,
    release_lock,
    run_one,
    train_run,
)
from .grid import REVIEWS_DIR, GridError, load_grid
from .presets import BASELINE, BASELINES, GRID_KEYS, METHODS, PRESETS, SHIFT_KEYS, grid_methods
from .runs import Run, parse_shard, plan, runs_summary, shard_runs, task_plan
from .sweep import Sweep, as_sweep, grid_problems, parse_sweep, parse_tasks

__all__ = ["BASELINE", "BASELINES", "GRID_KEYS", "LOCK_FILE", "METHODS", "PLAN_FILE", "PRESETS",
           "REVIEWS_DIR", "SHIFT_KEYS", "GridError", "Run", "Sweep", "as_sweep", "SweepFailed", "acquire_lock", "check_grid", "compare",
           "grid_methods", "grid_problems", "load_grid", "parse_shard", "parse_sweep", "parse_tasks", "plan", "release_lock",
           "run_one", "runs_summary", "shard_runs", "task_plan", "train_run"]
