"""A grid's task and method names are folders of the sweep: validated alike (no separators, no '..', no
absolute paths, bounded length, unique ignoring case), every problem listed before any run."""

from __future__ import annotations

from pathlib import Path

import pytest

from textmix.harness.checks import NAME_MAX, problem_name
from textmix.harness.compare.check import check_grid
from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.sweep import GridError, parse_sweep

CSV_TASK = {"train_file": "train.csv", "test_file": "test.csv"}


def grid(**over):
    return {"model_name_or_path": "m", "tasks": ["rte"], "methods": ["none"], "seeds": [0], **over}


@pytest.mark.parametrize("name", ["hidden/l1", "../../x", "/abs/x", "a\\b", "..", ".hidden", "x" * (NAME_MAX + 1),
                                  "tab\there", ""])
def test_a_name_that_is_not_a_plain_folder_name_is_refused(name):
    assert problem_name("method", name) is not None
    assert problem_name("task", name) is not None


def checked(grid, output_dir=None):
    """`check_grid` of a grid mapping and its plan, as `textmix compare` runs it."""
    sweep = parse_sweep(grid)
    return check_grid(sweep, sweep.plan(Path(output_dir or "."), fingerprints=False), output_dir)


def test_plain_names_pass():
    assert all(problem_name("method", n) is None for n in ("hidden", "span-2", "my_method.v2", "x" * NAME_MAX))


def test_method_names_escaping_the_sweep_folder_are_grid_errors_listed_with_the_others():
    bad = ["hidden/l1", "../../x", "/abs/x", "x" * 80]
    problems = parse_sweep(grid(methods=["none", *bad], method_args={m: {"mix_method": "hidden"} for m in bad},
                                  seeds=[0, 1])).problems
    for name in bad:
        assert any(repr(name) in p and "folder of the sweep" in p for p in problems), (name, problems)
    task = grid(tasks=[{"name": "../up", **CSV_TASK}, {"name": "/abs", **CSV_TASK}])
    found = parse_sweep(task).problems
    assert sum("folder of the sweep" in p for p in found) == 2, found


def test_names_unique_ignoring_case_and_seeds_once():
    problems = parse_sweep(grid(tasks=["rte", "RTE"], methods=["none", "None", "hidden"], seeds=[0, 1, 0])).problems
    assert any("'rte' and 'RTE'" in p and "ignoring case" in p for p in problems), problems
    assert any("'none' and 'None'" in p for p in problems), problems
    assert any("seeds lists a seed more than once: [0, 1, 0]" in p for p in problems), problems
    alias = parse_sweep(grid(tasks=["sst2", "sst-2"])).problems
    assert any("are all GLUE sst2" in p for p in alias), alias
    mixed = parse_sweep(grid(tasks=[{"name": "Reviews", **CSV_TASK}, {"name": "reviews", **CSV_TASK}])).problems
    assert any("'Reviews' and 'reviews'" in p for p in mixed), mixed


def test_load_grid_raises_with_every_name_problem(tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text("model_name_or_path: m\ntasks: [rte, RTE]\nmethods: [none, ../../x]\nseeds: [0, 0]\n"
                      "method_args: {../../x: {mix_method: hidden}}\n", encoding="utf-8")
    with pytest.raises(GridError) as err:
        load_grid(config=str(config))
    assert len(err.value.problems) == 3 and "3 problems" in str(err.value)


def test_a_model_with_its_own_code_needs_trust_remote_code_and_the_check_passes_it_through(tmp_path, monkeypatch):
    import json
    import shutil

    import transformers
    from conftest import shared_path


    folder = tmp_path / "custom"
    shutil.copytree(shared_path("models", "bert-tiny"), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoConfig": "my_code.MyConfig"}}))
    tasks = [{"name": "reviews", "train_file": "missing.csv", "test_file": "missing.csv"}]
    base = {"model_name_or_path": str(folder), "tasks": tasks, "methods": ["none"], "seeds": [0]}
    problems = checked(base)
    assert any("runs code of its own (`auto_map` in its config.json)" in p and "trust_remote_code: true" in p
               for p in problems), problems
    seen = []

    def loader(name_or_path, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return transformers.BertConfig()

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", loader)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", loader)
    trusted = {**base, "tasks": [{**tasks[0], "model": {"trust_remote_code": True}}]}
    problems = checked(trusted)
    assert not any("code of its own" in p for p in problems) and seen == [True, True]  # asked, never prompted
    seen.clear()
    checked({**base, "model_name_or_path": str(shared_path("models", "bert-tiny"))})
    assert seen == [False, False]  # an explicit False: transformers raises instead of asking on the terminal
