"""The runs of a grid (`plan`): one `Run` per task x label noise x method x seed, its key and folder; the
task plan (`task_plan`) and shards (`shard_runs`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textmix.trainer import MIXING_ONLY, NO_MIXING

from ..data.contracts import DEFAULT_SEVERITIES
from ..fingerprints import data_fingerprint, model_fingerprint
from ..recipes.registry import DEFAULT_MODALITY, get_recipe
from ..runfile import identity
from ..tasks import TaskSpec, recipe_fields
from .grid import GridError
from .presets import _TRAINING_DEFAULTS
from .sweep import Sweep, as_sweep


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
    modality: str = DEFAULT_MODALITY
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
        """Hash of everything that determines the run's results, and of nothing else (`runfile.identity` of its
        grid sections and fingerprints, and its modality)."""
        payload = identity({"data": self.data, "training": self.training, "model": self.model}, self.inputs)
        payload["modality"] = self.modality
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
        """Relative cost, for a time-weighted progress bar: steps, times two for a step of two passes (a clean
        and a mixed one: RegMixup's `mix_clean_weight` > 0, a method that `needs_saliency`)."""
        from textmix.methods import registered

        steps = self.training.get("max_steps") or self.training.get("num_train_epochs", 3) * (
            self.data.get("max_train_samples") or 10000)
        method = self.training.get("mix_method")
        two_pass = float(self.training.get("mix_clean_weight") or 0) > 0 or any(
            m.needs_saliency for m in registered() if m.name == method)
        return float(steps) * (2.0 if two_pass else 1.0)


def task_plan(grid: Mapping[str, Any] | Sweep) -> dict[str, dict[str, Any]]:
    """Per task: its modality, test set, the grid's methods that run on it and those skipped (with why), and
    the grid-wide `data` keys its recipe has no argument for (`unapplied_data`: not applied to it)."""
    sweep = as_sweep(grid)
    out = {}
    for spec in sweep.tasks:
        unapplied = [k for k in (sweep.grid.get("data") or {}) if k not in recipe_fields(spec.modality)["grid_data"]]
        out[spec.name] = {"modality": spec.modality, "test_set": spec.test_set(), "methods": sweep.methods_of(spec),
                          "skipped_methods": dict(sweep.misfits.get(spec.name, {})), "unapplied_data": unapplied}
    return out


def _task_data(sweep: Sweep, spec: TaskSpec) -> dict[str, Any]:
    """A task's DataArguments fields: the grid-wide `data` its recipe has, the shift, the task's own, its task_args."""
    fields = recipe_fields(spec.modality)
    data = {k: v for k, v in (sweep.grid.get("data") or {}).items() if k in fields["grid_data"]}
    family = get_recipe(spec.modality).shift
    if sweep.shift and family:
        kinds = sweep.shift.get(family)
        if kinds:
            data["shift_kinds"] = list(kinds)
            data["shift_severities"] = list(sweep.shift.get("severities") or DEFAULT_SEVERITIES)
    data.update(spec.data)
    data.update(sweep.task_overrides(spec, "data"))
    return data


def _task_model(sweep: Sweep, spec: TaskSpec) -> dict[str, Any]:
    """A task's ModelArguments fields: its own, the grid's model when it needs one, its task_args."""
    model = dict(spec.model)
    if get_recipe(spec.modality).grid_model and "model_name_or_path" not in model:
        model["model_name_or_path"] = sweep.grid.get("model_name_or_path")
    model.update(sweep.task_overrides(spec, "model"))
    if sweep.grid.get("save_calibrated"):  # every classifier run writes calibrated/; the report names the one to ship
        model["save_calibrated"] = True
    return model


def plan(grid: Mapping[str, Any] | Sweep, output_dir: Path, fingerprints: bool = True,
         strict: bool = True) -> list[Run]:
    """Every run of the grid, in order (task, label noise, method, seed), of the methods that fit each task
    (a baseline without mixing leaves out the grid's and task's options only a mixer uses, `MIXING_ONLY`).
    `fingerprints`: identify the model and data files by content for the run keys (`textmix.harness.fingerprints`:
    reads them once, then a cache; off for checks that need no keys). `strict`: a `GridError` when a task entry is wrong (else such tasks are left out)."""
    sweep = as_sweep(grid)
    if sweep.task_problems and strict:
        raise GridError(sweep.task_problems)
    if not sweep.plannable:
        raise GridError(sweep.problems)
    runs = []
    known: dict[str, str] = {}  # fingerprints computed once per model and data
    for spec in sweep.tasks:
        data, model = _task_data(sweep, spec), _task_model(sweep, spec)
        for rate in sweep.label_noise:
            for method in sweep.methods_of(spec):
                for seed in sweep.seeds:
                    shared = {**_TRAINING_DEFAULTS, **(sweep.grid.get("training") or {}), **spec.training,
                              **sweep.task_overrides(spec, "training")}
                    if sweep.methods[method].get("mix_method", method) in NO_MIXING:  # grid-wide mixing options
                        shared = {k: v for k, v in shared.items() if k.removeprefix("mix_") not in MIXING_ONLY}
                    training = {**shared, **sweep.methods[method], "seed": seed}
                    run_data = {**data, "label_noise": rate} if rate else dict(data)
                    folder = output_dir / "runs" / spec.name / method
                    folder = (folder / f"noise{rate:g}" if rate else folder) / f"seed{seed}"
                    training["output_dir"] = str(folder)
                    inputs = {}
                    if fingerprints:
                        model_id = model.get("model_name_or_path")
                        if model_id and model_id not in known:
                            known[model_id] = model_fingerprint(str(model_id))
                        data_id = json.dumps(run_data, sort_keys=True, default=str)
                        if data_id not in known:
                            known[data_id] = data_fingerprint(run_data)
                        inputs = {"model": known[model_id] if model_id else "from scratch", "data": known[data_id]}
                    runs.append(Run(spec.name, method, seed, folder, run_data, training, inputs,
                                    spec.modality, model, rate))
    return runs


def runs_summary(runs: list[Run]) -> str:
    """`N runs (D done, T to train)`, plus an estimate of the training time left when some runs are done:
    their recorded `train_time_s` per unit of `Run.cost` (steps), times the cost of the runs to train. The
    last line of `--dry_run`, and the first of a sweep."""
    done = [r for r in runs if r.done]
    todo = [r for r in runs if not r.done]
    line = f"{len(runs)} runs ({len(done)} done, {len(todo)} to train)"
    spent = cost = 0.0
    for run in done:
        try:
            seconds = json.loads((run.folder / "results.json").read_text(encoding="utf-8")).get("train_time_s")
        except (OSError, ValueError):
            continue
        if isinstance(seconds, (int, float)):
            spent, cost = spent + float(seconds), cost + run.cost
    if todo and cost > 0:
        left = spent / cost * sum(r.cost for r in todo)
        line += f"; about {left / 60:.0f} min of training left, from the {len(done)} finished runs' times"
    elif todo:
        line += "; no time estimate yet (no finished run in this sweep folder)"
    return line


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
