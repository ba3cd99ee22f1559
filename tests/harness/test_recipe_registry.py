"""The recipe registry: a throwaway modality, registered from this file alone, goes through the grid parser,
the plan, the runs and the report like a built-in one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from textmix.harness.compare.execute import compare
from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.sweep import GridError, parse_sweep
from textmix.harness.recipes.base import Recipe
from textmix.harness.recipes.registry import (
    get_recipe,
    recipe_names,
    register_recipe,
    unregister_recipe,
)
from textmix.harness.tasks import fits, parse_task

ACCURACY = {("none", 0): 0.70, ("none", 1): 0.74, ("label_smoothing", 0): 0.72, ("label_smoothing", 1): 0.78}


@dataclass
class ClipData:
    clips: str | None = None
    test_clips: str | None = None
    max_train_samples: int | None = None
    label_noise: float = 0.0


@dataclass
class ClipModel:
    model_name_or_path: str | None = None


class ClipRecipe(Recipe):
    """A trivial recipe: fixed figures per method and seed, written as results.json in the run's folder."""

    name, modality, launcher = "clips", "audio", "recipes/run_clips.py"
    data_arguments, model_arguments = ClipData, ClipModel
    short_keys = {"train_file": "clips", "test_file": "test_clips"}
    data_sources = ("clips",)
    data_hint = "train_file (a clip list)"
    noun = "audio clips"
    mixes = "audio"
    grid_model = False

    def test_set(self, data):
        return f"the clips of {Path(data['test_clips']).name}" if data.get("test_clips") else None

    def check_data(self, model_args, data_args, training_args):
        if not Path(data_args.clips).is_file():
            raise FileNotFoundError(f"no clips at {data_args.clips}")

    def run(self, model_args, data_args, training_args, tags=None):
        acc = ACCURACY[(tags["method"], training_args.seed)]
        results = {"task": tags["task"], "method": tags["method"], "seed": training_args.seed,
                   "grid_key": tags["grid_key"], "modality": "audio", "test_majority_accuracy": 0.5,
                   "train_time_s": 1.0, "test": {"accuracy": acc, "ece": 1 - acc, "nll": 0.5, "brier": 0.3},
                   "test_ts": {"ece": (1 - acc) / 2}, "max_train_samples": data_args.max_train_samples}
        folder = Path(training_args.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
        return results


@pytest.fixture
def audio():
    recipe = register_recipe(ClipRecipe())
    yield recipe
    unregister_recipe("audio")


def _grid(tmp_path, **extra):
    (tmp_path / "train.txt").write_text("a\nb\n", encoding="utf-8")
    task = {"name": "clips", "modality": "audio", "train_file": str(tmp_path / "train.txt"),
            "test_file": str(tmp_path / "test.txt")}
    return {"tasks": [task], "methods": ["none", "label_smoothing", "hidden"], "seeds": [0, 1],
            "data": {"max_train_samples": 8}, "training": {"max_steps": 1, "report_to": "none"}, **extra}


def test_a_registered_modality_is_parsed_planned_run_and_reported(audio, tmp_path):
    assert "audio" in recipe_names() and get_recipe("audio") is audio
    spec, problems = parse_task({"name": "clips", "modality": "audio", "train_file": "a.txt"})
    assert problems == [] and spec.data == {"clips": "a.txt"}  # its short key, mapped to its own field
    assert fits("hidden", {"mix_method": "hidden"}, "audio") == "hidden mixes text; the task is audio clips"
    grid = _grid(tmp_path)
    grid["tasks"].append("rte")  # hidden runs on rte, so it fits some task
    sweep = parse_sweep({**grid, "model_name_or_path": "m"})
    assert sweep.problems == ()
    planned = sweep.task_plan()["clips"]
    assert planned["modality"] == "audio" and planned["test_set"] == "the clips of test.txt"
    assert planned["methods"] == ["none", "label_smoothing"] and list(planned["skipped_methods"]) == ["hidden"]
    runs = [r for r in sweep.plan(tmp_path, fingerprints=False) if r.task == "clips"]
    assert [(r.method, r.seed) for r in runs] == [("none", 0), ("none", 1), ("label_smoothing", 0),
                                                  ("label_smoothing", 1)]
    assert runs[0].data == {"clips": str(tmp_path / "train.txt"), "test_clips": str(tmp_path / "test.txt"),
                            "max_train_samples": 8} and runs[0].model == {}  # no grid model: grid_model=False

    grid = _grid(tmp_path)
    grid["methods"] = ["none", "label_smoothing"]
    out = tmp_path / "sweep"
    summary = compare(parse_sweep(grid), out, progress=False)
    assert summary["n_runs"] == 4 and not summary.get("failures")
    saved = json.loads((out / "runs" / "clips" / "label_smoothing" / "seed1" / "results.json").read_text())
    assert saved["test"]["accuracy"] == 0.78 and saved["max_train_samples"] == 8
    rows = summary["tasks"]["clips"]["methods"]
    assert rows["label_smoothing"]["accuracy"] == pytest.approx((0.72 + 0.78) / 2)  # by hand
    assert rows["none"]["ece"] == pytest.approx(((1 - 0.70) + (1 - 0.74)) / 2)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "clips" in report and "label_smoothing" in report
    assert json.loads((out / "plan.json").read_text())["tasks"]["clips"]["modality"] == "audio"
    again = compare(parse_sweep(grid), out, progress=False)  # finished runs (same run key) are skipped
    assert again["n_runs"] == 4


def test_a_registered_modality_keeps_the_grids_checks(audio, tmp_path):
    grid = _grid(tmp_path)
    grid["tasks"][0]["data_dir"] = "x"  # an image key, not one of audio's
    grid["tasks"].append({"name": "more", "modality": "audio"})
    with pytest.raises(GridError) as err:
        load_grid(config=None, preset="smoke", tasks=grid["tasks"], methods=["none"])
    text = str(err.value)
    assert "task clips: unknown key 'data_dir'" in text and "(a key of image tasks: set `modality: image`)" in text
    assert "task more: no data: give train_file (a clip list)." in text
    assert "modality 'audi' is not one of" in "\n".join(parse_task({"name": "x", "modality": "audi"})[1])


def test_a_modality_cannot_be_taken_by_another_recipe(audio):
    class OtherClips(ClipRecipe):
        mixes = "text"

    with pytest.raises(ValueError, match="already has a recipe"):
        register_recipe(OtherClips())
    class ClipRecipe2(ClipRecipe):
        noun = "clips"

    ClipRecipe2.__qualname__ = ClipRecipe.__qualname__  # the same class, as a reload makes it again
    register_recipe(ClipRecipe2())
    assert get_recipe("audio").noun == "clips"
