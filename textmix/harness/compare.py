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
configuration (see `textmix.harness.recipes.common.resume_checkpoint`). The run key
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

import contextlib
import copy
import functools
import hashlib
import json
import os
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..methods import method_names
from .checks import (
    InputError,
    did_you_mean,
    names_twice,
    notice,
    problem_model,
    problem_name,
    problem_output_dir,
    unknown_key,
)
from .paths import shared_dir
from .tasks import (
    FILE_FIELDS,
    SET_BY_THE_GRID,
    TaskSpec,
    fits,
    parse_task,
    recipe_fields,
    section_problems,
    task_name,
)

BASELINES: dict[str, dict[str, Any]] = {
    "none": {"mix_method": "none"},
    "label_smoothing": {"mix_method": "none", "label_smoothing_factor": 0.1},
}
"""The grid's methods that do not mix, and the training arguments each one sets."""


def grid_methods(modality: str | None = None) -> dict[str, dict[str, Any]]:
    """Method names a grid knows and the training arguments each one sets (on top of `training`):
    the baselines, then every registered mixing method (of `modality`, `text` or `image`, when given)
    as `mix_method=<name>`."""
    return {**BASELINES, **{name: {"mix_method": name} for name in method_names(modality=modality)}}


METHODS = grid_methods("text")
"""The text methods of the built-in presets (those registered when textmix was imported)."""

BASELINE = "none"

_TRAINING_DEFAULTS: dict[str, Any] = {
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 128,
    "learning_rate": 1e-4,
    "num_train_epochs": 3,
    "warmup_steps": 0.06,
    "weight_decay": 0.01,
    "mix_alpha": 0.4,
    "logging_steps": 50,
    "save_strategy": "steps",
    "save_steps": 100,
    "save_total_limit": 2,
    "eval_strategy": "no",
    "report_to": "none",
    "disable_tqdm": True,
    "dataloader_num_workers": 0,
    "dataloader_pin_memory": False,
}

_SMALL_VIT = {"patch_size": 4, "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
              "intermediate_size": 128}
"""A ViT trained from scratch for MNIST's 28 x 28 digits (a 7 x 7 grid of patches), as the image recipe's --quick."""

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "description": "CI: bert-tiny, one task, three methods, a few steps (well under 2 minutes).",
        "model_name_or_path": "{shared}/models/bert-tiny",
        "glue_dir": "{shared}/data/glue",
        "tasks": ["rte"],
        "methods": ["none", "hidden", "span"],
        "seeds": [0, 1],
        "data": {"max_train_samples": 96, "max_test_samples": 96, "validation_split": 64, "max_seq_length": 64},
        "training": {"max_steps": 6, "save_steps": 3, "logging_steps": 3, "per_device_train_batch_size": 16},
    },
    "smoke_tasks": {
        "description": "CI: every kind of task (GLUE RTE, a csv file with string labels, MNIST, WNUT-17) with shift "
                       "and label noise, one seed, a few steps each (a few minutes).",
        "model_name_or_path": "{shared}/models/bert-tiny",
        "glue_dir": "{shared}/data/glue",
        "tasks": [
            "rte",
            {"name": "reviews", "train_file": "{reviews}/train.csv", "test_file": "{reviews}/test.csv",
             "text_columns": ["review"], "label_column": "sentiment"},
            {"name": "digits", "modality": "image", "train_file": "{shared}/data/mnist/mnist.npz",
             "model": _SMALL_VIT, "data": {"max_train_samples": 256, "max_eval_samples": 64}},
            {"name": "wnut17", "modality": "tokens", "train_file": "{shared}/data/wnut17/train.conll",
             "validation_file": "{shared}/data/wnut17/dev.conll", "test_file": "{shared}/data/wnut17/test.conll",
             "data": {"max_train_samples": 96, "max_eval_samples": 64, "max_test_samples": 64, "max_seq_length": 64}},
        ],
        "methods": ["none", "hidden", "mixup"],
        "seeds": [0],
        "data": {"max_train_samples": 96, "max_test_samples": 64, "validation_split": 64, "max_seq_length": 64},
        "training": {"max_steps": 3, "save_strategy": "no", "logging_steps": 1, "per_device_train_batch_size": 16},
        "shift": {"text": ["typo", "mask"], "image": ["occlusion", "gaussian_noise"], "severities": [1, 5]},
        "label_noise": [0.0, 0.2],
    },
    "quick": {
        "description": "bert-tiny on SST-2, RTE and a csv task, a small ViT on MNIST, training subsets; corrupted "
                       "test sets and 20 % label noise; 3 seeds (about an hour on 2 CPU cores).",
        "model_name_or_path": "{shared}/models/bert-tiny",
        "glue_dir": "{shared}/data/glue",
        "tasks": [
            "sst2",
            "rte",
            {"name": "reviews", "train_file": "{reviews}/train.csv", "test_file": "{reviews}/test.csv",
             "text_columns": ["review"], "label_column": "sentiment"},
            {"name": "digits", "modality": "image", "train_file": "{shared}/data/mnist/mnist.npz",
             "model": _SMALL_VIT, "data": {"max_train_samples": 10000, "max_eval_samples": 500},
             "training": {"num_train_epochs": 5, "learning_rate": 2e-3, "per_device_train_batch_size": 128,
                          "warmup_steps": 0.05, "lr_scheduler_type": "cosine", "weight_decay": 0.05,
                          "mix_cutmix_alpha": 1.0}},
        ],
        "methods": ["none", "label_smoothing", "hidden", "span", "mixup", "cutmix"],
        "seeds": [0, 1, 2],
        "data": {"max_train_samples": 1000, "max_seq_length": 64, "validation_split": 300, "max_test_samples": 500},
        "training": {"num_train_epochs": 3, "learning_rate": 3e-4},
        "shift": {"text": ["typo", "deletion", "swap", "mask"],
                  "image": ["gaussian_noise", "blur", "contrast", "occlusion"], "severities": [1, 3, 5]},
        "label_noise": [0.0, 0.2],
    },
    "gpu": {
        "description": "One GPU: MiniLM-L6 on SST-2, MRPC, RTE, CoLA and STS-B (2,000 training rows each), every "
                       "text method, 3 seeds: 105 runs of 96 steps, bf16, batch 64; benchmarks/gpu_run.sh runs it as "
                       "7 processes sharing the GPU in about 5 minutes on one H100/H200, set-up and checks included "
                       "(an estimate, not yet measured on a GPU: from the CPU dry run and earlier H200 step times; "
                       "benchmarks/README.md).",
        "model_name_or_path": "{shared}/models/minilm-l6",
        "glue_dir": "{shared}/data/glue",
        "tasks": ["sst2", "mrpc", "rte", "cola", "stsb"],
        "methods": list(METHODS),
        "seeds": [0, 1, 2],
        "data": {"max_train_samples": 2000, "max_seq_length": 128, "validation_split": 500},
        "training": {"num_train_epochs": 3, "learning_rate": 1e-4, "per_device_train_batch_size": 64,
                     "per_device_eval_batch_size": 512, "save_strategy": "no", "bf16": True,
                     "dataloader_num_workers": 0, "logging_steps": 32},
    },
    "standard": {
        "description": "MiniLM-L6 on SST-2, MRPC, RTE and CoLA, full training sets, 3 seeds (hours on CPU).",
        "model_name_or_path": "{shared}/models/minilm-l6",
        "glue_dir": "{shared}/data/glue",
        "tasks": ["sst2", "mrpc", "rte", "cola"],
        "methods": list(METHODS),
        "seeds": [0, 1, 2],
        "data": {"max_seq_length": 128},
        "training": {"num_train_epochs": 3, "learning_rate": 5e-5, "save_steps": 500},
    },
    "full": {
        "description": "Every GLUE task, 5 seeds, BERT-base: meant for a GPU.",
        "model_name_or_path": "google-bert/bert-base-uncased",
        "glue_dir": None,
        "tasks": ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"],
        "methods": list(METHODS),
        "seeds": [0, 1, 2, 3, 4],
        "data": {"max_seq_length": 128},
        "training": {"num_train_epochs": 3, "learning_rate": 2e-5, "save_steps": 1000, "bf16": True},
    },
}


GRID_KEYS = ("description", "model_name_or_path", "glue_dir", "tasks", "methods", "seeds", "data", "training",
             "task_args", "method_args", "baseline", "shift", "label_noise", "save_calibrated")
"""The keys a grid may have at the top level."""

SHIFT_KEYS = ("text", "image", "severities")
"""The keys of a grid's `shift`: the text kinds (text and token tasks), the image kinds, the severities."""

RESULT_NEUTRAL = {"output_dir", "logging_dir", "run_name", "report_to", "disable_tqdm", "overwrite_output_dir",
                  "resume_from_checkpoint", "save_total_limit"}
"""Training arguments that do not change a run's results (paths, reporting): left out of the run key."""

LOCK_FILE = ".textmix-run.lock"
"""In a run's folder while a process trains it: {"pid", "host", "since"}."""

PLAN_FILE = "plan.json"
"""In the sweep folder: per task its modality, test set, methods and the methods skipped on it (and why)."""


class GridError(InputError):
    """Problems of a grid, all of them (`problems`), found before the first run."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        head = "the grid has a problem" if len(problems) == 1 else f"the grid has {len(problems)} problems"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class SweepFailed(RuntimeError):
    """Every run of a sweep failed: nothing to report."""

    exit_code = 1


def load_grid(preset: str | None = None, config: str | None = None, validate: bool = True,
              **overrides: Any) -> dict[str, Any]:
    """A grid from a preset and/or a YAML/JSON file, with top-level overrides (None values ignored).

    `{shared}` in a preset's paths becomes `shared_dir()`. With `validate`, its keys and names are
    checked at every level (`grid_problems`): a `GridError` lists every problem (`check_grid` checks
    those and everything on disk).
    """
    if preset is None and config is None:
        raise ValueError(f"give --preset ({', '.join(PRESETS)}) or --config FILE.")
    grid: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}{did_you_mean(preset, PRESETS)}; choose from {sorted(PRESETS)}.")
        grid = _with_shared(copy.deepcopy(PRESETS[preset]), str(shared_dir()))
    if config is not None:
        import yaml

        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"--config {config} does not exist.")
        text = path.read_text(encoding="utf-8")
        try:
            loaded = json.loads(text) if config.endswith(".json") else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as err:
            raise InputError(f"{config} is not valid {'JSON' if config.endswith('.json') else 'YAML'}: {err}") from None
        if not isinstance(loaded, Mapping):
            raise ValueError(f"{config} must hold a mapping (tasks, methods, seeds, ...).")
        grid = _merge(grid, loaded)
    grid = _merge(grid, {k: v for k, v in overrides.items() if v is not None})
    problems = grid_problems(grid) if validate else []
    if problems:
        raise GridError(problems)
    return grid


REVIEWS_DIR = Path(__file__).resolve().parent / "data" / "reviews"
"""The `reviews` csv task of the presets (see its README.md): `{reviews}` in a preset's paths."""


def _with_shared(value: Any, shared: str) -> Any:
    """`value` with `{shared}` (and `{reviews}`) in every string, at any depth, replaced by their folders."""
    if isinstance(value, str):
        return value.replace("{shared}", shared).replace("{reviews}", str(REVIEWS_DIR))
    if isinstance(value, list):
        return [_with_shared(v, shared) for v in value]
    if isinstance(value, Mapping):
        return {k: _with_shared(v, shared) for k, v in value.items()}
    return value


def _merge(base: dict, extra: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_tasks(grid: Mapping[str, Any]) -> tuple[list[TaskSpec], list[str]]:
    """(the TaskSpecs of the grid's `tasks`, their problems: unknown GLUE names, bad mappings, names twice)."""
    specs, problems = [], []
    for entry in grid.get("tasks") or []:
        spec, found = parse_task(entry, grid.get("glue_dir"))
        problems += found
        if spec is not None:
            specs.append(spec)
    twice = names_twice("task", [s.name for s in specs])
    if twice:
        problems.append(twice)
    glue: dict[str, list[str]] = {}
    for spec in specs:
        if spec.glue:
            glue.setdefault(spec.glue, []).append(spec.name)
    problems += [f"tasks {names} are all GLUE {task}: give it once." for task, names in glue.items()
                 if len(names) > 1 and names_twice("task", names) is None]
    return specs, problems


def _common_section_problems(where: str, section: str, values: Any, specs: list[TaskSpec]) -> list[str]:
    """Problems of a grid-wide `data` / `training` mapping: a key must be an argument of some task's
    recipe (it is applied to the tasks whose recipe has it)."""
    if not isinstance(values, Mapping):
        return [f"{where}: must be a mapping of recipe arguments, got {type(values).__name__}"]
    modalities = sorted({s.modality for s in specs}) or ["text"]
    known = set().union(*(recipe_fields(m)[section] for m in modalities))
    out = []
    for key in values:
        if key in SET_BY_THE_GRID[section]:
            out.append(f"{where}: '{key}' is set by {SET_BY_THE_GRID[section][key]}; remove it here.")
        elif key not in known:
            out.append(unknown_key(where, key, known))
    return out


def _shift_problems(grid: Mapping[str, Any]) -> list[str]:
    """Problems of the grid's `shift` and `label_noise`."""
    from .recipes.common import check_label_noise, check_shift

    problems = []
    shift = grid.get("shift")
    if shift is not None:
        if not isinstance(shift, Mapping):
            return [f"shift must be a mapping like {{text: [typo, mask], image: [occlusion], severities: [1, 3, 5]}}, "
                    f"got {shift!r}."]
        problems += [unknown_key("shift", k, SHIFT_KEYS) for k in shift if k not in SHIFT_KEYS]
        for key, modality in (("text", "text"), ("image", "image")):
            kinds = shift.get(key)
            if kinds is not None and not isinstance(kinds, list):
                problems.append(f"shift.{key} must be a list of kinds, got {kinds!r}.")
                continue
            try:
                check_shift(kinds, None, modality)
            except InputError as err:
                problems.append(f"shift.{key}: {err}")
        severities = shift.get("severities")
        if severities is not None:
            if not isinstance(severities, list) or not severities:
                problems.append(f"shift.severities must be a list of severities 1-5, got {severities!r}.")
            else:
                try:
                    check_shift(["typo"], severities, "text")
                except InputError as err:
                    problems.append(f"shift.severities: {err}")
        if not (shift.get("text") or shift.get("image")):
            problems.append("shift names no kinds: give shift.text and/or shift.image.")
    noise = grid.get("label_noise")
    if noise is not None:
        rates = noise if isinstance(noise, list) else [noise]
        for rate in rates:
            try:
                check_label_noise(rate)
            except InputError as err:
                problems.append(f"label_noise: {err}")
        if len(set(map(str, rates))) != len(rates):
            problems.append(f"label_noise lists a rate twice: {rates}.")
    return problems


def grid_problems(grid: Mapping[str, Any]) -> list[str]:
    """Every problem of a grid's structure, without touching the disk: unknown keys at any level (top
    level, task mappings, `data`, `training`, `task_args`, `method_args`, `shift`, checked against the
    recipes' arguments, each with the closest known name), unknown tasks and methods, methods that fit
    no task, seeds, shift kinds and severities, label-noise rates."""
    problems = [unknown_key("", key, GRID_KEYS) for key in grid if key not in GRID_KEYS]
    for key in ("tasks", "methods", "seeds"):
        if not grid.get(key):
            problems.append(f"the grid needs `{key}`.")
    for key in ("tasks", "methods"):
        if grid.get(key) and not isinstance(grid[key], list):
            problems.append(f"{key} must be a list (e.g. `{key}: [{grid[key]}]`), got {grid[key]!r}.")
            return problems
    specs, found = parse_tasks(grid)
    problems += found
    uses_grid_model = [s.name for s in specs if s.modality != "image" and "model_name_or_path" not in s.model]
    if uses_grid_model and not grid.get("model_name_or_path"):
        problems.append(f"the grid needs `model_name_or_path` (tasks {uses_grid_model} have no model of their own).")
    seeds = grid.get("seeds") or []
    if not isinstance(seeds, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
        problems.append(f"seeds must be whole numbers, got {seeds!r}.")
    known = grid_methods()
    method_args = grid.get("method_args") or {}
    if not isinstance(method_args, Mapping):
        problems.append("method_args: must map method names to training arguments.")
        method_args = {}
    methods = grid.get("methods") or []
    problems += [p for p in (problem_name("method", m) for m in methods) if p]
    twice = names_twice("method", methods) if isinstance(methods, list) else None
    if twice:
        problems.append(twice)
    if isinstance(seeds, list) and len({str(x) for x in seeds}) != len(seeds):
        problems.append(f"seeds lists a seed more than once: {seeds}; each seed is one run of a cell.")
    unknown = [m for m in methods if m not in known and m not in method_args]
    if unknown:
        hints = "".join(did_you_mean(m, known) for m in unknown)
        problems.append(f"unknown methods {unknown}{hints}: known are {sorted(known)}, or define them in "
                        "method_args.")
    elif specs and not found:
        for method in methods:
            training = {**known.get(method, {}), **(method_args.get(method) or {})}
            reasons = [fits(method, training, s.modality) for s in specs]
            if all(reasons):
                problems.append(f"method {method} fits none of the tasks ({reasons[0]}); remove it, or add a task "
                                "it applies to.")
    for section in ("data", "training"):
        if section in grid:
            problems += _common_section_problems(section, section, grid[section], specs)
    task_args = grid.get("task_args") or {}
    if not isinstance(task_args, Mapping):
        problems.append("task_args: must map task names to {data: ..., training: ...}.")
        task_args = {}
    by_name = {s.name: s for s in specs}
    names = [task_name(t) for t in grid.get("tasks") or []]
    for task, over in task_args.items():
        spec = by_name.get(str(task)) or next((s for s in specs if s.glue and s.glue == _glue_name(task)), None)
        if spec is None:
            if str(task) not in names:
                problems.append(unknown_key("task_args", task, names, what="task"))
            continue
        if not isinstance(over, Mapping):
            problems.append(f"task_args.{task}: must be a mapping with `data`, `model` and/or `training`.")
            continue
        for key, values in over.items():
            if key not in ("data", "model", "training"):
                problems.append(unknown_key(f"task_args.{task}", key, ("data", "model", "training")))
            else:
                problems += section_problems(f"task_args.{task}.{key}", key, values, spec.modality)
    for method, values in method_args.items():
        if method not in known and method not in methods:
            problems.append(unknown_key("method_args", method, [*known, *methods], what="method")
                            + " (a new method must also be listed in `methods`)")
            continue
        if not isinstance(values or {}, Mapping):
            problems.append(f"method_args.{method}: must be a mapping of training arguments.")
            continue
        problems += [unknown_key(f"method_args.{method}", k, recipe_fields("text")["training"])
                     for k in (values or {}) if k not in recipe_fields("text")["training"]]
    if "baseline" in grid and not isinstance(grid["baseline"], str):
        problems.append(f"baseline must be a method name, got {grid['baseline']!r}.")
    elif "baseline" in grid and isinstance(methods, list) and grid["baseline"] not in methods:
        problems.append(f"baseline {grid['baseline']!r} is not one of the grid's methods"
                        f"{did_you_mean(grid['baseline'], map(str, methods))}: {methods}.")
    if "save_calibrated" in grid and not isinstance(grid["save_calibrated"], bool):
        problems.append(f"save_calibrated must be true or false, got {grid['save_calibrated']!r}.")
    problems += _shift_problems(grid)
    return problems


def _glue_name(task: Any) -> str | None:
    from .glue import glue_task

    try:
        return glue_task(str(task)).name
    except ValueError:
        return None


def check_grid(grid: Mapping[str, Any], output_dir: str | Path | None = None) -> list[str]:
    """Every problem of a grid, before its first run: `grid_problems`, then the sweep folder, each model
    folder (loadable config and tokenizer), `glue_dir`, the recipe arguments of every run (each distinct
    set built once) and each task's data (files, columns, labels, splits, images). Returns messages."""
    problems = grid_problems(grid)
    if output_dir is not None:
        problem = problem_output_dir(output_dir, option="--output_dir", create=False)
        if problem:
            problems.append(problem)
    specs, _ = parse_tasks(grid)
    models: dict[tuple[str, bool], str] = {}
    for s in specs:
        if s.modality == "image" and not s.model.get("model_name_or_path"):
            continue
        over = _task_args(grid, s) if isinstance(grid.get("task_args") or {}, Mapping) else {}
        over = over.get("model") if isinstance(over, Mapping) else None
        args = {**s.model, **(over if isinstance(over, Mapping) else {})}
        trust = args.get("trust_remote_code") is True
        models.setdefault((str(args.get("model_name_or_path") or grid.get("model_name_or_path")), trust), s.name)
    for (model, trust), task in models.items():
        if model == "None":
            continue
        where = "model_name_or_path" if model == str(grid.get("model_name_or_path")) else f"task {task}: model_name_or_path"
        problem = problem_model(model, option=where)
        if problem:
            problems.append(problem)
        elif Path(model).expanduser().is_dir():
            custom = _own_code(Path(model).expanduser())
            if custom and not trust:
                problems.append(f"{where} {model} runs code of its own ({custom}): textmix runs it only when asked; set "
                                f"`model: {{trust_remote_code: true}}` on task {task} (or in task_args) if you trust "
                                "it, or choose another model.")
                continue
            try:
                from transformers import AutoConfig, AutoTokenizer

                # an explicit trust_remote_code: transformers never asks on the terminal
                config = AutoConfig.from_pretrained(model, trust_remote_code=trust)
                if not getattr(config, "num_channels", None):  # image models have a processor, not a tokenizer
                    AutoTokenizer.from_pretrained(model, trust_remote_code=trust)
            except Exception as err:  # noqa: BLE001 - any failure to load is the problem to report
                problems.append(f"{where} {model} does not load: {err}")
    glue_dir = grid.get("glue_dir")
    glue_ok = True
    if glue_dir and any(s.glue for s in specs) and not Path(str(glue_dir)).is_dir():
        problems.append(f"glue_dir {glue_dir} does not exist: give the folder holding the GLUE task folders "
                        "(CoLA, SST-2, ...), or leave it out to read the hub.")
        glue_ok = False
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # loading each task's data is a check here, not work to watch
    try:
        problems += _run_problems(grid, check_glue=glue_ok)
    finally:
        if bars:
            datasets.enable_progress_bars()
    return list(dict.fromkeys(problems))


def _own_code(folder: Path) -> str | None:
    """Which file of a local model folder asks to run the model's own code (an `auto_map` in config.json or
    tokenizer_config.json), or None."""
    for name in ("config.json", "tokenizer_config.json"):
        try:
            content = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(content, Mapping) and content.get("auto_map"):
            return f"`auto_map` in its {name}"
    return None


def _run_problems(grid: Mapping[str, Any], check_glue: bool) -> list[str]:
    """Problems of the recipe arguments of every run (unknown keys left out: `grid_problems` names them)
    and of each distinct data configuration's data. Nothing when the grid's structure is too broken to plan."""
    from textmix.trainer import MixTrainingArguments

    problems: list[str] = []
    seen_data: dict[str, tuple[str, str, dict]] = {}
    seen_training: dict[str, list[str]] = {}
    try:
        runs = plan(dict(grid), Path("."), fingerprints=False, strict=False)
    except Exception:  # noqa: BLE001 - grid_problems has said what is wrong with the structure
        return []
    for run in runs:
        fields = recipe_fields(run.modality)
        data = {k: v for k, v in run.data.items() if k in fields["data"]}
        model = {k: v for k, v in run.model.items() if k in fields["model"]}
        key = json.dumps([run.modality, data, model], sort_keys=True, default=str)
        seen_data.setdefault(key, (run.task, run.modality, {"data": data, "model": model}))
        training = {k: v for k, v in run.training.items() if k not in ("seed", "output_dir") and k in fields["training"]}
        seen_training.setdefault(json.dumps(training, sort_keys=True, default=str), []).append(run.method)
    for task, modality, args in seen_data.values():
        load = check_glue or not (modality == "text" and args["data"].get("task_name"))
        problem = _data_problem(modality, args["data"], args["model"], load=load)
        if problem:
            problems.append(f"task {task}: {problem}")
    for text, methods in seen_training.items():
        try:
            MixTrainingArguments(**json.loads(text), output_dir=str(Path("__check__")))
        except Exception as err:  # noqa: BLE001
            hint = (" (bf16 needs a GPU: run this grid where there is one, or set `training: {bf16: false}`)"
                    if "bf16" in str(err) else "")
            problems.append(f"training of method {methods[0]}: {err}{hint}")
    return problems


def _data_problem(modality: str, data: dict[str, Any], model: dict[str, Any], load: bool = True) -> str | None:
    """What is wrong with a task's arguments and (with `load`) its data as its recipe loads it, or None."""
    from .tasks import recipe_module

    module = recipe_module(modality)
    try:
        data_args = module.DataArguments(**data)
        model_args = module.ModelArguments(**model)
    except Exception as err:  # noqa: BLE001 - the recipe's own message
        return str(err)
    if not load:
        return None
    try:
        if modality == "image":
            from textmix.trainer import MixTrainingArguments

            from .recipes.image import check_data

            check_data(model_args, data_args, MixTrainingArguments(output_dir="__check__", report_to="none"))
        else:
            module.load_data(data_args)
    except Exception as err:  # noqa: BLE001
        return str(err)
    return None


@functools.cache
def _model_fingerprint(name_or_path: str) -> str:
    """What identifies a model, independent of its path: a hash of a local folder's small files (config,
    tokenizer) and of its weight files' names and sizes; a hub id as it is."""
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        return f"id:{name_or_path}"
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        if path.suffix in (".json", ".txt", ".model", ".tiktoken", ".py"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        elif path.suffix in (".safetensors", ".bin", ".pt", ".pth", ".msgpack", ".h5"):
            digest.update(f"{path.name}:{path.stat().st_size}\0".encode())
    return f"folder:{digest.hexdigest()[:16]}"


def _data_fingerprint(data: Mapping[str, Any]) -> str:
    """What identifies a task's data, independent of where it is: the sizes of its files (or the hub's name)."""
    from .glue import glue_task

    if data.get("task_name"):
        spec = glue_task(data["task_name"])
        glue_dir = data.get("glue_dir")
        if not glue_dir:
            return f"hub:nyu-mll/glue/{spec.name}"
        folder = Path(glue_dir) / spec.folder
        names = ["train.tsv", *spec.test_files.values()]
        return spec.name + ":" + ",".join(
            f"{n}={(folder / n).stat().st_size if (folder / n).is_file() else 'missing'}" for n in names)
    parts = []
    for key in FILE_FIELDS:
        if data.get(key):
            path = Path(data[key])
            if path.is_file():
                size = path.stat().st_size
            elif path.is_dir():
                size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            else:
                size = "missing"
            parts.append(f"{key}={path.name}:{size}")
    if data.get("dataset_name"):
        parts.append(f"hub:{data['dataset_name']}/{data.get('dataset_config_name')}")
    return ",".join(parts)


@dataclass
class Run:
    """One cell of the grid."""

    task: str
    method: str
    seed: int
    folder: Path
    data: dict[str, Any]
    training: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    """Fingerprints of the model and the data (see `plan`), part of the key."""
    modality: str = "text"
    model: dict[str, Any] = field(default_factory=dict)
    """The recipe's ModelArguments fields (`model_name_or_path` and any `model` overrides)."""
    label_noise: float = 0.0

    @property
    def name(self) -> str:
        """task/method[/noise<r>]/seed<k>, as on the console."""
        noise = f"/noise{self.label_noise:g}" if self.label_noise else ""
        return f"{self.task}/{self.method}{noise}/seed{self.seed}"

    @property
    def key(self) -> str:
        """Hash of everything that determines the run's results, and of nothing else (no paths)."""
        payload = {
            "data": {k: v for k, v in self.data.items() if k != "glue_dir" and k not in FILE_FIELDS},
            "training": {k: v for k, v in self.training.items() if k not in RESULT_NEUTRAL},
            "inputs": self.inputs,
        }
        if self.modality != "text":
            payload["modality"] = self.modality
        model = {k: v for k, v in self.model.items() if k not in ("model_name_or_path", "save_calibrated")}
        if model:  # writing calibrated/ or not changes no figure
            payload["model"] = model
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @property
    def done(self) -> bool:
        """Whether the folder holds the results of a run with this key."""
        path = self.folder / "results.json"
        if not path.exists():
            return False
        try:
            return json.loads(path.read_text(encoding="utf-8")).get("grid_key") == self.key
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            return False

    @property
    def cost(self) -> float:
        """Relative cost, for a time-weighted progress bar."""
        steps = self.training.get("max_steps") or self.training.get("num_train_epochs", 3) * (
            self.data.get("max_train_samples") or 10000)
        return float(steps) * (2.0 if self.training.get("mix_method") == "saliency_span" else 1.0)


def _task_args(grid: Mapping[str, Any], spec: TaskSpec) -> Mapping[str, Any]:
    """The grid's `task_args` entry of a task (by its name, or a GLUE task's other spelling)."""
    task_args = grid.get("task_args") or {}
    if spec.name in task_args:
        return task_args[spec.name]
    return next((v for k, v in task_args.items() if spec.glue and _glue_name(k) == spec.glue), {})


def task_plan(grid: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per task: its modality, test set, the grid's methods that run on it and those skipped (with why), and
    the grid-wide `data` keys its recipe has no argument for (`unapplied_data`: not applied to it)."""
    specs, _ = parse_tasks(grid)
    known = grid_methods()
    out = {}
    for spec in specs:
        runs, skipped = [], {}
        for method in grid["methods"]:
            reason = fits(method, {**known.get(method, {}), **((grid.get("method_args") or {}).get(method) or {})},
                          spec.modality)
            if reason:
                skipped[method] = reason
            else:
                runs.append(method)
        unapplied = [k for k in (grid.get("data") or {}) if k not in recipe_fields(spec.modality)["grid_data"]]
        out[spec.name] = {"modality": spec.modality, "test_set": spec.test_set(), "methods": runs,
                          "skipped_methods": skipped, "unapplied_data": unapplied}
    return out


def plan(grid: dict, output_dir: Path, fingerprints: bool = True, strict: bool = True) -> list[Run]:
    """Every run of the grid, in order (task, label noise, method, seed), of the methods that fit each task.
    `fingerprints`: identify the model and data files for the run keys (reads them; off for checks that
    need no keys). `strict`: a `GridError` when a task entry is wrong (else such tasks are left out)."""
    specs, problems = parse_tasks(grid)
    if problems and strict:
        raise GridError(problems)
    known = grid_methods()
    shift = grid.get("shift") or {}
    noise = grid.get("label_noise")
    rates = [float(r) for r in (noise if isinstance(noise, list) else [noise or 0.0])]
    runs = []
    for spec in specs:
        fields = recipe_fields(spec.modality)
        over = _task_args(grid, spec)
        data = {k: v for k, v in (grid.get("data") or {}).items() if k in fields["grid_data"]}
        if shift:
            kinds = shift.get("image" if spec.modality == "image" else "text")
            if kinds:
                data["shift_kinds"] = list(kinds)
                data["shift_severities"] = list(shift.get("severities") or [1, 3, 5])
        data.update(spec.data)
        data.update(over.get("data") or {})
        model = dict(spec.model)
        if spec.modality != "image" and "model_name_or_path" not in model:
            model["model_name_or_path"] = grid.get("model_name_or_path")
        model.update(over.get("model") or {})
        if grid.get("save_calibrated"):  # every classifier run writes calibrated/; the report names the one to ship
            model["save_calibrated"] = True
        for rate in rates:
            for method in grid["methods"]:
                method_training = {**known.get(method, {}), **((grid.get("method_args") or {}).get(method) or {})}
                if fits(method, method_training, spec.modality):
                    continue
                for seed in grid["seeds"]:
                    training = {**_TRAINING_DEFAULTS, **(grid.get("training") or {}), **spec.training,
                                **(over.get("training") or {}), **method_training, "seed": int(seed)}
                    run_data = {**data, "label_noise": rate} if rate else dict(data)
                    folder = output_dir / "runs" / spec.name / method
                    folder = (folder / f"noise{rate:g}" if rate else folder) / f"seed{seed}"
                    training["output_dir"] = str(folder)
                    inputs = {}
                    if fingerprints:
                        model_id = model.get("model_name_or_path")
                        inputs = {"model": _model_fingerprint(str(model_id)) if model_id else "from scratch",
                                  "data": _data_fingerprint(run_data)}
                    runs.append(Run(spec.name, method, int(seed), folder, run_data, training, inputs,
                                    spec.modality, model, rate))
    return runs


def run_one(run: Run) -> dict:
    """Train and evaluate one run through its modality's recipe; remove its checkpoints when done."""
    from textmix.trainer import MixTrainingArguments

    from .tasks import recipe_module

    module = recipe_module(run.modality)
    model_args = module.ModelArguments(**{k: v for k, v in run.model.items() if v is not None})
    data_args = module.DataArguments(**{k: v for k, v in run.data.items() if v is not None or k == "glue_dir"})
    training_args = MixTrainingArguments(**run.training)
    results = module.run(model_args, data_args, training_args,
                         tags={"method": run.method, "grid_key": run.key, "task": run.task})
    for checkpoint in [*run.folder.glob("checkpoint-*"), *run.folder.glob("damaged-checkpoint-*"),
                       *run.folder.glob("superseded-checkpoint-*")]:
        shutil.rmtree(checkpoint, ignore_errors=True)
    return results


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lock(folder: Path) -> str | None:
    """Take the run folder's lock (`LOCK_FILE`, created atomically with this process's pid and host).

    Returns None when taken, else who holds it ("pid N on host H since T"). A lock of a local process
    that is gone is stale: it is taken over, with a message."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    host = socket.gethostname()
    me = {"pid": os.getpid(), "host": host, "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text(encoding="utf-8"))
                pid, their_host = int(holder["pid"]), str(holder["host"])
            except FileNotFoundError:
                continue  # released meanwhile: try again
            except (OSError, ValueError, KeyError, TypeError):
                try:
                    age = time.time() - path.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age < 30:  # being written right now
                    return f"a process that is starting it ({path})"
                pid, their_host, holder = -1, host, {}
            mine = their_host == host and pid == os.getpid()
            if their_host != host or (pid > 0 and _alive(pid) and not mine):
                return f"pid {pid} on host {their_host} since {holder.get('since', '?')}"
            stale = path.with_name(f"{LOCK_FILE}.stale-{os.getpid()}")
            try:
                os.replace(path, stale)  # atomic: of several processes taking it over, one wins the create
            except FileNotFoundError:
                continue
            stale.unlink(missing_ok=True)
            if not mine:
                notice(f"taking over the stale lock of {folder} (pid {pid} on host {their_host} is gone)")
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        return None
    return f"processes competing for {path}"


def release_lock(folder: Path) -> None:
    """Remove the run folder's lock if this process holds it."""
    path = folder / LOCK_FILE
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """`"I/N"` (1 <= I <= N) as (I, N), or None; a `ValueError` naming the form otherwise."""
    if shard is None:
        return None
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like I/N (e.g. 2/8 for the second of 8 shards), got {shard!r}.") from None
    if not 1 <= i <= n:
        raise ValueError(f"--shard {shard}: I must be within 1..N.")
    return i, n


def shard_runs(runs: list[Run], shard: tuple[int, int] | None) -> list[Run]:
    """The runs of shard (I, N): every N-th run of the plan from the I-th on (all runs without a shard).

    The plan's order depends only on the grid, so N processes (a SLURM job array, say) with shards
    1/N..N/N cover every run once; the run locks keep them apart if shards overlap by mistake."""
    if shard is None:
        return runs
    i, n = shard
    return runs[i - 1::n]


def _run_line(name: str, results: Mapping[str, Any]) -> str:
    """One line for a finished run: task/method/seed, the task metric, accuracy, ECE and training time."""
    from .report import task_metric

    test = results.get("test", {}) if isinstance(results.get("test"), Mapping) else {}
    metric = task_metric(results) if "task" in results else "accuracy"
    parts = [name]
    if metric in test and metric != "accuracy":
        parts.append(f"{metric} {test[metric]:.4f}")
    for key, label in (("accuracy", "acc"), ("ece", "ECE")):
        if key in test:
            parts.append(f"{label} {test[key]:.4f}")
    if results.get("train_time_s") is not None:
        parts.append(f"{results['train_time_s']:.0f} s")
    return "  ".join(parts)


def _append(path: Path) -> Any:
    """`path` opened to append text, never through a symlink (an `OSError` naming it)."""
    if path.is_symlink():
        raise OSError(f"{path} is a symbolic link: textmix writes a run's files only inside its folder; remove it.")
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)  # also if planted meanwhile
    return os.fdopen(os.open(path, flags, 0o666), "a", encoding="utf-8")


def train_run(run: Run) -> dict[str, Any]:
    """Train one run unless another process holds its lock or it is done: takes the run's lock, trains with
    the Trainer's output in the run's `run.log`, releases the lock. Never raises for a failed run: returns
    {"status": "done" | "locked" | "failed", "results" | "holder" | "error" + "log"} (a backend's unit of work)."""
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # weight loading and saving bars
    datasets.disable_progress_bars()
    holder = acquire_lock(run.folder)
    if holder is not None:
        return {"status": "locked", "holder": holder}
    try:
        if run.done:  # another process finished it meanwhile
            return {"status": "done", "results": json.loads((run.folder / "results.json").read_text(encoding="utf-8"))}
        run.folder.mkdir(parents=True, exist_ok=True)
        with _append(run.folder / "run.log") as log, contextlib.redirect_stdout(log):
            results = run_one(run)
        return {"status": "done", "results": results}
    except KeyboardInterrupt:
        raise
    except Exception as err:  # keep going; the report lists what failed
        from .recipes.common import write_atomic

        log = run.folder / "error.log"
        text = "".join(traceback.format_exception(err)).encode("utf-8")
        write_atomic(log, lambda f: f.write(text))
        return {"status": "failed", "error": repr(err), "log": str(log)}
    finally:
        release_lock(run.folder)


def compare(grid: dict, output_dir: str | Path, progress: bool = True, check: bool = True,
            shard: tuple[int, int] | None = None, backend: str = "local", address: str | None = None,
            workers: int | None = None) -> dict:
    """Check the grid (`check_grid`: a `GridError` lists every problem; `check=False` when the caller
    has), run every unfinished run of it in `output_dir` that no other process is training, then write
    the report; returns the report. With `shard=(I, N)` only that shard's runs are trained (see
    `shard_runs`); the report covers every run finished so far. `backend`: `local` (one run after the
    other, in this process) or `ray` (runs in parallel on Ray: `workers` at once on this machine, or on
    the cluster at `address`; see `textmix.harness.backends`). The console gets one progress bar, a
    line per finished run and the recipe's notices (resuming, fallbacks); what the Trainer prints goes
    to the run's `run.log`.

    A failed run is recorded in `failures.json` (its traceback in the run's `error.log`) and the sweep
    goes on; `SweepFailed` when no run has results. When every run without results is locked by another
    process, there is no report yet: returns {"pending": True, "locked": [...], ...}."""
    from tqdm.auto import tqdm

    from .backends import map_unordered
    from .recipes.common import write_json_atomic
    from .report import build_report

    output_dir = Path(output_dir)
    problems = check_grid(grid, output_dir) if check else []
    if problems:
        raise GridError(problems)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output_dir / "grid.json", grid)
    tasks = task_plan(grid)
    write_json_atomic(output_dir / PLAN_FILE, {"tasks": tasks, "label_noise": grid.get("label_noise"),
                                               "shift": grid.get("shift")})
    for name, info in tasks.items():
        if info["unapplied_data"]:
            notice(f"task {name}: the grid's data {info['unapplied_data']} do not apply to it (the {info['modality']} "
                   "recipe has no such argument); set its own in the task's `data` if it needs one.")
    runs = shard_runs(plan(grid, output_dir), shard)
    todo = [r for r in runs if not r.done]
    failures: list[dict[str, Any]] = []
    locked: list[str] = []
    bar = tqdm(total=sum(r.cost for r in runs), initial=sum(r.cost for r in runs if r.done), disable=not progress,
               desc=f"{len(runs) - len(todo)}/{len(runs)} runs", unit="step", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {percentage:3.0f}% [{elapsed}<{remaining}] {postfix}")
    if todo and backend == "local":
        bar.set_postfix_str(todo[0].name)
    finished = len(runs) - len(todo)
    outcomes = map_unordered(train_run, todo, backend=backend, address=address, num_workers=workers)
    with contextlib.closing(outcomes), contextlib.closing(bar):
        for i, outcome in outcomes:
            run = todo[i]
            if isinstance(outcome, BaseException):  # the worker itself died
                outcome = {"status": "failed", "error": repr(outcome), "log": None}
            if outcome["status"] == "locked":
                locked.append(run.name)
                notice(f"run {run.folder} is being trained by {outcome['holder']}: skipped (that process writes its "
                       f"results; if it does not exist any more, remove {run.folder / LOCK_FILE}).")
            elif outcome["status"] == "failed":
                failures.append({"task": run.task, "method": run.method, "seed": run.seed,
                                 "label_noise": run.label_noise, "folder": str(run.folder),
                                 "error": outcome["error"], "log": outcome["log"]})
                print(f"\nrun {run.folder} failed: {outcome['error']} (traceback: {outcome['log']})", file=sys.stderr)
            else:
                bar.write(_run_line(run.name, outcome["results"]))
            finished += 1
            failed = f", {len(failures)} failed" if failures else ""
            bar.set_description(f"{finished}/{len(runs)} runs{failed}")
            bar.update(run.cost)
            if backend == "local" and i + 1 < len(todo):
                bar.set_postfix_str(todo[i + 1].name)
    write_json_atomic(output_dir / "failures.json", failures)
    if locked:
        notice(f"{len(locked)} run(s) left to another process that is training them: {', '.join(locked)}; "
               "run `textmix report` when it is done.")
    if locked and not failures and not any(r.done for r in runs):  # everything is another process's, for now
        return {"n_runs": len(runs), "locked": locked, "pending": True, "failures": [], "clashes": []}
    if failures and not any(r.done for r in runs):
        raise SweepFailed(f"{len(failures)} of {len(runs)} runs failed and no run has results; the errors are in "
                          f"{output_dir / 'failures.json'}, the tracebacks in each run's error.log (first: "
                          f"{failures[0]['log']}: {failures[0]['error']}).")
    summary = build_report(output_dir, baseline=grid.get("baseline", BASELINE))
    summary["n_runs"], summary["locked"] = len(runs), locked
    return summary
