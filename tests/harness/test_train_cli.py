"""`textmix train RECIPE ...`: the recipe's own command line, beside `compare` and `report`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textmix.harness import cli
from textmix.harness.recipes import glue

from .recipes.test_glue_recipe import common


def test_train_help_lists_every_recipe(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "glue (text)" in out and "image (image)" in out and "ner (tokens)" in out
    assert "train" in cli.build_parser().format_help()


def test_train_passes_the_arguments_to_the_recipe_untouched(monkeypatch):
    seen = []
    monkeypatch.setattr(glue.RECIPE, "main", lambda argv: seen.append(argv) or {})
    assert cli.main(["train", "glue", "--task_name", "rte", "--help_me", "x.yaml"]) == 0
    assert seen == [["--task_name", "rte", "--help_me", "x.yaml"]]


def test_a_bad_recipe_argument_is_one_message_and_status_2(tmp_path, capsys):
    assert cli.main(["train", "glue", "--output_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "give the data: --task_name" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        cli.main(["train", "nosuch"])
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err


def test_train_glue_is_the_glue_recipe(tmp_path):
    """The same run through `textmix train glue` and through the recipe's main gives the same test logits."""
    direct = tmp_path / "direct"
    direct.mkdir()
    via = tmp_path / "via"
    via.mkdir()
    glue.RECIPE.main(common(direct, "rte"))
    assert cli.main(["train", "glue", *common(via, "rte")]) == 0
    a, b = np.load(direct / "rte" / "predictions.npz"), np.load(via / "rte" / "predictions.npz")
    np.testing.assert_array_equal(a["test_logits"], b["test_logits"])
    assert json.loads((via / "rte" / "results.json").read_text())["task"] == "rte"
