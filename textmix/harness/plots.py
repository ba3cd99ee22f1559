"""Pictures of `textmix report` beyond the reliability grid: a forest plot per claim, distribution shift and
label noise per task, drawn from the report's summary (`textmix.harness.report.summary.summarise`) on an explicit Agg canvas
(`textmix.calibration.reliability`: no pyplot, no global backend switch)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from textmix.calibration.reliability import new_figure, save_png

from .figures import FIGURE
from .report.intervals import LEVEL
from .report.views import PLOTTED, VERDICT_MARKS, VERDICT_WORDS, compared_with, judged, number, rank

VERDICT_STYLE = {"helps": ("tab:green", "^"), "hurts": ("tab:red", "v"), "no_change": ("0.45", "o"),
                 "at_chance": ("tab:orange", "D")}
"""Colour and marker of each verdict in the forest plots (the grid's ▲ / ▼ / · / ⚠)."""


def _arrays(points: list[tuple[float, float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    kept = [p for p in points if not math.isnan(p[1])]
    x, mean, std = (np.asarray([p[i] for p in kept], dtype=float) for i in range(3))
    return x, mean, np.nan_to_num(std)


def _style(method: str, index: int, at_chance: bool, baseline: str | None) -> dict[str, Any]:
    """Line style of a method: the baseline black and dashed, a method with seeds at chance marked in the legend."""
    name = f"{method} (at chance)" if at_chance else method
    if method == baseline:
        return {"color": "black", "linestyle": "--", "label": f"{name} (baseline)", "zorder": 3}
    return {"color": f"C{index % 10}", "label": name}


def _legend(fig: Any, axes: np.ndarray) -> None:
    """One legend for all panels, each method once."""
    found: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(name, handle)
    if found:
        fig.legend(list(found.values()), list(found), loc="outside right center", fontsize="small")


def shift_plot(label: str, info: dict[str, Any], path: str | Path, baseline: str | None = None) -> None:
    """Write `path`: in the manner of Ovadia et al. (2019), one column per shift kind of `info["shift"]`
    with accuracy (top) and ECE (bottom) against severity, severity 0 the clean test set; one line per
    method, mean over seeds with ± std shaded (`baseline` black and dashed)."""
    shift = info["shift"]
    kinds = shift["kinds"]
    fig = new_figure((3.0 * len(kinds) + 1.6, 5.2))
    axes = np.asarray(fig.subplots(2, len(kinds), squeeze=False, sharey="row"))
    styles = {m: _style(m, i, bool(info["methods"].get(m, {}).get("at_chance_seeds")), baseline)
              for i, m in enumerate(shift["methods"])}
    for j, kind in enumerate(kinds):
        for i, key in enumerate(PLOTTED):
            ax = axes[i, j]
            for method, per_kind in shift["methods"].items():
                cells = per_kind.get(kind)
                if not cells:
                    continue
                clean = shift.get("clean", {}).get(method, {})
                points = [(0.0, clean.get(key, math.nan), clean.get(f"{key}_std", math.nan))]
                points += [(number(s), c[key], c[f"{key}_std"]) for s, c in cells.items() if not math.isnan(number(s))]
                x, mean, std = _arrays(sorted(points))
                if x.size == 0:
                    continue
                ax.plot(x, mean, marker="o", markersize=3, **styles[method])
                ax.fill_between(x, mean - std, mean + std, color=styles[method]["color"], alpha=0.15, linewidth=0)
            if i == 0:
                ax.set_title(kind, fontsize="medium")
            else:
                ax.set_xlabel("severity (0 = clean)")
            if j == 0:
                ax.set_ylabel(FIGURE[key].label)
            ax.grid(alpha=0.3)
    _legend(fig, axes)
    fig.suptitle(f"{label}: accuracy and ECE under distribution shift (mean ± std over seeds)")
    save_png(fig, path)


def label_noise_plot(task: str, variants: list[tuple[float, dict[str, Any]]], path: str | Path,
                     baseline: str | None = None) -> None:
    """Write `path`: test accuracy (left) and ECE (right) against the label-noise rate the runs were
    trained at, one line per method, mean over seeds with ± std error bars (`baseline` black and dashed).
    `variants`: (rate, the summary's entry of the task at that rate), for each rate."""
    fig = new_figure((9.0, 3.6))
    axes = fig.subplots(1, 2, squeeze=False)
    methods = list(dict.fromkeys(m for _, info in variants for m in info["methods"]))
    for i, key in enumerate(PLOTTED):
        ax = axes[0, i]
        for k, method in enumerate(methods):
            rows = [(rate, info["methods"][method]) for rate, info in variants if method in info["methods"]]
            x, mean, std = _arrays(sorted((rate, row[key], row[f"{key}_std"]) for rate, row in rows))
            if x.size:
                at_chance = any(row.get("at_chance_seeds") for _, row in rows)
                ax.errorbar(x, mean, yerr=std, marker="o", markersize=3, capsize=3,
                            **_style(method, k, at_chance, baseline))
        ax.set_xlabel("label noise (share of training labels flipped)")
        ax.set_ylabel(f"test {FIGURE[key].label}")
        ax.grid(alpha=0.3)
    _legend(fig, axes[:, :1])
    fig.suptitle(f"{task}: test accuracy and ECE against label noise (mean ± std over seeds)")
    save_png(fig, path)


def t_interval(change: dict[str, Any], level: float = LEVEL) -> tuple[float, float]:
    """The paired t-test's `level` interval of a change (`statistics.paired_change`), its standard error recovered
    from the mean, the two-sided p-value and the seeds; (NaN, NaN) where undefined (one seed, p NaN, 0 or 1)."""
    from scipy.stats import t

    delta, p, n = change["delta"], number(change.get("p_value")), change["n"]
    if n < 2 or not 0 < p < 1:
        return math.nan, math.nan
    half = t.ppf(0.5 + level / 2, n - 1) * abs(delta) / t.ppf(1 - p / 2, n - 1)
    return delta - half, delta + half


def forest_plot(claim: str, rows: list[dict[str, Any]], summary: dict[str, Any], path: str | Path) -> dict[str, dict]:
    """Write `path`: one panel per task of a claim's verdict `rows`, each method's change in the headline figure
    (its first) with its `LEVEL` interval (the bootstrap's, else `t_interval`; a hollow point without either)
    against a zero line, coloured by verdict; the baseline's temperature in each task's title. Returns what it
    drew: {task: {method: {delta, low, high, verdict, interval: bootstrap | t-test | none}}}."""
    from matplotlib.lines import Line2D

    baseline, plotted, headline, order = summary["baseline"], {}, {}, {}
    for row in rows:
        info = summary["tasks"][row["task"]]
        for verdict, entry in judged(row):
            metric, change = next(iter(entry["metrics"].items()))
            headline[row["task"]] = metric
            low, high, kind = change.get("low", math.nan), change.get("high", math.nan), "bootstrap"
            if math.isnan(number(low)):
                (low, high), kind = t_interval(change), "t-test"
            name = compared_with(entry, info, baseline)
            order.setdefault(name, rank(summary, entry["method"]))
            plotted.setdefault(row["task"], {})[name] = {
                "delta": entry["delta"], "low": low, "high": high, "verdict": verdict,
                "interval": kind if not math.isnan(low) else "none"}
    methods = sorted(order, key=order.get)
    label_width = 0.075 * max(map(len, methods), default=10)  # inches for the longest method name (10 pt)
    fig = new_figure((2.9 * len(plotted) + label_width + 1.6, 0.32 * len(methods) + 2.2))
    axes = fig.subplots(1, len(plotted), squeeze=False, sharey=True)[0]
    for ax, (task, per) in zip(axes, plotted.items(), strict=True):
        for y, method in enumerate(methods):
            if (point := per.get(method)) is None:
                continue
            colour, marker = VERDICT_STYLE[point["verdict"]]
            if point["interval"] == "none":
                ax.plot(point["delta"], y, marker=marker, color=colour, markerfacecolor="none", linestyle="none")
            else:  # the interval as drawn from its ends: a percentile interval need not hold the mean change
                ax.plot([point["low"], point["high"]], [y, y], color=colour, marker="|", markersize=7)
                ax.plot(point["delta"], y, marker=marker, color=colour, linestyle="none")
        ax.axvline(0.0, color="black", linewidth=0.8)
        calibration = summary["tasks"][task].get("baseline_calibration") or {}
        t = number(calibration.get("temperature"))
        bound = calibration.get("bound_seeds")
        note = (f" (seed{'s' * (len(bound) > 1)} {', '.join(map(str, bound))} at the bound)" if bound else
                " (the search bound)" if calibration.get("at_bound") and bound is None else "")
        ax.set_title(f"{task}\n{baseline}: T = {'–' if math.isnan(t) else f'{t:.2f}'}{note}", fontsize="medium")
        metric = headline[task]
        ax.set_xlabel(f"change in {FIGURE[metric].label if metric in FIGURE else metric}")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(methods)), methods)
    axes[0].set_ylim(len(methods) - 0.5, -0.5)
    handles = [Line2D([], [], color=c, marker=m, linestyle="none") for c, m in VERDICT_STYLE.values()]
    labels = [f"{VERDICT_MARKS[v]} {VERDICT_WORDS[v]}" for v in VERDICT_STYLE]
    fig.legend([*handles, Line2D([], [], color="0.45", marker="o", markerfacecolor="none", linestyle="none")],
               [*labels, "no interval"], loc="outside right center", fontsize="small")
    better = next((r["better"] for r in rows), "lower")
    fig.suptitle(f"{claim}\nchange against {baseline} ({better} is better), {LEVEL:.0%} intervals", fontsize="medium")
    save_png(fig, path)
    return plotted
