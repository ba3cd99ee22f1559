"""`textmix compare`: a resumable grid of tasks x methods x seeds, and its report.

A grid is a YAML/JSON mapping (or a preset) like

    model_name_or_path: ../shared/models/bert-tiny
    glue_dir: ../shared/data/glue
    tasks: [sst2, mrpc, rte, cola]
    methods: [none, label_smoothing, embedding, hidden, pooled, span, saliency_span]
    seeds: [0, 1, 2]
    data: {max_train_samples: 2000, max_seq_length: 128}          # DataArguments fields
    training: {num_train_epochs: 3, learning_rate: 1.0e-4}         # MixTrainingArguments fields
    task_args: {sst2: {data: {max_seq_length: 64}}}                # per-task overrides
    method_args: {hidden: {mix_layers: [1, 2]}}                    # per-method overrides

`{shared}` in a preset's paths is `textmix.harness.paths.shared_dir()` ($TEXTMIX_SHARED, else the
`shared` folder beside the checkout, else ../shared from the working directory).

Each run lives in `DIR/runs/<task>/<method>/seed<k>/`. Finished runs (a `results.json` for the same
configuration) are skipped; an interrupted run resumes from its last complete checkpoint.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..methods import method_names
from .paths import shared_dir

BASELINES: dict[str, dict[str, Any]] = {
    "none": {"mix_method": "none"},
    "label_smoothing": {"mix_method": "none", "label_smoothing_factor": 0.1},
}
"""The grid's methods that do not mix, and the training arguments each one sets."""


def grid_methods(modality: str = "text") -> dict[str, dict[str, Any]]:
    """Method names a grid knows and the training arguments each one sets (on top of `training`):
    the baselines, then every registered mixing method of `modality` as `mix_method=<name>`."""
    return {**BASELINES, **{name: {"mix_method": name} for name in method_names(modality=modality)}}


METHODS = grid_methods()
"""The methods of the built-in presets (those registered when textmix was imported)."""

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
    "quick": {
        "description": "bert-tiny on SST-2, MRPC, RTE and CoLA training subsets, 3 seeds (< 45 min, 2 CPU cores).",
        "model_name_or_path": "{shared}/models/bert-tiny",
        "glue_dir": "{shared}/data/glue",
        "tasks": ["sst2", "mrpc", "rte", "cola"],
        "methods": list(METHODS),
        "seeds": [0, 1, 2],
        "data": {"max_train_samples": 2000, "max_seq_length": 128, "validation_split": 500},
        "training": {"num_train_epochs": 3, "learning_rate": 2e-4},
        "task_args": {"sst2": {"data": {"max_seq_length": 64}}, "cola": {"data": {"max_seq_length": 64}}},
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


def load_grid(preset: str | None = None, config: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A grid from a preset and/or a YAML/JSON file, with top-level overrides (None values ignored).

    `{shared}` in a preset's paths becomes `shared_dir()`.
    """
    if preset is None and config is None:
        raise ValueError("give --preset (smoke, quick, standard, full) or --config FILE.")
    grid: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}.")
        grid = copy.deepcopy(PRESETS[preset])
        shared = str(shared_dir())
        for key in ("model_name_or_path", "glue_dir"):
            if isinstance(grid.get(key), str):
                grid[key] = grid[key].format(shared=shared)
    if config is not None:
        import yaml

        text = Path(config).read_text(encoding="utf-8")
        loaded = json.loads(text) if config.endswith(".json") else yaml.safe_load(text)
        if not isinstance(loaded, Mapping):
            raise ValueError(f"{config} must hold a mapping (tasks, methods, seeds, ...).")
        grid = _merge(grid, loaded)
    grid = _merge(grid, {k: v for k, v in overrides.items() if v is not None})
    _validate(grid)
    return grid


def _merge(base: dict, extra: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _validate(grid: dict) -> None:
    from .glue import glue_task

    for key in ("model_name_or_path", "tasks", "methods", "seeds"):
        if not grid.get(key):
            raise ValueError(f"the grid needs `{key}`.")
    for task in grid["tasks"]:
        glue_task(task)
    known = grid_methods()
    unknown = [m for m in grid["methods"] if m not in known and m not in grid.get("method_args", {})]
    if unknown:
        images = [m for m in unknown if m in method_names(modality="image")]
        if images:
            raise ValueError(f"method(s) {images} mix images, but the grid's tasks are text; the image recipe "
                             "(textmix.harness.recipes.image) runs them.")
        raise ValueError(f"unknown methods {unknown}: known are {sorted(known)}, or define them in method_args.")


@dataclass
class Run:
    """One cell of the grid."""

    task: str
    method: str
    seed: int
    folder: Path
    data: dict[str, Any]
    training: dict[str, Any]

    @property
    def key(self) -> str:
        """Hash of everything that determines the run's results."""
        payload = json.dumps({"data": self.data, "training": self.training}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def done(self) -> bool:
        path = self.folder / "results.json"
        if not path.exists():
            return False
        try:
            return json.loads(path.read_text()).get("grid_key") == self.key
        except json.JSONDecodeError:
            return False

    @property
    def cost(self) -> float:
        """Relative cost, for a time-weighted progress bar."""
        steps = self.training.get("max_steps") or self.training.get("num_train_epochs", 3) * (
            self.data.get("max_train_samples") or 10000)
        return float(steps) * (2.0 if self.training.get("mix_method") == "saliency_span" else 1.0)


def plan(grid: dict, output_dir: Path) -> list[Run]:
    """Every run of the grid, in order (task, method, seed)."""
    runs = []
    for task in grid["tasks"]:
        for method in grid["methods"]:
            for seed in grid["seeds"]:
                task_over = grid.get("task_args", {}).get(task, {})
                data = {**grid.get("data", {}), **task_over.get("data", {}),
                        "task_name": task, "glue_dir": grid.get("glue_dir")}
                training = {**_TRAINING_DEFAULTS, **grid.get("training", {}), **task_over.get("training", {}),
                            **grid_methods().get(method, {}), **grid.get("method_args", {}).get(method, {}),
                            "seed": int(seed)}
                folder = output_dir / "runs" / task / method / f"seed{seed}"
                training["output_dir"] = str(folder)
                runs.append(Run(task, method, int(seed), folder, data, training))
    return runs


def run_one(run: Run, model_name_or_path: str) -> dict:
    """Train and evaluate one run through the GLUE recipe; remove its checkpoints when done."""
    from textmix.trainer import MixTrainingArguments

    from .recipes.glue import DataArguments, ModelArguments
    from .recipes.glue import run as run_recipe

    model_args = ModelArguments(model_name_or_path=model_name_or_path)
    data_args = DataArguments(**{k: v for k, v in run.data.items() if v is not None or k == "glue_dir"})
    training_args = MixTrainingArguments(**run.training)
    results = run_recipe(model_args, data_args, training_args,
                         tags={"method": run.method, "grid_key": run.key, "task": run.task})
    for checkpoint in run.folder.glob("checkpoint-*"):
        shutil.rmtree(checkpoint, ignore_errors=True)
    return results


def compare(grid: dict, output_dir: str | Path, progress: bool = True) -> dict:
    """Run every unfinished run of `grid` in `output_dir`, then write the report; returns the report."""
    import datasets
    import transformers
    from tqdm.auto import tqdm

    from .report import build_report

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "grid.json").write_text(json.dumps(grid, indent=2), encoding="utf-8")
    transformers.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    runs = plan(grid, output_dir)
    todo = [r for r in runs if not r.done]
    failures = []
    bar = tqdm(total=sum(r.cost for r in runs), initial=sum(r.cost for r in runs if r.done), disable=not progress,
               desc=f"{len(runs) - len(todo)}/{len(runs)} runs", unit="step", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {percentage:3.0f}% [{elapsed}<{remaining}] {postfix}")
    for i, run in enumerate(todo):
        bar.set_postfix_str(f"{run.task}/{run.method}/seed{run.seed}")
        try:
            run_one(run, grid["model_name_or_path"])
        except KeyboardInterrupt:
            bar.close()
            raise
        except Exception as err:  # keep going; the report lists what failed
            failures.append({"task": run.task, "method": run.method, "seed": run.seed, "error": repr(err)})
            print(f"\nrun {run.folder} failed: {err!r}", file=sys.stderr)
        bar.set_description(f"{len(runs) - len(todo) + i + 1}/{len(runs)} runs")
        bar.update(run.cost)
    bar.close()
    (output_dir / "failures.json").write_text(json.dumps(failures, indent=2), encoding="utf-8")
    return build_report(output_dir, baseline=grid.get("baseline", BASELINE))
