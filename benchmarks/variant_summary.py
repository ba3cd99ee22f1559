"""Each method variant of a sweep (a `method_args` entry that sets `mix_method` to another method of the grid:
RegMixup's clean loss, attention label weights) beside its plain method, per task, by the baseline's fitted
temperature; printed as a markdown table (docs/results.md pastes it).

    python benchmarks/variant_summary.py SWEEP_DIR   # after `textmix report SWEEP_DIR`

Per task and pair: the baseline's temperature (below 1: under-confident), the plain method's and the variant's
mean paired change against the baseline over the same seeds (accuracy, NLL, smooth ECE: the report's figures),
the variant's paired change against its plain method, and the ratio of their median training times.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

FIGURES = (("accuracy", "Δ acc.", 1), ("nll", "Δ NLL", -1), ("smece", "Δ smECE", -1))


def variant_pairs(grid: dict) -> list[tuple[str, str]]:
    """(plain, variant) for every grid method whose `mix_method` names another method of the grid."""
    methods = grid.get("methods", [])
    return [(args["mix_method"], name) for name, args in (grid.get("method_args") or {}).items()
            if name in methods and args.get("mix_method") in methods and args["mix_method"] != name]


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def paired(rows: dict, a: str, b: str, key: str) -> float | None:
    """Mean of b - a over the seeds where both have a finite figure (None: no such seed)."""
    sa, sb = rows[a]["per_seed"], rows[b]["per_seed"]
    diffs = [sb[s][key] - sa[s][key] for s in sa if s in sb and _finite(sa[s].get(key)) and _finite(sb[s].get(key))]
    return statistics.fmean(diffs) if diffs else None


def cell(value: float | None, sign: int) -> str:
    if value is None:
        return "–"
    if abs(value) < 5e-4:
        return "0.000"
    return f"{value:+.3f}{' ▲' if value * sign > 0 else ' ▼'}"  # ▲ better, ▼ worse


def time_ratio(rows: dict, plain: str, variant: str) -> str:
    times = [[s.get("train_time_s") for s in rows[m]["per_seed"].values()] for m in (plain, variant)]
    if not all(t and all(_finite(x) for x in t) for t in times):
        return "–"
    return f"{statistics.median(times[1]) / statistics.median(times[0]):.2f}"


def summary(sweep: Path) -> str:
    report = json.loads((sweep / "report.json").read_text(encoding="utf-8"))
    grid = json.loads((sweep / "grid.json").read_text(encoding="utf-8"))
    baseline = report.get("baseline", "none")
    head = ["task", "baseline T", "variant (of plain)"]
    for _, label, _ in FIGURES:
        head += [f"{label} plain", f"{label} variant", f"{label} variant − plain"]
    lines = ["| " + " | ".join(head + ["time variant / plain"]) + " |", "|" + "---|" * (len(head) + 1)]
    for task, info in report["tasks"].items():
        rows = info["methods"]
        temperature = (info.get("baseline_calibration") or {}).get("temperature")
        for plain, variant in variant_pairs(grid):
            if not {plain, variant, baseline} <= set(rows):
                continue
            line = [task, f"{temperature:.2f}" if temperature else "–", f"{variant} ({plain})"]
            for key, _, sign in FIGURES:
                line += [cell(paired(rows, baseline, plain, key), sign), cell(paired(rows, baseline, variant, key), sign),
                         cell(paired(rows, plain, variant, key), sign)]
            lines.append("| " + " | ".join(line + [time_ratio(rows, plain, variant)]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path)
    args = parser.parse_args()
    if not (args.sweep_dir / "report.json").is_file():
        sys.exit(f"{args.sweep_dir}/report.json not found: run `textmix report {args.sweep_dir}` first.")
    print(summary(args.sweep_dir))


if __name__ == "__main__":
    main()
