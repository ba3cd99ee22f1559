"""`textmix compare`: the smoke preset end to end, skipping finished runs, and interrupt-and-resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import shared_path

from textmix.harness.cli import main
from textmix.harness.compare import PRESETS, load_grid, plan


def test_grids_and_their_errors(tmp_path):
    grid = load_grid("quick", glue_dir="/data/glue", seeds=[7])
    assert grid["glue_dir"] == "/data/glue" and grid["seeds"] == [7] and len(grid["methods"]) == 7
    runs = plan(grid, tmp_path)
    assert len(runs) == 4 * 7 and runs[0].training["seed"] == 7
    ls = next(r for r in runs if r.method == "label_smoothing")
    assert ls.training["label_smoothing_factor"] == 0.1 and ls.training["mix_method"] == "none"
    sst2 = next(r for r in runs if r.task == "sst2")
    assert sst2.data["max_seq_length"] == 64
    config = tmp_path / "grid.yaml"
    config.write_text("tasks: [rte]\nmethods: [none, wild]\nseeds: [0]\nmodel_name_or_path: x\n")
    with pytest.raises(ValueError, match="unknown methods \\['wild'\\]"):
        load_grid(config=str(config))
    with pytest.raises(ValueError, match="unknown preset"):
        load_grid("huge")
    with pytest.raises(ValueError, match="--preset"):
        load_grid()
    assert set(PRESETS) == {"smoke", "quick", "standard", "full"}


def test_smoke_preset_end_to_end_and_finished_runs_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTMIX_SHARED", str(shared_path()))
    out = tmp_path / "sweep"
    assert main(["compare", "--preset", "smoke", "--output_dir", str(out)]) == 0
    for name in ("report.md", "report.csv", "report.json", "reliability.png"):
        assert (out / name).stat().st_size > 0
    results = sorted(out.glob("runs/*/*/seed*/results.json"))
    assert len(results) == 6 and not list(out.glob("runs/*/*/seed*/checkpoint-*"))
    report = json.loads((out / "report.json").read_text())
    none = report["tasks"]["rte"]["methods"]["none"]
    accs = [json.loads(p.read_text())["test"]["accuracy"] for p in results if "/none/" in str(p)]
    assert none["accuracy"] == pytest.approx(np.mean(accs))
    stamps = [p.stat().st_mtime_ns for p in results]
    assert main(["compare", "--preset", "smoke", "--output_dir", str(out)]) == 0
    assert [p.stat().st_mtime_ns for p in results] == stamps  # nothing re-ran
    (out / "report.md").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.md").exists()


def test_a_killed_sweep_resumes_from_its_last_checkpoint(tmp_path):
    glue, model = shared_path("data", "glue"), shared_path("models", "bert-tiny")
    config = tmp_path / "grid.yaml"
    config.write_text(
        f"model_name_or_path: {model}\nglue_dir: {glue}\ntasks: [sst2]\nmethods: [hidden]\nseeds: [0]\n"
        "data: {max_train_samples: 160, max_test_samples: 64, validation_split: 32, max_seq_length: 32}\n"
        "training: {max_steps: 40, save_steps: 4, logging_steps: 4, per_device_train_batch_size: 4}\n")
    cmd = [sys.executable, "-m", "textmix.harness.cli", "compare", "--config", str(config)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--output_dir", str(killed_dir)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    run_dir = killed_dir / "runs" / "sst2" / "hidden" / "seed0"
    deadline = time.time() + 240
    while time.time() < deadline and not list(run_dir.glob("checkpoint-12/textmix_mixer_rank0.pt")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(run_dir.glob("checkpoint-*")) and not (run_dir / "results.json").exists()
    subprocess.run([*cmd, "--output_dir", str(killed_dir)], env=env, check=True, capture_output=True)
    resumed = json.loads((run_dir / "results.json").read_text())
    assert resumed["resumed_from"] and int(resumed["resumed_from"].rsplit("-", 1)[1]) >= 12
    straight_dir = tmp_path / "straight"
    subprocess.run([*cmd, "--output_dir", str(straight_dir)], env=env, check=True, capture_output=True)
    straight = json.loads((straight_dir / "runs/sst2/hidden/seed0/results.json").read_text())
    assert straight["resumed_from"] is None
    a = np.load(run_dir / "predictions.npz")["test_logits"]
    b = np.load(straight_dir / "runs/sst2/hidden/seed0/predictions.npz")["test_logits"]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert resumed["test"]["accuracy"] == straight["test"]["accuracy"]
