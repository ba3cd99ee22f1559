"""A grid from a preset and/or a YAML/JSON file, with top-level overrides (`load_grid`)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..checks import InputError, did_you_mean
from ..paths import shared_dir
from .presets import PRESETS
from .sweep import GridError, parse_sweep


def load_grid(preset: str | None = None, config: str | None = None, validate: bool = True,
              **overrides: Any) -> dict[str, Any]:
    """A grid from a preset and/or a YAML/JSON file (`{shared}` in their paths: `shared_dir()`), with top-level
    overrides (None values ignored). With `validate`, a `GridError` lists every problem `parse_sweep` finds."""
    if preset is None and config is None:
        raise ValueError(f"give --preset ({', '.join(PRESETS)}) or --config FILE.")
    grid: dict[str, Any] = {}
    loaded: Mapping[str, Any] = {}
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
        loaded = _with_shared(loaded, str(shared_dir()))
        grid = _merge(grid, loaded)
    preset_variants = set(grid.get("method_args") or {}) - set(loaded.get("method_args") or {})
    if overrides.get("tasks") is not None:
        overrides["tasks"] = _named_tasks(overrides["tasks"], grid.get("tasks"))
    grid = _merge(grid, {k: v for k, v in overrides.items() if v is not None})
    _drop_unused_variants(grid, preset_variants)
    problems = parse_sweep(grid).problems if validate else ()
    if problems:
        raise GridError(problems)
    return grid


def _named_tasks(names: list[Any], tasks: Any) -> list[Any]:
    """`--tasks` with each name of one of the grid's own task mappings (e.g. the `quick` preset's `digits`)
    replaced by that mapping; other names stay (GLUE tasks)."""
    own = {t["name"]: t for t in tasks or [] if isinstance(t, Mapping) and isinstance(t.get("name"), str)}
    return [own.get(n, n) if isinstance(n, str) else n for n in names]


def _drop_unused_variants(grid: dict[str, Any], preset_variants: set[str]) -> None:
    """Leave out the preset's own `method_args` entries that `methods` (overridden) no longer lists, so that
    `--methods none hidden` runs a slice of a preset that declares variants; a config's own stay (and are checked)."""
    methods = grid.get("methods")
    if preset_variants and isinstance(methods, list):
        grid["method_args"] = {k: v for k, v in grid["method_args"].items() if k in methods or k not in preset_variants}
        if not grid["method_args"]:
            grid.pop("method_args")


REVIEWS_DIR = Path(__file__).resolve().parent.parent / "data" / "reviews"
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
