"""Runs and resumes: a run resumes only its own configuration's checkpoint, never trains past `max_steps`,
and a finished-but-unreported run writes its results without training; files are written through
unique temporary names, never through a symlink."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from harness.recipes.test_image_recipe import QUIET, TINY_VIT  # the image recipe tests' tiny ViT
from textmix.harness.recipes import image as recipe


def image_args(npz, out, *extra):
    return ["--npz_path", str(npz), "--mix_method", "cutmix", *TINY_VIT, "--per_device_train_batch_size", "16",
            "--save_strategy", "steps", "--lr_scheduler_type", "constant", *QUIET, "--output_dir", str(out), *extra]


def test_a_restart_after_the_last_checkpoint_trains_no_step_and_writes_the_results(tmp_path, tiny_npz, capsys):
    # 4 steps an epoch; max_steps 5 ends mid-epoch, where transformers would train a sixth step on resume
    args = image_args(tiny_npz, tmp_path / "run", "--max_steps", "5", "--save_steps", "2")
    straight = recipe.RECIPE.main(args)
    logits = np.load(tmp_path / "run" / "predictions.npz")["test_logits"]
    (tmp_path / "run" / "results.json").unlink()  # killed after the last checkpoint, before the results
    capsys.readouterr()
    again = recipe.RECIPE.main(args)
    assert Path(again["resumed_from"]).name == "checkpoint-5"
    assert again["this_attempt"]["steps"] == 0 and again["this_attempt"]["from_step"] == 5
    assert not (tmp_path / "run" / "checkpoint-6").exists()
    assert "holds the run's last step (5): writing its results without training" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(tmp_path / "run" / "predictions.npz")["test_logits"], logits)
    assert again["test"] == straight["test"] and again["train_loss"] == pytest.approx(straight["train_loss"])


def test_a_run_resumes_only_a_checkpoint_of_its_own_configuration(tmp_path, tiny_npz, capsys):
    old = image_args(tiny_npz, tmp_path / "run", "--max_steps", "4", "--save_steps", "2", "--learning_rate", "1e-3")
    recipe.RECIPE.main(old)
    for name in ("checkpoint-4", "results.json"):  # killed after step 2
        path = tmp_path / "run" / name
        __import__("shutil").rmtree(path) if path.is_dir() else path.unlink()
    new = image_args(tiny_npz, tmp_path / "run", "--max_steps", "4", "--save_steps", "2", "--learning_rate", "3e-3")
    capsys.readouterr()
    edited = recipe.RECIPE.main(new)  # the grid was edited: another learning rate
    err = capsys.readouterr().err
    assert edited["resumed_from"] is None and edited["this_attempt"] == {**edited["this_attempt"], "from_step": 0,
                                                                          "steps": 4}
    assert "is of another configuration, not resumed (training.learning_rate: 0.001 -> 0.003)" in err
    assert (tmp_path / "run" / "superseded-checkpoint-2").is_dir()
    recipe.RECIPE.main(image_args(tiny_npz, tmp_path / "fresh", "--max_steps", "4", "--learning_rate", "3e-3"))
    np.testing.assert_allclose(np.load(tmp_path / "run" / "predictions.npz")["test_logits"],
                               np.load(tmp_path / "fresh" / "predictions.npz")["test_logits"], rtol=1e-5, atol=1e-6)
    # the new run's checkpoints carry its own identity (the same configuration resumes them: see the recipes' tests)
    assert json.loads((tmp_path / "run" / "checkpoint-2" / "textmix_run.json").read_text())["training"][
        "learning_rate"] == 3e-3


def test_a_rerun_after_the_data_files_content_changed_at_the_same_size_and_name_retrains(tmp_path, tiny_npz,
                                                                                        capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    args = image_args(tiny_npz, tmp_path / "run", "--max_steps", "4", "--save_steps", "2")
    recipe.RECIPE.main(args)
    arrays = dict(np.load(tiny_npz))
    arrays["x_test"] = 255 - arrays["x_test"]  # other test images, the same shapes: the same file size
    size, mtime = tiny_npz.stat().st_size, tiny_npz.stat().st_mtime_ns
    np.savez(tiny_npz, **arrays)
    os.utime(tiny_npz, ns=(mtime, mtime))  # even the modification time kept (cp -p, a restored backup)
    assert tiny_npz.stat().st_size == size
    capsys.readouterr()
    after = recipe.RECIPE.main(args)
    err = capsys.readouterr().err
    assert after["resumed_from"] is None and after["this_attempt"]["steps"] == 4, "read back the old run"
    assert "is of another configuration, not resumed (content of the data:" in err
    again = recipe.RECIPE.main(args)  # unchanged content since: the finished run is resumed, not retrained
    assert Path(again["resumed_from"]).name == "checkpoint-4" and again["this_attempt"]["steps"] == 0


def test_content_hashes_are_cached_by_path_size_and_mtime_and_a_changed_file_is_hashed_again(tmp_path,
                                                                                              monkeypatch):
    import hashlib

    from textmix.harness import fingerprints

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"a" * 1000)
    assert fingerprints.file_digest(path) == hashlib.sha256(b"a" * 1000).hexdigest()
    cached = json.loads(fingerprints.cache_file().read_text())
    assert list(cached) == [str(path.resolve())]
    reads = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: reads.append(a[0]) or real_open(*a, **k))
    assert fingerprints.file_digest(path) == hashlib.sha256(b"a" * 1000).hexdigest()
    assert Path(path).resolve() not in [Path(r) for r in reads]  # from the cache: the file is not read again
    path.write_bytes(b"b" * 1000)  # the same size, another content
    os.utime(path, ns=(1, 1))
    assert fingerprints.file_digest(path) == hashlib.sha256(b"b" * 1000).hexdigest()
    images = tmp_path / "images" / "cat"  # an image folder: every file's content, by its place in the folder
    images.mkdir(parents=True)
    (images / "1.png").write_bytes(b"x" * 10)
    before = fingerprints.path_fingerprint(tmp_path / "images")
    (images / "1.png").write_bytes(b"y" * 10)
    assert fingerprints.path_fingerprint(tmp_path / "images") != before
    (images / "1.png").write_bytes(b"x" * 10)
    __import__("shutil").copytree(tmp_path / "images", tmp_path / "moved")
    assert fingerprints.path_fingerprint(tmp_path / "moved") == before


def test_a_sweeps_run_key_changes_with_the_content_of_the_model_weights_and_data_not_their_paths(tmp_path,
                                                                                                 monkeypatch):
    import shutil

    from conftest import shared_path

    from textmix.harness.compare.sweep import parse_sweep

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "model"
    shutil.copytree(shared_path("models", "bert-tiny"), model)
    for name in ("train", "test"):
        (tmp_path / f"{name}.csv").write_text("text,label\n" + "a good film,1\na bad film,0\n" * 4)
    grid = {"model_name_or_path": str(model), "methods": ["none"], "seeds": [0],
            "tasks": [{"name": "films", "data": {"train_file": str(tmp_path / "train.csv"),
                                                  "test_file": str(tmp_path / "test.csv")}}]}

    def key():
        return parse_sweep(grid).plan(tmp_path / "sweep")[0].key

    first = key()
    moved = tmp_path / "elsewhere"
    shutil.copytree(model, moved / "model")
    assert parse_sweep({**grid, "model_name_or_path": str(moved / "model")}).plan(tmp_path / "sweep")[0].key == first
    weights = model / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 1  # one bit of one weight: the same size
    weights.write_bytes(bytes(blob))
    assert key() != first
    weights.write_bytes(bytes(blob[:-1]) + bytes([blob[-1] ^ 1]))
    assert key() == first  # the same content again: the same run
    (tmp_path / "train.csv").write_text("text,label\n" + "a good film,0\na bad film,1\n" * 4)  # same size
    assert key() != first


def test_a_grid_wide_option_only_a_mixer_uses_leaves_the_baselines_without_mixing_alone(tmp_path):
    from textmix.harness.compare.sweep import parse_sweep
    from textmix.trainer import MixTrainingArguments

    grid = {"model_name_or_path": "some/hub-id", "methods": ["none", "label_smoothing", "cutmix", "plain"],
            "method_args": {"plain": {"mix_method": "none", "mix_clean_weight": 1.0}},  # asked for by name: kept
            "seeds": [0], "training": {"mix_clean_weight": 1.0, "mix_label_weights": "attention"},
            "tasks": [{"name": "digits", "modality": "image", "data": {"npz_path": str(tmp_path / "d.npz")}}]}
    runs = {r.method: r.training for r in parse_sweep(grid).plan(tmp_path / "sweep", fingerprints=False)}
    for baseline in ("none", "label_smoothing"):
        assert "mix_clean_weight" not in runs[baseline] and "mix_label_weights" not in runs[baseline]
        MixTrainingArguments(**runs[baseline])  # the baseline's arguments pass their checks
    assert runs["cutmix"]["mix_clean_weight"] == 1.0 and runs["cutmix"]["mix_label_weights"] == "attention"
    assert runs["plain"]["mix_clean_weight"] == 1.0  # the run then fails its checks with the message above


def test_a_grid_wide_attention_label_weight_is_caught_before_any_run_on_a_token_task(tmp_path):
    from textmix.harness.compare.sweep import parse_sweep

    tasks = [{"name": "films", "train_file": "a.csv", "test_file": "b.csv"},
             {"name": "ner", "modality": "tokens", "train_file": "t.conll", "test_file": "u.conll"}]
    grid = {"model_name_or_path": "some/hub-id", "methods": ["none", "span"], "seeds": [0], "tasks": tasks,
            "training": {"mix_label_weights": "attention"}}
    info = parse_sweep(grid).task_plan()
    assert info["ner"]["methods"] == ["none"] and info["films"]["methods"] == ["none", "span"]
    assert info["ner"]["skipped_methods"] == {
        "span": "label_weights 'attention' weighs a sequence's label; the task labels tokens"}
    assert [(r.task, r.method) for r in parse_sweep(grid).plan(tmp_path, fingerprints=False)] == [
        ("films", "none"), ("films", "span"), ("ner", "none")]
    problems = parse_sweep({**grid, "tasks": tasks[1:]}).problems  # what the dry run says
    assert any("method span fits none of the tasks (label_weights 'attention' weighs" in p for p in problems)
    by_task_args = {**grid, "training": {}, "task_args": {"ner": {"training": {"mix_label_weights": "attention"}}}}
    assert parse_sweep(by_task_args).task_plan()["ner"]["methods"] == ["none"]


def test_identity_changes_name_the_argument_and_a_grid_key_ignores_paths():
    from textmix.harness.recipes.resume import identity_changes, run_identity

    config = {"training": {"learning_rate": 1e-4, "output_dir": "a", "max_steps": 10, "local_rank": 0},
              "data": {"train_file": "x"}}
    here = run_identity({"grid_key": "k1"}, config)
    assert "output_dir" not in here["training"] and "local_rank" not in here["training"]
    other_rank = run_identity({}, {**config, "training": {**config["training"], "local_rank": 1}})
    assert identity_changes(run_identity({}, config), other_rank) == []  # every process of a run agrees
    moved = run_identity({"grid_key": "k1"}, {**config, "data": {"train_file": "elsewhere/x"}})
    assert identity_changes(here, moved) == []  # a sweep moved elsewhere: the run key decides
    edited = run_identity({"grid_key": "k2"}, {**config, "training": {**config["training"], "max_steps": 20}})
    assert identity_changes(here, edited) == ["training.max_steps: 10 -> 20"]
    assert identity_changes(None, here)[0].startswith("the checkpoint does not record")
    files = run_identity({"grid_key": "k3"}, config)
    assert "run key k1 -> k3" in identity_changes(here, files)[0]


def test_files_are_written_through_unique_temporary_names_never_through_a_symlink(tmp_path):
    from textmix.harness.runfile import save_npz_atomic, write_json_atomic

    outside = tmp_path / "outside"
    outside.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    victim = outside / "victim.npz"
    victim.write_bytes(b"keep")
    for name in ("predictions.tmp.npz", f"results.json.{os.getpid()}.tmp"):
        (run / name).symlink_to(victim)
    (run / "results.json").symlink_to(outside / "results.json")
    save_npz_atomic(run / "predictions.npz", {"a": np.arange(3)})
    write_json_atomic(run / "results.json", {"x": 1})
    assert victim.read_bytes() == b"keep" and not (outside / "results.json").exists()
    assert not (run / "results.json").is_symlink() and json.loads((run / "results.json").read_text()) == {"x": 1}
    np.testing.assert_array_equal(np.load(run / "predictions.npz")["a"], np.arange(3))
    assert sorted(p.name for p in run.iterdir() if not p.is_symlink()) == ["predictions.npz", "results.json"]


def test_when_every_run_is_locked_elsewhere_the_command_says_so_not_no_results(tmp_path, monkeypatch, capsys):
    from conftest import shared_path

    import textmix.harness.compare.execute as compare_module
    from textmix.harness.cli import main

    config = tmp_path / "grid.yaml"
    config.write_text(
        f"model_name_or_path: {shared_path('models', 'bert-tiny')}\nglue_dir: {shared_path('data', 'glue')}\n"
        "tasks: [rte]\nmethods: [none]\nseeds: [0, 1]\n"
        "data: {max_train_samples: 16, max_predict_samples: 16, validation_split: 8, max_seq_length: 32}\n"
        "training: {max_steps: 1}\n", encoding="utf-8")
    monkeypatch.setattr(compare_module, "acquire_lock", lambda folder: "pid 4242 on host elsewhere since 21:00")
    assert main(["compare", "--config", str(config), "--output_dir", str(tmp_path / "sweep")]) == 0
    err = capsys.readouterr().err
    assert "no results" not in err and "textmix compare first" not in err
    assert "being trained by pid 4242 on host elsewhere" in err
    assert "no report yet: every run without results (2) is being trained by another process" in err
    assert not (tmp_path / "sweep" / "report.md").exists()


def test_a_runs_log_files_are_never_written_through_a_symlink(tmp_path, monkeypatch):
    import textmix.harness.compare.execute as compare_module
    from textmix.checkpoints import write_complete_marker

    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("run.log", "error.log"):
        (outside / name).write_text("keep")
    run = compare_module.Run("t", "none", 0, tmp_path / "run", {}, {})
    run.folder.mkdir()
    (run.folder / "run.log").symlink_to(outside / "run.log")
    (run.folder / "error.log").symlink_to(outside / "error.log")
    monkeypatch.setattr(compare_module, "run_one", lambda r: print("trained") or {})
    outcome = compare_module.train_run(run)
    assert outcome["status"] == "failed" and "run.log" in outcome["error"]  # refused, said, not followed
    assert (outside / "run.log").read_text() == "keep" and (outside / "error.log").read_text() == "keep"
    assert "run.log" in (run.folder / "error.log").read_text() and not (run.folder / "error.log").is_symlink()
    checkpoint = tmp_path / "checkpoint-1"
    checkpoint.mkdir()
    (checkpoint / "model.safetensors").write_bytes(b"x")
    write_complete_marker(checkpoint)
    assert json.loads((checkpoint / "textmix_complete").read_text())["sizes"] == {"model.safetensors": 1}
    assert sorted(p.name for p in checkpoint.iterdir()) == ["model.safetensors", "textmix_complete"]


def test_processes_sharing_a_sweep_build_its_report_one_after_the_other(tmp_path):
    """While another live process holds the sweep's report lock, a report waits for it (so a report started with
    fewer finished runs cannot be written after a newer one); it goes ahead once the lock is released."""
    import json
    import os
    import socket
    import threading
    import time

    from textmix.harness.compare.execute import LOCK_FILE, REPORT_LOCK, _report_lock

    lock = tmp_path / REPORT_LOCK / LOCK_FILE
    lock.parent.mkdir()
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "since": "now"}))
    threading.Timer(1.0, lock.unlink).start()  # the other process finishes its report after a second
    start = time.monotonic()
    with _report_lock(tmp_path):
        waited = time.monotonic() - start
        assert lock.exists()  # held by this process now
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert waited >= 0.9 and not lock.exists()
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "since": "now"}))
    start = time.monotonic()
    with _report_lock(tmp_path, wait_s=0.5):  # a holder that never lets go: the report is built anyway
        assert time.monotonic() - start < 5
    assert lock.exists()  # the other process's lock is left alone
