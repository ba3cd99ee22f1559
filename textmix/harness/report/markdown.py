"""report.md: the verdict, per task its tables, recommendation and shift table, then the pictures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..figures import FIGURE
from ..runfile import write_atomic
from . import claims, views
from .intervals import LEVEL
from .statistics import _severity_key, judge


def _fmt(mean: float, std: float, digits: int = 4) -> str:
    """`mean ± std`; the mean alone where the std is undefined (one seed)."""
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _num(value: float | None, digits: int = 4) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _p(p: float) -> str:
    return "–" if math.isnan(p) else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _change(change: dict | None, digits: int = 4) -> str:
    if not change or math.isnan(change["delta"]):
        return ""
    p = "" if math.isnan(change["p_value"]) else f" (p={change['p_value']:.2f})"
    return f"{change['delta']:+.{digits}f}{p}"


def _label(metric: str) -> str:
    return FIGURE[metric].label if metric in FIGURE else metric


def _signed(value: float) -> str:
    return "–" if math.isnan(views.number(value)) else f"{value:+.4f}"


def _interval(change: dict) -> str:
    """`[low, high] ±half-width` of a change's bootstrap interval, `(1 seed)` when it is over test examples only."""
    if math.isnan(views.number(change.get("low"))):
        return "–"
    return (f"[{change['low']:+.4f}, {change['high']:+.4f}] ±{change['detectable']:.4f}"
            + (" (1 seed)" if change.get("n") == 1 else ""))


def _change_text(metric: str, change: dict) -> str:
    """`<label> <change> [<interval>]`."""
    interval = "" if math.isnan(views.number(change.get("low"))) else f" [{change['low']:+.4f}, {change['high']:+.4f}]"
    return f"{_label(metric)} {change['delta']:+.4f}{interval}"


def _calibration_text(calibration: dict[str, Any], missing: str, sep: str) -> str:
    """The baseline's temperature (`missing`, or marked as the search bound), direction, confidence and accuracy."""
    t, bound = calibration["temperature"], calibration.get("bound_seeds")
    shown = missing if math.isnan(t) else f"{t:.2f}"
    if calibration.get("all_at_bound", calibration["at_bound"] and bound is None):
        shown += " (the search bound, not a fit)"
    elif bound:
        shown += (f" (the mean of the fitted seeds; seed{'s' if len(bound) > 1 else ''} "
                  f"{', '.join(map(str, bound))} hit the search bound)")
    return (f"temperature {shown} ({calibration['direction']}){sep} mean confidence "
            f"{_num(calibration['mean_confidence'], 3)} vs accuracy {_num(calibration['accuracy'], 3)}")


def baseline_line(baseline: str, calibration: dict[str, Any]) -> str:
    """report.md's line on the direction of a task's baseline miscalibration."""
    return f"Baseline `{baseline}`: {_calibration_text(calibration, 'not recorded', ',')}."


def _entries(row: dict, summary: dict) -> list[tuple[str, str, dict]]:
    """(row name, verdict, entry) of a verdict row's methods, in the tables' method order."""
    info = summary["tasks"][row["task"]]
    found = [(views.compared_with(e, info, summary["baseline"]), v, e) for v, e in views.judged(row)]
    return sorted(found, key=lambda x: views.rank(summary, x[2]["method"]))


def _grid_lines(claim: claims.Claim, rows: list[dict], summary: dict) -> list[str]:
    """A claim's verdict grid: methods x tasks, each cell the verdict's symbol and the change in the headline figure."""
    header, cells, rank, stand_in = [], {}, {}, {}
    for row in rows:
        entries = _entries(row, summary)
        headline = next(iter(entries[0][2]["metrics"]), claim.metrics[0]) if entries else claim.metrics[0]
        if headline != claim.metrics[0]:
            stand_in.setdefault(_label(headline), []).append(row["task"])
        header.append(row["task"] + (" ⚠" if row["baseline_at_chance"] else ""))
        for name, verdict, entry in entries:
            rank.setdefault(name, views.rank(summary, entry["method"]))
            cells.setdefault(name, {})[row["task"]] = f"{views.VERDICT_MARKS[verdict]} {_signed(entry['delta'])}"
    labels = [_label(m) for m in claim.metrics]
    agree = f"; ▲ or ▼ only where {', '.join(labels[:-1])} and {labels[-1]} agree" if len(labels) > 1 else ""
    forest = (summary.get("plots") or {}).get("forest", {}).get(claim.name)
    instead = "".join(f"; {label} on {', '.join(tasks)}, whose results lack it" for label, tasks in stand_in.items())
    return [f"### {claim.name}", "",
            f"Change in {_label(claim.metrics[0])}{instead} against `{summary['baseline']}` ({claim.better} is better)"
            f"{agree}.",
            "", "| method | " + " | ".join(header) + " |", "|---|" + "---|" * len(rows),
            *(f"| {name} | " + " | ".join(by_task.get(r["task"], "–") for r in rows) + " |"
              for name, by_task in sorted(cells.items(), key=lambda x: rank[x[0]])), "",  # stable: ties keep their order
            *([f"![forest plot: {claim.name}]({forest})", ""] if forest else [])]


def _details_lines(claim: claims.Claim, rows: list[dict], summary: dict) -> list[str]:
    """A claim's details: per task and method each judged figure's change, interval and p-value; an ensemble
    compared with another row also against the single baseline (its `against_single_baseline`)."""
    metrics = list(dict.fromkeys(k for row in rows for _, e in views.judged(row) for k in e["metrics"]))
    header = ["task", "method", "verdict"]
    header += [f"{_label(m)} {part}" for m in metrics for part in ("Δ", f"{LEVEL:.0%} interval", "p")]
    lines = [f"**{claim.name}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def line(task: str, name: str, verdict: str, changes: dict) -> str:
        cells = [task, name, f"{views.VERDICT_MARKS[verdict]} {views.VERDICT_WORDS[verdict]}"]
        for m in metrics:
            c = changes.get(m)
            cells += ["–"] * 3 if c is None else [_signed(c["delta"]), _interval(c), _p(c["p_value"])]
        return "| " + " | ".join(cells) + " |"

    for row in rows:
        for name, verdict, entry in _entries(row, summary):
            lines.append(line(row["task"], name, verdict, entry["metrics"]))
            single = summary["tasks"][row["task"]]["methods"].get(entry["method"], {}).get("against_single_baseline")
            changes = {m: c for m in metrics if (c := (single or {}).get(f"{m}_change")) and c.get("n")}
            if changes and name != entry["method"] and verdict != "at_chance":
                judged = {judge(c, claim.better) for c in changes.values()}
                alone = judged.pop() if len(judged) == 1 else "unclear"
                lines.append(line(row["task"], f"{entry['method']} vs {single['compared_with']}",
                                  alone if alone in ("helps", "hurts") else "no_change", changes))
    return [*lines, ""]


def _use_where_lines(summary: dict) -> list[str]:
    """Per task: the recommendation, how it fared against the baseline + temperature scaling, the baseline."""
    base = summary["baseline"]
    lines = ["### What to use where", "",
             f"| task | recommended (chosen on validation) | on test, against `{base}` + temperature scaling | "
             f"baseline `{base}` |", "|---|---|---|---|"]
    for task, info in summary["tasks"].items():
        chosen = info.get("recommended")
        pick = ("no method learned (every method is at chance)" if info["all_at_chance"] else
                f"**{chosen['method']}**" if chosen else f"– ({info.get('recommendation_note') or 'none eligible'})")
        against = (chosen or {}).get("against_baseline_ts") or {}
        verdict, changes = against.get("verdict"), against.get("changes") or {}
        versus = (f"is `{base}` itself" if verdict == "is the baseline" else
                  f"{verdict}: {_change_text(*next(iter(changes.items())))}" if changes else "–")
        calibration = info.get("baseline_calibration")
        beside = _calibration_text(calibration, "–", ";") if calibration else "–"
        if info["methods"].get(base, {}).get("at_chance_seeds"):
            beside = f"⚠ at chance; {beside}"
        lines.append(f"| {task} | {pick} | {versus} | {beside} |")
    return [*lines, ""]


def _legend_lines(summary: dict) -> list[str]:
    """What every symbol of the grids, the details and the task tables means."""
    ensembles = any("(ensemble of" in m for info in summary["tasks"].values() for m in info["methods"])
    return ["Reading the grids:", "",
            "- **▲ helps / ▼ hurts**: the change is on the better (worse) side of 0 for every figure the claim is "
            "judged on (by the whole interval, or without predictions by the paired t-test, p < "
            f"{summary['verdict']['alpha']}); the number is the mean paired change in the headline figure, over "
            "the seeds both rows have.",
            "- **· unclear**: neither; not evidence of no effect (the details give the smallest change each "
            "interval could detect, ±).",
            f"- **⚠ at chance**: the method has seeds whose accuracy does not beat the majority class by more than "
            f"{views.CHANCE_MARGIN:.2f}; its figures are no evidence either way. After a task's name: the baseline "
            "has such seeds. `⚠ 2/3` in a task's table: 2 of its 3 seeds.",
            "- **–**: no figure: the method has no runs on the task, or a p-value is undefined (one seed, or the "
            "same change on every seed).",
            "- **(1 seed)**: the interval of a cell with one seed resamples the test examples only; it leaves out "
            "how much another seed would change the figure, so it is narrower than an interval over seeds.",
            *(["- **<method> (ensemble of k)**: the mean of the predicted probabilities of the method's k seeds, "
               "scored as one model: no training. **A vs B**: the row is compared with B instead of the "
               "baseline."] if ensembles else []),
            "- Forest plots: the same changes with their 95 % intervals (the bootstrap's, or the paired t-test's "
            "where there are no predictions); a hollow point has no interval. Each task's title gives the "
            "baseline's fitted temperature.", ""]


def _verdict_lines(summary: dict) -> list[str]:
    judged = summary["verdict"]
    base, alpha = summary["baseline"], judged["alpha"]
    seeds = [row["n_seeds"] for info in summary["tasks"].values() for row in info["methods"].values()]
    low, high = (min(seeds), max(seeds)) if seeds else (0, 0)  # seeds per cell
    lines = ["## Does mixing do what it is said to do?", "",
             f"Per task the recommendation, then per claim a grid of every method against the baseline `{base}` "
             "over the same seeds, with its forest plot; the figures behind each cell are in the details below.", ""]
    lines += _use_where_lines(summary)
    by_claim = {c.name: (c, [r for r in judged["rows"] if r["claim"] == c.name]) for c in claims.CLAIMS}
    by_claim = {name: (c, rows) for name, (c, rows) in by_claim.items() if rows}
    if not by_claim:
        return [*lines, "No claim has data here (it needs a baseline and another method on the same task).", ""]
    for claim, rows in by_claim.values():
        lines += _grid_lines(claim, rows, summary)
    lines += _legend_lines(summary)
    lines += ["Claims: " + "; ".join(f"**{c.name}**: {c.text}" for c in claims.CLAIMS) + ".",
              "",
              f"Mixing is often said to calibrate; whether it helps depends on which way the baseline is off: "
              f"a temperature above {views.OVERCONFIDENT_T} means the baseline was over-confident (softening helps), "
              f"below {views.UNDERCONFIDENT_T} under-confident (softening, as mixing does, makes it worse). The baseline "
              "column of \"What to use where\" says which, per task, so no row reads as a universal law.",
              "",
              f"With few seeds the test has little power: with n seeds the paired t-test has n − 1 degrees of "
              f"freedom, so with 2 seeds p-values are coarse and a real effect seldom reaches p < {alpha}; "
              f"'unclear' is not evidence of no effect: the ± beside an interval is the smallest change it could "
              f"have detected. Seeds per cell here: {low if low == high else f'{low} to {high}'}.",
              "", _recommended_vs_ts_summary(summary), "",
              "### Details", "",
              f"Where the runs' predictions are on disk, each change has a {LEVEL:.0%} interval from a paired, "
              "hierarchical bootstrap (the seeds, then the test examples, the same resamples for every method): "
              "a method helps (hurts) where the whole interval lies on the better (worse) side of 0, and is "
              "unclear otherwise; ± is the smallest change that interval could tell from none (its half-width). "
              "An interval of a cell with one seed resamples the test examples only. "
              f"Without predictions the paired t-test over seeds decides (p < {alpha}, by the sign). A claim judged "
              "on several figures helps or hurts only where all of them agree. p: the paired t-test over seeds.", ""]
    for claim, rows in by_claim.values():
        lines += _details_lines(claim, rows, summary)
    return lines


def _recommended_vs_ts_summary(summary: dict) -> str:
    """report.md's count of tasks where the recommended method beat the baseline + temperature scaling on test."""
    base = summary["baseline"]
    verdicts = [(info.get("recommended") or {}).get("against_baseline_ts", {}).get("verdict")
                for info in summary["tasks"].values()]
    judged = [v for v in verdicts if v in ("beat", "lost", "unclear")]
    if not judged:
        return (f"Recommended method against `{base}` + temperature scaling: no task has a recommendation other "
                f"than `{base}` with the test figures after scaling to compare.")
    return (f"**The recommended method (chosen on validation) beat `{base}` + temperature scaling on the test set "
            f"on {judged.count('beat')} of {len(judged)} tasks** (by the interval of the NLL after scaling), lost on {judged.count('lost')} and was unclear on {judged.count('unclear')}"
            + (f"; on {verdicts.count('is the baseline')} more the recommendation is `{base}` itself"
               if "is the baseline" in verdicts else "") + ".")


def _versus_ts_line(chosen: dict, baseline: str) -> str:
    """One task's line: did its recommendation beat `baseline` + temperature scaling on test, by how much."""
    against = chosen.get("against_baseline_ts") or {}
    verdict = against.get("verdict")
    if verdict in (None, "unknown"):
        return ""
    if verdict == "is the baseline":
        return f" Against `{baseline}` + temperature scaling: the recommendation is `{baseline}` itself."
    parts = [_change_text(metric, c) for metric, c in against["changes"].items()]
    word = {"beat": "beat", "lost": "lost to", "unclear": "did not clearly beat"}[verdict]
    return f" On the test set it {word} `{baseline}` + temperature scaling: " + "; ".join(parts) + "."


def _recommendation_line(info: dict) -> str:
    chosen = info.get("recommended")
    if not chosen:
        return f"No recommendation: {info.get('recommendation_note') or 'no method is eligible'}."
    test, metric = chosen["test"], info.get("metric", "accuracy")
    figures = [] if metric == "accuracy" else [f"{metric} {_fmt(test['task_metric'], test['task_metric_std'])}"]
    figures += [f"accuracy {_fmt(test['accuracy'], test['accuracy_std'])}", f"ECE {_fmt(test['ece'], test['ece_std'])}",
                f"ECE after temperature scaling {_fmt(test['ece_ts'], test['ece_ts_std'])}"]
    return (f"Recommended: **{chosen['method']}**, chosen on validation NLL after temperature scaling "
            f"({_fmt(chosen['validation_nll_ts'], chosen['validation_nll_ts_std'])}; methods at chance are not "
            f"eligible, and the test set plays no part in the choice). Its test figures: {', '.join(figures)}."
            + _versus_ts_line(chosen, info.get("baseline", "none"))
            + (f" Calibrated model to ship (its seed with the lowest validation NLL, the validation temperature "
               f"folded into its head): `{chosen['calibrated_model']}`." if chosen.get("calibrated_model") else ""))


def _shift_cell(figures: dict) -> str:
    """One cell of the shift table: the figures of `SHIFT_SHOWN`, `a / b / c`."""
    return " / ".join(_num(figures.get(k, math.nan)) for k in views.SHIFT_SHOWN)


def _shift_lines(label: str, shift: dict, baseline: str) -> list[str]:
    severities = sorted({s for k in shift["kinds"] for s in shift["severities"][k]}, key=_severity_key)
    shown = " / ".join(FIGURE[k].label for k in views.SHIFT_SHOWN)
    lines = [f"### {label}: distribution shift", "",
             f"{shown[:1].upper()}{shown[1:]} (the temperature fitted on the clean validation split; "
             "mean over seeds) on corrupted copies of the test set, by kind and severity; severity 0 "
             f"is the clean test set. Δ accuracy: the accuracy averaged over the kind's severities, mean paired change "
             f"against `{baseline}` over the same seeds (p-value of the paired t-test).", "",
             "| kind | method | 0 (clean) | " + " | ".join(severities) + " | Δ accuracy |",
             "|---|---|---|" + "---|" * len(severities) + "---|"]
    for kind in shift["kinds"]:
        for method, per_kind in shift["methods"].items():
            cells = per_kind.get(kind)
            if not cells:
                continue
            row = [_shift_cell(shift.get("clean", {}).get(method, {}))]
            row += ["" if cells.get(severity) is None else _shift_cell(cells[severity]) for severity in severities]
            change = shift["change"].get(method, {}).get(kind, {}).get("accuracy")
            lines.append(f"| {kind} | {method} | " + " | ".join(row) + f" | {_change(change)} |")
    return [*lines, ""]


def _natural_lines(label: str, natural: dict) -> list[str]:
    """A task's natural-shift table: per method and set, mean ± std over seeds of `NATURAL_SHIFT`."""
    sets = ", ".join(f"`{name}` ({what})" for name, what in natural["sets"].items())
    lines = [f"### {label}: natural shift", "",
             f"The test sets from other sources with the same labels: {sets}; mean ± std over seeds (the temperature "
             "is not applied). The claim \"calibration under natural shift\" averages them per seed.", "",
             "| method | set | " + " | ".join(FIGURE[n].short or FIGURE[n].label for n in views.NATURAL_SHIFT) + " |",
             "|---|---|" + "---|" * len(views.NATURAL_SHIFT)]
    for method, by_set in natural["methods"].items():
        for name, figures in by_set.items():
            cells = [_fmt(figures[n], figures[f"{n}_std"], FIGURE[n].digits) for n in views.NATURAL_SHIFT]
            lines.append(f"| {method} | {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _method_table(info: dict, metric: str) -> list[str]:
    """A task's table: one row per method, mean ± std over seeds of `TABLE` (less a column whose header repeats
    the task metric), each of `TABLE_CHANGES` followed by its change against the baseline."""
    columns = [n for n in views.TABLE if n == "task_metric" or FIGURE[n].short != metric]
    header = ["method"]
    for n in columns:
        name = FIGURE[n].short.format(metric=metric)
        header += [name, f"Δ {name}"] if n in views.TABLE_CHANGES else [name]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, row in info["methods"].items():
        mark = f" ⚠ {len(row['at_chance_seeds'])}/{row['n_seeds']}" if row["at_chance_seeds"] else ""
        cells = [f"{method}{mark}{_seeds_note(row)}"]
        for n in columns:
            cells.append(_fmt(row[n], row[f"{n}_std"], FIGURE[n].digits))
            if n in views.TABLE_CHANGES:
                cells.append(_change(row.get(f"{n}_change")))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _task_lines(task: str, info: dict, summary: dict, meta: dict) -> list[str]:
    """report.md's section of one task: test set, notes, baseline calibration, recommendation, tables."""
    lines: list[str] = []
    maj = info["majority_accuracy"]
    metric = info.get("metric") or views.task_metric({"task": task})
    lines += [f"## {task}", "", f"Test set: {info.get('test_set') or meta.get('test_set', views.DEFAULT_TEST_SET)}."]
    if info.get("skipped_methods"):
        lines.append("Methods skipped on this task: "
                     + ", ".join(f"{m} ({why})" for m, why in info["skipped_methods"].items()) + ".")
    if info.get("label_noise"):
        flipped = info.get("label_noise_flipped")
        lines.append(f"Trained with label noise: a share of {info['label_noise']:g} of the training labels "
                     f"flipped{'' if flipped is None else f' ({flipped} per run)'}; the test set is clean.")
    lines += [("" if maj is None else f"Majority-class accuracy: {maj:.4f}." if info.get("chance_rule") !=
               "entity_f1" else f"Majority-class accuracy (share of the most frequent tag, over labelled "
               f"tokens): {maj:.4f}.")]
    if info.get("baseline_calibration"):
        lines.append(baseline_line(summary["baseline"], info["baseline_calibration"]))
    if "recommended" in info:
        lines.append(_recommendation_line(info))
    if info["all_at_chance"] or not info.get("best"):
        lines += ["No method learned on this task (every method is at chance): none is named best.", ""]
    else:
        best = "; ".join(f"best {metric if n == 'task_metric' else FIGURE[n].label}: **{info['best'][n]}**"
                         for n in views.BEST)
        lines += [best[:1].upper() + best[1:] + ".", ""]
    lines += _method_table(info, metric)
    lines.append("")
    if info.get("shift"):
        lines += _shift_lines(task, info["shift"], summary["baseline"])
    if info.get("natural_shift"):
        lines += _natural_lines(task, info["natural_shift"])
    return lines


def _section(title: str, intro: str, items: list[str]) -> list[str]:
    return [f"## {title}", "", *([intro, ""] if intro else []), *items, ""]


def _appendix_lines(summary: dict) -> list[str]:
    """report.md after the tasks: the pictures, clashes, incomplete runs, skipped files, failed runs."""
    lines = _section("Reliability diagrams", "Tasks (rows) x methods (columns): the bins over the test "
                     "predictions of all seeds pooled; each cell's ECE is its table's, the mean over seeds.",
                     ["![reliability diagrams](reliability.png)"])
    plots = summary.get("plots") or {}
    if plots.get("forest"):
        lines += _section("Forest plots", "Per claim, shown under its verdict grid: each method's change in the claim's "
                          "headline figure with its 95 % interval, per task.",
                          [f"- [{claim}]({name})" for claim, name in plots["forest"].items()])
    if plots.get("shift"):
        lines += _section("Distribution shift plots", "Per task, after Ovadia et al. (2019): one column per shift kind, "
                          "accuracy (top) and ECE (bottom) against severity (0: the clean test set), one line per method, "
                          "mean ± std over seeds (shaded).",
                          [f"![{task}: distribution shift]({name})" for task, name in plots["shift"].items()])
    if plots.get("label_noise"):
        lines += _section("Label noise plots", "Per task trained at several label-noise rates: test accuracy and ECE "
                          "against the rate of flipped training labels, one line per method, mean ± std over seeds.",
                          [f"![{task}: label noise]({name})" for task, name in plots["label_noise"].items()])
    if summary.get("clashes"):
        lines += _section("Clashes", "Runs that claim the same task and method but differ in configuration or repeat "
                          "a seed: never pooled, left out of the tables and diagrams above. Move one set away, or re-run "
                          "them so that their method names say what differs.",
                          [f"- {c['task']} / {c['method']}: {c['reason']}; runs: " + ", ".join(f"`{f}`" for f in c["folders"])
                           for c in summary["clashes"]])
    if summary.get("incomplete"):
        lines += _section("Incomplete runs", "Runs with a missing or non-finite figure: left out of the means, changes "
                          "and diagrams above (the rows they belong to say how many seeds are left). Run them again, or "
                          "look at their run.log.", [f"- {r['task']} / {r['method']} / seed {r['seed']}: {r['reason']} "
                                                     f"(`{r['folder']}`)" for r in summary["incomplete"]])
    if summary.get("skipped"):
        lines += _section("Skipped files", "", [f"- `{s['file']}`: {s['reason']}" for s in summary["skipped"]])
    if summary.get("failures"):
        lines += _section("Failed runs", "", [f"- {f.get('task')} / {f.get('method')} / seed {f.get('seed')}: "
                                              f"{f.get('error')}" + (f" (traceback: `{f['log']}`)" if f.get("log") else "")
                                              for f in summary["failures"]])
    return lines


def write_markdown(summary: dict, path: Path, meta: dict) -> None:
    """report.md: the verdict; per task its test set, baseline calibration, recommendation and a table of
    methods (mean ± std over seeds, change against the baseline), and its shift table; then the pictures."""
    lines = [
        "# Calibration comparison",
        "",
        f"Generated by {meta.get('source', '`textmix report`')} on {meta['date']} (textmix {meta['textmix']}, "
        f"commit {meta['commit']}).",
        f"Model: {meta['model']}; {meta['n_runs']} runs; baseline `{summary['baseline']}`. "
        "Each task says what its test set is.",
        "Figures: mean ± std over seeds (a cell of one seed: its figure alone, no std). Change: mean paired difference against the baseline over the same "
        "seeds, with the paired t-test's p-value. ECE: 15 equal-width bins; ECE (TS): after temperature "
        "scaling fitted on the validation split; smECE: smooth ECE (Błasiok & Nakkiran 2023: kernel-smoothed, no "
        "bins; consistent where binned ECE is not), (TS) after temperature scaling. AURC: area under the risk-coverage curve (lower is better); "
        "acc@80% cov.: accuracy on the 80 % most confident predictions. ⚠ marks methods with seeds whose "
        f"accuracy does not beat the majority class by more than {views.CHANCE_MARGIN:.2f}"
        + (f" (token classification: whose entity F1 is not above {views.CHANCE_MARGIN:.2f}; there accuracy, ECE, "
           "Brier and NLL are over the labelled tokens, and the majority class is the most frequent tag)"
           if any(i.get("chance_rule") == "entity_f1" for i in summary["tasks"].values()) else "")
        + ": their calibration is no evidence.",
        "",
    ]
    if "verdict" in summary:
        lines += _verdict_lines(summary)
    for task, info in summary["tasks"].items():
        lines += _task_lines(task, info, summary, meta)
    lines += _appendix_lines(summary)
    text = "\n".join(lines).encode("utf-8")
    write_atomic(path, lambda f: f.write(text))


def _seeds_note(row: dict) -> str:
    """' (n of m seeds)' for a row whose incomplete runs are left out of its means, else ''."""
    left_out = len(row.get("incomplete_seeds") or [])
    return f" ({row['n_seeds']} of {row['n_seeds'] + left_out} seeds)" if left_out else ""
