"""The typed sweep: a grid is parsed once per `textmix compare` run, and its parse carries every fact the
planning, checks and task plan read."""

from __future__ import annotations

import textmix.harness.compare.sweep as sweep_module
from textmix.harness.cli import main
from textmix.harness.compare import load_grid, parse_sweep, plan, task_plan


def _count(monkeypatch, name):
    calls = []
    real = getattr(sweep_module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, name, counted)
    return calls


def test_one_textmix_compare_run_parses_the_grid_once(tmp_path, monkeypatch, capsys):
    grids = _count(monkeypatch, "parse_tasks")
    entries = _count(monkeypatch, "parse_task")
    assert main(["compare", "--preset", "smoke", "--output_dir", str(tmp_path / "sweep"), "--dry_run"]) == 0
    printed = capsys.readouterr().out
    assert "6 runs (0 done, 6 to train)" in printed  # rte x 3 methods x 2 seeds
    assert len(grids) == 1  # the grid's tasks parsed once: checks, plan and dry run read the same Sweep
    assert len(entries) == len(load_grid("smoke")["tasks"])  # each task entry once


def test_the_sweep_holds_merged_method_arguments_and_where_each_method_fits(tmp_path):
    grid = {"model_name_or_path": "m", "tasks": ["rte", {"name": "digits", "modality": "image", "train_file": "x.npz"}],
            "methods": ["none", "hidden", "mixup", "wide"], "seeds": [0, 1], "label_noise": [0.0, 0.2],
            "method_args": {"hidden": {"mix_alpha": 0.2}, "wide": {"mix_method": "hidden", "mix_alpha": 1.0}}}
    sweep = parse_sweep(grid)
    assert sweep.problems == []
    # by hand: the method's own arguments, then method_args
    assert sweep.methods == {"none": {"mix_method": "none"}, "hidden": {"mix_method": "hidden", "mix_alpha": 0.2},
                             "mixup": {"mix_method": "mixup"}, "wide": {"mix_method": "hidden", "mix_alpha": 1.0}}
    assert set(sweep.misfits["rte"]) == {"mixup"} and set(sweep.misfits["digits"]) == {"hidden", "wide"}
    assert sweep.seeds == [0, 1] and sweep.label_noise == [0.0, 0.2]
    runs = plan(sweep, tmp_path, fingerprints=False)
    # rte: none, hidden, wide; digits: none, mixup; x 2 seeds x 2 rates
    assert len(runs) == (3 + 2) * 2 * 2
    assert {(r.task, r.method) for r in runs} == {("rte", "none"), ("rte", "hidden"), ("rte", "wide"),
                                                  ("digits", "none"), ("digits", "mixup")}
    wide = next(r for r in runs if r.method == "wide")
    assert wide.training["mix_alpha"] == 1.0 and wide.training["mix_method"] == "hidden"
    assert task_plan(sweep)["digits"]["methods"] == ["none", "mixup"]
    assert plan(grid, tmp_path, fingerprints=False) == runs  # a mapping is parsed the same way


def test_every_problem_of_a_broken_grid_at_once():
    sweep = parse_sweep({"tasks": ["rte", "nope"], "methods": ["none", "hiden"], "seeds": [0, 0],
                         "label_noise": [2.0], "bogus": 1})
    text = "\n".join(sweep.problems)
    for part in ("unknown key 'bogus'", "unknown GLUE task 'nope'", "unknown methods ['hiden']",
                 "seeds lists a seed more than once", "label_noise", "model_name_or_path"):
        assert part in text, part
