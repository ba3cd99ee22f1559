"""Report figures against numpy/scipy recomputations on synthetic results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import ttest_rel

from textmix.harness.cli import main
from textmix.harness.report import build_report, paired_change, summarise


def result(task, method, seed, acc, ece, majority=0.6):
    return {"task": task, "method": method, "seed": seed, "test_majority_accuracy": majority,
            "test": {"accuracy": acc, "f1": acc - 0.1, "ece": ece, "mce": 2 * ece, "adaptive_ece": ece, "brier": 0.3,
                     "nll": 0.5},
            "test_ts": {"ece": ece / 2}, "train_time_s": 10.0 + seed}


def test_summary_means_stds_changes_and_best():
    accs = {"none": [0.80, 0.82, 0.78], "span": [0.81, 0.84, 0.80], "hidden": [0.61, 0.70, 0.75]}
    eces = {"none": [0.10, 0.12, 0.08], "span": [0.05, 0.06, 0.04], "hidden": [0.01, 0.02, 0.03]}
    results = [result("sst2", m, s, accs[m][s], eces[m][s]) for m in accs for s in range(3)]
    summary = summarise(results, baseline="none", order={"methods": ["none", "span", "hidden"]})
    rows = summary["tasks"]["sst2"]["methods"]
    assert list(rows) == ["none", "span", "hidden"]
    assert rows["span"]["accuracy"] == pytest.approx(np.mean(accs["span"]))
    assert rows["span"]["ece_std"] == pytest.approx(np.std(eces["span"], ddof=1))
    change = rows["span"]["ece_change"]
    assert change["delta"] == pytest.approx(np.mean(np.array(eces["span"]) - eces["none"]))
    assert change["p_value"] == pytest.approx(ttest_rel(eces["span"], eces["none"]).pvalue)
    assert rows["hidden"]["at_chance_seeds"] == [0]  # 0.61 does not beat 0.6 + 0.02
    best = summary["tasks"]["sst2"]["best"]
    assert best["ece"] == "span" and best["task_metric"] == "span"  # hidden is excluded: a seed at chance


def test_paired_change_needs_matching_seeds():
    out = paired_change({0: 1.0, 1: 2.0}, {1: 2.5, 2: 9.0})
    assert out["n"] == 1 and out["delta"] == 0.5 and math.isnan(out["p_value"])


def test_build_report_writes_every_file(tmp_path):
    for m in ("none", "span"):
        for s in range(2):
            folder = tmp_path / "runs" / "rte" / m / f"seed{s}"
            folder.mkdir(parents=True)
            r = result("rte", m, s, 0.7 + 0.01 * s, 0.1 - 0.02 * s)
            (folder / "results.json").write_text(json.dumps(r))
            rng = np.random.default_rng(s)
            np.savez(folder / "predictions.npz", test_logits=rng.normal(size=(40, 2)), test_labels=rng.integers(0, 2, 40))
    summary = build_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## rte" in md and "| span |" in md and "reliability.png" in md
    csv_text = (tmp_path / "report.csv").read_text().splitlines()
    assert csv_text[0].startswith("task,method") and len(csv_text) == 3
    assert json.loads((tmp_path / "report.json").read_text())["tasks"]["rte"]["methods"]["span"]["n_seeds"] == 2
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert summary["meta"]["n_runs"] == 4
    with pytest.raises(FileNotFoundError, match="textmix compare"):
        build_report(tmp_path / "empty")


def write_run(root, folder, r, logits_seed=0):
    path = root / folder
    path.mkdir(parents=True)
    (path / "results.json").write_text(json.dumps(r))
    rng = np.random.default_rng(logits_seed)
    np.savez(path / "predictions.npz", test_logits=rng.normal(size=(20, 2)), test_labels=rng.integers(0, 2, 20))
    return path


def test_a_truncated_results_file_is_named_skipped_and_listed(tmp_path):
    for s in range(2):
        write_run(tmp_path, f"runs/rte/none/seed{s}", result("rte", "none", s, 0.7, 0.1))
    broken = write_run(tmp_path, "runs/rte/span/seed0", result("rte", "span", 0, 0.7, 0.1)) / "results.json"
    broken.write_text(broken.read_text()[:40])
    with pytest.warns(UserWarning, match=f"{broken}.*not valid JSON.*skipped"):
        summary = build_report(tmp_path)
    assert summary["skipped"] == [{"file": str(broken), "reason": summary["skipped"][0]["reason"]}]
    assert "span" not in summary["tasks"]["rte"]["methods"]
    assert str(broken) in (tmp_path / "report.md").read_text()


def configured(task, method, seed, acc, smoothing):
    r = result(task, method, seed, acc, 0.1)
    r["config"] = {"model": {"model_name_or_path": "/somewhere/bert-tiny"},
                   "data": {"task_name": task, "glue_dir": "/data/glue", "max_seq_length": 64},
                   "training": {"mix_method": "none", "label_smoothing_factor": smoothing, "seed": seed,
                                "output_dir": f"runs/{task}/x/seed{seed}", "learning_rate": 1e-4}}
    return r


def test_runs_of_different_configurations_are_never_merged(tmp_path, capsys):
    """Recipe runs of `none` and of label smoothing both stored `method: none` (before the recipe named them):
    the report must not pool them into one row claiming 6 seeds."""
    for s in range(3):
        write_run(tmp_path, f"runs/rte/none/seed{s}", configured("rte", "none", s, 0.70, 0.0), s)
        write_run(tmp_path, f"runs/rte/label_smoothing/seed{s}", configured("rte", "none", s, 0.90, 0.1), 10 + s)
        write_run(tmp_path, f"runs/rte/span/seed{s}", {**configured("rte", "span", s, 0.8, 0.0)}, 20 + s)
    summary = build_report(tmp_path)
    rows = summary["tasks"]["rte"]["methods"]
    assert all(row["n_seeds"] <= 3 for row in rows.values())
    assert "none" not in rows and rows["span"]["n_seeds"] == 3
    (clash,) = summary["clashes"]
    assert (clash["task"], clash["method"]) == ("rte", "none") and len(clash["folders"]) == 6
    assert "training.label_smoothing_factor" in clash["reason"]
    md = (tmp_path / "report.md").read_text()
    assert "## Clashes" in md and "runs/rte/label_smoothing/seed0" in md
    assert main(["report", str(tmp_path)]) == 1
    assert "rte/none" in capsys.readouterr().err


def test_runs_that_differ_only_in_paths_and_seeds_are_one_configuration(tmp_path):
    for s in range(2):
        r = configured("rte", "none", s, 0.7, 0.0)
        r["config"]["model"]["model_name_or_path"] = f"/elsewhere{s}/bert-tiny"
        r["config"]["data"]["glue_dir"] = f"/copy{s}/glue"
        write_run(tmp_path, f"runs/rte/none/seed{s}", r, s)
    summary = build_report(tmp_path)
    assert summary["clashes"] == [] and summary["tasks"]["rte"]["methods"]["none"]["n_seeds"] == 2


def test_the_same_seed_twice_is_a_clash(tmp_path):
    write_run(tmp_path, "runs/rte/none/seed0", configured("rte", "none", 0, 0.7, 0.0))
    write_run(tmp_path, "runs/rte/none/seed0-copy", configured("rte", "none", 0, 0.7, 0.0))
    summary = build_report(tmp_path / "")
    (clash,) = summary["clashes"]
    assert "seed 0" in clash["reason"]


def test_token_classification_runs_are_judged_by_entity_f1():
    """NER runs: the task metric is entity F1, and a run is at chance when its entity F1 is not above the
    margin (answering O everywhere scores 0 at a token accuracy near the majority tag's share)."""
    def token_run(method, f1, acc):
        r = result("wnut17", method, 0, acc, 0.03, majority=0.9256)
        r["problem_type"], r["test"]["entity_f1"] = "token", f1
        return r

    summary = summarise([token_run("none", 0.20, 0.9315), token_run("hidden", 0.0, 0.9256)])
    task = summary["tasks"]["wnut17"]
    assert task["metric"] == "entity_f1" and task["methods"]["none"]["task_metric"] == 0.20
    assert task["methods"]["none"]["at_chance_seeds"] == [] and task["methods"]["hidden"]["at_chance_seeds"] == [0]
    assert summarise([result("sst2", "none", 0, 0.61, 0.1)])["tasks"]["sst2"]["metric"] == "accuracy"
