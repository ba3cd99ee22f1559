"""`load_grid`'s merge of a preset, a config file and overrides (`textmix.harness.compare.grid`): nested
mappings merge key by key at every depth, lists and scalars replace, the preset is never modified."""

from __future__ import annotations

import copy

from textmix.harness.compare.grid import _merge, load_grid
from textmix.harness.compare.presets import PRESETS


def test_merge_by_hand():
    base = {"a": 1, "data": {"x": 1, "y": 2, "deep": {"p": 1, "q": 2}}, "seeds": [0, 1], "keep": {"k": [1]}}
    extra = {"data": {"y": 3, "z": 4, "deep": {"q": 5}}, "seeds": [7], "b": {"c": 1}}
    before = copy.deepcopy(base)
    out = _merge(base, extra)
    assert out == {"a": 1, "data": {"x": 1, "y": 3, "z": 4, "deep": {"p": 1, "q": 5}}, "seeds": [7], "b": {"c": 1},
                   "keep": {"k": [1]}}
    assert base == before  # the base is copied, not changed
    out["data"]["deep"]["p"] = 99
    out["b"]["c"] = 99
    out["keep"]["k"].append(2)  # a mapping only the base has is a copy too
    assert base == before and extra["b"] == {"c": 1}
    assert _merge({"data": {"x": 1}}, {"data": None}) == {"data": None}  # a non-mapping replaces
    assert _merge({"data": 3}, {"data": {"x": 1}}) == {"data": {"x": 1}}


def test_a_config_files_data_and_training_merge_into_the_presets(tmp_path):
    preset = copy.deepcopy(PRESETS["smoke"])
    config = tmp_path / "grid.yaml"
    config.write_text("data: {max_seq_length: 32}\ntraining: {max_steps: 2}\nseeds: [5]\n", encoding="utf-8")
    grid = load_grid("smoke", str(config), validate=False)
    assert grid["data"] == {**preset["data"], "max_seq_length": 32}
    assert grid["training"] == {**preset["training"], "max_steps": 2}
    assert grid["seeds"] == [5]
    assert PRESETS["smoke"] == preset  # the preset itself is untouched
    json_config = tmp_path / "grid.json"
    json_config.write_text('{"training": {"logging_steps": 1}}', encoding="utf-8")
    grid = load_grid("smoke", str(json_config), validate=False, seeds=[1, 2])
    assert grid["training"] == {**preset["training"], "logging_steps": 1} and grid["data"] == preset["data"]
    assert grid["seeds"] == [1, 2]
