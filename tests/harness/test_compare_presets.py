"""The presets name their methods: a newly registered method joins no preset (their descriptions count the runs)."""

from __future__ import annotations

import importlib
from pathlib import Path

import textmix.harness.compare.grid as grid_module
import textmix.harness.compare.presets as presets
from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.sweep import parse_sweep


def _runs(preset: str, **overrides) -> int:
    return len(parse_sweep(load_grid(preset, **overrides)).plan(Path("sweep"), fingerprints=False))


def test_a_newly_registered_text_method_changes_no_presets_run_count(monkeypatch, throwaway):
    before = {name: _runs(name) for name in presets.PRESETS}
    assert before["gpu"] == 102 and before["smoke"] == 6  # by hand: 5 tasks x 7 methods x 3 seeds - STS-B's smoothing
    try:
        importlib.reload(presets)  # the presets as a process that registered the method first builds them
        monkeypatch.setattr(grid_module, "PRESETS", presets.PRESETS)
        assert throwaway in presets.grid_methods()  # a grid knows it: a preset could list it
        assert {name: _runs(name) for name in presets.PRESETS} == before
        listed = _runs("smoke", methods=["none", "hidden", "span", throwaway])
        assert listed == before["smoke"] + 2  # listed: its cells join (1 task x 2 seeds)
    finally:
        importlib.reload(presets)
