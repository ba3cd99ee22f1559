"""textmix.harness.recipes.image end to end on a tiny .npz (a few steps per method), and its launcher."""

from __future__ import annotations

import json
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from textmix.harness.compare.execute import SweepFailed
from textmix.harness.recipes import image as recipe
from textmix.harness.schema import RESULT_KEYS  # the same schema as the GLUE recipe's

ROOT = Path(__file__).resolve().parents[3]
TINY_VIT = ["--patch_size", "3", "--hidden_size", "16", "--num_hidden_layers", "1", "--num_attention_heads", "2",
            "--intermediate_size", "16"]
QUIET = ["--report_to", "none", "--use_cpu", "--disable_tqdm", "true", "--dataloader_pin_memory", "false"]


def test_quick_defaults_yield_to_the_command_line():
    argv = recipe.with_quick_defaults(["--quick", "--num_train_epochs", "1", "--compare", "none"])
    assert argv[-5:] == ["--quick", "--num_train_epochs", "1", "--compare", "none"]
    assert "--patch_size" in argv and argv.count("--num_train_epochs") == 1 and argv.count("--compare") == 1
    assert recipe.with_quick_defaults(["--output_dir", "x"]) == ["--output_dir", "x"]
    npz = argv[argv.index("--npz_path") + 1]
    assert npz.endswith("data/mnist/mnist.npz")


COMPARE = [*TINY_VIT, "--max_steps", "3", "--per_device_train_batch_size", "16", "--save_strategy", "no",
           "--mix_alpha", "1.0", "--mix_lam_mode", "pair", *QUIET]


@pytest.fixture
def trainings(monkeypatch):
    """The runs the sweep trains (their names), counted where `textmix compare` trains each one."""
    from textmix.harness.compare import execute

    trained, run_one = [], execute.run_one
    monkeypatch.setattr(execute, "run_one", lambda run: trained.append(run.name) or run_one(run))
    return trained


def test_compare_is_a_one_task_sweep_that_trains_reports_and_draws(tmp_path, tiny_npz, trainings, capsys):
    out = tmp_path / "out"
    results = recipe.main(["--npz_path", str(tiny_npz), "--output_dir", str(out), "--compare", "none", "cutmix",
                           "patch_cutmix", *COMPARE])
    assert [r["method"] for r in results] == ["none", "cutmix", "patch_cutmix"]
    assert trainings == ["tiny/none/seed42", "tiny/cutmix/seed42", "tiny/patch_cutmix/seed42"]
    for r in results:
        folder = out / "runs" / "tiny" / r["method"] / "seed42"  # where `textmix compare` puts a run
        saved = json.loads((folder / "results.json").read_text())
        assert set(saved) - {"grid_key"} == RESULT_KEYS and saved["grid_key"]
        assert saved["test"]["accuracy"] == r["test"]["accuracy"] and "ece" in saved["test_ts"]
        assert saved["task"] == "tiny" and saved["seed"] == 42 and saved["resumed_from"] is None
        assert saved["sizes"] == {"train": 64, "validation": 32, "test": 32}
        assert saved["config"]["training"]["mix_method"] == r["method"] and saved["versions"]["torch"]
        assert saved["config"]["training"]["max_steps"] == 3 and saved["config"]["training"]["mix_alpha"] == 1.0
        assert saved["config"]["model"]["hidden_size"] == 16
        arrays = np.load(folder / "predictions.npz")
        assert arrays["test_logits"].shape == (32, 3) and arrays["validation_labels"].shape == (32,)
        assert (folder / "reliability.png").stat().st_size > 1000
        assert not (folder / ".textmix-run.lock").exists()  # taken while training, released
    assert (out / "reliability.png").exists() and (out / "plan.json").exists() and (out / "grid.json").exists()
    report = json.loads((out / "report.json").read_text())
    rows = report["tasks"]["tiny"]["methods"]
    assert list(rows) == ["none", "cutmix", "patch_cutmix"] and report["clashes"] == []
    assert rows["cutmix"]["accuracy"] == pytest.approx(results[1]["test"]["accuracy"])
    md = (out / "report.md").read_text()
    assert all(f"| {m}" in md for m in rows)
    keys = {r["method"]: r["grid_key"] for r in results}
    assert "already done" not in capsys.readouterr().err

    with pytest.warns(FutureWarning, match="--skip_existing is deprecated, has no effect"):
        again = recipe.main(["--npz_path", str(tiny_npz), "--output_dir", str(out), "--compare", "none", "cutmix",
                             "--skip_existing", *COMPARE])
    assert trainings == ["tiny/none/seed42", "tiny/cutmix/seed42", "tiny/patch_cutmix/seed42"]  # nothing trained
    assert "2 of 2 runs already done (their results.json under the same run key), skipped; nothing to train" in (
        capsys.readouterr().err)
    assert [r["test"]["accuracy"] for r in again] == [r["test"]["accuracy"] for r in results[:2]]

    # another learning rate is another run key: trained again, never read back (the old --skip_existing did)
    changed = recipe.main(["--npz_path", str(tiny_npz), "--output_dir", str(out), "--compare", "none", *COMPARE,
                           "--learning_rate", "1e-2"])
    assert trainings[3:] == ["tiny/none/seed42"] and changed[0]["grid_key"] != keys["none"]
    assert changed[0]["config"]["training"]["learning_rate"] == 1e-2
    # ... and beside a run of other settings (another seed) it is a clash: an error naming it, after the
    # report that leaves it out (as textmix compare)
    with pytest.raises(SweepFailed, match=r"clash: tiny/none: .*move the earlier runs away"):
        recipe.main(["--npz_path", str(tiny_npz), "--output_dir", str(out), "--compare", "none", *COMPARE,
                     "--seed", "1"])
    assert trainings[4:] == ["tiny/none/seed1"]
    report = json.loads((out / "report.json").read_text())
    assert [(c["task"], c["method"]) for c in report["clashes"]] == [("tiny", "none")]
    assert "learning_rate" in report["clashes"][0]["reason"] and "none" not in report["tasks"]["tiny"]["methods"]


def test_each_compare_run_trains_as_its_method_alone_would(tmp_path, tiny_npz):
    """The one-task grid's runs get the arguments of `--mix_method M --seed S --output_dir FOLDER` alone
    (the oracle: the recipe's own parser), whatever the sweep's defaults are."""
    from textmix import MixTrainingArguments
    from textmix.harness.compare.recipe import recipe_grid
    from textmix.harness.compare.sweep import parse_sweep

    argv = ["--npz_path", str(tiny_npz), "--output_dir", str(tmp_path), *TINY_VIT, "--max_steps", "3",
            "--mix_alpha", "1.0", "--seed", "7", *QUIET]
    model_args, data_args, training_args = recipe.parse_args([*argv, "--compare", "none", "cutmix"])
    runs = parse_sweep(recipe_grid("image", model_args, data_args, training_args)).plan(tmp_path)
    assert [(r.task, r.method, r.seed, r.folder) for r in runs] == [
        ("tiny", m, 7, tmp_path / "runs" / "tiny" / m / "seed7") for m in ("none", "cutmix")]
    for run in runs:
        alone = recipe.parse_args([*argv, "--mix_method", run.method, "--output_dir", str(run.folder)])
        assert MixTrainingArguments(**run.training).to_dict() == alone[2].to_dict()
        assert recipe.DataArguments(**run.data) == alone[1]
        assert recipe.ModelArguments(**run.model) == alone[0]


def test_a_failed_or_locked_compare_run_is_named_after_the_report_of_the_others(tmp_path, tiny_npz, monkeypatch,
                                                                                  capsys):
    from textmix.harness.compare import execute

    run_one = execute.run_one

    def fail_cutmix(run):
        if run.method == "cutmix":
            raise RuntimeError("out of memory")
        return run_one(run)

    monkeypatch.setattr(execute, "run_one", fail_cutmix)
    out = tmp_path / "out"
    argv = ["--npz_path", str(tiny_npz), "--output_dir", str(out), "--compare", "none", "cutmix", *COMPARE]
    assert recipe.cli(argv) == 1
    err = capsys.readouterr().err
    assert "1 of 2 runs have no results: tiny/cutmix/seed42 (failed: see" in err and "Traceback" not in err
    assert "out of memory" in (out / "runs" / "tiny" / "cutmix" / "seed42" / "error.log").read_text()
    assert [f["method"] for f in json.loads((out / "failures.json").read_text())] == ["cutmix"]
    assert list(json.loads((out / "report.json").read_text())["tasks"]["tiny"]["methods"]) == ["none"]
    # another process training the run (its lock): left alone, and said so
    monkeypatch.setattr(execute, "acquire_lock", lambda folder: "pid 4242 on host elsewhere since 21:00")
    assert recipe.cli(argv) == 1
    assert "tiny/cutmix/seed42 (being trained by another process)" in capsys.readouterr().err


def test_compare_under_a_distributed_launcher_is_an_error(tmp_path, tiny_npz, monkeypatch):
    from textmix.harness.checks import InputError
    from textmix.harness.compare.recipe import compare_recipe

    args = recipe.parse_args(["--npz_path", str(tiny_npz), "--output_dir", str(tmp_path), "--compare", "none", *QUIET])
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it (after parsing: parsing would join the group)
    with pytest.raises(InputError, match="not torchrun"):
        compare_recipe("image", *args)
    assert not (tmp_path / "runs").exists()


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, tiny_npz, capsys):
    args = ["--npz_path", str(tiny_npz), "--mix_method", "cutmix", *TINY_VIT, "--per_device_train_batch_size", "16",
            "--save_strategy", "steps", "--save_steps", "1", "--max_steps", "4", *QUIET]
    (straight,) = recipe.main([*args, "--output_dir", str(tmp_path / "straight")])
    assert straight["resumed_from"] is None
    run_dir = tmp_path / "killed"
    recipe.main([*args, "--output_dir", str(run_dir)])
    for name in ("checkpoint-3", "checkpoint-4", "results.json"):  # as if killed after step 2
        shutil.rmtree(run_dir / name) if (run_dir / name).is_dir() else (run_dir / name).unlink()
    capsys.readouterr()
    (resumed,) = recipe.main([*args, "--output_dir", str(run_dir)])
    assert Path(resumed["resumed_from"]).name == "checkpoint-2"
    assert f"resuming from {resumed['resumed_from']} (step 2 of 4)" in capsys.readouterr().err
    assert json.loads((run_dir / "results.json").read_text())["resumed_from"] == resumed["resumed_from"]
    np.testing.assert_allclose(np.load(run_dir / "predictions.npz")["test_logits"],
                               np.load(tmp_path / "straight" / "predictions.npz")["test_logits"], rtol=1e-5, atol=1e-6)
    # the totals cover every step, the earlier attempt's included; `this_attempt` is the resumed part
    assert resumed["train_loss"] == pytest.approx(straight["train_loss"], rel=1e-5)
    part = resumed["this_attempt"]
    assert (part["from_step"], part["steps"]) == (2, 2) and part["train_loss"] != pytest.approx(straight["train_loss"])
    assert resumed["train_time_s"] > part["train_time_s"] > 0
    assert straight["this_attempt"] == {"from_step": 0, "steps": 4, "train_time_s": straight["train_time_s"],
                                        "train_loss": straight["train_loss"]}


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, tiny_npz, capsys):
    args = ["--npz_path", str(tiny_npz), "--mix_method", "cutmix", *TINY_VIT, "--per_device_train_batch_size", "16",
            "--save_strategy", "steps", "--save_steps", "1", "--max_steps", "3", *QUIET, "--output_dir", str(tmp_path)]
    recipe.main(args)
    (tmp_path / "results.json").unlink()
    weights = tmp_path / "checkpoint-3" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # killed while writing (or a bad disk)
    capsys.readouterr()
    (result,) = recipe.main(args)
    assert Path(result["resumed_from"]).name == "checkpoint-2"
    err = capsys.readouterr().err
    assert "checkpoint-3/model.safetensors" in err and "damaged" in err


def test_a_pretrained_folder_gets_images_of_its_size_and_channels(tmp_path, tiny_npz):
    from transformers import ViTConfig, ViTForImageClassification

    ViTForImageClassification(ViTConfig(image_size=15, patch_size=5, num_channels=3, hidden_size=8,
                                        num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                                        num_labels=7)).save_pretrained(tmp_path / "vit")
    (result,) = recipe.main([
        "--npz_path", str(tiny_npz), "--model_name_or_path", str(tmp_path / "vit"), "--output_dir",
        str(tmp_path / "out"), "--mix_method", "patch_cutmix", "--max_steps", "2", "--report_to", "none",
        "--use_cpu", "--disable_tqdm", "true", "--per_device_train_batch_size", "8",
    ])  # grey 12 x 12 images become 3 x 15 x 15; the 7-label head becomes a 3-label one
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["test"]["accuracy"] == result["test"]["accuracy"] and saved["model"] == str(tmp_path / "vit")
    assert np.load(tmp_path / "out" / "predictions.npz")["test_logits"].shape == (32, 3)


def test_an_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    for split, n in (("train", 12), ("test", 6)):
        for label in ("cat", "dog"):
            folder = tmp_path / "images" / split / label
            folder.mkdir(parents=True)
            for k in range(n):
                Image.fromarray((rng.random((10, 14, 3)) * 255).astype(np.uint8)).save(folder / f"{k}.png")
    (result,) = recipe.main([
        "--data_dir", str(tmp_path / "images"), "--output_dir", str(tmp_path / "out"), "--image_size", "8",
        "--patch_size", "4", "--hidden_size", "8", "--num_hidden_layers", "1", "--num_attention_heads", "2",
        "--intermediate_size", "8", "--mix_method", "cutmix", "--max_steps", "2", "--report_to", "none",
        "--use_cpu", "--disable_tqdm", "true", "--per_device_train_batch_size", "4", "--validation_share", "0.25",
        "--shift_kinds", "occlusion", "contrast", "--shift_severities", "5", "--label_noise", "0.25",
    ])  # no validation folder: a quarter of train is held out
    assert 0 <= result["test"]["accuracy"] <= 1 and (tmp_path / "out" / "reliability.png").exists()
    assert result["task"] == "images" and result["sizes"] == {"train": 18, "validation": 6, "test": 12}
    assert set(result["shift"]) == {"occlusion", "contrast"} and result["shift"]["occlusion"]["5"]["size"] == 12
    assert result["label_noise_flipped"] == 5 and result["test_set"] == "the test images of images (12 images)"

    import torch

    data = recipe.DataArguments(data_dir=str(tmp_path / "images"), shift_kinds=["occlusion"], shift_severities=[5])
    splits, _, _, _, extra = recipe.load_hub_or_folder(data, recipe.ModelArguments(), 0, None, 8)
    clean, occluded = splits[2], extra["shifted"]["occlusion"][5]
    for i in range(3):  # each image corrupted, the same way on every read, its label untouched
        a, b = clean[i]["pixel_values"], occluded[i]["pixel_values"]
        assert not torch.equal(a, b) and torch.equal(b, occluded[i]["pixel_values"])
        assert clean[i]["labels"] == occluded[i]["labels"]
        assert (b == -1).sum() >= 0.2 * b.numel()  # a 40 % box of zeros (normalised: -1; edges resized)


def test_main_leaves_the_denormal_setting_as_it_found_it(tmp_path, tiny_npz):
    import torch

    recipe.main(["--npz_path", str(tiny_npz), "--output_dir", str(tmp_path), "--compare", "none", "--max_steps", "1",
                 "--patch_size", "3", "--hidden_size", "8", "--num_hidden_layers", "1", "--num_attention_heads", "2",
                 "--intermediate_size", "8", "--report_to", "none", "--use_cpu", "--disable_tqdm", "true"])
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # a denormal: flushed to 0 while flushing is on
    assert (tiny * 1.0).item() != 0.0


def test_no_data_is_an_error(tmp_path):
    with pytest.raises(SystemExit):
        recipe.main(["--output_dir", str(tmp_path), "--report_to", "none"])
    with pytest.raises(ValueError, match="--npz_path"):
        recipe.run(recipe.ModelArguments(), recipe.DataArguments(), None)


def test_the_launcher_script_runs_the_module(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["run_image_classification.py", "--output_dir", str(tmp_path)])
    with pytest.raises(SystemExit):  # no data: the module's parser says so
        runpy.run_path(str(ROOT / "recipes" / "run_image_classification.py"), run_name="__main__")
    assert "--npz_path" in capsys.readouterr().err


@pytest.mark.parametrize("channels", [1, 3])
def test_save_calibrated_writes_models_a_plain_pipeline_loads_with_their_class_names(tmp_path, tiny_npz, channels):
    """A grey-trained ViT (1 channel, from scratch) and an RGB one (a pretrained 3-channel folder): the final and
    the calibrated folder name the classes and hold an image processor; plain `pipeline` on the calibrated folder
    gives the temperature-scaled probabilities of the logits the run saved, from the raw test images."""
    from PIL import Image
    from transformers import ViTConfig, ViTForImageClassification, pipeline

    from textmix.calibration import apply_temperature

    model = []
    if channels == 3:
        ViTForImageClassification(ViTConfig(image_size=12, patch_size=3, num_channels=3, hidden_size=16,
                                            num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                            num_labels=5)).save_pretrained(tmp_path / "vit")
        model = ["--model_name_or_path", str(tmp_path / "vit")]
    out = tmp_path / "out"
    recipe.main(["--npz_path", str(tiny_npz), "--output_dir", str(out), *TINY_VIT, *model, "--max_steps", "2",
                 "--per_device_train_batch_size", "16", "--save_strategy", "no", "--save_calibrated",
                 "--save_calibrated_at_bound", *QUIET])  # two steps: the temperature may sit at its bound
    saved = json.loads((out / "results.json").read_text())
    assert saved["calibrated"] == "calibrated" and saved["label_names"] == ["0", "1", "2"]
    for folder in (out, out / "calibrated"):
        config = json.loads((folder / "config.json").read_text())
        assert config["id2label"] == {"0": "0", "1": "1", "2": "2"} and config["label2id"] == {"0": 0, "1": 1, "2": 2}
        assert (folder / "preprocessor_config.json").is_file(), folder
    with np.load(tiny_npz) as arrays:
        images = [Image.fromarray(x) for x in arrays["x_test"]]
    with np.load(out / "predictions.npz") as arrays:
        scaled = apply_temperature(arrays["test_logits"].astype(np.float64), saved["temperature"])
    expected = np.exp(scaled - scaled.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    classify = pipeline("image-classification", model=str(out / "calibrated"), device="cpu")
    got = classify(images, top_k=None)
    probs = np.array([[next(d["score"] for d in row if d["label"] == name) for name in "012"] for row in got])
    assert saved["temperature"] != pytest.approx(1.0, abs=1e-3)  # the scaling shows in the probabilities
    np.testing.assert_allclose(probs, expected, atol=1e-5)
