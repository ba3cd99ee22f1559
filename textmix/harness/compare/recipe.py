"""A recipe's `--compare m1 m2 ...` as a one-task sweep: the same planning, checks, run keys, locks, clash
detection and report as `textmix compare` (`recipe_grid`, `compare_recipe`).

    python recipes/run_image_classification.py --npz_path ../shared/data/mnist/mnist.npz \\
        --compare none mixup cutmix --output_dir out/mnist

is the grid

    tasks: [{name: mnist, modality: image, data: {npz_path: ...}, model: {...}, training: {...}}]
    methods: [none, mixup, cutmix]
    seeds: [42]                                     # the command line's --seed

run into OUTPUT_DIR: each run in OUTPUT_DIR/runs/<task>/<method>/seed<N>/, the report (report.md, .csv,
.json, reliability.png) in OUTPUT_DIR. The task's `data`, `model` and `training` are the recipe's
arguments that differ from their defaults (so a run's key is the key `textmix compare` gives the
same settings), and every training argument the sweep has a default of (`_TRAINING_DEFAULTS`) as the
recipe has it, so each run trains as `--mix_method <method>` alone would. Finished runs (same run key)
are skipped; a changed setting is a new key: trained again, never read back.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ..checks import InputError
from ..recipes.registry import get_recipe
from ..tasks import SET_BY_THE_GRID
from .execute import SweepFailed, compare
from .presets import _TRAINING_DEFAULTS, BASELINE, grid_methods
from .sweep import parse_sweep

SET_BY_THE_SWEEP = {"seed", "output_dir", "mix_method", "logging_dir", "run_name"}
"""Training arguments the sweep sets for each run (the seed, the run's folder, the method), never the task's."""


def _changed(args: Any) -> dict[str, Any]:
    """The fields of a dataclass instance whose value differs from the field's default."""
    out = {}
    for f in dataclasses.fields(args):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        value = getattr(args, f.name)
        if value != default:
            out[f.name] = value
    return out


def _training(training_args: Any) -> dict[str, Any]:
    """The training arguments of the task: those that differ from `MixTrainingArguments`' defaults, and every
    one the sweep has a default of, as the recipe has it (less what the sweep sets per run)."""
    from textmix.trainer import MixTrainingArguments

    given = training_args.to_dict()
    defaults = MixTrainingArguments(output_dir=training_args.output_dir).to_dict()
    names = {f.name for f in dataclasses.fields(MixTrainingArguments) if f.init}
    out = {}
    for key, value in given.items():
        if key not in names or key in SET_BY_THE_SWEEP or key.endswith("_token"):
            continue
        if key in _TRAINING_DEFAULTS or value != defaults.get(key):
            out[key] = value
    return out


def task_name(data_args: Any) -> str:
    """The task's name (its folder under OUTPUT_DIR/runs): the recipe's name of the data, '/' made '_'."""
    name = data_args.name() if hasattr(data_args, "name") else (getattr(data_args, "task_name", None) or "task")
    return str(name).replace("/", "_").replace("\\", "_")


def recipe_grid(modality: str, model_args: Any, data_args: Any, training_args: Any) -> dict[str, Any]:
    """The one-task grid of a recipe's parsed arguments and `--compare` methods (see the module docstring)."""
    methods = list(dict.fromkeys(data_args.compare or []))
    if not methods:
        raise InputError("--compare needs at least one method, e.g. --compare none mixup.")
    set_by_grid = SET_BY_THE_GRID["data"]
    data = {k: v for k, v in _changed(data_args).items() if k not in set_by_grid}
    model = _changed(model_args)
    if getattr(model_args, "model_name_or_path", None):
        model["model_name_or_path"] = model_args.model_name_or_path
    task: dict[str, Any] = {"name": task_name(data_args), "modality": modality, "data": data,
                            "training": _training(training_args)}
    if model:
        task["model"] = model
    known = grid_methods()
    grid: dict[str, Any] = {"tasks": [task], "methods": methods, "seeds": [int(training_args.seed)],
                            "baseline": BASELINE if BASELINE in methods else methods[0]}
    own = {m: {"mix_method": m} for m in methods if m not in known}  # e.g. a combination: mixup+cutmix
    if own:
        grid["method_args"] = own
    get_recipe(modality)  # a KeyError naming the registered modalities
    return grid


def compare_recipe(modality: str, model_args: Any, data_args: Any, training_args: Any,
                   progress: bool = True) -> list[dict[str, Any]]:
    """`--compare` of a recipe: its one-task grid (`recipe_grid`) checked and run by `compare` into
    `training_args.output_dir` (runs in OUTPUT_DIR/runs/<task>/<method>/seed<N>, the report in OUTPUT_DIR).
    Returns each method's results, in the order of the methods.

    An `InputError` under a distributed launcher (the sweep trains its runs one after the other in one
    process), a `GridError` listing every problem before the first run, `SweepFailed` when a run failed or
    is being trained by another process, or when runs clash with earlier runs in OUTPUT_DIR (same method,
    other settings: left out of the report, as `textmix report` does); the report of the finished runs is
    written first."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InputError("--compare runs a sweep, one run after the other in one process: start it with python (not "
                         "torchrun or accelerate launch), or train each method on its own with --mix_method; for "
                         "runs in parallel use `textmix compare --backend ray`.")
    output_dir = Path(training_args.output_dir)
    sweep = parse_sweep(recipe_grid(modality, model_args, data_args, training_args))
    summary = compare(sweep, output_dir, progress=progress)
    runs = sweep.plan(output_dir)
    if not summary.get("pending"):
        print(f"\nreport: {output_dir / 'report.md'} (and report.csv, report.json, reliability.png)", flush=True)
    clashes = summary.get("clashes") or []
    if clashes:  # as `textmix compare` does: the report is written, the command fails
        raise SweepFailed("; ".join(f"clash: {c['task']}/{c['method']}: {c['reason']} (left out of the report; runs: "
                                    f"{', '.join(c['folders'])})" for c in clashes)
                          + ": move the earlier runs away, or use another OUTPUT_DIR.")
    missing = [r for r in runs if not r.done]
    if missing:
        failed = {f.get("folder") for f in summary.get("failures") or []}
        why = [f"{r.name} ({'failed: see ' + str(r.folder / 'error.log') if str(r.folder) in failed else 'being trained by another process'})"
               for r in missing]
        raise SweepFailed(f"{len(missing)} of {len(runs)} runs have no results: {'; '.join(why)}; the failures are "
                          f"in {output_dir / 'failures.json'}. Run the same command again to train them.")
    from ..recipes.common import read_results

    return [read_results(r.folder) for r in runs]


__all__ = ["compare_recipe", "recipe_grid", "task_name"]
