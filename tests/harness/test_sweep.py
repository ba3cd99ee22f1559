"""The typed sweep: a grid is parsed once per `textmix compare` run, and its parse carries every fact the
planning, checks and task plan read."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import textmix.harness.compare.sweep as sweep_module
from textmix.harness.cli import main
from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.sweep import Sweep, parse_sweep


def _count(monkeypatch, name):
    calls = []
    real = getattr(sweep_module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, name, counted)
    return calls


def test_one_textmix_compare_run_parses_the_grid_once_and_plans_it_once(tmp_path, monkeypatch, capsys):
    grids = _count(monkeypatch, "parse_tasks")
    entries = _count(monkeypatch, "parse_task")
    plans, real_plan = [], Sweep.plan
    monkeypatch.setattr(Sweep, "plan", lambda self, *a, **k: plans.append(a) or real_plan(self, *a, **k))
    assert main(["compare", "--preset", "smoke", "--output_dir", str(tmp_path / "sweep"), "--dry_run"]) == 0
    printed = capsys.readouterr().out
    assert "6 runs (0 done, 6 to train)" in printed  # rte x 3 methods x 2 seeds
    assert len(grids) == 1  # the grid's tasks parsed once: checks, plan and dry run read the same Sweep
    assert len(entries) == len(load_grid("smoke")["tasks"])  # each task entry once
    assert len(plans) == 1  # one plan: the checks and the runs read the same tuple of runs


def test_the_sweep_is_frozen_and_nothing_downstream_reads_the_grid_as_given():
    sweep = parse_sweep(load_grid("smoke"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        sweep.seeds = (7,)
    assert isinstance(sweep.tasks, tuple) and isinstance(sweep.seeds, tuple) and isinstance(sweep.problems, tuple)
    package = Path(sweep_module.__file__).parent
    readers = [f"{path.name}:{n}" for path in sorted(package.glob("*.py"))
               for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if ".given" in line]
    assert len(readers) == 1 and readers[0].startswith("execute.py"), readers  # grid.json only


def test_the_sweep_holds_merged_method_arguments_and_where_each_method_fits(tmp_path):
    grid = {"model_name_or_path": "m", "tasks": ["rte", {"name": "digits", "modality": "image", "train_file": "x.npz"}],
            "methods": ["none", "hidden", "mixup", "wide"], "seeds": [0, 1], "label_noise": [0.0, 0.2],
            "method_args": {"hidden": {"mix_alpha": 0.2}, "wide": {"mix_method": "hidden", "mix_alpha": 1.0}}}
    sweep = parse_sweep(grid)
    assert sweep.problems == ()
    # by hand: the method's own arguments, then method_args
    assert sweep.methods == {"none": {"mix_method": "none"}, "hidden": {"mix_method": "hidden", "mix_alpha": 0.2},
                             "mixup": {"mix_method": "mixup"}, "wide": {"mix_method": "hidden", "mix_alpha": 1.0}}
    assert set(sweep.misfits["rte"]) == {"mixup"} and set(sweep.misfits["digits"]) == {"hidden", "wide"}
    assert sweep.seeds == (0, 1) and sweep.label_noise == (0.0, 0.2)
    runs = sweep.plan(tmp_path, fingerprints=False)
    # rte: none, hidden, wide; digits: none, mixup; x 2 seeds x 2 rates
    assert len(runs) == (3 + 2) * 2 * 2
    assert {(r.task, r.method) for r in runs} == {("rte", "none"), ("rte", "hidden"), ("rte", "wide"),
                                                  ("digits", "none"), ("digits", "mixup")}
    wide = next(r for r in runs if r.method == "wide")
    assert wide.training["mix_alpha"] == 1.0 and wide.training["mix_method"] == "hidden"
    assert sweep.task_plan()["digits"]["methods"] == ["none", "mixup"]
    assert parse_sweep(grid).plan(tmp_path, fingerprints=False) == runs  # a mapping is parsed the same way


def test_every_problem_of_a_broken_grid_at_once():
    sweep = parse_sweep({"tasks": ["rte", "nope"], "methods": ["none", "hiden"], "seeds": [0, 0],
                         "label_noise": [2.0], "bogus": 1})
    text = "\n".join(sweep.problems)
    for part in ("unknown key 'bogus'", "unknown GLUE task 'nope'", "unknown methods ['hiden']",
                 "seeds lists a seed more than once", "label_noise", "model_name_or_path"):
        assert part in text, part
