"""`textmix compare`: the smoke preset end to end, skipping finished runs, and interrupt-and-resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from textmix.harness.cli import main
from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.presets import PRESETS
from textmix.harness.compare.sweep import parse_sweep


def test_grids_and_their_errors(tmp_path):
    grid = load_grid("standard", glue_dir="/data/glue", seeds=[7])
    assert grid["glue_dir"] == "/data/glue" and grid["seeds"] == [7] and len(grid["methods"]) == 7
    runs = parse_sweep(grid).plan(tmp_path, fingerprints=False)
    assert len(runs) == 4 * 7 and runs[0].training["seed"] == 7
    ls = next(r for r in runs if r.method == "label_smoothing")
    assert ls.training["label_smoothing_factor"] == 0.1 and ls.training["mix_method"] == "none"
    quick = parse_sweep(load_grid("quick", seeds=[0])).plan(tmp_path, fingerprints=False)
    cells = {(r.task, r.method) for r in quick}
    assert {("sst2", "hidden"), ("reviews", "span"), ("digits", "cutmix"), ("digits", "none")} <= cells
    assert ("digits", "hidden") not in cells and ("sst2", "mixup") not in cells
    gpu = parse_sweep(load_grid("gpu")).plan(tmp_path, fingerprints=False)
    assert len(gpu) == 5 * 7 * 3 - 3 and {r.task for r in gpu} == {"sst2", "mrpc", "rte", "cola", "stsb"}  # STS-B (regression): no label smoothing
    assert "minilm-l6" in gpu[0].model["model_name_or_path"] and gpu[0].training["bf16"] is True
    assert {r.label_noise for r in quick} == {0.0, 0.2} and quick[0].data["shift_kinds"] == [
        "typo", "deletion", "swap", "mask"]
    config = tmp_path / "grid.yaml"
    config.write_text("tasks: [rte]\nmethods: [none, wild]\nseeds: [0]\nmodel_name_or_path: x\n")
    with pytest.raises(ValueError, match="unknown methods \\['wild'\\]"):
        load_grid(config=str(config))
    with pytest.raises(ValueError, match="unknown preset"):
        load_grid("huge")
    with pytest.raises(ValueError, match="--preset"):
        load_grid()
    assert set(PRESETS) == {"intro", "smoke", "smoke_tasks", "quick", "gpu", "standard", "full"}


def test_smoke_preset_end_to_end_and_finished_runs_are_skipped(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEXTMIX_SHARED", str(shared_path()))
    out = tmp_path / "sweep"
    assert main(["compare", "--preset", "smoke", "--output_dir", str(out)]) == 0
    first = capsys.readouterr().out.splitlines()[0]  # the dry run's count and estimate
    assert first == "6 runs (0 done, 6 to train); no time estimate yet (no finished run in this sweep folder)"
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
    assert [p.stat().st_mtime_ns for p in results] == stamps  # nothing re-ran, and the first line says so
    assert capsys.readouterr().out.splitlines()[0] == "6 runs (6 done, 0 to train)"
    (out / "report.md").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.md").exists()


def test_a_killed_sweep_resumes_from_its_last_checkpoint(tmp_path):
    glue, model = shared_path("data", "glue"), shared_path("models", "bert-tiny")
    config = tmp_path / "grid.yaml"
    config.write_text(
        f"model_name_or_path: {model}\nglue_dir: {glue}\ntasks: [sst2]\nmethods: [hidden]\nseeds: [0]\n"
        "data: {max_train_samples: 160, max_predict_samples: 64, validation_split: 32, max_seq_length: 32}\n"
        "training: {max_steps: 40, save_steps: 4, logging_steps: 4, per_device_train_batch_size: 4}\n")
    cmd = [sys.executable, "-m", "textmix.harness.cli", "compare", "--config", str(config)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--output_dir", str(killed_dir)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    run_dir = killed_dir / "runs" / "sst2" / "hidden" / "seed0"
    while proc.poll() is None and not list(run_dir.glob("checkpoint-12/textmix_mixer_rank0.pt")):
        time.sleep(0.05)  # until the checkpoint exists (no deadline: a loaded machine is slow, not wrong)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(run_dir.glob("checkpoint-*")) and not (run_dir / "results.json").exists()
    again = subprocess.run([*cmd, "--output_dir", str(killed_dir)], env=env, check=True, capture_output=True,
                           text=True)
    resumed = json.loads((run_dir / "results.json").read_text())
    assert f"resuming from {resumed['resumed_from']}" in again.stderr
    assert resumed["resumed_from"] and int(resumed["resumed_from"].rsplit("-", 1)[1]) >= 12
    straight_dir = tmp_path / "straight"
    subprocess.run([*cmd, "--output_dir", str(straight_dir)], env=env, check=True, capture_output=True)
    straight = json.loads((straight_dir / "runs/sst2/hidden/seed0/results.json").read_text())
    assert straight["resumed_from"] is None
    a = np.load(run_dir / "predictions.npz")["test_logits"]
    b = np.load(straight_dir / "runs/sst2/hidden/seed0/predictions.npz")["test_logits"]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert resumed["test"]["accuracy"] == straight["test"]["accuracy"]


def tiny_grid_file(tmp_path, methods="[none]", seeds="[0, 1]"):
    config = tmp_path / "grid.yaml"
    config.write_text(
        f"model_name_or_path: {shared_path('models', 'bert-tiny')}\nglue_dir: {shared_path('data', 'glue')}\n"
        f"tasks: [rte]\nmethods: {methods}\nseeds: {seeds}\n"
        "data: {max_train_samples: 16, max_predict_samples: 16, validation_split: 8, max_seq_length: 32}\n"
        "training: {max_steps: 1}\n", encoding="utf-8")
    return config


def fake_results(run, **extra):
    """What a finished run writes, without training (for tests of the sweep's bookkeeping)."""
    run.folder.mkdir(parents=True, exist_ok=True)
    result = {"task": run.task, "method": run.method, "seed": run.seed, "grid_key": run.key, "model": "m",
              "test": {"accuracy": 0.7, "ece": 0.1}, "test_majority_accuracy": 0.5, **extra}
    (run.folder / "results.json").write_text(json.dumps(result), encoding="utf-8")
    return result


def test_the_grid_flag_save_calibrated_reaches_every_run_and_not_the_run_key(tmp_path):
    grid = load_grid("smoke")
    flagged = parse_sweep({**grid, "save_calibrated": True}).plan(tmp_path, fingerprints=False)
    assert flagged and all(r.model["save_calibrated"] is True for r in flagged)
    assert [r.key for r in flagged] == [r.key for r in parse_sweep(grid).plan(tmp_path, fingerprints=False)]
    assert not any("save_calibrated" in r.model for r in parse_sweep(grid).plan(tmp_path, fingerprints=False))
    assert any("save_calibrated must be true or false" in p for p in parse_sweep({**grid, "save_calibrated": "yes"}).problems)


def test_the_run_key_ignores_where_the_sweep_is(tmp_path, monkeypatch):
    grid = load_grid(config=str(tiny_grid_file(tmp_path)))
    monkeypatch.chdir(tmp_path)
    here = parse_sweep(grid).plan(tmp_path / "a")
    assert [r.key for r in parse_sweep(grid).plan(Path("a"))] == [r.key for r in here]  # relative or absolute
    for run in here:
        fake_results(run)
    shutil.copytree(tmp_path / "a", tmp_path / "moved")
    assert all(r.done for r in parse_sweep(grid).plan(Path("moved")))  # a copied / moved sweep is recognised
    assert not any(r.done for r in parse_sweep({**grid, "training": {"max_steps": 2}}).plan(Path("moved")))  # results differ
    other_model = {**grid, "model_name_or_path": str(shared_path("models", "minilm-l6"))}
    assert parse_sweep(other_model).plan(Path("a"))[0].key != here[0].key


def test_a_run_locked_by_a_live_process_is_left_to_it_and_a_stale_lock_is_taken_over(tmp_path, monkeypatch, capsys):
    import textmix.harness.compare.execute as compare_module

    grid = load_grid(config=str(tiny_grid_file(tmp_path, seeds="[0, 1, 2]")))
    out = tmp_path / "sweep"
    runs = parse_sweep(grid).plan(out)
    seen = []

    def run_one(run):
        lock = json.loads((run.folder / compare_module.LOCK_FILE).read_text())
        assert lock["pid"] == os.getpid()  # held while the run trains
        seen.append(run.seed)
        return fake_results(run)

    monkeypatch.setattr(compare_module, "run_one", run_one)
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],  # alive until killed
                             stdin=subprocess.PIPE)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        for run, pid in ((runs[0], alive.pid), (runs[1], dead.pid)):
            run.folder.mkdir(parents=True)
            (run.folder / compare_module.LOCK_FILE).write_text(
                json.dumps({"pid": pid, "host": compare_module.socket.gethostname(), "since": "earlier"}))
        compare_module.compare(parse_sweep(grid), out, progress=False)
    finally:
        alive.kill()
        alive.wait()
        alive.stdin.close()
    err = capsys.readouterr().err
    assert seen == [1, 2]  # seed 0 is another process's; seed 1's lock was stale
    assert f"pid {alive.pid}" in err and "skipped" in err
    assert "stale lock" in err and f"pid {dead.pid}" in err
    assert not (runs[1].folder / compare_module.LOCK_FILE).exists()  # released when done
    assert (runs[0].folder / compare_module.LOCK_FILE).exists()  # the live process's lock is left alone


def test_a_sweep_where_every_run_fails_says_how_many_and_where_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    import textmix.harness.compare.execute as compare_module

    def run_one(run):
        raise RuntimeError("boom in the model")

    monkeypatch.setattr(compare_module, "run_one", run_one)
    out = tmp_path / "sweep"
    code = main(["compare", "--config", str(tiny_grid_file(tmp_path)), "--output_dir", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "no results under" not in err
    assert "2 of 2 runs failed" in err and str(out / "failures.json") in err
    failures = json.loads((out / "failures.json").read_text())
    assert len(failures) == 2 and "boom in the model" in failures[0]["error"]
    log = Path(failures[0]["log"])
    assert log.exists() and "Traceback" in log.read_text() and "boom in the model" in log.read_text()


def test_shards_split_the_grid_and_the_console_gets_one_line_per_run(tmp_path, capsys):
    grid = str(tiny_grid_file(tmp_path, methods="[none, hidden]", seeds="[0, 1]"))
    out = tmp_path / "sweep"

    def planned(shard):
        assert main(["compare", "--config", grid, "--output_dir", str(out), "--dry_run", "--shard", shard]) == 0
        return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]

    first, second = planned("1/2"), planned("2/2")
    cells = {(r["method"], r["seed"]) for r in first} | {(r["method"], r["seed"]) for r in second}
    assert len(first) == len(second) == 2 and len(cells) == 4  # a partition of the 4 runs
    assert main(["compare", "--config", grid, "--output_dir", str(out), "--shard", "1/2"]) == 0
    captured = capsys.readouterr()
    assert len(list(out.glob("runs/*/*/seed*/results.json"))) == 2
    lines = [line for line in (captured.out + captured.err).splitlines() if line.startswith("rte/")]
    assert len(lines) == 2 and all("ECE" in line and "acc" in line for line in lines)
    assert "'loss'" not in captured.out  # the Trainer's log dicts go to the run's log file
    logs = list(out.glob("runs/*/*/seed*/run.log"))
    assert len(logs) == 2 and any("loss" in log.read_text() for log in logs)
    assert main(["compare", "--config", grid, "--output_dir", str(out), "--shard", "2/2"]) == 0
    assert len(list(out.glob("runs/*/*/seed*/results.json"))) == 4
    report = json.loads((out / "report.json").read_text())
    assert set(report["tasks"]["rte"]["methods"]) == {"none", "hidden", "none (ensemble of 2)", "hidden (ensemble of 2)"}
    assert main(["compare", "--config", grid, "--output_dir", str(out), "--shard", "3/2"]) == 2
    assert "--shard 3/2: I must be within 1..N" in capsys.readouterr().err


def _trainings(log: Path) -> int:
    """How many times a run was trained: the Trainer prints its final `train_runtime` once per training."""
    return log.read_text(encoding="utf-8").count("train_runtime")


def test_two_processes_on_one_sweep_folder_train_every_run_once(tmp_path):
    grid = str(tiny_grid_file(tmp_path, methods="[none, hidden]", seeds="[0, 1, 2]"))
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "textmix.harness.cli", "compare", "--config", grid, "--output_dir", str(out)]
    env = {**os.environ, "TEXTMIX_SHARED": str(shared_path())}
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=600) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    logs = sorted(out.glob("runs/rte/*/seed*/run.log"))
    assert len(logs) == 6 and [_trainings(log) for log in logs] == [1] * 6
    assert len(list(out.glob("runs/rte/*/seed*/results.json"))) == 6
    assert not list(out.glob("runs/rte/*/seed*/.textmix-run.lock"))
    lines = [line for _, err in outputs for line in err.splitlines() if "being trained by" in line]
    done = [line for out_, err in outputs for line in (out_ + err).splitlines() if line.startswith("rte/")]
    assert len(done) + len(lines) >= 6 and len(done) >= 6  # every run reported finished by one of the two
    report = json.loads((out / "report.json").read_text())
    assert report["tasks"]["rte"]["methods"]["hidden"]["n_seeds"] == 3


@pytest.mark.slow
def test_the_ray_backend_runs_a_grid_on_two_local_workers(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("TEXTMIX_SHARED", str(shared_path()))
    grid = str(tiny_grid_file(tmp_path, methods="[hidden]", seeds="[0, 1]"))
    out = tmp_path / "sweep"
    assert main(["compare", "--config", grid, "--output_dir", str(out), "--backend", "ray", "--workers", "2"]) == 0
    results = [json.loads(p.read_text()) for p in out.glob("runs/rte/*/seed*/results.json")]
    assert sorted((r["method"], r["seed"]) for r in results) == [("hidden", 0), ("hidden", 1)]
    logs = sorted(out.glob("runs/rte/*/seed*/run.log"))
    assert [_trainings(log) for log in logs] == [1] * 2
    assert json.loads((out / "report.json").read_text())["tasks"]["rte"]["methods"]["hidden"]["n_seeds"] == 2
    assert main(["compare", "--config", grid, "--output_dir", str(out), "--backend", "ray", "--workers", "2",
                 "--dry_run"]) == 0
    assert main(["compare", "--config", grid, "--output_dir", str(out), "--workers", "2"]) == 2  # not without ray


def test_the_any_task_smoke_grid_with_shift_and_label_noise(tmp_path, monkeypatch):
    """GLUE RTE, a csv task with string labels, MNIST and WNUT-17 in one grid, with corrupted test sets and label
    noise: every run lands, the report covers each task under its name with its own test set, the verdict
    table and the plots."""
    monkeypatch.setenv("TEXTMIX_SHARED", str(shared_path()))
    out = tmp_path / "sweep"
    assert main(["compare", "--preset", "smoke_tasks", "--output_dir", str(out)]) == 0
    results = [json.loads(p.read_text()) for p in out.glob("runs/**/results.json")]
    cells = {(r["task"], r["method"], r["label_noise"]) for r in results}
    assert cells == {(t, m, n) for t in ("rte", "reviews", "wnut17") for m in ("none", "hidden") for n in (0.0, 0.2)} | {
        ("digits", m, n) for m in ("none", "mixup") for n in (0.0, 0.2)}
    assert len(results) == 16
    by_task = {r["task"]: r for r in results}
    assert set(by_task["digits"]["shift"]) == {"occlusion", "gaussian_noise"}
    assert set(by_task["wnut17"]["shift"]) == set(by_task["reviews"]["shift"]) == {"typo", "mask"}
    assert set(by_task["rte"]["shift"]["mask"]) == {"1", "5"}
    noisy = [r for r in results if r["label_noise"]]
    assert all(r["label_noise_flipped"] > 0 for r in noisy)
    for folder in out.glob("runs/**/results.json"):  # every corrupted copy's predictions are kept (ensembles)
        result = json.loads(folder.read_text())
        with np.load(folder.parent / "predictions.npz") as saved:
            for kind, by_severity in result["shift"].items():
                for severity, figures in by_severity.items():
                    logits, labels = saved[f"shift_{kind}_{severity}_logits"], saved[f"shift_{kind}_{severity}_labels"]
                    if result["task"] != "wnut17":  # token runs: accuracy over labelled tokens
                        assert (logits.argmax(-1) == labels).mean() == pytest.approx(figures["accuracy"])
                    assert len(labels) == figures["size"]
    report = json.loads((out / "report.json").read_text())
    assert {"rte", "reviews", "digits", "wnut17", "reviews · label noise 0.2"} <= set(report["tasks"])
    assert report["tasks"]["reviews"]["test_set"].startswith("test.csv (")
    assert report["tasks"]["digits"]["skipped_methods"] == {"hidden": "hidden mixes text; the task is images"}
    claims = {row["claim"] for row in report["verdict"]["rows"]}
    assert claims == {"calibration", "calibration after temperature scaling", "corruption robustness",
                      "occlusion robustness", "label-noise tolerance"}
    for name in ("shift_digits.png", "shift_wnut17.png", "label_noise_reviews.png", "reliability.png"):
        assert (out / name).stat().st_size > 1000
    text = (out / "report.md").read_text()
    assert "## reviews · label noise 0.2" in text and "Does mixing do what it is said to do?" in text


def test_dry_run_counts_the_runs_and_estimates_time_from_finished_ones(tmp_path, capsys):
    grid_file = str(tiny_grid_file(tmp_path, methods="[none, hidden]", seeds="[0, 1]"))
    out = tmp_path / "sweep"
    assert main(["compare", "--config", grid_file, "--output_dir", str(out), "--dry_run"]) == 0
    assert "4 runs (0 done, 4 to train); no time estimate yet" in capsys.readouterr().out
    runs = parse_sweep(load_grid(None, grid_file, validate=False)).plan(out)
    assert len({r.cost for r in runs}) == 1  # equal steps: the estimate is the mean time x runs left
    for run, seconds in zip(runs[:2], (60.0, 180.0), strict=True):  # two finished runs, as compare records them
        run.folder.mkdir(parents=True, exist_ok=True)
        (run.folder / "results.json").write_text(json.dumps({"grid_key": run.key, "train_time_s": seconds}))
    assert main(["compare", "--config", grid_file, "--output_dir", str(out), "--dry_run"]) == 0
    assert "4 runs (2 done, 2 to train); about 4 min of training left" in capsys.readouterr().out  # 2 x 120 s


def test_shards_on_one_sweep_folder_keep_each_others_failures(tmp_path, monkeypatch):
    """Each shard writes failures.json: the second shard's write keeps the first shard's failure (it used to
    overwrite it), and a failed run that later succeeds leaves the list."""
    import textmix.harness.compare.execute as compare_module

    grid = load_grid(config=str(tiny_grid_file(tmp_path, seeds="[0, 1, 2, 3]")))
    out = tmp_path / "sweep"
    failing = {0, 1}

    def run_one(run):
        if run.seed in failing:
            raise RuntimeError(f"boom {run.seed}")
        return fake_results(run)

    monkeypatch.setattr(compare_module, "run_one", run_one)
    compare_module.compare(parse_sweep(grid), out, progress=False, shard=(1, 2))
    compare_module.compare(parse_sweep(grid), out, progress=False, shard=(2, 2))
    failures = json.loads((out / "failures.json").read_text())
    assert sorted(f["seed"] for f in failures) == [0, 1]
    failing.clear()
    compare_module.compare(parse_sweep(grid), out, progress=False, shard=(1, 2))
    failures = json.loads((out / "failures.json").read_text())
    assert [f["seed"] for f in failures] == [1]  # shard 1/2 (seeds 0, 2) retried seed 0 and it passed
