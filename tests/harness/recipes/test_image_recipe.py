"""textmix.harness.recipes.image end to end on a tiny .npz (a few steps per method), and its launcher."""

from __future__ import annotations

import json
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from textmix.harness.compare.sweep import parse_sweep
from textmix.harness.data import images
from textmix.harness.recipes import image as recipe
from textmix.harness.runfile import RESULT_KEYS  # the same schema as the GLUE recipe's

ROOT = Path(__file__).resolve().parents[3]
TINY_VIT = ["--patch_size", "3", "--hidden_size", "16", "--num_hidden_layers", "1", "--num_attention_heads", "2",
            "--intermediate_size", "16"]
QUIET = ["--report_to", "none", "--use_cpu", "--disable_tqdm", "true", "--dataloader_pin_memory", "false"]


@pytest.mark.parametrize("flag", ["--compare", "--quick"])
def test_compare_and_quick_are_errors_that_name_textmix_compare(tmp_path, tiny_npz, flag, capsys):
    assert recipe.RECIPE.cli(["--npz_path", str(tiny_npz), "--output_dir", str(tmp_path), flag, *QUIET]) == 2
    err = capsys.readouterr().err
    assert f"{flag} is not a recipe argument" in err and "textmix compare --preset quick --tasks" in err
    assert "Traceback" not in err and not (tmp_path / "results.json").exists()


def tiny_grid(npz, *methods: str, seed: int = 42, **training) -> dict:
    """A one-task `textmix compare` grid of the tiny .npz (a tiny ViT, 3 steps): what the old --compare ran."""
    vit = {"patch_size": 3, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
           "intermediate_size": 16}
    train = {"max_steps": 3, "per_device_train_batch_size": 16, "save_strategy": "no", "mix_alpha": 1.0,
             "mix_lam_mode": "pair", "report_to": "none", "use_cpu": True, "disable_tqdm": True,
             "dataloader_pin_memory": False, **training}
    return {"tasks": [{"name": "tiny", "modality": "image", "train_file": str(npz), "model": vit, "training": train}],
            "methods": list(methods), "seeds": [seed]}


def test_a_one_task_sweep_trains_reports_draws_and_skips_finished_runs(tmp_path, tiny_npz, capsys, monkeypatch):
    from textmix.harness.compare import compare, execute

    trainings, run_one = [], execute.run_one  # the runs the sweep trains, counted where it trains each
    monkeypatch.setattr(execute, "run_one", lambda run: trainings.append(run.name) or run_one(run))
    out = tmp_path / "out"
    compare(parse_sweep(tiny_grid(tiny_npz, "none", "cutmix", "patch_cutmix")), out, progress=False)
    assert trainings == ["tiny/none/seed42", "tiny/cutmix/seed42", "tiny/patch_cutmix/seed42"]
    results = []
    for method in ("none", "cutmix", "patch_cutmix"):
        folder = out / "runs" / "tiny" / method / "seed42"  # where `textmix compare` puts a run
        saved = json.loads((folder / "results.json").read_text())
        results.append(saved)
        assert set(saved) - {"grid_key"} == RESULT_KEYS and saved["grid_key"]
        assert saved["task"] == "tiny" and saved["seed"] == 42 and saved["resumed_from"] is None
        assert saved["config"]["training"]["mix_method"] == method and saved["versions"]["torch"]
        assert saved["config"]["training"]["max_steps"] == 3 and saved["config"]["training"]["mix_alpha"] == 1.0
        assert saved["config"]["model"]["hidden_size"] == 16 and "ece" in saved["test_ts"]
        arrays = np.load(folder / "predictions.npz")
        assert arrays["test_logits"].shape[0] == saved["sizes"]["test"]
        assert (folder / "reliability.png").stat().st_size > 1000
        assert not (folder / ".textmix-run.lock").exists()  # taken while training, released
    assert (out / "reliability.png").exists() and (out / "plan.json").exists() and (out / "grid.json").exists()
    report = json.loads((out / "report.json").read_text())
    rows = report["tasks"]["tiny"]["methods"]
    assert list(rows) == ["none", "cutmix", "patch_cutmix"] and report["clashes"] == []
    assert rows["cutmix"]["accuracy"] == pytest.approx(results[1]["test"]["accuracy"])
    assert all(f"| {m}" in (out / "report.md").read_text() for m in rows)
    capsys.readouterr()

    compare(parse_sweep(tiny_grid(tiny_npz, "none", "cutmix")), out, progress=False)
    assert len(trainings) == 3  # nothing trained: finished runs (same run key) are skipped
    assert "2 of 2 runs already done (their results.json under the same run key), skipped; nothing to train" in (
        capsys.readouterr().err)
    # another learning rate is another run key: trained again, never read back
    compare(parse_sweep(tiny_grid(tiny_npz, "none", learning_rate=1e-2)), out, progress=False)
    changed = json.loads((out / "runs" / "tiny" / "none" / "seed42" / "results.json").read_text())
    assert trainings[3:] == ["tiny/none/seed42"] and changed["grid_key"] != results[0]["grid_key"]
    assert changed["config"]["training"]["learning_rate"] == 1e-2
    # ... and beside a run of other settings (another seed) it is a clash, named and left out of the report
    summary = compare(parse_sweep(tiny_grid(tiny_npz, "none", seed=1)), out, progress=False)
    assert trainings[4:] == ["tiny/none/seed1"]
    assert [(c["task"], c["method"]) for c in summary["clashes"]] == [("tiny", "none")]
    report = json.loads((out / "report.json").read_text())
    assert "learning_rate" in report["clashes"][0]["reason"] and "none" not in report["tasks"]["tiny"]["methods"]


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, tiny_npz, capsys):
    args = ["--npz_path", str(tiny_npz), "--mix_method", "cutmix", *TINY_VIT, "--per_device_train_batch_size", "16",
            "--save_strategy", "steps", "--save_steps", "1", "--max_steps", "4", *QUIET]
    straight = recipe.RECIPE.main([*args, "--output_dir", str(tmp_path / "straight")])
    assert straight["resumed_from"] is None
    run_dir = tmp_path / "killed"
    recipe.RECIPE.main([*args, "--output_dir", str(run_dir)])
    for name in ("checkpoint-3", "checkpoint-4", "results.json"):  # as if killed after step 2
        shutil.rmtree(run_dir / name) if (run_dir / name).is_dir() else (run_dir / name).unlink()
    capsys.readouterr()
    resumed = recipe.RECIPE.main([*args, "--output_dir", str(run_dir)])
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
    recipe.RECIPE.main(args)
    (tmp_path / "results.json").unlink()
    weights = tmp_path / "checkpoint-3" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # killed while writing (or a bad disk)
    capsys.readouterr()
    result = recipe.RECIPE.main(args)
    assert Path(result["resumed_from"]).name == "checkpoint-2"
    err = capsys.readouterr().err
    assert "checkpoint-3/model.safetensors" in err and "damaged" in err


def test_a_pretrained_folder_gets_images_of_its_size_and_channels(tmp_path, tiny_npz):
    from transformers import ViTConfig, ViTForImageClassification

    ViTForImageClassification(ViTConfig(image_size=15, patch_size=5, num_channels=3, hidden_size=8,
                                        num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                                        num_labels=7)).save_pretrained(tmp_path / "vit")
    result = recipe.RECIPE.main([
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
    result = recipe.RECIPE.main([
        "--data_dir", str(tmp_path / "images"), "--output_dir", str(tmp_path / "out"), "--image_size", "8",
        "--patch_size", "4", "--hidden_size", "8", "--num_hidden_layers", "1", "--num_attention_heads", "2",
        "--intermediate_size", "8", "--mix_method", "cutmix", "--max_steps", "2", "--report_to", "none",
        "--use_cpu", "--disable_tqdm", "true", "--per_device_train_batch_size", "4", "--validation_split", "0.25",
        "--shift_kinds", "occlusion", "contrast", "--shift_severities", "5", "--label_noise", "0.25",
    ])  # no validation folder: a quarter of train is held out
    assert 0 <= result["test"]["accuracy"] <= 1 and (tmp_path / "out" / "reliability.png").exists()
    assert result["task"] == "images" and result["sizes"] == {"train": 18, "validation": 6, "test": 12}
    assert set(result["shift"]) == {"occlusion", "contrast"} and result["shift"]["occlusion"]["5"]["size"] == 12
    assert result["label_noise_flipped"] == 5 and result["test_set"] == "the test images of images (12 images)"

    import torch

    data = recipe.DataArguments(data_dir=str(tmp_path / "images"), shift_kinds=["occlusion"], shift_severities=[5])
    splits, _, _, _, extra = images.load_hub_or_folder(data, recipe.ModelArguments(), 0, None, 8)
    clean, occluded = splits[2], extra["shifted"]["occlusion"][5]
    for i in range(3):  # each image corrupted, the same way on every read, its label untouched
        a, b = clean[i]["pixel_values"], occluded[i]["pixel_values"]
        assert not torch.equal(a, b) and torch.equal(b, occluded[i]["pixel_values"])
        assert clean[i]["labels"] == occluded[i]["labels"]
        assert (b == -1).sum() >= 0.2 * b.numel()  # a 40 % box of zeros (normalised: -1; edges resized)


def test_main_leaves_the_denormal_setting_as_it_found_it(tmp_path, tiny_npz):
    import torch

    recipe.RECIPE.main(["--npz_path", str(tiny_npz), "--output_dir", str(tmp_path), "--max_steps", "1",
                 "--patch_size", "3", "--hidden_size", "8", "--num_hidden_layers", "1", "--num_attention_heads", "2",
                 "--intermediate_size", "8", "--report_to", "none", "--use_cpu", "--disable_tqdm", "true"])
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # a denormal: flushed to 0 while flushing is on
    assert (tiny * 1.0).item() != 0.0


def test_no_data_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="give the data: --npz_path"):
        recipe.RECIPE.main(["--output_dir", str(tmp_path), "--report_to", "none"])
    with pytest.raises(ValueError, match="give the data: --npz_path"):
        recipe.DataArguments()


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
    recipe.RECIPE.main(["--npz_path", str(tiny_npz), "--output_dir", str(out), *TINY_VIT, *model, "--max_steps", "2",
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
