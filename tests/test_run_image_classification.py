"""recipes/run_image_classification.py end to end on a tiny .npz (a few steps per method)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_recipe():
    spec = importlib.util.spec_from_file_location("run_image_classification", ROOT / "recipes" / "run_image_classification.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 64), ("validation", 32), ("test", 32)):
        y = rng.integers(0, 3, n)
        x = (rng.random((n, 12, 12)) * 60).astype(np.uint8)
        x[np.arange(n), 2 + 3 * y, :] = 255  # a learnable bar per class
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y.astype(np.int64)
    path = tmp_path / "tiny.npz"
    np.savez(path, **arrays)
    return path


def test_quick_defaults_yield_to_the_command_line():
    recipe = load_recipe()
    argv = recipe.with_quick_defaults(["--quick", "--num_train_epochs", "1", "--compare", "none"])
    assert argv[-5:] == ["--quick", "--num_train_epochs", "1", "--compare", "none"]
    assert "--patch_size" in argv and argv.count("--num_train_epochs") == 1 and argv.count("--compare") == 1
    assert recipe.with_quick_defaults(["--output_dir", "x"]) == ["--output_dir", "x"]


def test_compare_trains_reports_and_draws(tmp_path, tiny_npz):
    recipe = load_recipe()
    out = tmp_path / "out"
    results = recipe.main([
        "--npz_path", str(tiny_npz), "--output_dir", str(out), "--compare", "none", "cutmix", "patch_cutmix",
        "--patch_size", "3", "--hidden_size", "16", "--num_hidden_layers", "1", "--num_attention_heads", "2",
        "--intermediate_size", "16", "--max_steps", "3", "--per_device_train_batch_size", "16",
        "--report_to", "none", "--save_strategy", "no", "--use_cpu", "--disable_tqdm", "true",
        "--mix_alpha", "1.0", "--mix_lam_mode", "pair", "--dataloader_pin_memory", "false",
    ])
    assert [r["method"] for r in results] == ["none", "cutmix", "patch_cutmix"]
    for r in results:
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["ece"] <= 1 and r["temperature"] > 0
        metrics = json.loads((out / r["method"] / "metrics.json").read_text())
        assert metrics["accuracy"] == r["accuracy"] and "ece" in metrics["calibration_after"]
        assert (out / r["method"] / "reliability.png").stat().st_size > 1000
    assert (out / "reliability.png").exists()
    assert (out / "results.md").read_text().count("\n") == 5
    again = recipe.main(["--npz_path", str(tiny_npz), "--output_dir", str(out), "--compare", "none", "cutmix",
                         "--skip_existing", "--report_to", "none", "--use_cpu"])  # read back, not retrained
    assert [r["accuracy"] for r in again] == [r["accuracy"] for r in results[:2]]


def test_a_pretrained_folder_gets_images_of_its_size_and_channels(tmp_path, tiny_npz):
    from transformers import ViTConfig, ViTForImageClassification

    ViTForImageClassification(ViTConfig(image_size=15, patch_size=5, num_channels=3, hidden_size=8,
                                        num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                                        num_labels=7)).save_pretrained(tmp_path / "vit")
    recipe = load_recipe()
    (result,) = recipe.main([
        "--npz_path", str(tiny_npz), "--model_name_or_path", str(tmp_path / "vit"), "--output_dir",
        str(tmp_path / "out"), "--mix_method", "patch_cutmix", "--max_steps", "2", "--report_to", "none",
        "--use_cpu", "--disable_tqdm", "true", "--per_device_train_batch_size", "8",
    ])  # grey 12 x 12 images become 3 x 15 x 15; the 7-label head becomes a 3-label one
    assert result["test"]["test_accuracy"] == result["accuracy"]


def test_an_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    for split, n in (("train", 12), ("test", 6)):
        for label in ("cat", "dog"):
            folder = tmp_path / "images" / split / label
            folder.mkdir(parents=True)
            for k in range(n):
                Image.fromarray((rng.random((10, 14, 3)) * 255).astype(np.uint8)).save(folder / f"{k}.png")
    recipe = load_recipe()
    (result,) = recipe.main([
        "--data_dir", str(tmp_path / "images"), "--output_dir", str(tmp_path / "out"), "--image_size", "8",
        "--patch_size", "4", "--hidden_size", "8", "--num_hidden_layers", "1", "--num_attention_heads", "2",
        "--intermediate_size", "8", "--mix_method", "cutmix", "--max_steps", "2", "--report_to", "none",
        "--use_cpu", "--disable_tqdm", "true", "--per_device_train_batch_size", "4", "--validation_share", "0.25",
    ])  # no validation folder: a quarter of train is held out
    assert 0 <= result["accuracy"] <= 1 and (tmp_path / "out" / "reliability.png").exists()


def test_main_leaves_the_denormal_setting_as_it_found_it(tmp_path, tiny_npz):
    import torch

    recipe = load_recipe()
    recipe.main(["--npz_path", str(tiny_npz), "--output_dir", str(tmp_path), "--compare", "none", "--max_steps", "1",
                 "--patch_size", "3", "--hidden_size", "8", "--num_hidden_layers", "1", "--num_attention_heads", "2",
                 "--intermediate_size", "8", "--report_to", "none", "--use_cpu", "--disable_tqdm", "true"])
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # a denormal: flushed to 0 while flushing is on
    assert (tiny * 1.0).item() != 0.0


def test_no_data_is_an_error(tmp_path):
    recipe = load_recipe()
    with pytest.raises(SystemExit):
        recipe.main(["--output_dir", str(tmp_path), "--report_to", "none"])
