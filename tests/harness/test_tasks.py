"""Grids of any task (`textmix.harness.tasks`): task mappings, which methods run where, and every bad
input found before the first run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import shared_path

from textmix.harness.cli import main
from textmix.harness.compare.check import check_grid
from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.sweep import GridError, parse_sweep
from textmix.harness.tasks import fits, parse_task


def write_csv(path, rows, header=("review", "sentiment")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def reviews(tmp_path, labels=("bad", "good")):
    """A csv task with string labels: train and test files."""
    rows = [(f"{'great fine lovely' if i % 2 else 'awful dull poor'} film number {i}", labels[i % len(labels)])
            for i in range(40)]
    return write_csv(tmp_path / "train.csv", rows), write_csv(tmp_path / "test.csv", rows[:12])


def grid_file(tmp_path, tasks, methods="[none, hidden, mixup]", extra=""):
    config = tmp_path / "grid.yaml"
    config.write_text(
        f"model_name_or_path: {shared_path('models', 'bert-tiny')}\nglue_dir: {shared_path('data', 'glue')}\n"
        f"tasks: {json.dumps(tasks)}\nmethods: {methods}\nseeds: [0]\n"
        "data: {max_train_samples: 16, max_predict_samples: 16, validation_split: 8, max_seq_length: 32}\n"
        "training: {max_steps: 1}\n" + extra, encoding="utf-8")
    return str(config)


def test_a_task_mapping_becomes_the_recipe_arguments_of_its_modality(tmp_path):
    train, test = reviews(tmp_path)
    spec, problems = parse_task({"name": "reviews", "train_file": str(train), "test_file": str(test),
                                 "text_columns": ["review"], "label_column": "sentiment"})
    assert problems == [] and spec.modality == "text"
    assert spec.data == {"train_file": str(train), "test_file": str(test), "text_columns": ["review"],
                         "label_column": "sentiment", "task_name": None}
    spec, _ = parse_task({"name": "digits", "modality": "image", "train_file": "x.npz", "model": {"patch_size": 4}})
    assert spec.data == {"npz_path": "x.npz"} and spec.model == {"patch_size": 4} and spec.modality == "image"
    spec, _ = parse_task({"name": "ner", "modality": "tokens", "train_file": "t.conll", "test_file": "u.conll"})
    assert spec.data == {"train_file": "t.conll", "test_file": "u.conll"} and spec.modality == "tokens"
    spec, _ = parse_task("SST-2", glue_dir="/g")
    assert spec.name == "SST-2" and spec.glue == "sst2" and spec.data == {"task_name": "sst2", "glue_dir": "/g"}
    spec, _ = parse_task({"name": "SST-2", "ood_test_files": {"imdb": "i.tsv"}, "training": {"max_steps": 2}}, "/g")
    assert spec.glue == "sst2" and spec.training == {"max_steps": 2}  # a GLUE task as a mapping: no data of its own
    assert spec.data == {"ood_test_files": {"imdb": "i.tsv"}, "task_name": "sst2", "glue_dir": "/g"}
    assert parse_task({"name": "sst3"})[1] == ["task sst3: no data: give train_file (+ test_file) or dataset (or name "
                                               "a GLUE task)."]


def test_methods_run_where_they_fit_and_the_plan_says_what_was_skipped(tmp_path):
    assert fits("none", {"mix_method": "none"}, "image") is None
    assert fits("label_smoothing", {"mix_method": "none", "label_smoothing_factor": 0.1}, "tokens") is None
    assert "mixes images" in fits("mixup", {"mix_method": "mixup"}, "text")
    assert "mixes text" in fits("hidden", {"mix_method": "hidden"}, "image")
    assert "token labels" in fits("pooled", {"mix_method": "pooled"}, "tokens")
    assert fits("hidden", {"mix_method": "hidden"}, "tokens") is None
    train, test = reviews(tmp_path)
    tasks = ["rte", {"name": "reviews", "train_file": str(train), "test_file": str(test)},
             {"name": "digits", "modality": "image", "train_file": str(shared_path("data", "mnist", "mnist.npz"))}]
    grid = load_grid(config=grid_file(tmp_path, tasks, extra="label_noise: [0.0, 0.2]\n"))
    runs = parse_sweep(grid).plan(tmp_path / "sweep")
    cells = {(r.task, r.method, r.label_noise) for r in runs}
    assert cells == {(t, m, n) for t in ("rte", "reviews") for m in ("none", "hidden") for n in (0.0, 0.2)} | {
        ("digits", m, n) for m in ("none", "mixup") for n in (0.0, 0.2)}
    noisy = next(r for r in runs if r.label_noise)
    assert noisy.data["label_noise"] == 0.2 and noisy.folder.parent.name == "noise0.2"
    digits = next(r for r in runs if r.task == "digits")
    assert digits.modality == "image" and "model_name_or_path" not in digits.model  # a ViT from scratch
    info = parse_sweep(grid).task_plan()
    assert info["rte"]["skipped_methods"] == {"mixup": "mixup mixes images; the task is text"}
    assert info["digits"]["methods"] == ["none", "mixup"] and info["reviews"]["test_set"] == "test.csv"
    # the grid's data keys an image task has no argument for are said, not silently dropped
    assert info["digits"]["unapplied_data"] == ["max_predict_samples", "validation_split", "max_seq_length"]
    assert info["rte"]["unapplied_data"] == []
    assert len({r.key for r in runs}) == len(runs)


def problems_of(tmp_path, tasks, methods="[none, hidden]", extra=""):
    grid = load_grid(config=grid_file(tmp_path, tasks, methods, extra), validate=False)
    sweep = parse_sweep(grid)
    return check_grid(sweep, sweep.plan(tmp_path / "sweep") if sweep.plannable else (), tmp_path / "sweep")


def test_every_bad_task_is_reported_before_any_run(tmp_path):
    train, test = reviews(tmp_path)
    one_class = write_csv(tmp_path / "one.csv", [(f"text {i}", "good") for i in range(20)])
    empty_folder = tmp_path / "images"
    (empty_folder / "train" / "cat").mkdir(parents=True)
    (empty_folder / "train" / "cat" / "notes.txt").write_text("no image here")
    tasks = [
        {"name": "missing", "train_file": str(tmp_path / "nope.csv"), "test_file": str(test)},
        {"name": "column", "train_file": str(train), "test_file": str(test), "label_column": "sentimnt"},
        {"name": "one_class", "train_file": str(one_class), "test_file": str(one_class), "label_column": "sentiment"},
        {"name": "folder", "modality": "image", "data_dir": str(empty_folder)},
        {"name": "typo", "modalty": "image"},
    ]
    found = problems_of(tmp_path, tasks)
    text = "\n".join(found)
    assert "nope.csv does not exist" in text
    assert "label column 'sentimnt' not in" in text and "did you mean 'sentiment'" in text
    assert "task one_class:" in text and "only one class ('good')" in text
    assert "task folder:" in text and "holds no images" in text
    assert "'modalty'" in text and "did you mean 'modality'" in text
    assert not (tmp_path / "sweep").exists()  # nothing ran


def test_a_method_that_fits_no_task_and_other_grid_mistakes_are_errors(tmp_path):
    digits = {"name": "digits", "modality": "image", "train_file": str(shared_path("data", "mnist", "mnist.npz"))}
    with pytest.raises(GridError, match="method hidden fits none of the tasks \\(hidden mixes text; the task is image"):
        load_grid(config=grid_file(tmp_path, [digits], methods="[none, hidden]"))
    found = problems_of(tmp_path, ["rte", "rte", {"name": "x/y", "train_file": "a.csv"}, {"train_file": "a.csv"}])
    text = "\n".join(found)
    assert "appear more than once (ignoring case): 'rte' and 'rte'" in text and "has a path separator" in text
    assert "needs a `name`" in text
    found = problems_of(tmp_path, ["rte", {"name": "nodata", "modality": "tokens"}])
    assert any("task nodata: no data" in p for p in found)
    found = problems_of(tmp_path, [{"name": "w", "modality": "words", "train_file": "a"}])
    assert any("modality 'words' is not one of" in p for p in found)
    found = problems_of(tmp_path, [{"name": "w", "train_file": "a.npz", "data_dir": "d"}])
    assert any("'data_dir'" in p and "modality: image" in p for p in found)


def test_shift_and_label_noise_are_checked_before_any_run(tmp_path):
    bad = ("shift: {text: [typo, blur, tpyo], image: [mask], severities: [0, 3, 6]}\n"
           "label_noise: [0.0, 1.0, -0.1]\n")
    found = "\n".join(problems_of(tmp_path, ["rte"], extra=bad))
    assert "shift.text: shift kind 'blur' does not exist for text data (blur is a corruption of image data)" in found
    assert "shift.image: shift kind 'mask' does not exist for image data (mask is a corruption of text data)" in found
    assert "shift.severities: shift severity 0 is not one of [1, 2, 3, 4, 5]" in found
    assert "label_noise: label noise 1.0 must be a share in [0, 1)" in found
    found = "\n".join(problems_of(tmp_path, ["stsb"], extra="shift: {text: [typo]}\n"))
    assert "task stsb:" in found and "this task is regression" in found
    found = "\n".join(problems_of(tmp_path, ["rte"], extra="shift: {txt: [typo]}\n"))
    assert "did you mean 'text'" in found and "shift names no kinds" in found


def test_an_image_task_and_a_csv_task_run_beside_glue_and_the_report_names_each_test_set(tmp_path, capsys):
    train, test = reviews(tmp_path)
    mnist = shared_path("data", "mnist", "mnist.npz")
    tasks = ["rte",
             {"name": "reviews", "train_file": str(train), "test_file": str(test), "text_columns": ["review"],
              "label_column": "sentiment"},
             {"name": "digits", "modality": "image", "train_file": str(mnist),
              "model": {"patch_size": 7, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                        "intermediate_size": 32},
              "data": {"max_train_samples": 64, "max_eval_samples": 32, "max_predict_samples": 32}}]
    out = tmp_path / "sweep"
    assert main(["compare", "--config", grid_file(tmp_path, tasks, methods="[none, mixup]",
                                                  extra="shift: {text: [mask], image: [occlusion], severities: [2]}\n"),
                 "--output_dir", str(out)]) == 0
    assert "do not apply" not in capsys.readouterr().err  # grid-wide keys some task takes: no notice for the others
    results = {p.parts[-4]: json.loads(p.read_text()) for p in out.glob("runs/*/*/seed0/results.json")}
    assert set(results) == {"rte", "reviews", "digits"}  # mixup only on digits, none everywhere
    assert results["reviews"]["test_set"] == "test.csv (12 rows)" and results["reviews"]["task"] == "reviews"
    assert results["rte"]["test_set"] == "GLUE rte dev (16 rows)"
    assert results["digits"]["test_set"] == "x_test/y_test of mnist.npz (32 images)"
    assert set(results["digits"]["shift"]) == {"occlusion"} and set(results["reviews"]["shift"]) == {"mask"}
    for result in results.values():  # the same figures for a shifted set as for the clean one
        shifted = result["shift"][next(iter(result["shift"]))]["2"]
        assert 0 <= shifted["accuracy"] <= 1 and shifted["size"] == result["sizes"]["test"]
    labels = np.load(out / "runs/reviews/none/seed0/predictions.npz")["test_labels"]
    assert sorted(set(labels.tolist())) == [0, 1]  # "bad", "good" as class ids
    plan_info = json.loads((out / "plan.json").read_text())
    assert plan_info["tasks"]["rte"]["skipped_methods"] == {"mixup": "mixup mixes images; the task is text"}
    report = (out / "report.md").read_text()
    assert "test.csv (12 rows)" in report and "x_test/y_test of mnist.npz (32 images)" in report


def test_a_grid_with_shift_but_no_test_labels_is_refused_before_any_run(tmp_path):
    rng = np.random.default_rng(0)
    npz = tmp_path / "unlabelled.npz"
    np.savez(npz, x_train=rng.integers(0, 255, (20, 8, 8), dtype=np.uint8), y_train=np.arange(20) % 2,
             x_test=rng.integers(0, 255, (6, 8, 8), dtype=np.uint8))
    rows = [(f"text {i}", "") for i in range(6)]
    train, _ = reviews(tmp_path)
    hidden = write_csv(tmp_path / "hidden.csv", rows)
    tasks = [{"name": "pics", "modality": "image", "train_file": str(npz)},
             {"name": "hidden", "train_file": str(train), "test_file": str(hidden), "label_column": "sentiment"}]
    found = "\n".join(problems_of(tmp_path, tasks, methods="[none]",
                                  extra="shift: {text: [typo], image: [blur]}\n"))
    assert "task pics:" in found and "has x_test but no y_test" in found
    assert "task hidden:" in found and "hidden.csv: 6 row(s) without a label" in found


def test_the_report_scores_a_task_by_what_it_is_not_by_its_name():
    from textmix.harness.report.views import task_metric

    def result(task, glue, problem_type="classification"):
        return {"task": task, "problem_type": problem_type, "config": {"data": {"task_name": glue}}}

    assert task_metric(result("CoLA", "cola")) == "matthews_correlation"  # a GLUE task under another spelling
    assert task_metric(result("my-mrpc", "mrpc")) == "f1"
    assert task_metric(result("cola", None)) == "accuracy"  # a file task that happens to be called cola
    assert task_metric(result("prices", None, "regression")) == "pearson"
    assert task_metric({"task": "stsb"}) == "pearson"  # results without a configuration: by name
