"""The image recipe trains with RegMixup and TransMix (`--mix_clean_weight`, `--mix_label_weights attention`)."""

from __future__ import annotations

import numpy as np

from textmix.harness.recipes import image as recipe

TINY_VIT = ["--patch_size", "3", "--hidden_size", "16", "--num_hidden_layers", "1", "--num_attention_heads", "2",
            "--intermediate_size", "16"]
QUIET = ["--report_to", "none", "--use_cpu", "--disable_tqdm", "true", "--dataloader_pin_memory", "false"]


def test_the_image_recipe_trains_transmix_with_the_clean_loss(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 32), ("validation", 16), ("test", 16)):
        y = rng.integers(0, 3, n)
        arrays[f"x_{split}"] = (rng.random((n, 12, 12)) * 255).astype(np.uint8)
        arrays[f"y_{split}"] = y.astype(np.int64)
    np.savez(tmp_path / "tiny.npz", **arrays)
    result = recipe.RECIPE.main([
        "--npz_path", str(tmp_path / "tiny.npz"), "--output_dir", str(tmp_path / "out"), "--mix_method", "cutmix",
        "--mix_label_weights", "attention", "--mix_clean_weight", "1", "--mix_alpha", "1.0", *TINY_VIT,
        "--max_steps", "2", "--per_device_train_batch_size", "16", "--save_strategy", "no", *QUIET,
    ])
    assert 0 <= result["test"]["accuracy"] <= 1
