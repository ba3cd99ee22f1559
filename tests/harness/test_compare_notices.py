"""What `textmix compare` tells before it trains: no notice about a preset's own grid, one about a grid-wide
`data` key that none of the grid's tasks takes."""

from __future__ import annotations

import pytest

from textmix.harness.compare.execute import _write_plan
from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.presets import PRESETS
from textmix.harness.compare.sweep import parse_sweep


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_preset_raises_no_notice_about_its_own_grid(preset, tmp_path, capsys):
    _write_plan(parse_sweep(load_grid(preset, validate=False)), tmp_path)
    err = capsys.readouterr().err
    assert "grid's data" not in err and "no such argument" not in err, err


def test_a_grid_wide_data_key_no_task_takes_is_named(tmp_path, capsys):
    grid = load_grid("quick", validate=False, tasks=["digits"], methods=["none", "mixup"])
    grid["data"] = {"max_seq_length": 32, "max_train_samples": 100}  # the first is a text argument
    _write_plan(parse_sweep(grid), tmp_path)
    err = capsys.readouterr().err
    assert "task digits: the grid's data ['max_seq_length'] apply to none of its tasks" in err
