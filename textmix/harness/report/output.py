"""Writing a report: report.csv, report.json, the pictures, and `build_report` / `write_report` that write them all."""

from __future__ import annotations

import csv
import io
import subprocess
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..runfile import write_atomic, write_json_atomic
from . import reading
from .ensembles import NOTE, build_ensembles
from .markdown import write_markdown
from .summary import summarise
from .views import COLUMNS, CSV_CHANGES, DEFAULT_TEST_SET, INTERVAL_CSV


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _csv_row(label: str, info: dict, method: str, row: dict) -> dict[str, Any]:
    out = {"task": info.get("task", label), "method": method, "label_noise": info.get("label_noise", 0.0),
           "n_seeds": row.get("n_seeds"), "majority_accuracy": info.get("majority_accuracy"),
           "at_chance_seeds": " ".join(map(str, row.get("at_chance_seeds") or [])),
           "incomplete_seeds": " ".join(map(str, row.get("incomplete_seeds") or []))}
    for col in COLUMNS:
        out[col], out[f"{col}_std"] = row.get(col), row.get(f"{col}_std")
    for col in CSV_CHANGES:
        change = row.get(f"{col}_change") or {}
        out[f"{col}_delta"], out[f"{col}_p"] = change.get("delta"), change.get("p_value")
    out["compared_with"] = row.get("compared_with")
    single = row.get("against_single_baseline") or {}  # an ensemble's change against the single baseline too
    for col in INTERVAL_CSV:
        change, alone = row.get(f"{col}_change") or {}, single.get(f"{col}_change") or {}
        out.update({f"{col}_{part}": change.get(part) for part in ("delta", "low", "high")})
        out.update({f"{col}_vs_single_{part}": alone.get(part) for part in ("delta", "low", "high")})
    return out


def write_csv(summary: dict, path: Path) -> None:
    """report.csv: one row per task (and label-noise rate) and method with the summary's figures."""
    with io.StringIO(newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(_csv_row("", {}, "", {})))
        writer.writeheader()
        writer.writerows(_csv_row(label, info, method, row) for label, info in summary["tasks"].items()
                         for method, row in info["methods"].items())
        text = f.getvalue().encode("utf-8")
    write_atomic(path, lambda g: g.write(text))


def write_reliability(results: list[dict], path: Path, summary: dict) -> None:
    """Tasks (rows) x methods (columns) of reliability diagrams, in the summary's order, the bins over the seeds
    pooled (token classification runs: their labelled tokens), each cell's ECE the mean over seeds of its table."""
    from textmix.calibration import reliability_grid

    from .markdown import _fmt

    pooled: dict[tuple[str, str], tuple[list, list]] = {}
    for r in results:
        if (loaded := reading.classifier_predictions(r)) is not None:
            cell = pooled.setdefault((reading.variant(r), r["method"]), ([], []))
            cell[0].append(loaded[0])
            cell[1].append(loaded[1])
    if pooled:
        tasks = list(summary["tasks"])
        methods = list(dict.fromkeys(m for info in summary["tasks"].values() for m in info["methods"]))
        rank = {k: (tasks.index(k[0]) if k[0] in tasks else len(tasks),
                    methods.index(k[1]) if k[1] in methods else len(methods)) for k in pooled}
        grid = {k: (np.concatenate(pooled[k][0]), np.concatenate(pooled[k][1])) for k in sorted(pooled, key=rank.get)}
        rows = {k: summary["tasks"].get(k[0], {}).get("methods", {}).get(k[1]) for k in grid}
        notes = {k: f"ECE {_fmt(row['ece'], row['ece_std'])}\nmean of {row['n_seeds']} seeds" for k, row in rows.items()
                 if row}
        reliability_grid(grid, str(path), notes=notes, title="Reliability on the test set: bins over the seeds "
                         "pooled, ECE the mean over seeds (as in the tables): tasks x methods")


def write_plots(summary: dict, out_dir: Path) -> dict[str, dict[str, str]]:
    """`forest_<claim>.png` for every claim with a verdict row, `shift_<task>.png` for every task with shifted test
    sets and `label_noise_<task>.png` for every task trained at more than one label-noise rate, in `out_dir`;
    returns {"forest": {claim: file}, "shift" | "label_noise": {task: file}}."""
    from ..plots import forest_plot, label_noise_plot, shift_plot

    out: dict[str, dict[str, str]] = {"forest": {}, "shift": {}, "label_noise": {}}
    for claim in dict.fromkeys(r["claim"] for r in summary["verdict"]["rows"]):
        out["forest"][claim] = reading.plot_name("forest", claim)
        forest_plot(claim, [r for r in summary["verdict"]["rows"] if r["claim"] == claim], summary,
                    out_dir / out["forest"][claim])
    by_task: dict[str, list[tuple[float, dict]]] = defaultdict(list)
    for label, info in summary["tasks"].items():
        by_task[info.get("task", label)].append((info.get("label_noise", 0.0), info))
        if info.get("shift"):
            name = reading.plot_name("shift", info.get("task", label), info.get("label_noise", 0.0))
            shift_plot(label, info, out_dir / name, baseline=summary["baseline"])
            out["shift"][label] = name
    for task, variants in by_task.items():
        if len(variants) > 1:
            name = reading.plot_name("label_noise", task)
            label_noise_plot(task, sorted(variants, key=lambda v: v[0]), out_dir / name, baseline=summary["baseline"])
            out["label_noise"][task] = name
    return out


def build_report(sweep_dir: str | Path, baseline: str = "none") -> dict:
    """Rebuild report.md/.csv/.json, reliability.png and the forest, shift and label-noise plots of a sweep from
    its results on disk (see `scan`) and, where the sweep has them, its grid.json, plan.json and failures.json."""
    sweep_dir = Path(sweep_dir)
    results, skipped = reading.scan(sweep_dir)
    if not results:
        if skipped:
            raise FileNotFoundError(f"no readable results under {sweep_dir}/runs: {len(skipped)} results.json "
                                    f"file(s) are damaged ({skipped[0]['file']}: {skipped[0]['reason']}); run "
                                    "`textmix compare` again to redo them.")
        raise FileNotFoundError(f"no results under {sweep_dir}/runs: run `textmix compare` first.")
    skipped = list(skipped)
    order = reading._sweep_file(sweep_dir / "grid.json", dict, "the tables follow the order of the results", skipped)
    failures = reading._sweep_file(sweep_dir / "failures.json", list, "failed runs are not listed", skipped)
    if failures is not None and not all(isinstance(f, dict) for f in failures):
        skipped.append({"file": str(sweep_dir / "failures.json"), "reason": "holds entries that are not mappings; "
                        "failed runs are not listed"})
        failures = None
    plan = reading._sweep_file(sweep_dir / "plan.json", dict, "the report says nothing about skipped methods", skipped)
    reading._check_baseline(baseline, {r["method"] for r in results}, reading._order_names(order or {}, "methods"))
    return write_report(results, sweep_dir, baseline=baseline, order=order, failures=failures or [], skipped=skipped,
                        plan=plan)


def models_line(results: list[dict]) -> str:
    """The models of the runs, each with the tasks it ran on when there are several: "`m` (a, b), `v` (c)"."""
    tasks: dict[str, list[str]] = {}
    for r in results:
        names = tasks.setdefault(str(Path(str(r.get("model"))).name if r.get("model") else "?"), [])
        if r.get("task") not in names:
            names.append(r.get("task"))
    if len(tasks) == 1:
        return f"`{next(iter(tasks))}`"
    return ", ".join(f"`{m}` ({', '.join(map(str, t))})" for m, t in tasks.items())


def write_report(
    results: list[dict],
    out_dir: str | Path,
    baseline: str = "none",
    order: dict | None = None,
    failures: list[dict] | None = None,
    source: str = "`textmix report`",
    test_set: str = DEFAULT_TEST_SET,
    skipped: list[dict[str, str]] | None = None,
    plan: dict | None = None,
) -> dict:
    """Write report.md/.csv/.json, reliability.png and the shift and label-noise plots into `out_dir` from runs'
    results.json dicts (each with `task`, `method`, `seed`, and `_folder` where its predictions.npz is). Cells whose
    runs clash are left out and listed, as are `failures` (failed runs) and `skipped` (files that did not load);
    `order`, `plan`, `test_set`: see `summarise`; `source` names the command in report.md. Returns the summary
    (report.json)."""
    import textmix

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    first = results[0] if results else {}
    results, clashes = reading.find_clashes(results)
    results, incomplete = reading.split_incomplete(results)
    skipped = [*(skipped or []), *reading.check_predictions(results)]
    ensembles, not_ensembled = build_ensembles(results, out_dir)
    skipped += not_ensembled
    summary = summarise([*results, *ensembles], baseline=baseline, order=order, plan=plan, test_set=test_set)
    summary["ensemble_note"] = NOTE if ensembles else None
    for label, info in summary["tasks"].items():  # the seeds left out of each row's means
        for method, row in info["methods"].items():
            row["incomplete_seeds"] = [r["seed"] for r in incomplete if (r["task"], r["method"]) == (label, method)]
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "textmix": textmix.__version__,
            "commit": _git_commit(), "model": models_line(results) or first.get("model"), "n_runs": len(results),
            "versions": first.get("versions"), "source": source, "test_set": test_set}
    summary["meta"], summary["failures"] = meta, failures or []
    summary["clashes"], summary["skipped"] = clashes, list(skipped or [])
    summary["incomplete"] = incomplete
    summary["plots"] = write_plots(summary, out_dir)
    write_markdown(summary, out_dir / "report.md", meta)
    write_csv(summary, out_dir / "report.csv")
    write_reliability(results, out_dir / "reliability.png", summary)
    write_json_atomic(out_dir / "report.json", summary)
    return summary
