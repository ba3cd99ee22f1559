"""A grid parsed once into a typed, frozen `Sweep` (`parse_sweep`): every problem of its structure found without
touching the disk, and the runs it plans (`Sweep.plan`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textmix.trainer import MIXING_ONLY, NO_MIXING

from ..checks import InputError, did_you_mean, names_twice, problem_name, unknown_key
from ..data.contracts import DEFAULT_SEVERITIES
from ..fingerprints import data_fingerprint, model_fingerprint
from ..recipes.registry import DEFAULT_MODALITY, SHIFT_FAMILIES, get_recipe, recipe_names
from ..tasks import TaskSpec, fits, parse_task, recipe_fields, section_problems, task_name
from .presets import _TRAINING_DEFAULTS, BASELINE, GRID_KEYS, SHIFT_KEYS, grid_methods
from .runs import Run


class GridError(InputError):
    """Problems of a grid, all of them (`problems`), found before the first run."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = list(problems)
        head = "the grid has a problem" if len(problems) == 1 else f"the grid has {len(problems)} problems"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


@dataclass(frozen=True)
class Sweep:
    """A grid parsed once (`parse_sweep`): what the checks, the task plan, the runs and execution read. A sweep
    with `problems` is still built as far as it goes; `plannable` says whether its runs can be listed."""

    given: Mapping[str, Any]
    """The grid as given: written to the sweep folder's grid.json, read by nothing else."""
    tasks: tuple[TaskSpec, ...] = ()
    """The tasks whose entry is sound (the others' problems are in `problems`)."""
    methods: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Each of the grid's methods, in order, with its training arguments (the method's own, then `method_args`)."""
    seeds: tuple[int, ...] = ()
    label_noise: tuple[float, ...] = (0.0,)
    """The label-noise rates each cell is trained at (0.0: clean labels)."""
    model_name_or_path: str | None = None
    glue_dir: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    """The grid-wide `data` (applied to the tasks whose recipe has each key)."""
    training: Mapping[str, Any] = field(default_factory=dict)
    shift: Mapping[str, Any] = field(default_factory=dict)
    baseline: str = BASELINE
    save_calibrated: bool = False
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per task name: its `task_args` entry (by its name, or a GLUE task's other spelling)."""
    misfits: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per task name: the methods that do not fit it, and why (`textmix.harness.tasks.fits`)."""
    problems: tuple[str, ...] = ()
    plannable: bool = True
    """Whether the structure is sound enough to list the runs (task entries aside)."""

    def methods_of(self, spec: TaskSpec) -> list[str]:
        """The grid's methods that run on a task (those that fit it), in the grid's order."""
        return [m for m in self.methods if m not in self.misfits.get(spec.name, {})]

    def task_plan(self) -> dict[str, dict[str, Any]]:
        """Per task: its modality, test set, the grid's methods that run on it and those skipped (with why), and
        the grid-wide `data` keys its recipe has no argument for (`unapplied_data`: not applied to it)."""
        return {spec.name: {"modality": spec.modality, "test_set": spec.test_set(), "methods": self.methods_of(spec),
                            "skipped_methods": dict(self.misfits.get(spec.name, {})),
                            "unapplied_data": [k for k in self.data
                                               if k not in recipe_fields(spec.modality)["grid_data"]]}
                for spec in self.tasks}

    def task_data(self, spec: TaskSpec) -> dict[str, Any]:
        """A task's DataArguments fields: the grid-wide `data` its recipe has, the shift, its own, its task_args."""
        data = {k: v for k, v in self.data.items() if k in recipe_fields(spec.modality)["grid_data"]}
        kinds = self.shift.get(get_recipe(spec.modality).shift or "")
        if kinds:
            data["shift_kinds"] = list(kinds)
            data["shift_severities"] = list(self.shift.get("severities") or DEFAULT_SEVERITIES)
        return {**data, **spec.data, **_section(self.overrides.get(spec.name), "data")}

    def task_model(self, spec: TaskSpec) -> dict[str, Any]:
        """A task's ModelArguments fields: its own, the grid's model when it needs one, its task_args."""
        model = dict(spec.model)
        if get_recipe(spec.modality).grid_model and "model_name_or_path" not in model:
            model["model_name_or_path"] = self.model_name_or_path
        model.update(_section(self.overrides.get(spec.name), "model"))
        if self.save_calibrated:  # every classifier run writes calibrated/; the report names the one to ship
            model["save_calibrated"] = True
        return model

    def plan(self, output_dir: Path, fingerprints: bool = True) -> tuple[Run, ...]:
        """Every run, in order (task, label noise, method, seed), of the methods that fit each task (a baseline
        without mixing leaves out the grid's and task's options only a mixer uses, `MIXING_ONLY`); tasks whose
        entry has a problem are left out. `fingerprints`: identify the model and data files by content for the
        run keys (`textmix.harness.fingerprints`, each computed once). A `GridError` when not `plannable`."""
        if not self.plannable:
            raise GridError(self.problems)
        runs = []
        known: dict[str, str] = {}
        for spec in self.tasks:
            data, model = self.task_data(spec), self.task_model(spec)
            shared = {**_TRAINING_DEFAULTS, **_task_training(self.training, spec, self.overrides.get(spec.name))}
            for rate in self.label_noise:
                run_data = {**data, "label_noise": rate} if rate else dict(data)
                model_id, data_id = model.get("model_name_or_path"), json.dumps(run_data, sort_keys=True, default=str)
                if fingerprints:
                    if model_id and model_id not in known:
                        known[model_id] = model_fingerprint(str(model_id))
                    if data_id not in known:
                        known[data_id] = data_fingerprint(run_data)
                inputs = {"model": known[model_id] if model_id else "from scratch",
                          "data": known[data_id]} if fingerprints else {}
                for method in self.methods_of(spec):
                    base = shared
                    if self.methods[method].get("mix_method", method) in NO_MIXING:  # grid-wide mixing options
                        base = {k: v for k, v in shared.items() if k.removeprefix("mix_") not in MIXING_ONLY}
                    for seed in self.seeds:
                        folder = output_dir / "runs" / spec.name / method
                        folder = (folder / f"noise{rate:g}" if rate else folder) / f"seed{seed}"
                        training = {**base, **self.methods[method], "seed": seed, "output_dir": str(folder)}
                        runs.append(Run(spec.name, method, seed, folder, dict(run_data), training, dict(inputs),
                                        spec.modality, dict(model), rate))
        return tuple(runs)


def parse_sweep(grid: Mapping[str, Any]) -> Sweep:
    """The `Sweep` of a grid mapping, with every problem of its structure (`Sweep.problems`): unknown keys at any
    level (top level, task mappings, `data`, `training`, `task_args`, `method_args`, `shift`, checked against the
    recipes' arguments, each with the closest known name), unknown tasks and methods, methods that fit no task,
    seeds, shift kinds and severities, label-noise rates."""
    problems = [unknown_key("", key, GRID_KEYS) for key in grid if key not in GRID_KEYS]
    problems += [f"the grid needs `{key}`." for key in ("tasks", "methods", "seeds") if not grid.get(key)]
    for key in ("tasks", "methods"):
        if grid.get(key) and not isinstance(grid[key], list):
            problems.append(f"{key} must be a list (e.g. `{key}: [{grid[key]}]`), got {grid[key]!r}.")
            return Sweep(dict(grid), problems=tuple(problems), plannable=False)
    tasks, task_problems = parse_tasks(grid)
    problems += task_problems
    uses_grid_model = [s.name for s in tasks
                       if get_recipe(s.modality).grid_model and "model_name_or_path" not in s.model]
    if uses_grid_model and not grid.get("model_name_or_path"):
        problems.append(f"the grid needs `model_name_or_path` (tasks {uses_grid_model} have no model of their own).")
    seeds = grid.get("seeds") or []
    if not isinstance(seeds, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
        problems.append(f"seeds must be whole numbers, got {seeds!r}.")
    if isinstance(seeds, list) and len({str(x) for x in seeds}) != len(seeds):
        problems.append(f"seeds lists a seed more than once: {seeds}; each seed is one run of a cell.")
    overrides, found = _task_args(grid, tasks)
    methods, misfits, more = _methods(grid, tasks, overrides, bool(task_problems))
    problems += found + more
    modalities = sorted({s.modality for s in tasks} | set(recipe_names()))
    for section in ("data", "training"):  # a key of some recipe: applied to the tasks whose recipe has it
        if section in grid:
            known = set().union(*(recipe_fields(m)[section] for m in modalities))
            problems += section_problems(section, section, grid[section], known)
    problems += _baseline_problems(grid)
    problems += _shift_problems(grid)
    noise = grid.get("label_noise")
    sections = [grid.get(k) for k in ("data", "training", "shift")]
    plannable = (all(v is None or isinstance(v, Mapping) for v in [*sections, grid.get("task_args") or None])
                 and all(isinstance(o, Mapping) for o in overrides.values())
                 and all(isinstance(_mapping(grid.get("method_args")).get(m) or {}, Mapping)
                         for m in grid.get("methods") or []))
    try:
        seeds_read = tuple(int(seed) for seed in seeds)
        rates = tuple(float(r) for r in (noise if isinstance(noise, list) else [noise or 0.0]))
    except (TypeError, ValueError):
        seeds_read, rates, plannable = (), (0.0,), False
    return Sweep(dict(grid), tuple(tasks), methods, seeds_read, rates,
                 grid.get("model_name_or_path"), grid.get("glue_dir"), _mapping(grid.get("data")),
                 _mapping(grid.get("training")), _mapping(grid.get("shift")), grid.get("baseline", BASELINE),
                 bool(grid.get("save_calibrated")), overrides, misfits, tuple(problems), plannable)


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}  # a section that is no mapping is a problem


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


def _shift_problems(grid: Mapping[str, Any]) -> list[str]:
    """Problems of the grid's `shift` and `label_noise`."""
    from ..data.contracts import check_label_noise, check_severities, check_shift

    problems = []
    shift = grid.get("shift")
    if shift is not None:
        if not isinstance(shift, Mapping):
            return [f"shift must be a mapping like {{text: [typo, mask], image: [occlusion], severities: [1, 3, 5]}}, "
                    f"got {shift!r}."]
        problems += [unknown_key("shift", k, SHIFT_KEYS) for k in shift if k not in SHIFT_KEYS]
        for key in SHIFT_FAMILIES:
            kinds = shift.get(key)
            if kinds is not None and not isinstance(kinds, list):
                problems.append(f"shift.{key} must be a list of kinds, got {kinds!r}.")
            else:
                problems += _refused(f"shift.{key}", check_shift, kinds, None, key)
        severities = shift.get("severities")
        if severities is not None and (not isinstance(severities, list) or not severities):
            problems.append(f"shift.severities must be a list of severities 1-5, got {severities!r}.")
        elif severities is not None:
            problems += _refused("shift.severities", check_severities, severities)
        if not any(shift.get(key) for key in SHIFT_FAMILIES):
            problems.append("shift names no kinds: give " + " and/or ".join(f"shift.{k}" for k in SHIFT_FAMILIES) + ".")
    noise = grid.get("label_noise")
    if noise is not None:
        rates = noise if isinstance(noise, list) else [noise]
        problems += [p for rate in rates for p in _refused("label_noise", check_label_noise, rate)]
        if len(set(map(str, rates))) != len(rates):
            problems.append(f"label_noise lists a rate twice: {rates}.")
    return problems


def _refused(where: str, check: Callable[..., Any], *args: Any) -> list[str]:
    """[`where: message`] when `check(*args)` raises an `InputError`, else []."""
    try:
        check(*args)
    except InputError as err:
        return [f"{where}: {err}"]
    return []


def _methods(grid: Mapping[str, Any], tasks: list[TaskSpec], overrides: Mapping[str, Any],
             task_problems: bool) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]], list[str]]:
    """(each of the grid's methods with its merged training arguments, per task the methods that do not fit it
    and why, the problems of `methods`: names, twice, unknown, fitting no task)."""
    known = grid_methods()
    problems = [] if isinstance(grid.get("method_args") or {}, Mapping) else [
        "method_args: must map method names to training arguments."]
    method_args = _mapping(grid.get("method_args"))
    names = grid.get("methods") or []
    problems += [p for p in (problem_name("method", m) for m in names) if p]
    twice = names_twice("method", names)
    if twice:
        problems.append(twice)
    methods = {m: {**known.get(m, {}), **_mapping(method_args.get(m))} for m in names}
    misfits = {}
    for spec in tasks:  # grid-wide arguments count too (mix_label_weights on a token task)
        shared = _task_training(_mapping(grid.get("training")), spec, overrides.get(spec.name))
        misfits[spec.name] = {m: why for m, args in methods.items()
                              if (why := fits(m, {**shared, **args}, spec.modality, spec.regression))}
    training = recipe_fields(DEFAULT_MODALITY)["training"]  # MixTrainingArguments: the same for every recipe
    for method, values in method_args.items():
        if method not in known and method not in names:
            problems.append(unknown_key("method_args", method, [*known, *names], what="method")
                            + " (a new method must also be listed in `methods`)")
        elif not isinstance(values or {}, Mapping):
            problems.append(f"method_args.{method}: must be a mapping of training arguments.")
        else:
            problems += [unknown_key(f"method_args.{method}", k, training) for k in (values or {}) if k not in training]
    unknown = [m for m in names if m not in known and m not in method_args]
    if unknown:
        hints = "".join(did_you_mean(m, known) for m in unknown)
        problems.append(f"unknown methods {unknown}{hints}: known are {sorted(known)}, or define them in "
                        "method_args.")
    elif tasks and not task_problems:
        for method in names:
            reasons = [misfits[s.name].get(method) for s in tasks]
            if all(reasons):
                problems.append(f"method {method} fits none of the tasks ({reasons[0]}); remove it, or add a task "
                                "it applies to.")
    return methods, misfits, problems


def _task_args(grid: Mapping[str, Any], tasks: list[TaskSpec]) -> tuple[dict[str, Any], list[str]]:
    """(per task name its `task_args` entry: by its name, else a GLUE task's other spelling; the problems of
    `task_args`)."""
    task_args = grid.get("task_args") or {}
    if not isinstance(task_args, Mapping):
        return {}, ["task_args: must map task names to {data: ..., training: ...}."]
    overrides: dict[str, Any] = {}
    problems = []
    by_name = {s.name: s for s in tasks}
    names = [task_name(t) for t in grid.get("tasks") or []]
    for task, over in task_args.items():
        spec = by_name.get(str(task)) or next((s for s in tasks if s.glue and s.glue == _glue_name(task)), None)
        if spec is None:
            if str(task) not in names:
                problems.append(unknown_key("task_args", task, names, what="task"))
            continue
        if spec.name == str(task) or spec.name not in overrides:
            overrides[spec.name] = over
        if not isinstance(over, Mapping):
            problems.append(f"task_args.{task}: must be a mapping with `data`, `model` and/or `training`.")
            continue
        for key, values in over.items():
            if key not in ("data", "model", "training"):
                problems.append(unknown_key(f"task_args.{task}", key, ("data", "model", "training")))
            else:
                problems += section_problems(f"task_args.{task}.{key}", key, values,
                                             recipe_fields(spec.modality)[key])
    return overrides, problems


def _baseline_problems(grid: Mapping[str, Any]) -> list[str]:
    """Problems of the grid's `baseline` and `save_calibrated`."""
    problems = []
    methods = grid.get("methods") or []
    if "baseline" in grid and not isinstance(grid["baseline"], str):
        problems.append(f"baseline must be a method name, got {grid['baseline']!r}.")
    elif "baseline" in grid and grid["baseline"] not in methods:
        problems.append(f"baseline {grid['baseline']!r} is not one of the grid's methods"
                        f"{did_you_mean(grid['baseline'], map(str, methods))}: {methods}.")
    if "save_calibrated" in grid and not isinstance(grid["save_calibrated"], bool):
        problems.append(f"save_calibrated must be true or false, got {grid['save_calibrated']!r}.")
    return problems


def _glue_name(task: Any) -> str | None:
    from ..data.glue import glue_task

    try:
        return glue_task(str(task)).name
    except ValueError:
        return None


def _task_training(training: Mapping[str, Any], spec: TaskSpec, over: Any) -> dict[str, Any]:
    """The training arguments every method of a task gets: the grid's, the task's own, its `task_args`."""
    return {**training, **spec.training, **_section(over, "training")}


def _section(over: Any, section: str) -> dict[str, Any]:
    """One section (`data`, `model`, `training`) of a task's `task_args` entry `over`, {} when none."""
    values = over.get(section) if isinstance(over, Mapping) else None
    return dict(values) if isinstance(values, Mapping) else {}

