"""The registry of recipes, one per modality (the modality twin of `textmix.methods`): the grid parser and the
sweep read each modality's facts from its `Recipe`. See docs/adding-a-modality.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from textmix.robustness import SHIFT_FAMILIES as _SHIFT_KINDS

if TYPE_CHECKING:
    from .base import Recipe

DEFAULT_MODALITY = "text"  # of a grid task that names none (and of a GLUE name)
BUILT_IN = ("glue", "image", "ner")  # the built-in recipe modules, imported (so registered) in this order
SHIFT_FAMILIES = tuple(_SHIFT_KINDS)  # the families of corrupted test sets, each a key of a grid's `shift`

_RECIPES: dict[str, Recipe] = {}
_loaded = False


def register_recipe(recipe: Recipe, replace: bool = False) -> Recipe:
    """Register a modality's recipe (a `ValueError` when another class's recipe has its modality, unless
    `replace`; the same class again replaces). A recipe module run as a script (`python -m`) does not register."""
    cls = type(recipe)
    if recipe.shift is not None and recipe.shift not in SHIFT_FAMILIES:
        raise ValueError(f"recipe {recipe.modality}: shift family {recipe.shift!r} is not one of {SHIFT_FAMILIES}.")
    if cls.__module__ == "__main__":
        return recipe
    old = _RECIPES.get(recipe.modality)
    same = old is not None and (type(old).__module__, type(old).__qualname__) == (cls.__module__, cls.__qualname__)
    if old is not None and not replace and not same:
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
