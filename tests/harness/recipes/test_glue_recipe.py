"""The GLUE recipe end to end on every task in ../shared, a csv task, a config file and torchrun."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from textmix.harness.recipes.glue import main

ROOT = Path(__file__).resolve().parents[3]
RESULT_KEYS = {"task", "method", "seed", "model", "regression", "sizes", "train_time_s", "train_loss", "resumed_from",
               "validation", "test", "test_ts", "temperature", "test_majority_accuracy", "config", "versions",
               "device", "world_size"}
"""The keys of a classifier's results.json: the schema of textmix.harness.recipes.common, shared by every recipe."""
TINY = ["--max_train_samples", "32", "--max_test_samples", "24", "--validation_split", "16", "--max_steps", "2",
        "--per_device_train_batch_size", "8", "--max_seq_length", "48", "--report_to", "none",
        "--save_strategy", "no", "--use_cpu", "--dataloader_pin_memory", "false"]


def common(tmp_path, task, method="hidden"):
    return ["--task_name", task, "--glue_dir", str(shared_path("data", "glue")), "--model_name_or_path",
            str(shared_path("models", "bert-tiny")), "--mix_method", method, "--output_dir", str(tmp_path / task),
            *TINY]


@pytest.mark.parametrize("task,method", [("cola", "span"), ("sst2", "hidden"), ("mrpc", "saliency_span"),
                                         ("rte", "embedding"), ("stsb", "hidden"), ("wnli", "pooled")])
def test_every_local_glue_task_runs(tmp_path, task, method):
    results = main(common(tmp_path, task, method))
    out = tmp_path / task
    saved = json.loads((out / "results.json").read_text())
    assert saved["task"] == task and saved["method"] == method and saved["sizes"]["test"] == 24
    assert saved["sizes"]["validation"] == 16 and saved["sizes"]["train"] == 32
    arrays = np.load(out / "predictions.npz")
    assert arrays["test_logits"].shape[0] == 24 and arrays["validation_labels"].shape == (16,)
    assert saved["config"]["training"]["mix_method"] == method and saved["versions"]["transformers"]
    if task == "stsb":
        assert "pearson" in results["test"] and "ece" not in results["test"]
        assert not (out / "reliability.png").exists()
    else:
        assert {"accuracy", "ece", "mce", "adaptive_ece", "brier", "nll"} <= set(results["test"])
        assert {"ece", "nll"} <= set(results["test_ts"]) and results["temperature"] > 0
        assert 0 < results["test_majority_accuracy"] <= 1
        assert set(saved) == RESULT_KEYS
        assert (out / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_task_and_yaml_config(tmp_path):
    rows = ["text,label"] + [f"sentence number {i} is {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}"
                             for i in range(60)]
    (tmp_path / "train.csv").write_text("\n".join(rows), encoding="utf-8")
    (tmp_path / "dev.csv").write_text("\n".join(rows[:21]), encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(
        f"train_file: {tmp_path / 'train.csv'}\nvalidation_file: {tmp_path / 'dev.csv'}\n"
        f"model_name_or_path: {shared_path('models', 'bert-tiny')}\noutput_dir: {tmp_path / 'out'}\n"
        "mix_method: span\nmax_steps: 2\nvalidation_split: 10\nreport_to: none\nsave_strategy: 'no'\nuse_cpu: true\n",
        encoding="utf-8")
    results = main([str(config)])
    assert results["sizes"] == {"validation": 10, "train": 50, "test": 20}
    assert results["task"] == "train" and "ece" in results["test"]


def test_missing_data_arguments_are_named():
    with pytest.raises(ValueError, match="--task_name"):
        main(["--output_dir", "x", "--report_to", "none"])


def test_recipe_under_torchrun_with_two_cpu_processes(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), str(ROOT / "recipes" / "run_glue.py"), *common(tmp_path, "sst2", "embedding"),
           "--ddp_backend", "gloo"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads((tmp_path / "sst2" / "results.json").read_text())
    assert saved["world_size"] == 2 and saved["sizes"]["test"] == 24
    assert np.load(tmp_path / "sst2" / "predictions.npz")["test_logits"].shape[0] == 24
