"""Report figures against numpy/scipy recomputations on synthetic results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import ttest_rel

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
