"""Whether two sweep folders hold the same figures: run by run, figure by figure.

    python tools/same_figures.py A B

For every `results.json` under A (its run named by its path: runs/<task>/<method>/[noise<r>/]seed<n>), the file
at the same path under B; every numeric leaf (numbers, booleans, None where the other has a number; list
items by index) is compared exactly, and so is every array of the run's `predictions.npz`. Left out, as they
differ between two runs of the same computation: the entries in `IGNORED` (times, versions, paths, run keys and
identities, the configuration the run was started with) and non-numeric leaves (texts). Prints one line per
figure (how many runs hold it, how many differ, the largest absolute difference and where) and exits with 1 on
any difference, a figure or run only on one side included.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

IGNORED = {
    "grid_key": "the run key (a hash of the run's inputs and code-side names)",
    "inputs": "how the data was read: the run's identity, not a figure",
    "config": "the arguments the run was started with (argument names change with the code; the figures "
              "show what they did)",
    "this_attempt": "this attempt's steps and time (a resumed run differs)",
    "train_time_s": "time",
    "resumed_from": "a checkpoint path",
    "final_model": "a path",
    "model": "a path",
    "versions": "package versions",
    "device": "the machine",
    "world_size": "the machine",
}
"""Top-level results.json entries that are not figures, and why."""


def leaves(value: object, path: str = "") -> dict[str, object]:
    """{"a/b/c": leaf} for the numeric leaves (and None) of `value`, list items as "name[i]"."""
    if isinstance(value, dict):
        found: dict[str, object] = {}
        for key, item in value.items():
            if not path and key in IGNORED:
                continue
            found.update(leaves(item, f"{path}/{key}" if path else str(key)))
        return found
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in leaves(item, f"{path}[{i}]").items()}
    if value is None or isinstance(value, (bool, int, float)):
        return {path: value}
    return {}


def difference(a: object, b: object) -> float | None:
    """None when `a` and `b` are the same figure (NaN equals NaN), else |a - b| (inf when not comparable)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and type(a) is not bool and type(b) is not bool:
        if a == b or (math.isnan(a) and math.isnan(b)):
            return None
        return abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.inf
    return None if a == b and type(a) is type(b) else math.inf


def arrays(folder: Path) -> dict[str, np.ndarray]:
    path = folder / "predictions.npz"
    if not path.exists():
        return {}
    with np.load(path) as z:
        return {f"predictions.npz:{k}": z[k] for k in z.files}


def array_difference(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None or a.shape != b.shape:
        return math.inf
    if np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
        return None
    return float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def compare(a_dir: Path, b_dir: Path) -> tuple[dict[str, dict], list[str]]:
    """Per figure {runs, differ, max, where}; and the runs found on one side only."""
    figures: dict[str, dict] = {}
    runs_a = {p.relative_to(a_dir) for p in a_dir.rglob("results.json")}
    runs_b = {p.relative_to(b_dir) for p in b_dir.rglob("results.json")}
    alone = [f"only in A: {p.parent}" for p in sorted(runs_a - runs_b)] + [
        f"only in B: {p.parent}" for p in sorted(runs_b - runs_a)]
    for rel in sorted(runs_a & runs_b):
        run = str(rel.parent)
        fa = leaves(json.loads((a_dir / rel).read_text(encoding="utf-8")))
        fb = leaves(json.loads((b_dir / rel).read_text(encoding="utf-8")))
        pa, pb = arrays((a_dir / rel).parent), arrays((b_dir / rel).parent)
        pairs = [(k, difference(fa.get(k, ...), fb.get(k, ...)) if k in fa and k in fb else math.inf)
                 for k in sorted(fa.keys() | fb.keys())]
        pairs += [(k, array_difference(pa.get(k), pb.get(k))) for k in sorted(pa.keys() | pb.keys())]
        for key, diff in pairs:
            figure = figures.setdefault(key, {"runs": 0, "differ": 0, "max": 0.0, "where": ""})
            figure["runs"] += 1
            if diff is not None:
                figure["differ"] += 1
                if diff >= figure["max"]:
                    figure["max"], figure["where"] = diff, run
    return figures, alone


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not all(Path(p).is_dir() for p in argv):
        print("usage: python tools/same_figures.py SWEEP_A SWEEP_B (two sweep folders)", file=sys.stderr)
        return 2
    a_dir, b_dir = map(Path, argv)
    figures, alone = compare(a_dir, b_dir)
    width = max((len(k) for k in figures), default=10)
    for key, f in sorted(figures.items()):
        state = "identical" if not f["differ"] else (
            f"{f['differ']} differ, max |diff| {f['max']:.3g} ({f['where']})" if math.isfinite(f["max"])
            else f"{f['differ']} differ, missing or not comparable on one side ({f['where']})")
        print(f"{key:<{width}}  {f['runs']:>3} runs  {state}")
    print("".join(f"{line}\n" for line in alone), end="")
    differ = [k for k, f in figures.items() if f["differ"]]
    n_runs = max((f["runs"] for f in figures.values()), default=0)
    print(f"{len(figures)} figures over {n_runs} runs in both ({', '.join(sorted(IGNORED))} left out): "
          f"{len(differ)} figures differ, {len(alone)} runs on one side only")
    return 1 if differ or alone else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
