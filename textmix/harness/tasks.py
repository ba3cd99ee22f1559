"""The tasks of a `textmix compare` grid: GLUE names, or mappings (the README's `textmix compare` section shows
one of each) with their modality's short keys (`Recipe.short_keys`: `train_file`, `test_file`, `dataset`, ...),
and optionally `model_name_or_path` (image tasks default to a small ViT trained from scratch), `model`, `data`
and `training` (the recipe's ModelArguments, DataArguments and MixTrainingArguments fields). Each modality runs
through its registered recipe; methods apply where they fit (`fits`). A text mapping without data whose `name` is
a GLUE task is that GLUE task, with the mapping's keys (e.g. `ood_test_files`: further test sets).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import parse_methods
from ..methods import get_method
from .checks import did_you_mean, problem_name, unknown_key
from .recipes.registry import DEFAULT_MODALITY, get_recipe, recipe_names, recipes

TASK_KEYS = ("name", "modality", "model_name_or_path", "model", "data", "training", "description")
"""The keys every task mapping may have, besides its modality's short keys (`Recipe.short_keys`)."""

SET_BY_THE_GRID = {
    "data": {"task_name": "the task's `name`", "glue_dir": "the grid's top-level `glue_dir`"},
    "training": {"seed": "the grid's `seeds`",
                 "output_dir": "`textmix compare --output_dir` (runs go to OUTPUT_DIR/runs/<task>/<method>/seed<k>)"},
}
"""Recipe arguments that a grid sets itself, per section: setting them in `data` / `training` is an error."""

FILE_FIELDS = ("train_file", "validation_file", "test_file", "npz_path", "data_dir")
"""DataArguments fields that name files or folders (checked to exist, part of the data's fingerprint)."""


@dataclass
class TaskSpec:
    """One task of a grid: its name, modality, and the recipe arguments it sets."""

    name: str
    modality: str = DEFAULT_MODALITY
    data: dict[str, Any] = field(default_factory=dict)
    """The recipe's DataArguments fields the task sets (its data, and `data` overrides)."""
    model: dict[str, Any] = field(default_factory=dict)
    """The recipe's ModelArguments fields the task sets (`model_name_or_path` included when given)."""
    training: dict[str, Any] = field(default_factory=dict)
    glue: str | None = None
    """The GLUE task's canonical name, for a GLUE task."""

    @property
    def regression(self) -> bool:
        """Whether the task is known up front to be regression (a GLUE regression task, or `problem_type:
        regression` in its data); files whose labels make them regression are found when the recipe reads them."""
        if self.glue:
            from .data.glue import glue_task

            return glue_task(self.glue).is_regression
        return self.data.get("problem_type") == "regression"

    def test_set(self) -> str:
        """What the task's test set is, in a few words (before it is loaded): the recipe's own naming
        (`Recipe.test_set`), else the hub dataset's split or the test file."""
        data = self.data
        if self.glue:
            return f"GLUE {self.glue} dev"
        if named := get_recipe(self.modality).test_set(data):
            return named
        if data.get("dataset_name"):
            return f"{data['dataset_name']} [{data.get('test_split') or 'test'}]"
        test = data.get("test_file") or data.get("validation_file")
        return Path(test).name if test else "?"


@functools.cache
def recipe_fields(modality: str) -> dict[str, set[str]]:
    """The recipe's argument names of a modality: `data`, `model` and `training` (MixTrainingArguments), and
    `grid_data`: the `data` names a grid's top-level `data` applies to it (all but its `TASK_DATA_ONLY`)."""
    from textmix.trainer import MixTrainingArguments

    recipe = get_recipe(modality)
    data = {f.name for f in dataclasses.fields(recipe.data_arguments)}
    return {"data": data, "grid_data": data - set(getattr(recipe.data_arguments, "TASK_DATA_ONLY", ())),
            "model": {f.name for f in dataclasses.fields(recipe.model_arguments)},
            "training": {f.name for f in dataclasses.fields(MixTrainingArguments) if f.init}}


def task_name(entry: Any) -> str:
    """The name of a grid's task entry (a GLUE name, or a mapping's `name`), as given."""
    return str(entry.get("name", "?")) if isinstance(entry, Mapping) else str(entry)


def section_problems(where: str, section: str, values: Any, known: set[str]) -> list[str]:
    """Problems of a `data`, `model` or `training` mapping at `where`: not a mapping, keys not `known` (with the
    closest known one), keys the grid sets itself."""
    if not isinstance(values, Mapping):
        return [f"{where}: must be a mapping of the recipe's {section} arguments, got {type(values).__name__}"]
    return [f"{where}: '{key}' is set by {SET_BY_THE_GRID[section][key]}; remove it here."
            if key in SET_BY_THE_GRID.get(section, {}) else unknown_key(where, key, known)
            for key in values if key in SET_BY_THE_GRID.get(section, {}) or key not in known]


def parse_task(entry: Any, glue_dir: str | None = None) -> tuple[TaskSpec | None, list[str]]:
    """(the TaskSpec of a grid's task entry, its problems): a GLUE name, or a mapping (see the module)."""
    from .data.glue import _ALIASES, GLUE_TASKS, glue_task

    if not isinstance(entry, Mapping):
        name = str(entry)
        names = [*GLUE_TASKS, *_ALIASES]
        if name.lower() not in names:
            return None, [f"unknown GLUE task '{name}'{did_you_mean(name.lower(), names)}; choose from "
                          f"{sorted(GLUE_TASKS)}, or give a mapping with `name` and its data (train_file, "
                          "dataset, ...)."]
        glue = glue_task(name).name
        return TaskSpec(name, DEFAULT_MODALITY, {"task_name": glue, "glue_dir": glue_dir}, glue=glue), []
    name = entry.get("name")
    where = f"task {name}" if name else "a task mapping"
    problems = [] if isinstance(name, str) and name else [f"{where}: needs a `name` (how reports call it)."]
    bad_name = problem_name("task", name) if isinstance(name, str) and name else None
    if bad_name:
        problems.append(f"{where}: {bad_name}")
    modality = entry.get("modality", DEFAULT_MODALITY)
    modalities = recipe_names()
    if modality not in modalities:
        return None, [*problems, f"{where}: modality {modality!r} is not one of {list(modalities)}"
                      f"{did_you_mean(str(modality), modalities)}."]
    recipe = get_recipe(modality)
    short = recipe.short_keys
    known = [*TASK_KEYS, *short]
    for key in entry:
        if key not in known:
            other = [m for m, r in recipes().items() if key in r.short_keys]
            hint = f" (a key of {other[0]} tasks: set `modality: {other[0]}`)" if other else ""
            problems.append(unknown_key(where, key, known) + hint)
    data = {short[k]: v for k, v in entry.items() if k in short}
    for section in ("data", "model", "training"):
        if section in entry:
            found = section_problems(f"{where}.{section}", section, entry[section], recipe_fields(modality)[section])
            problems += found
            clash = sorted(set(data) & set(entry[section])) if section == "data" and not found else []
            if clash:
                problems.append(f"{where}: {clash} given both as short keys and in `data`; keep one.")
    glue = None
    if not any(data.get(k) for k in recipe.data_sources) and not any(
            isinstance(entry.get("data"), Mapping) and entry["data"].get(k) for k in recipe.data_sources):
        glue = str(name).lower() in [*GLUE_TASKS, *_ALIASES] and modality == DEFAULT_MODALITY and glue_task(name).name
        if not glue:
            problems.append(f"{where}: no data: give {recipe.data_hint}"
                            f"{' (or name a GLUE task)' if modality == DEFAULT_MODALITY else ''}.")
    if problems:
        return None, problems
    data.update(entry.get("data") or {})
    data.update({"task_name": glue, "glue_dir": glue_dir} if glue else recipe.data_defaults)
    model = dict(entry.get("model") or {})
    if entry.get("model_name_or_path"):
        model["model_name_or_path"] = entry["model_name_or_path"]
    return TaskSpec(name, modality, data, model, dict(entry.get("training") or {}), glue=glue or None), []


def fits(method: str, training: Mapping[str, Any], modality: str, regression: bool = False) -> str | None:
    """Why a grid method (training arguments `training`) does not fit a task of `modality`, or None when it
    does: the baselines (no `mix_method`) fit every task, but label smoothing needs classes (not a
    `regression` task); a mixing method fits tasks of its modality (text methods that mix token labels:
    token tasks too)."""
    if regression and any(training.get(k) for k in SMOOTHING_ARGUMENTS):
        return "label smoothing needs class labels; the task is regression"
    mix = training.get("mix_method", "none")
    if mix in (None, "", "none"):
        return None
    try:
        parsed = parse_methods(mix)
    except ValueError:
        return None  # the recipe's arguments check names the problem
    names = list(parsed) if isinstance(parsed, dict) else [parsed]
    recipe = get_recipe(modality)
    for name in names:
        why = recipe.unfit_reason(get_method(name))
        if why:
            return why
    if recipe.token_labels and training.get("mix_label_weights") == "attention":
        return "label_weights 'attention' weighs a sequence's label; the task labels tokens"
    return None


SMOOTHING_ARGUMENTS = ("label_smoothing_factor", "mix_label_smoothing")
"""Training arguments that smooth one-hot targets: meaningless (and refused) on a regression task."""
