"""Claims and figures are declared once: a claim added as one row reaches the verdict table and report.md."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ttest_rel

from textmix.harness.figures import FIGURE
from textmix.harness.report import claims, write_report
from textmix.harness.report.claims import CLAIMS, Claim, check_claims

from .test_report import verdict_grids

COVERAGE = {"none": (0.80, 0.82, 0.81), "mixup": (0.90, 0.93, 0.91)}


def run(method, seed):
    return {"task": "rte", "method": method, "seed": seed, "problem_type": "classification",
            "test_majority_accuracy": 0.5,
            "test": {"accuracy": 0.8, "ece": 0.1, "nll": 0.5, "accuracy_at_coverage_80": COVERAGE[method][seed]}}


@pytest.fixture
def throwaway_claim(monkeypatch):
    claim = Claim("selective accuracy", ("accuracy_at_coverage_80",), "higher", "columns",
                  "accuracy on the 80 % most confident test predictions")
    monkeypatch.setattr(claims, "CLAIMS", check_claims((*CLAIMS, claim)))
    return claim


def test_a_claim_row_registered_is_judged_in_the_verdict_table(tmp_path, throwaway_claim):
    summary = write_report([run(m, s) for m in COVERAGE for s in range(3)], tmp_path)
    assert summary["verdict"]["claims"][-1] == "selective accuracy"
    (row,) = [r for r in summary["verdict"]["rows"] if r["claim"] == "selective accuracy"]
    assert row["task"] == "rte" and row["better"] == "higher" and not row["hurts"] and not row["no_change"]
    (entry,) = row["helps"]
    diffs = np.subtract(COVERAGE["mixup"], COVERAGE["none"])
    assert entry["method"] == "mixup" and entry["delta"] == pytest.approx(diffs.mean())
    assert entry["p_value"] == pytest.approx(ttest_rel(COVERAGE["mixup"], COVERAGE["none"]).pvalue)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert verdict_grids(md)["selective accuracy"] == {"mixup": {"rte": f"▲ {diffs.mean():+.4f}"}}
    label = FIGURE["accuracy_at_coverage_80"].label
    assert f"| {label} Δ | {label} 95% interval | {label} p |" in md
    assert f"| rte | mixup | ▲ helps | {diffs.mean():+.4f} | – | {entry['p_value']:.3f} |" in md
    assert "**selective accuracy**: accuracy on the 80 % most confident test predictions" in md


def test_the_claims_are_one_tuple_in_the_verdict_table_order():
    assert isinstance(CLAIMS, tuple) and [c.name for c in CLAIMS] == ["calibration", "calibration after temperature scaling",
                                             "corruption robustness", "occlusion robustness",
                                             "calibration under natural shift", "label-noise tolerance"]


@pytest.mark.parametrize("kwargs,message", [
    ({"better": "up"}, "use 'lower' or 'higher'"),
    ({"evidence": "vibes"}, "use 'columns', 'shift' or 'natural shift'"),
    ({"metrics": ("accuracy_at_coverage_99",)}, "no report columns"),
    ({"evidence": "shift"}, "needs `shift_kinds`"),
])
def test_a_bad_claim_row_is_an_error_naming_the_fix(kwargs, message):
    fields = {"name": "x", "metrics": ("accuracy",), "better": "higher", "evidence": "columns", "text": "x", **kwargs}
    with pytest.raises(ValueError, match=message):
        Claim(**fields)


def test_a_claim_name_is_declared_once():
    with pytest.raises(ValueError, match="declared more than once"):
        check_claims((*CLAIMS, Claim("calibration", ("accuracy",), "higher", "columns", "again")))


OLD_HEADER = ("| method | {m} | Δ {m} |{acc} ECE | Δ ECE | ECE (TS) | smECE | smECE (TS) | MCE | adaptive ECE | Brier | NLL "
              "| AURC | acc@80% cov. | train time (s) |")
"""report.md's per-method table header as it was hand-written before the figures were declared as rows."""


@pytest.mark.parametrize("task,metric", [("rte", "accuracy"), ("mrpc", "f1")])
def test_the_table_header_derived_from_the_figure_rows_is_the_hand_written_one(tmp_path, task, metric):
    runs = [{**run(m, s), "task": task, "config": {"data": {"task_name": task}}} for m in COVERAGE for s in range(3)]
    for r in runs:
        r["test"]["f1"] = 0.7
    write_report(runs, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8").splitlines()
    header = OLD_HEADER.format(m=metric, acc="" if metric == "accuracy" else " accuracy |")
    at = md.index(header)
    assert md[at + 1] == "|" + "---|" * header.count(" | ") + "---|"
    assert md[at + 3].startswith("| mixup | ") and md[at + 3].count(" | ") == header.count(" | ")
