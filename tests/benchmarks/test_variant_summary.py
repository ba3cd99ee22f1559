"""benchmarks/variant_summary.py: pairs come from the grid's method_args; paired changes are per-seed means
(checked against numbers worked out by hand)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("variant_summary", ROOT / "benchmarks" / "variant_summary.py")
variant_summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(variant_summary)


def seeds(*rows):
    return {"per_seed": {str(i): dict(zip(("accuracy", "nll", "smece", "train_time_s"), r, strict=True)) for i, r in enumerate(rows)}}


def test_pairs_and_paired_changes(tmp_path):
    grid = {"methods": ["none", "hidden", "reg", "orphan"],
            "method_args": {"reg": {"mix_method": "hidden", "mix_clean_weight": 1}, "orphan": {"mix_method": "span"}}}
    assert variant_summary.variant_pairs(grid) == [("hidden", "reg")]
    methods = {"none": seeds((0.70, 0.60, 0.05, 10), (0.72, 0.58, 0.07, 10)),
               "hidden": seeds((0.68, 0.62, 0.09, 12), (0.70, 0.60, 0.09, 14)),  # acc -0.02, nll +0.02, smece +0.03
               "reg": seeds((0.71, 0.59, 0.06, 24), (0.73, 0.57, 0.06, 26))}     # acc +0.01, nll -0.01, smece 0.0
    report = {"baseline": "none", "tasks": {"t": {"methods": methods, "baseline_calibration": {"temperature": 0.8}}}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    (tmp_path / "grid.json").write_text(json.dumps(grid))
    row = variant_summary.summary(tmp_path).splitlines()[2].split(" | ")
    assert row[1:3] == ["0.80", "reg (hidden)"]
    assert row[3:6] == ["-0.020 ▼", "+0.010 ▲", "+0.030 ▲"]      # accuracy: plain, variant, variant - plain
    assert row[6:9] == ["+0.020 ▼", "-0.010 ▲", "-0.030 ▲"]      # NLL: lower is better
    assert row[9:12] == ["+0.030 ▼", "0.000", "-0.030 ▲"]       # smooth ECE
    assert row[12] == "1.92 |"                                   # median 25 / median 13

    methods["reg"]["per_seed"]["1"]["smece"] = float("nan")           # a seed without the figure is left out
    (tmp_path / "report.json").write_text(json.dumps(report))
    row = variant_summary.summary(tmp_path).splitlines()[2].split(" | ")
    assert row[9:12] == ["+0.030 ▼", "+0.010 ▼", "-0.030 ▲"]       # variant: seed 0 alone (0.06 - 0.05, 0.06 - 0.09)
