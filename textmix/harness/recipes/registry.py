"""The registry of recipes, one per modality: the modality twin of `textmix.methods`.

    from textmix.harness.recipes.registry import Recipe, get_recipe, recipe_names, register_recipe

Each recipe module registers what the harness needs to know about its modality (`Recipe`): its argument
classes, its `run`, how it checks a task's data, the short keys a grid's task mapping may use, what a
task must give as data, how it names its test set, which shift family its test sets take and which
methods mix it. The grid parser (`textmix.harness.tasks`), the sweep, its checks and its runs
(`textmix.harness.compare`) read these facts from here, so a new modality is one recipe module (plus
its launcher under `recipes/`). Built-in: `text` (GLUE and files: `recipes.glue`), `image`
(`recipes.image`), `tokens` (token classification: `recipes.ner`). See docs/adding-a-modality.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from textmix.robustness import SHIFT_FAMILIES as _SHIFT_KINDS

DEFAULT_MODALITY = "text"
"""The modality of a grid task that names none (and of a GLUE name)."""

BUILT_IN = ("glue", "image", "ner")
"""The built-in recipe modules (under `textmix.harness.recipes`), imported (and so registered) in this order."""

SHIFT_FAMILIES = tuple(_SHIFT_KINDS)
"""The families of corrupted test sets (`textmix.robustness.SHIFT_FAMILIES`), each a key of a grid's `shift`."""


@dataclass(frozen=True)
class Recipe:
    """What the harness knows about one modality's recipe."""

    modality: str
    """The name a grid's task mapping gives as `modality`."""
    data_arguments: type
    """The recipe's DataArguments dataclass (a task's `data`)."""
    model_arguments: type
    """The recipe's ModelArguments dataclass (a task's `model`)."""
    run: Callable[..., dict]
    """`run(model_args, data_args, training_args, tags=...)`: trains, evaluates, writes results.json, returns it."""
    check_data: Callable[[Any, Any, Any], Any]
    """`check_data(model_args, data_args, training_args)`: loads (or inspects) a task's data; raises what is wrong."""
    short_keys: Mapping[str, str] = field(default_factory=dict)
    """A task mapping's short keys and the DataArguments field each one sets (`train_file: npz_path`, ...)."""
    data_sources: tuple[str, ...] = ("train_file", "dataset_name")
    """DataArguments fields of which a task must set one (where its data comes from)."""
    data_hint: str = "train_file (+ test_file) or dataset"
    """What a task of this modality must give as data (in the message of a task without data)."""
    noun: str = ""
    """What its examples are, in a message ('the task is images'); the modality's name when empty."""
    mixes: str = "text"
    """The modality of the mixing methods that fit its tasks (`textmix.methods` modalities: text, image)."""
    token_labels: bool = False
    """Whether its labels are per token (only methods that mix token labels fit)."""
    grid_model: bool = True
    """Whether a task trains the grid's `model_name_or_path` unless it names its own (False: the recipe's default)."""
    test_set: Callable[[Mapping[str, Any]], str | None] | None = None
    """Names a task's test set from its DataArguments fields before loading it (None: the generic naming)."""
    data_defaults: Mapping[str, Any] = field(default_factory=dict)
    """DataArguments fields a grid's task mapping sets (e.g. `task_name: None`: not a GLUE task)."""

    @property
    def shift(self) -> str | None:
        """The shift family its corrupted test sets take (one of `SHIFT_FAMILIES`): its DataArguments'
        `SHIFT_FAMILY` (`textmix.harness.recipes.arguments.DataArgumentsBase`), or None for none."""
        return getattr(self.data_arguments, "SHIFT_FAMILY", None)

    @property
    def label(self) -> str:
        """`noun`, or the modality's name."""
        return self.noun or self.modality


_RECIPES: dict[str, Recipe] = {}
_loaded = False


def register_recipe(recipe: Recipe, replace: bool = False) -> Recipe:
    """Register a modality's recipe (a `ValueError` when another module's recipe has its modality, unless
    `replace`). A recipe module run as a script (`python -m`) does not register: its importable twin does."""
    if recipe.shift is not None and recipe.shift not in SHIFT_FAMILIES:
        raise ValueError(f"recipe {recipe.modality}: shift family {recipe.shift!r} is not one of {SHIFT_FAMILIES}.")
    if recipe.run.__module__ == "__main__":  # a recipe module run as a script: the importable module registers
        return recipe
    old = _RECIPES.get(recipe.modality)
    same = old is not None and (old.run.__module__, old.run.__qualname__) == (recipe.run.__module__,
                                                                            recipe.run.__qualname__)
    if old is not None and not replace and not same:  # the same module imported again (a reload) replaces
        raise ValueError(f"modality {recipe.modality!r} already has a recipe; pass replace=True to replace it.")
    _RECIPES[recipe.modality] = recipe
    return recipe


def unregister_recipe(modality: str) -> None:
    """Remove a modality's recipe (tests register throwaway ones)."""
    _RECIPES.pop(modality, None)


def _load_built_in() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILT_IN:
            importlib.import_module(f"textmix.harness.recipes.{module}")


def recipe_names() -> tuple[str, ...]:
    """The registered modalities, built-in first."""
    _load_built_in()
    return tuple(_RECIPES)


def recipes() -> dict[str, Recipe]:
    """The registered recipes by modality."""
    _load_built_in()
    return dict(_RECIPES)


def get_recipe(modality: str) -> Recipe:
    """The recipe of a modality (a `KeyError` naming the registered ones otherwise)."""
    _load_built_in()
    if modality not in _RECIPES:
        raise KeyError(f"no recipe for modality {modality!r}; registered: {list(_RECIPES)}.")
    return _RECIPES[modality]


def loads_data(load_data: Callable[[Any], Any]) -> Callable[[Any, Any, Any], Any]:
    """A `check_data` for recipes whose check is loading the data: `load_data(data_args)`."""
    return lambda model_args, data_args, training_args: load_data(data_args)
