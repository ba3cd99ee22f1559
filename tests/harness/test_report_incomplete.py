"""The report never averages what is left: runs with a missing or non-finite figure are listed as
incomplete and left out of the means (each row says how many seeds it has); damaged or mistyped sweep
files are named; a --baseline typo is an error with the closest name."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from textmix.harness.cli import main
from textmix.harness.compare.sweep import parse_sweep
from textmix.harness.report import build_report
from textmix.harness.report.reading import incomplete_reason


def result(method, seed, acc, ece=0.1, **test):
    return {"task": "rte", "method": method, "seed": seed, "test_majority_accuracy": 0.5,
            "test": {"accuracy": acc, "ece": ece, "nll": 0.6, **test}, "test_ts": {"ece": ece / 2},
            "train_time_s": 1.0}


def write(root, r, folder=None):
    path = root / "runs" / r["task"] / r["method"] / (folder or f"seed{r['seed']}")
    path.mkdir(parents=True)
    (path / "results.json").write_text(json.dumps(r))  # NaN as JSON's NaN, as json.dumps writes it
    rng = np.random.default_rng(len(str(path)))
    np.savez(path / "predictions.npz", test_logits=rng.normal(size=(20, 2)), test_labels=rng.integers(0, 2, 20))
    return path


def test_a_seed_with_nan_test_figures_is_listed_and_left_out_never_averaged(tmp_path, capsys):
    write(tmp_path, result("none", 0, 0.70))
    write(tmp_path, result("none", 1, 0.60))
    write(tmp_path, result("span", 0, 0.5312))
    nan_run = write(tmp_path, result("span", 1, math.nan, ece=math.nan))
    assert main(["report", str(tmp_path)]) == 1  # like a clash: the user must look
    err = capsys.readouterr().err
    assert "incomplete: rte/span/seed1: test.accuracy is nan; test.ece is nan; test_ts.ece is nan" in err and str(nan_run) in err
    report = json.loads((tmp_path / "report.json").read_text())
    span = report["tasks"]["rte"]["methods"]["span"]
    assert span["n_seeds"] == 1 and span["incomplete_seeds"] == [1] and span["accuracy"] == 0.5312
    assert span["task_metric_change"]["n"] == 1  # the paired test sees only the complete seed
    assert report["incomplete"][0]["seed"] == 1 and "test.accuracy is nan" in report["incomplete"][0]["reason"]
    md = (tmp_path / "report.md").read_text()
    assert "| span (1 of 2 seeds) |" in md and "## Incomplete runs" in md and "rte / span / seed 1" in md
    assert "| none |" in md  # complete rows carry no note
    assert (tmp_path / "report.csv").read_text().splitlines()[2].split(",")[6] == "1"


def test_missing_and_mistyped_figures_are_named():
    assert incomplete_reason(result("none", 0, 0.7)) is None
    no_ece = result("none", 0, 0.7)
    del no_ece["test"]["ece"]
    assert incomplete_reason(no_ece) == "test.ece is missing"
    typed = result("none", 0, 0.7)
    typed["test"]["ece"] = "high"
    assert incomplete_reason(typed) == "test.ece is 'high' (a str, not a number)"
    assert "test_ts.ece is inf" in incomplete_reason({**result("none", 0, 0.7), "test_ts": {"ece": math.inf}})
    regression = {"task": "stsb", "method": "none", "seed": 0, "problem_type": "regression",
                  "config": {"data": {"task_name": "stsb"}}, "test": {"pearson": math.nan, "spearmanr": 0.1}}
    assert incomplete_reason(regression) == "test.pearson is nan"  # NaN regression metrics do not pass silently
    assert incomplete_reason({**result("none", 0, 0.7), "train_time_s": None}) is None  # an old resumed run


def test_results_fields_of_the_wrong_type_skip_the_file_naming_the_field(tmp_path, capsys):
    write(tmp_path, result("none", 0, 0.7))
    write(tmp_path, {**result("none", 1, 0.7), "test": "0.7"})
    write(tmp_path, {**result("none", 2, 0.7), "seed": "two"}, folder="seed2")
    write(tmp_path, {**result("none", 3, 0.7), "config": ["x"]})
    (tmp_path / "runs/rte/none/seed4/results.json").mkdir(parents=True)  # not a file at all
    assert main(["report", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "seed4/results.json: cannot be read (Is a directory)" in err
    assert "seed1/results.json: `test` is a str, not a mapping" in err
    assert "seed2/results.json: `seed` is 'two' (a str, not a whole number)" in err
    assert "seed3/results.json: `config` is a list, not a mapping" in err
    assert json.loads((tmp_path / "report.json").read_text())["tasks"]["rte"]["methods"]["none"]["n_seeds"] == 1


@pytest.mark.parametrize("name,content,kind", [("grid.json", "{not json", "not valid JSON"),
                                               ("failures.json", '{"a": 1}', "holds a dict, not a list"),
                                               ("grid.json", "[1, 2]", "holds a list, not a mapping")])
def test_a_damaged_sweep_file_is_named_in_one_message_and_the_report_still_builds(tmp_path, capsys, name, content,
                                                                                    kind):
    write(tmp_path, result("none", 0, 0.7))
    (tmp_path / name).write_text(content)
    assert main(["report", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert f"skipped {tmp_path / name}: {kind}" in err and "run `textmix compare` again to rewrite it" in err
    assert str(tmp_path / name) in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize("damage", ["truncated", "not a zip", "no labels"])
def test_a_damaged_predictions_file_is_named_and_its_run_left_out_of_intervals_and_diagrams(tmp_path, damage):
    for method, seed, acc in (("none", 0, 0.7), ("none", 1, 0.6), ("span", 0, 0.8), ("span", 1, 0.75)):
        write(tmp_path, {**result(method, seed, acc), "temperature": 1.2})
    npz = tmp_path / "runs" / "rte" / "span" / "seed1" / "predictions.npz"
    if damage == "truncated":
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])  # a write cut short
    elif damage == "not a zip":
        npz.write_bytes(b"\0" * 64)
    else:
        np.savez(npz, test_logits=np.zeros((20, 2)))
    with pytest.warns(UserWarning, match=rf"{npz}: does not load \(\w+"):
        report = build_report(tmp_path)
    (skipped,) = report["skipped"]
    assert skipped["file"] == str(npz)
    assert "left out of the intervals and the reliability diagram" in skipped["reason"]
    span = report["tasks"]["rte"]["methods"]["span"]
    assert span["n_seeds"] == 2 and span["accuracy"] == pytest.approx(0.775)  # its figures stay in the tables
    assert span["smece_change"]["n"] == 1  # the interval over the seed whose predictions load
    assert f"`{npz}`: does not load" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "reliability.png").exists()


def test_a_baseline_typo_is_an_error_with_the_closest_name(tmp_path, capsys):
    write(tmp_path, result("none", 0, 0.7))
    write(tmp_path, result("span", 0, 0.7))
    assert main(["report", str(tmp_path), "--baseline", "nnoe"]) == 2
    err = capsys.readouterr().err
    assert "--baseline 'nnoe' is not a method of this sweep (did you mean 'none'?)" in err and "Traceback" not in err
    assert not (tmp_path / "report.md").exists()
    with pytest.warns(UserWarning, match="'hidden' has no results"):  # planned but not finished: a warning
        (tmp_path / "grid.json").write_text(json.dumps({"methods": ["none", "span", "hidden"]}))
        build_report(tmp_path, baseline="hidden")
    grid = {"model_name_or_path": "m", "tasks": ["rte"], "methods": ["none", "span"], "seeds": [0], "baseline": "nnoe"}
    assert any("baseline 'nnoe' is not one of the grid's methods (did you mean 'none'?)" in p
               for p in parse_sweep(grid).problems)


def test_a_run_with_non_finite_figures_says_so_when_it_finishes():
    from textmix.harness.recipes.common import nonfinite_figures

    predicted = {"validation": {"pearson": math.nan, "mse": 0.3}, "test": {"pearson": 0.5, "mse": math.inf},
                 "temperature": 1.0, "shift": {"typo": {"1": {"ece": math.nan}}}}
    assert nonfinite_figures(predicted) == ["validation.pearson", "test.mse"]
