"""Label smoothing needs class labels: a regression task is skipped by a grid's label-smoothing method and
refused by the recipe before a model loads (it used to crash inside the Trainer's LabelSmoother)."""

from __future__ import annotations

import pytest
from conftest import shared_path

from textmix.harness.checks import InputError
from textmix.harness.compare.sweep import parse_sweep


def test_a_grid_skips_label_smoothing_on_a_regression_task_and_says_why():
    grid = {"tasks": ["stsb", "rte", {"name": "scores", "train_file": "x.csv", "data": {"problem_type": "regression"}}],
            "methods": ["none", "label_smoothing", "hidden"], "seeds": [0]}
    plan = parse_sweep(grid).task_plan()
    assert plan["stsb"]["methods"] == ["none", "hidden"]
    assert "regression" in plan["stsb"]["skipped_methods"]["label_smoothing"]
    assert plan["scores"]["methods"] == ["none", "hidden"]
    assert plan["rte"]["methods"] == ["none", "label_smoothing", "hidden"]


def test_the_recipe_refuses_label_smoothing_on_a_regression_task_before_a_model_loads(tmp_path, monkeypatch):
    from textmix.harness.recipes import glue

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("transformers.AutoModelForSequenceClassification.from_pretrained", no_model)
    argv = ["--task_name", "stsb", "--glue_dir", str(shared_path("data", "glue")), "--model_name_or_path",
            str(shared_path("models", "bert-tiny")), "--output_dir", str(tmp_path / "out"), "--max_train_samples",
            "32", "--max_predict_samples", "16", "--validation_split", "8", "--label_smoothing_factor", "0.1",
            "--report_to", "none", "--use_cpu"]
    with pytest.raises(InputError, match="label smoothing needs class labels.*regression"):
        glue.RECIPE.main(argv)
