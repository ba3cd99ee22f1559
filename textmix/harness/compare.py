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

Each run lives in `DIR/runs/<task>/<method>/seed<k>/`. Finished runs (a `results.json` with the same
run key) are skipped; an interrupted run resumes from its last complete checkpoint. The run key
(`Run.key`) hashes what determines a run's results: its data and training arguments (not paths:
not `output_dir`, nor where `glue_dir` is), the model (its files' contents and sizes, not its path)
and the task's data files (their sizes): a sweep copied or moved elsewhere, or started from another
folder, is recognised.

The whole grid is checked before the first run, and every problem is reported at once
(`GridError`): unknown keys at any level (with the closest known one), values the recipe's
arguments refuse, paths, the model folder, the data of each task (columns, labels) and the sweep
folder. While a run trains, `DIR/runs/<task>/<method>/seed<k>/.textmix-run.lock` holds the pid and
host of the process training it: a second `textmix compare` on the same sweep leaves the run alone,
and takes over a lock whose local process is gone (saying so).
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
from .checks import InputError, did_you_mean, notice, problem_model, problem_output_dir, unknown_key
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


GRID_KEYS = ("description", "model_name_or_path", "glue_dir", "tasks", "methods", "seeds", "data", "training",
             "task_args", "method_args", "baseline")
"""The keys a grid may have at the top level."""

SET_BY_THE_GRID = {
    "data": {"task_name": "the grid's `tasks`", "glue_dir": "the grid's top-level `glue_dir`"},
    "training": {"seed": "the grid's `seeds`",
                 "output_dir": "`textmix compare --output_dir` (runs go to OUTPUT_DIR/runs/<task>/<method>/seed<k>)"},
}
"""Recipe arguments that a grid sets itself, per section: setting them in `data` / `training` is an error."""

RESULT_NEUTRAL = {"output_dir", "logging_dir", "run_name", "report_to", "disable_tqdm", "overwrite_output_dir",
                  "resume_from_checkpoint", "save_total_limit"}
"""Training arguments that do not change a run's results (paths, reporting): left out of the run key."""

LOCK_FILE = ".textmix-run.lock"
"""In a run's folder while a process trains it: {"pid", "host", "since"}."""


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
        raise ValueError("give --preset (smoke, quick, standard, full) or --config FILE.")
    grid: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}{did_you_mean(preset, PRESETS)}; choose from {sorted(PRESETS)}.")
        grid = copy.deepcopy(PRESETS[preset])
        shared = str(shared_dir())
        for key in ("model_name_or_path", "glue_dir"):
            if isinstance(grid.get(key), str):
                grid[key] = grid[key].format(shared=shared)
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


def _merge(base: dict, extra: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@functools.cache
def _fields() -> dict[str, set[str]]:
    """The recipe's argument names: `data` (DataArguments) and `training` (MixTrainingArguments)."""
    import dataclasses

    from textmix.trainer import MixTrainingArguments

    from .recipes.glue import DataArguments

    return {"data": {f.name for f in dataclasses.fields(DataArguments)},
            "training": {f.name for f in dataclasses.fields(MixTrainingArguments) if f.init}}


def _section_problems(where: str, section: str, values: Any) -> list[str]:
    """Problems of a `data` or `training` mapping at `where` (unknown keys, keys the grid sets itself)."""
    if not isinstance(values, Mapping):
        return [f"{where}: must be a mapping of {'DataArguments' if section == 'data' else 'MixTrainingArguments'} "
                f"fields, got {type(values).__name__}"]
    known = _fields()[section]
    out = []
    for key in values:
        if key in SET_BY_THE_GRID[section]:
            out.append(f"{where}: '{key}' is set by {SET_BY_THE_GRID[section][key]}; remove it here.")
        elif key not in known:
            out.append(unknown_key(where, key, known))
    return out


def grid_problems(grid: Mapping[str, Any]) -> list[str]:
    """Every problem of a grid's structure, without touching the disk: unknown keys at any level (top
    level, `data`, `training`, `task_args`, `method_args`, checked against the recipe's DataArguments and
    MixTrainingArguments fields, each with the closest known name), unknown tasks and methods, seeds."""
    from .glue import _ALIASES, GLUE_TASKS

    problems = [unknown_key("", key, GRID_KEYS) for key in grid if key not in GRID_KEYS]
    for key in ("model_name_or_path", "tasks", "methods", "seeds"):
        if not grid.get(key):
            problems.append(f"the grid needs `{key}`.")
    for key in ("tasks", "methods"):
        if grid.get(key) and not isinstance(grid[key], list):
            problems.append(f"{key} must be a list (e.g. `{key}: [{grid[key]}]`), got {grid[key]!r}.")
            return problems
    task_names = [*GLUE_TASKS, *_ALIASES]
    for task in grid.get("tasks") or []:
        if str(task).lower() not in task_names:
            problems.append(f"unknown GLUE task '{task}'{did_you_mean(str(task).lower(), task_names)}; "
                            f"choose from {sorted(GLUE_TASKS)}.")
    seeds = grid.get("seeds") or []
    if not isinstance(seeds, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
        problems.append(f"seeds must be whole numbers, got {seeds!r}.")
    known = grid_methods()
    method_args = grid.get("method_args") or {}
    if not isinstance(method_args, Mapping):
        problems.append("method_args: must map method names to training arguments.")
        method_args = {}
    methods = grid.get("methods") or []
    unknown = [m for m in methods if m not in known and m not in method_args]
    if unknown:
        images = [m for m in unknown if m in method_names(modality="image")]
        if images:
            problems.append(f"method(s) {images} mix images, but the grid's tasks are text; the image recipe "
                            "(textmix.harness.recipes.image) runs them.")
        others = [m for m in unknown if m not in images]
        if others:
            hints = "".join(did_you_mean(m, known) for m in others)
            problems.append(f"unknown methods {others}{hints}: known are {sorted(known)}, or define them in "
                            "method_args.")
    for section in ("data", "training"):
        if section in grid:
            problems += _section_problems(section, section, grid[section])
    task_args = grid.get("task_args") or {}
    if not isinstance(task_args, Mapping):
        problems.append("task_args: must map task names to {data: ..., training: ...}.")
        task_args = {}
    for task, over in task_args.items():
        if str(task).lower() not in task_names:
            problems.append(unknown_key("task_args", task, task_names, what="task"))
            continue
        if not isinstance(over, Mapping):
            problems.append(f"task_args.{task}: must be a mapping with `data` and/or `training`.")
            continue
        for key, values in over.items():
            if key not in ("data", "training"):
                problems.append(unknown_key(f"task_args.{task}", key, ("data", "training")))
            else:
                problems += _section_problems(f"task_args.{task}.{key}", key, values)
    for method, values in method_args.items():
        if method not in known and method not in methods:
            problems.append(unknown_key("method_args", method, [*known, *methods], what="method")
                            + " (a new method must also be listed in `methods`)")
            continue
        problems += _section_problems(f"method_args.{method}", "training", values or {})
    if "baseline" in grid and not isinstance(grid["baseline"], str):
        problems.append(f"baseline must be a method name, got {grid['baseline']!r}.")
    return problems


def check_grid(grid: Mapping[str, Any], output_dir: str | Path | None = None) -> list[str]:
    """Every problem of a grid, before its first run: `grid_problems`, then the sweep folder, the model
    folder (loadable config and tokenizer), `glue_dir`, the recipe's arguments of every run (each
    distinct set built once) and each task's data (files, columns, labels, splits). Returns messages."""
    problems = grid_problems(grid)
    if output_dir is not None:
        problem = problem_output_dir(output_dir, option="--output_dir", create=False)
        if problem:
            problems.append(problem)
    model = grid.get("model_name_or_path")
    problem = problem_model(model, option="model_name_or_path")
    if problem:
        problems.append(problem)
    elif model and Path(str(model)).expanduser().is_dir():
        try:
            from transformers import AutoConfig, AutoTokenizer

            AutoConfig.from_pretrained(str(model))
            AutoTokenizer.from_pretrained(str(model))
        except Exception as err:  # noqa: BLE001 - any failure to load is the problem to report
            problems.append(f"model_name_or_path {model} does not load: {err}")
    glue_dir = grid.get("glue_dir")
    glue_ok = True
    if glue_dir and not Path(str(glue_dir)).is_dir():
        problems.append(f"glue_dir {glue_dir} does not exist: give the folder holding the GLUE task folders "
                        "(CoLA, SST-2, ...), or leave it out to read the hub.")
        glue_ok = False
    problems += _run_problems(grid, check_data=glue_ok)
    return list(dict.fromkeys(problems))


def _run_problems(grid: Mapping[str, Any], check_data: bool) -> list[str]:
    """Problems of the recipe arguments of every run (unknown keys left out: `grid_problems` names them)
    and of each distinct data configuration's data. Nothing when the grid's structure is too broken to plan."""
    from textmix.trainer import MixTrainingArguments

    from .glue import glue_task
    from .recipes.glue import DataArguments, load_data

    problems: list[str] = []
    seen_data: dict[str, list[str]] = {}
    seen_training: dict[str, list[str]] = {}
    try:
        runs = plan(dict(grid), Path("."), fingerprints=False)
    except Exception:  # noqa: BLE001 - grid_problems has said what is wrong with the structure
        return []
    fields = _fields()
    for run in runs:
        try:
            glue_task(run.task)
        except ValueError:
            continue  # an unknown task: grid_problems names it
        data = {k: v for k, v in run.data.items() if (v is not None or k == "glue_dir") and k in fields["data"]}
        seen_data.setdefault(json.dumps(data, sort_keys=True, default=str), []).append(run.task)
        training = {k: v for k, v in run.training.items() if k not in ("seed", "output_dir") and k in fields["training"]}
        seen_training.setdefault(json.dumps(training, sort_keys=True, default=str), []).append(run.method)
    for text, tasks in seen_data.items():
        where = f"data of task {tasks[0]}"
        try:
            data_args = DataArguments(**json.loads(text))
        except Exception as err:  # noqa: BLE001 - the recipe's own message
            problems.append(f"{where}: {err}")
            continue
        if check_data:
            try:
                load_data(data_args)
            except Exception as err:  # noqa: BLE001
                problems.append(f"{where}: {err}")
    for text, methods in seen_training.items():
        try:
            MixTrainingArguments(**json.loads(text), output_dir=str(Path("__check__")))
        except Exception as err:  # noqa: BLE001
            problems.append(f"training of method {methods[0]}: {err}")
    return problems


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


@functools.cache
def _data_fingerprint(task: str, glue_dir: str | None) -> str:
    """What identifies a task's data, independent of where it is: the sizes of its files (or the hub's name)."""
    from .glue import glue_task

    spec = glue_task(task)
    if not glue_dir:
        return f"hub:nyu-mll/glue/{spec.name}"
    folder = Path(glue_dir) / spec.folder
    names = ["train.tsv", *spec.test_files.values()]
    return spec.name + ":" + ",".join(
        f"{n}={(folder / n).stat().st_size if (folder / n).is_file() else 'missing'}" for n in names)


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

    @property
    def key(self) -> str:
        """Hash of everything that determines the run's results, and of nothing else (no paths)."""
        payload = json.dumps({
            "data": {k: v for k, v in self.data.items() if k != "glue_dir"},
            "training": {k: v for k, v in self.training.items() if k not in RESULT_NEUTRAL},
            "inputs": self.inputs,
        }, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

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


def plan(grid: dict, output_dir: Path, fingerprints: bool = True) -> list[Run]:
    """Every run of the grid, in order (task, method, seed). `fingerprints`: identify the model and data
    files for the run keys (reads them; off for checks that need no keys)."""
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
                inputs = {}
                if fingerprints:
                    inputs = {"model": _model_fingerprint(str(grid["model_name_or_path"])),
                              "data": _data_fingerprint(task, grid.get("glue_dir"))}
                runs.append(Run(task, method, int(seed), folder, data, training, inputs))
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
    for checkpoint in [*run.folder.glob("checkpoint-*"), *run.folder.glob("damaged-checkpoint-*")]:
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
    test = results.get("test", {}) if isinstance(results.get("test"), Mapping) else {}
    metric = next((k for k in ("entity_f1", "matthews_correlation", "pearson", "f1", "accuracy") if k in test), None)
    parts = [name]
    if metric:
        parts.append(f"{metric} {test[metric]:.4f}")
    for key, label in (("accuracy", "acc"), ("ece", "ECE")):
        if key in test:
            parts.append(f"{label} {test[key]:.4f}")
    if results.get("train_time_s") is not None:
        parts.append(f"{results['train_time_s']:.0f} s")
    return "  ".join(parts)


def compare(grid: dict, output_dir: str | Path, progress: bool = True, check: bool = True,
            shard: tuple[int, int] | None = None) -> dict:
    """Check the grid (`check_grid`: a `GridError` lists every problem; `check=False` when the caller
    has), run every unfinished run of it in `output_dir` that no other process is training, then write
    the report; returns the report. With `shard=(I, N)` only that shard's runs are trained (see
    `shard_runs`); the report covers every run finished so far. The console gets one progress bar, a
    line per finished run and the recipe's notices (resuming, fallbacks); what the Trainer prints goes
    to the run's `run.log`.

    A failed run is recorded in `failures.json` (its traceback in the run's `error.log`) and the sweep
    goes on; `SweepFailed` when no run has results."""
    import datasets
    import transformers
    from tqdm.auto import tqdm

    from .report import build_report

    output_dir = Path(output_dir)
    problems = check_grid(grid, output_dir) if check else []
    if problems:
        raise GridError(problems)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "grid.json").write_text(json.dumps(grid, indent=2), encoding="utf-8")
    transformers.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    runs = shard_runs(plan(grid, output_dir), shard)
    todo = [r for r in runs if not r.done]
    failures: list[dict[str, Any]] = []
    locked: list[str] = []
    bar = tqdm(total=sum(r.cost for r in runs), initial=sum(r.cost for r in runs if r.done), disable=not progress,
               desc=f"{len(runs) - len(todo)}/{len(runs)} runs", unit="step", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {percentage:3.0f}% [{elapsed}<{remaining}] {postfix}")
    for i, run in enumerate(todo):
        name = f"{run.task}/{run.method}/seed{run.seed}"
        bar.set_postfix_str(name)
        holder = acquire_lock(run.folder)
        if holder is not None:
            locked.append(name)
            notice(f"run {run.folder} is being trained by {holder}: skipped (that process writes its results; "
                   f"if it does not exist any more, remove {run.folder / LOCK_FILE}).")
        else:
            try:
                if not run.done:  # another process may have finished it meanwhile
                    run.folder.mkdir(parents=True, exist_ok=True)
                    with open(run.folder / "run.log", "a", encoding="utf-8") as log, contextlib.redirect_stdout(log):
                        results = run_one(run, grid["model_name_or_path"])
                    bar.write(_run_line(name, results))
            except KeyboardInterrupt:
                bar.close()
                raise
            except Exception as err:  # keep going; the report lists what failed
                log = run.folder / "error.log"
                log.write_text("".join(traceback.format_exception(err)), encoding="utf-8")
                failures.append({"task": run.task, "method": run.method, "seed": run.seed,
                                 "folder": str(run.folder), "error": repr(err), "log": str(log)})
                print(f"\nrun {run.folder} failed: {err!r} (traceback: {log})", file=sys.stderr)
            finally:
                release_lock(run.folder)
        failed = f", {len(failures)} failed" if failures else ""
        bar.set_description(f"{len(runs) - len(todo) + i + 1}/{len(runs)} runs{failed}")
        bar.update(run.cost)
    bar.close()
    (output_dir / "failures.json").write_text(json.dumps(failures, indent=2), encoding="utf-8")
    if locked:
        notice(f"{len(locked)} run(s) left to another process that is training them: {', '.join(locked)}; "
               "run `textmix report` when it is done.")
    if failures and not any(r.done for r in runs):
        raise SweepFailed(f"{len(failures)} of {len(runs)} runs failed and no run has results; the errors are in "
                          f"{output_dir / 'failures.json'}, the tracebacks in each run's error.log (first: "
                          f"{failures[0]['log']}: {failures[0]['error']}).")
    summary = build_report(output_dir, baseline=grid.get("baseline", BASELINE))
    summary["n_runs"], summary["locked"] = len(runs), locked
    return summary
