"""A grid parsed once into a typed `Sweep` (`parse_sweep`), with every problem of its structure found without
touching the disk (`grid_problems`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..checks import InputError, did_you_mean, names_twice, problem_name, unknown_key
from ..recipes.registry import DEFAULT_MODALITY, SHIFT_FAMILIES, get_recipe, recipe_names
from ..tasks import SET_BY_THE_GRID, TaskSpec, fits, parse_task, recipe_fields, section_problems, task_name
from .presets import BASELINE, GRID_KEYS, SHIFT_KEYS, grid_methods


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
    """Problems of a grid-wide `data` / `training` mapping: a key must be an argument of some registered
    recipe (it is applied to the tasks whose recipe has it; the others get a notice when the sweep starts,
    so a slice of a grid, e.g. `--preset quick --tasks digits`, keeps the grid's text settings)."""
    if not isinstance(values, Mapping):
        return [f"{where}: must be a mapping of recipe arguments, got {type(values).__name__}"]
    modalities = sorted({s.modality for s in specs} | set(recipe_names()))
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
                continue
            try:
                check_shift(kinds, None, key)
            except InputError as err:
                problems.append(f"shift.{key}: {err}")
        severities = shift.get("severities")
        if severities is not None:
            if not isinstance(severities, list) or not severities:
                problems.append(f"shift.severities must be a list of severities 1-5, got {severities!r}.")
            else:
                try:
                    check_severities(severities)
                except InputError as err:
                    problems.append(f"shift.severities: {err}")
        if not any(shift.get(key) for key in SHIFT_FAMILIES):
            problems.append("shift names no kinds: give " + " and/or ".join(f"shift.{k}" for k in SHIFT_FAMILIES) + ".")
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


@dataclass
class Sweep:
    """A grid parsed once (`parse_sweep`): what planning, checking, the task plan and execution read.

    `problems` lists every problem of the grid's structure at once (`grid_problems`); a sweep with
    problems is still built as far as it goes, and `plannable` says whether its runs can be listed."""

    grid: dict[str, Any]
    """The grid as given (written to the sweep folder's grid.json)."""
    tasks: list[TaskSpec] = field(default_factory=list)
    task_problems: list[str] = field(default_factory=list)
    """The problems of the task entries (unknown GLUE names, bad mappings, names twice)."""
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each of the grid's methods, in order, with its training arguments (the method's own, then `method_args`)."""
    seeds: list[int] = field(default_factory=list)
    label_noise: list[float] = field(default_factory=lambda: [0.0])
    """The label-noise rates each cell is trained at (0.0: clean labels)."""
    shift: Mapping[str, Any] = field(default_factory=dict)
    baseline: str = BASELINE
    overrides: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per task name: its `task_args` entry (by its name, or a GLUE task's other spelling)."""
    misfits: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per task name: the methods that do not fit it, and why (`textmix.harness.tasks.fits`)."""
    problems: list[str] = field(default_factory=list)
    plannable: bool = True
    """Whether the structure is sound enough to list the runs (task entries aside)."""

    def methods_of(self, spec: TaskSpec) -> list[str]:
        """The grid's methods that run on a task (those that fit it), in the grid's order."""
        return [m for m in self.methods if m not in self.misfits.get(spec.name, {})]

    def task_overrides(self, spec: TaskSpec, section: str) -> dict[str, Any]:
        """The `task_args` of a task for one section (`data`, `model`, `training`), {} when none."""
        over = self.overrides.get(spec.name)
        values = over.get(section) if isinstance(over, Mapping) else None
        return dict(values) if isinstance(values, Mapping) else {}


def as_sweep(grid: Mapping[str, Any] | Sweep) -> Sweep:
    """`grid` parsed (`parse_sweep`), or as it is when it is already a `Sweep`."""
    return grid if isinstance(grid, Sweep) else parse_sweep(grid)


def parse_sweep(grid: Mapping[str, Any]) -> Sweep:
    """The `Sweep` of a grid mapping, with every problem of its structure (`Sweep.problems`): parsed once."""
    sweep = Sweep(dict(grid))
    problems = [unknown_key("", key, GRID_KEYS) for key in grid if key not in GRID_KEYS]
    for key in ("tasks", "methods", "seeds"):
        if not grid.get(key):
            problems.append(f"the grid needs `{key}`.")
    for key in ("tasks", "methods"):
        if grid.get(key) and not isinstance(grid[key], list):
            problems.append(f"{key} must be a list (e.g. `{key}: [{grid[key]}]`), got {grid[key]!r}.")
            sweep.problems, sweep.plannable = problems, False
            return sweep
    sweep.tasks, sweep.task_problems = parse_tasks(grid)
    problems += sweep.task_problems
    uses_grid_model = [s.name for s in sweep.tasks if _needs_grid_model(s)]
    if uses_grid_model and not grid.get("model_name_or_path"):
        problems.append(f"the grid needs `model_name_or_path` (tasks {uses_grid_model} have no model of their own).")
    seeds = grid.get("seeds") or []
    if not isinstance(seeds, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
        problems.append(f"seeds must be whole numbers, got {seeds!r}.")
    problems += _method_problems(sweep, grid, seeds)
    for section in ("data", "training"):
        if section in grid:
            problems += _common_section_problems(section, section, grid[section], sweep.tasks)
    problems += _task_args_problems(sweep, grid)
    problems += _method_args_problems(grid)
    problems += _baseline_problems(grid)
    problems += _shift_problems(grid)
    sweep.problems = problems
    _settle(sweep, grid)
    return sweep


def _needs_grid_model(spec: TaskSpec) -> bool:
    """Whether a task trains the grid's `model_name_or_path` (it names no model, and its recipe needs one)."""
    return get_recipe(spec.modality).grid_model and "model_name_or_path" not in spec.model


def _method_args(grid: Mapping[str, Any]) -> Mapping[str, Any]:
    method_args = grid.get("method_args") or {}
    return method_args if isinstance(method_args, Mapping) else {}


def _method_problems(sweep: Sweep, grid: Mapping[str, Any], seeds: Any) -> list[str]:
    """Problems of the grid's `methods` (names, twice, unknown, fitting no task) and seeds twice; fills
    `sweep.methods` (each with its merged training arguments) and `sweep.misfits`."""
    problems = []
    known = grid_methods()
    if not isinstance(grid.get("method_args") or {}, Mapping):
        problems.append("method_args: must map method names to training arguments.")
    method_args = _method_args(grid)
    methods = grid.get("methods") or []
    problems += [p for p in (problem_name("method", m) for m in methods) if p]
    twice = names_twice("method", methods) if isinstance(methods, list) else None
    if twice:
        problems.append(twice)
    if isinstance(seeds, list) and len({str(x) for x in seeds}) != len(seeds):
        problems.append(f"seeds lists a seed more than once: {seeds}; each seed is one run of a cell.")
    for method in methods:
        values = method_args.get(method) or {}
        if not isinstance(values, Mapping):
            sweep.plannable = False
            values = {}
        sweep.methods[method] = {**known.get(method, {}), **values}
    for spec in sweep.tasks:
        shared = _shared_training(grid, spec)  # grid-wide arguments count too (mix_label_weights on a token task)
        sweep.misfits[spec.name] = {m: why for m, args in sweep.methods.items()
                                    if (why := fits(m, {**shared, **args}, spec.modality, spec.regression))}
    unknown = [m for m in methods if m not in known and m not in method_args]
    if unknown:
        hints = "".join(did_you_mean(m, known) for m in unknown)
        problems.append(f"unknown methods {unknown}{hints}: known are {sorted(known)}, or define them in "
                        "method_args.")
    elif sweep.tasks and not sweep.task_problems:
        for method in methods:
            reasons = [sweep.misfits[s.name].get(method) for s in sweep.tasks]
            if all(reasons):
                problems.append(f"method {method} fits none of the tasks ({reasons[0]}); remove it, or add a task "
                                "it applies to.")
    return problems


def _task_args_problems(sweep: Sweep, grid: Mapping[str, Any]) -> list[str]:
    """Problems of the grid's `task_args`; fills `sweep.overrides`."""
    task_args = grid.get("task_args") or {}
    if not isinstance(task_args, Mapping):
        sweep.plannable = False
        return ["task_args: must map task names to {data: ..., training: ...}."]
    problems = []
    for spec in sweep.tasks:
        sweep.overrides[spec.name] = _task_args(task_args, spec)
    by_name = {s.name: s for s in sweep.tasks}
    names = [task_name(t) for t in grid.get("tasks") or []]
    for task, over in task_args.items():
        spec = by_name.get(str(task)) or next((s for s in sweep.tasks if s.glue and s.glue == _glue_name(task)), None)
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
    return problems


def _method_args_problems(grid: Mapping[str, Any]) -> list[str]:
    """Problems of the grid's `method_args` entries (unknown methods, unknown training arguments)."""
    known = grid_methods()
    methods = grid.get("methods") or []
    training = recipe_fields(DEFAULT_MODALITY)["training"]  # MixTrainingArguments: the same for every recipe
    problems = []
    for method, values in _method_args(grid).items():
        if method not in known and method not in methods:
            problems.append(unknown_key("method_args", method, [*known, *methods], what="method")
                            + " (a new method must also be listed in `methods`)")
            continue
        if not isinstance(values or {}, Mapping):
            problems.append(f"method_args.{method}: must be a mapping of training arguments.")
            continue
        problems += [unknown_key(f"method_args.{method}", k, training) for k in (values or {}) if k not in training]
    return problems


def _baseline_problems(grid: Mapping[str, Any]) -> list[str]:
    """Problems of the grid's `baseline` and `save_calibrated`."""
    problems = []
    methods = grid.get("methods") or []
    if "baseline" in grid and not isinstance(grid["baseline"], str):
        problems.append(f"baseline must be a method name, got {grid['baseline']!r}.")
    elif "baseline" in grid and isinstance(methods, list) and grid["baseline"] not in methods:
        problems.append(f"baseline {grid['baseline']!r} is not one of the grid's methods"
                        f"{did_you_mean(grid['baseline'], map(str, methods))}: {methods}.")
    if "save_calibrated" in grid and not isinstance(grid["save_calibrated"], bool):
        problems.append(f"save_calibrated must be true or false, got {grid['save_calibrated']!r}.")
    return problems


def _settle(sweep: Sweep, grid: Mapping[str, Any]) -> None:
    """Seeds, label-noise rates, shift and baseline of a parsed sweep (`plannable` False when they cannot be read)."""
    sweep.baseline = grid.get("baseline", BASELINE)
    shift = grid.get("shift") or {}
    sweep.shift = shift if isinstance(shift, Mapping) else {}
    noise = grid.get("label_noise")
    try:
        sweep.seeds = [int(seed) for seed in grid.get("seeds") or []]
        sweep.label_noise = [float(r) for r in (noise if isinstance(noise, list) else [noise or 0.0])]
    except (TypeError, ValueError):
        sweep.plannable = False
    sections = [grid.get(k) for k in ("data", "training")] + [grid.get("shift")]
    if any(v is not None and not isinstance(v, Mapping) for v in sections):
        sweep.plannable = False
    if any(not isinstance(v, Mapping) for v in sweep.overrides.values()):
        sweep.plannable = False


def grid_problems(grid: Mapping[str, Any] | Sweep) -> list[str]:
    """Every problem of a grid's structure, without touching the disk: unknown keys at any level (top
    level, task mappings, `data`, `training`, `task_args`, `method_args`, `shift`, checked against the
    recipes' arguments, each with the closest known name), unknown tasks and methods, methods that fit
    no task, seeds, shift kinds and severities, label-noise rates."""
    return list(as_sweep(grid).problems)


def _glue_name(task: Any) -> str | None:
    from ..data.glue import glue_task

    try:
        return glue_task(str(task)).name
    except ValueError:
        return None


def _shared_training(grid: Mapping[str, Any], spec: TaskSpec) -> dict[str, Any]:
    """The training arguments every method of a task gets: the grid's, the task's own, its `task_args`."""
    out: dict[str, Any] = {}
    task_args = grid.get("task_args")
    over = _task_args(task_args, spec) if isinstance(task_args, Mapping) else None
    for values in (grid.get("training"), spec.training, over.get("training") if isinstance(over, Mapping) else None):
        if isinstance(values, Mapping):
            out.update(values)
    return out


def _task_args(task_args: Mapping[str, Any], spec: TaskSpec) -> Any:
    """The grid's `task_args` entry of a task (by its name, or a GLUE task's other spelling)."""
    if spec.name in task_args:
        return task_args[spec.name]
    return next((v for k, v in task_args.items() if spec.glue and _glue_name(k) == spec.glue), {})
