"""The run file's one identity (`runfile.identity`): the run key, the resume check and the report's clash check
each extend it, so an argument that does not change results (a path, reporting, the process) changes none of
the three, and one that does changes all three."""

from __future__ import annotations

import ast
from pathlib import Path

from textmix.harness import runfile
from textmix.harness.compare.runs import Run
from textmix.harness.recipes.resume import identity_changes, run_identity
from textmix.harness.report.reading import identity as report_identity

CONFIG = {"model": {"model_name_or_path": "m", "save_calibrated": False},
          "data": {"train_file": "a/train.csv", "max_seq_length": 64, "glue_dir": None},
          "training": {"learning_rate": 1e-4, "output_dir": "out", "report_to": "none", "local_rank": 0, "seed": 0}}
INPUTS = {"model": "m:1234", "data": "train.csv:abcd"}


def _with(section: str, **values) -> dict:
    return {**CONFIG, section: {**CONFIG[section], **values}}


def _three(config: dict, inputs: dict = INPUTS) -> tuple:
    run = Run("t", "none", 0, Path("x"), config["data"], config["training"], dict(inputs), model=config["model"])
    return run.key, run_identity({}, config), report_identity({"config": config, "inputs": inputs})


def test_what_does_not_change_results_changes_none_of_the_three(monkeypatch):
    from textmix.harness import fingerprints

    monkeypatch.setattr(fingerprints, "data_fingerprint", lambda data: INPUTS["data"])
    monkeypatch.setattr(fingerprints, "model_fingerprint", lambda model: INPUTS["model"])
    key, resume, report = _three(CONFIG)
    for other in (_with("training", output_dir="elsewhere", report_to="wandb", local_rank=3),
                  _with("data", train_file="b/train.csv", glue_dir="g"),
                  _with("model", model_name_or_path="copy/of/m", save_calibrated=True)):
        other_key, other_resume, other_report = _three(other)
        assert other_key == key and identity_changes(resume, other_resume) == [] and other_report == report


def test_what_changes_results_changes_all_three(monkeypatch):
    from textmix.harness import fingerprints

    monkeypatch.setattr(fingerprints, "data_fingerprint", lambda data: INPUTS["data"])
    monkeypatch.setattr(fingerprints, "model_fingerprint", lambda model: INPUTS["model"])
    key, resume, report = _three(CONFIG)
    other_key, other_resume, other_report = _three(_with("training", learning_rate=3e-4))
    assert other_key != key and other_report != report
    assert identity_changes(resume, other_resume) == ["training.learning_rate: 0.0001 -> 0.0003"]
    assert _three(CONFIG, {**INPUTS, "data": "train.csv:ef01"})[0] != key  # the data's content


def test_the_seed_is_the_report_s_own_extra_and_the_key_s_part():
    assert _three(_with("training", seed=1))[2] == _three(CONFIG)[2]  # seeds of one cell are no clash
    assert _three(_with("training", seed=1))[0] != _three(CONFIG)[0]


def test_there_is_one_identity_one_header_and_one_result_neutral_list():
    harness = Path(runfile.__file__).parent
    defined: dict[str, list[str]] = {"identity": [], "header": [], "RESULT_NEUTRAL": [], "method_name": []}
    for path in harness.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            names = [node.name] if isinstance(node, ast.FunctionDef) else [
                t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
            for name in names:
                if name in defined:
                    defined[name].append(str(path.relative_to(harness)))
    assert sorted(defined["identity"]) == ["report/reading.py", "runfile.py"]  # the report's extends runfile's
    assert defined["header"] == defined["RESULT_NEUTRAL"] == defined["method_name"] == ["runfile.py"]
