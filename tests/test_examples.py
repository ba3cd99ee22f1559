"""The examples run, and compare methods fairly: the baseline is bit-identical from run to run."""

from __future__ import annotations

import importlib.util

import numpy as np
import torch
from conftest import ROOT, shared_path


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sst2_example_baseline_is_identical_across_runs(tmp_path, monkeypatch):
    """Two runs of the example's `none` row give the same test logits: the model (its new head) is created
    after seeding. Before, the first model came from whatever state the global RNG was in."""
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    example = load_example("sst2_mixtrainer")
    argv = ["--glue_dir", str(shared_path("data", "glue")), "--model", str(shared_path("models", "bert-tiny")),
            "--methods", "none", "--train_samples", "64", "--epochs", "0.5", "--output_dir", str(tmp_path / "a")]
    first = example.main(argv)
    torch.manual_seed(1234)  # a different global RNG state between the runs, as in a fresh process
    torch.rand(7)
    second = example.main(argv[:-1] + [str(tmp_path / "b")])
    np.testing.assert_array_equal(first["none"][0], second["none"][0])
    assert (tmp_path / "a" / "reliability.png").is_file()
