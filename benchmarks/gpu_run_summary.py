"""What `benchmarks/gpu_run.sh` measured about itself: phase times, the sweep's runs, and time per run.

    python benchmarks/gpu_run_summary.py SWEEP_DIR TIMING_TSV --shards N

Prints Markdown: each phase's seconds against its limit; runs planned, done and failed; per run the
median training steps, training time (`train_time_s`) and wall time (the sweep's wall time x shards /
runs done: each shard trains its runs one after the other), and what is not training (loading,
tokenizing, predicting, calibrating, writing: wall - training). These are the terms of the time model
in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def phases(timing: Path) -> dict[str, dict[str, str]]:
    """timing.tsv (phase, limit_s, seconds, exit) as {phase: row}."""
    with open(timing, encoding="utf-8", newline="") as f:
        return {row["phase"]: row for row in csv.DictReader(f, delimiter="\t")}


def run_results(sweep: Path) -> list[dict]:
    """The results.json of every finished run of the sweep."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((sweep / "runs").glob("**/results.json"))]


def planned_runs(sweep: Path) -> int | None:
    """How many runs the sweep's grid.json plans (None without one)."""
    grid = sweep / "grid.json"
    if not grid.exists():
        return None
    from textmix.harness.compare.sweep import parse_sweep

    return len(parse_sweep(json.loads(grid.read_text(encoding="utf-8"))).plan(sweep, fingerprints=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path)
    parser.add_argument("timing", type=Path)
    parser.add_argument("--shards", type=int, required=True)
    args = parser.parse_args()
    times = phases(args.timing)
    print("| phase | seconds | limit (s) | exit |\n|---|---|---|---|")
    for name, row in times.items():
        print(f"| {name} | {row['seconds']} | {row['limit_s']} | {row['exit']} |")
    print(f"| total | {sum(int(r['seconds']) for r in times.values())} | "
          f"{sum(int(r['limit_s']) for r in times.values())} | |")
    results = run_results(args.sweep) if (args.sweep / "runs").is_dir() else []
    # failures.json is written by each shard with its own failures (the last to end wins): count error logs
    failed = sorted(str(p.parent.relative_to(args.sweep / "runs")) for p in (args.sweep / "runs").glob("**/error.log")
                    if not (p.parent / "results.json").exists()) if (args.sweep / "runs").is_dir() else []
    print(f"\nsweep: {len(results)} runs done of {planned_runs(args.sweep)} planned, {len(failed)} failed "
          f"{failed if failed else ''}, {args.shards} shards")
    if not results or "sweep" not in times:
        return
    steps = [r["this_attempt"]["steps"] for r in results]
    train = [r["this_attempt"]["train_time_s"] for r in results]
    wall = int(times["sweep"]["seconds"]) * args.shards / len(results)
    print(f"per run: {statistics.median(steps):.0f} steps (median), training {statistics.median(train):.2f} s "
          f"(median; {statistics.median(t / max(s, 1) for t, s in zip(train, steps, strict=True)) * 1000:.1f} ms a "
          f"step), wall {wall:.1f} s (sweep wall x shards / runs), of which not training "
          f"{wall - statistics.mean(train):.1f} s; device {results[0].get('device')}")
    by_method: dict[str, list[float]] = {}
    for r, t, s in zip(results, train, steps, strict=True):
        by_method.setdefault(r["method"], []).append(t / max(s, 1))
    print("\n| method | ms a training step (median over runs) |\n|---|---|")
    for method, per_step in by_method.items():
        print(f"| {method} | {statistics.median(per_step) * 1000:.1f} |")


if __name__ == "__main__":
    main()
