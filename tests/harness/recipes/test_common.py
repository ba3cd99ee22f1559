"""What the recipes share: atomic result files, reading them back, the majority-class accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from textmix.harness.recipes.common import majority_accuracy, read_results, save_npz_atomic, write_json_atomic


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
    image.main(["--npz_path", str(root / "d.npz"), "--output_dir", str(root / "run"), "--mix_method", "cutmix",
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

    from textmix.harness.recipes.common import resume_checkpoint

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

    from textmix.harness.recipes.common import CheckpointError, resume_checkpoint

    run = tmp_path / "run"
    shutil.copytree(checkpoints, run)
    assert Path(resume_checkpoint(args_for(run))).name == "checkpoint-3"
    weights = run / "checkpoint-3" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="checkpoint-3/model.safetensors"):
        resume_checkpoint(args_for(run, resume=str(run / "checkpoint-3")))


def test_a_file_task_is_named_after_its_folder_or_stem(tmp_path):
    from textmix.harness.recipes.common import file_task_name

    assert file_task_name(tmp_path / "reviews" / "train.csv") == "reviews"
    assert file_task_name(tmp_path / "reviews" / "Training.tsv") == "reviews"
    assert file_task_name(tmp_path / "data" / "reviews_train.csv") == "reviews_train"
