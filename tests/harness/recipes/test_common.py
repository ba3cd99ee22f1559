"""What the recipes share: atomic result files, reading them back, the majority-class accuracy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from textmix.harness.recipes.common import majority_accuracy
from textmix.harness.runfile import read_results, save_npz_atomic, write_json_atomic


def test_majority_accuracy():
    assert majority_accuracy([0, 1, 1, 1]) == 0.75


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    write_json_atomic(tmp_path / "results.json", {"a": 1, "path": tmp_path})
    save_npz_atomic(tmp_path / "predictions.npz", {"test_logits": np.eye(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.npz", "results.json"]
    assert json.loads((tmp_path / "results.json").read_text()) == {"a": 1, "path": str(tmp_path)}
    with np.load(tmp_path / "predictions.npz", allow_pickle=False) as arrays:
        np.testing.assert_array_equal(arrays["test_logits"], np.eye(3))
    assert read_results(tmp_path) == {"a": 1, "path": str(tmp_path)}
    with pytest.raises(FileNotFoundError, match="has not finished"):
        read_results(tmp_path / "nothing")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A run folder with complete checkpoints 1..3 of a tiny ViT with a mixer (every file a checkpoint has)."""
    from textmix.harness.recipes import image

    root = tmp_path_factory.mktemp("ckpt")
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 32), ("validation", 8), ("test", 8)):
        arrays[f"x_{split}"] = (rng.random((n, 6, 6)) * 255).astype(np.uint8)
        arrays[f"y_{split}"] = rng.integers(0, 2, n).astype(np.int64)
    np.savez(root / "d.npz", **arrays)
    image.RECIPE.main(["--npz_path", str(root / "d.npz"), "--output_dir", str(root / "run"), "--mix_method", "cutmix",
                "--patch_size", "3", "--hidden_size", "8", "--num_hidden_layers", "1", "--num_attention_heads", "2",
                "--intermediate_size", "8", "--max_steps", "3", "--save_strategy", "steps", "--save_steps", "1",
                "--per_device_train_batch_size", "8", "--report_to", "none", "--use_cpu", "--disable_tqdm", "true"])
    return root / "run"


def args_for(folder, resume=None):
    from types import SimpleNamespace

    return SimpleNamespace(output_dir=str(folder), resume_from_checkpoint=resume, process_index=0)


DAMAGES = ["model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "textmix_mixer_rank0.pt",
           "trainer_state.json"]


@pytest.mark.parametrize("name", DAMAGES)
def test_a_damaged_newest_checkpoint_is_named_and_the_previous_one_used(tmp_path, checkpoints, capsys, name):
    import shutil

    from textmix.harness.recipes.resume import resume_checkpoint

    run = tmp_path / "run"
    shutil.copytree(checkpoints, run)
    damaged = run / "checkpoint-3" / name
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # a truncated write
    assert Path(resume_checkpoint(args_for(run))).name == "checkpoint-2"
    err = capsys.readouterr().err
    assert f"checkpoint-3/{name}" in err and "checkpoint-2" in err
    assert not (run / "checkpoint-3").exists() and (run / "damaged-checkpoint-3" / name).exists()  # kept aside
    assert Path(resume_checkpoint(args_for(run))).name == "checkpoint-2"


def test_healthy_checkpoints_and_an_explicit_damaged_one(tmp_path, checkpoints):
    import shutil

    from textmix.harness.recipes.resume import CheckpointError, resume_checkpoint

    run = tmp_path / "run"
    shutil.copytree(checkpoints, run)
    assert Path(resume_checkpoint(args_for(run))).name == "checkpoint-3"
    weights = run / "checkpoint-3" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="checkpoint-3/model.safetensors"):
        resume_checkpoint(args_for(run, resume=str(run / "checkpoint-3")))


def test_a_file_task_is_named_after_its_folder_or_stem(tmp_path):
    from textmix.harness.data.contracts import file_task_name

    assert file_task_name(tmp_path / "reviews" / "train.csv") == "reviews"
    assert file_task_name(tmp_path / "reviews" / "Training.tsv") == "reviews"
    assert file_task_name(tmp_path / "data" / "reviews_train.csv") == "reviews_train"


def _result(**overrides):
    result = {"method": "hidden", "problem_type": "classification", "final_model": "/runs/rte",
              "test": {"accuracy": 0.75, "ece": 0.125}, "test_ts": {"ece": 0.0625}, "test_majority_accuracy": 0.5,
              "train_time_s": 90.0}
    return {**result, **overrides}


def test_the_closing_line_says_metric_ece_time_and_where_everything_is():
    from textmix.harness.recipes.common import summary_line

    line = summary_line(_result(calibrated="calibrated"))
    assert line == ("hidden: test accuracy 0.7500, ECE 0.1250 (0.0625 after temperature scaling), 1.5 min of "
                    "training; model in /runs/rte, results in /runs/rte/results.json, calibrated model in "
                    "/runs/rte/calibrated")
    assert "⚠" not in line
    why = "the temperature 100 sits at an end of its search interval"
    assert summary_line(_result(calibrated_not_written=why)).endswith(f"; no calibrated model: {why}")


@pytest.mark.parametrize("accuracy,majority,flagged", [(0.6838, 0.6838, True), (0.60, 0.6838, True),
                                                       (0.6839, 0.6838, False)])
def test_the_closing_line_flags_an_accuracy_not_above_the_majority_class(accuracy, majority, flagged):
    from textmix.harness.recipes.common import summary_line

    line = summary_line(_result(test={"accuracy": accuracy, "ece": 0.1}, test_majority_accuracy=majority))
    assert (f"⚠ not above the majority-class accuracy {majority:.4f}" in line) == flagged


def test_the_closing_line_of_a_tagger_and_of_a_regression():
    from textmix.harness.recipes.common import summary_line

    tagger = summary_line(_result(problem_type="token", test={"entity_f1": 0.25, "accuracy": 0.875, "ece": 0.05},
                                  test_majority_accuracy=0.9))
    assert tagger.startswith("hidden: test entity F1 0.2500, token accuracy 0.8750 ⚠ not above the majority-class "
                             "accuracy 0.9000")
    regression = summary_line(_result(problem_type="regression", test={"loss": 1.0, "pearson": 0.5, "spearmanr": 0.25},
                                      test_ts={}, test_majority_accuracy=None, train_time_s=None))
    assert regression.startswith("hidden: test pearson 0.5000, test spearmanr 0.2500, training time unknown; model in")


def test_a_launch_that_started_other_processes_than_asked_is_named():
    from textmix.harness.recipes.common import process_count_notice

    # what `accelerate launch --cpu --num_processes 2` leaves a process (accelerate 1.16's simple launcher)
    accelerate_one = {"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    assert "--multi_gpu --num_processes N" in process_count_notice(1, accelerate_one)
    assert process_count_notice(1, {"ACCELERATE_USE_CPU": "True"}) is None  # --num_processes 1: as asked
    assert process_count_notice(2, {**accelerate_one, "WORLD_SIZE": "2", "RANK": "0"}) is None  # torchrun's two
    assert "asked for 2 processes (WORLD_SIZE) but the run has 1" in process_count_notice(1, {"WORLD_SIZE": "2"})
    assert process_count_notice(1, {}) is None


def test_the_step_count_of_a_long_cpu_run_is_said_up_front():
    from types import SimpleNamespace

    from textmix.harness.recipes.common import LONG_CPU_STEPS, long_run_notice, training_steps

    def trainer(rows, **args):
        defaults = {"max_steps": -1, "num_train_epochs": 3.0, "per_device_train_batch_size": 8, "world_size": 1,
                    "gradient_accumulation_steps": 1, "device": SimpleNamespace(type="cpu")}
        return SimpleNamespace(train_dataset=range(rows), args=SimpleNamespace(**{**defaults, **args}))

    assert training_steps(trainer(50_000)) == 18_750  # 6,250 batches of 8 a epoch, 3 epochs
    assert training_steps(trainer(50_001)) == 18_753  # a last, short batch is a step
    assert training_steps(trainer(100, gradient_accumulation_steps=3, per_device_train_batch_size=10)) == 12  # 4 x 3
    assert training_steps(trainer(100, world_size=2, per_device_train_batch_size=10)) == 15  # 5 a epoch
    assert training_steps(trainer(50_000, max_steps=7)) == 7
    said = long_run_notice(trainer(50_000))
    assert said.startswith("this run trains 18750 steps (3 epoch(s) of 50000 rows at batch 8) on CPU")
    assert long_run_notice(trainer(4 * LONG_CPU_STEPS, num_train_epochs=2)) is None  # 2,000 steps: not long
    assert "trains 2002 steps" in long_run_notice(trainer(4 * LONG_CPU_STEPS + 1, num_train_epochs=2))
    assert long_run_notice(trainer(50_000, device=SimpleNamespace(type="cuda"))) is None


def test_pin_memory_is_turned_off_where_torch_would_warn_about_it(tmp_path):
    import warnings

    import torch

    from textmix import MixTrainingArguments
    from textmix.harness.recipes.common import quiet_pin_memory

    args = MixTrainingArguments(output_dir=str(tmp_path), report_to="none")  # no --use_cpu on a machine without GPU
    assert args.dataloader_pin_memory  # transformers' default

    def warned(pin):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            list(torch.utils.data.DataLoader([torch.zeros(2)] * 2, pin_memory=pin))
        return [str(w.message) for w in caught if "pin_memory" in str(w.message)]

    if torch.accelerator.is_available():
        pytest.skip("an accelerator: pinning memory is what it is for")
    assert warned(args.dataloader_pin_memory)  # the warning the recipes caused on CPU
    quiet_pin_memory(args)
    assert not args.dataloader_pin_memory and not warned(args.dataloader_pin_memory)


def test_a_notice_is_written_on_its_own_line_below_a_progress_bar(capsys):
    from tqdm import tqdm

    from textmix.harness.checks import notice

    bar = tqdm(total=4, file=sys.stderr, ascii=True)
    bar.update(1)
    notice("a notice beside a progress bar")
    bar.update(1)
    bar.close()
    segments = [part.strip() for line in capsys.readouterr().err.split("\n") for part in line.split("\r")]
    assert "textmix: a notice beside a progress bar" in segments  # not glued to the bar's text


def test_figures_of_predictions_need_validation_and_name_each_corrupted_copy():
    from textmix.harness.recipes.common import figures_of, shifted_key

    rng = np.random.default_rng(0)
    sets = {name: (rng.normal(size=(40, 2)), rng.integers(0, 2, 40)) for name in ("validation", "test")}
    arrays = {f"{k}_{part}": v for k, pair in sets.items() for part, v in zip(("logits", "labels"), pair, strict=True)}
    with pytest.raises(ValueError, match="lack `validation`"):
        figures_of({k: v for k, v in arrays.items() if k.startswith("test")}, None)
    copy = {f"{shifted_key('gaussian_noise', 3)}_logits": arrays["test_logits"][:30],
            f"{shifted_key('gaussian_noise', 3)}_labels": arrays["test_labels"][:30]}
    with pytest.raises(ValueError, match="measured for classifiers; this run is regression"):
        figures_of({**arrays, **copy}, None, "regression")
    results = figures_of({**arrays, **copy}, None)
    assert results["shift"]["gaussian_noise"]["3"]["size"] == 30 and set(results["test"]) >= {"aurc", "smece_ci"}
