"""The forest plots' intervals against scipy's, and a change without one drawn as a hollow point."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from textmix.harness import plots
from textmix.harness.plots import forest_plot, t_interval
from textmix.harness.report.statistics import paired_change


@pytest.mark.parametrize("n", [2, 3, 7])
def test_t_interval_from_a_paired_change_is_scipys(n):
    rng = np.random.default_rng(n)
    base, other = rng.normal(0.5, 0.05, n), rng.normal(0.52, 0.05, n)
    diffs = other - base
    low, high = t_interval(paired_change(dict(enumerate(base)), dict(enumerate(other))))
    assert (low, high) == pytest.approx(stats.t.interval(0.95, n - 1, loc=diffs.mean(), scale=stats.sem(diffs)))


def test_without_an_interval_a_change_is_a_hollow_point(tmp_path, monkeypatch):
    one_seed = paired_change({0: 0.5}, {0: 0.6})
    alike = paired_change({0: 0.5, 1: 0.4}, {0: 0.6, 1: 0.5})  # the same change on both seeds: no p-value
    assert all(math.isnan(x) for x in (*t_interval(one_seed), *t_interval(alike)))
    entries = [{"method": m, "delta": c["delta"], "metrics": {"accuracy": c}} for m, c in (("a", one_seed), ("b", alike))]
    row = {"claim": "x", "task": "t", "better": "higher", "helps": [], "hurts": [], "no_change": entries, "at_chance": []}
    summary = {"baseline": "none", "tasks": {"t": {"methods": {}, "baseline_calibration": {
        "temperature": 1.3, "at_bound": False, "bound_seeds": [2]}}}}
    figures = []
    monkeypatch.setattr(plots, "save_png", lambda fig, path: figures.append(fig))
    drawn = forest_plot("x", [row], summary, tmp_path / "forest.png")
    assert {m: p["interval"] for m, p in drawn["t"].items()} == {"a": "none", "b": "none"}
    (ax,) = figures[0].axes
    assert ax.get_title() == "t\nnone: T = 1.30 (seed 2 at the bound)"  # the baseline's temperature, and its bound
    assert [line.get_markerfacecolor() for line in ax.lines if line.get_marker() == "o"] == ["none", "none"]


def test_an_interval_that_does_not_hold_its_mean_change_is_drawn_from_its_ends(tmp_path, monkeypatch):
    """A percentile bootstrap interval need not hold the mean paired change (a nonlinear figure, one seed): the
    plot draws the interval's ends and the point where they are (it raised on a negative error bar)."""
    change = {"delta": 0.010, "low": 0.012, "high": 0.030, "p_value": math.nan, "n": 1}
    row = {"claim": "x", "task": "t", "better": "lower", "helps": [], "hurts": [],
           "no_change": [{"method": "a", "delta": 0.010, "metrics": {"smece": change}}], "at_chance": []}
    summary = {"baseline": "none", "tasks": {"t": {"methods": {}, "baseline_calibration": None}}}
    figures = []
    monkeypatch.setattr(plots, "save_png", lambda fig, path: figures.append(fig))
    drawn = forest_plot("x", [row], summary, tmp_path / "forest.png")
    assert drawn["t"]["a"] == {"delta": 0.010, "low": 0.012, "high": 0.030, "verdict": "no_change",
                               "interval": "bootstrap"}
    (ax,) = figures[0].axes
    ends = [line for line in ax.lines if line.get_marker() == "|"]
    assert len(ends) == 1 and list(ends[0].get_xdata()) == [0.012, 0.030]
