"""The report's statistics (`textmix.harness.report.statistics`) against hand-worked numbers and the paired
t-test from its definition; the verdict's thresholds at their boundaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from textmix.harness.report.statistics import _mean_std, add_intervals, judge, paired_change, shift_means
from textmix.harness.report.views import ALPHA


def test_mean_and_sample_std_by_hand():
    assert _mean_std([1.0, 2.0, 4.0]) == pytest.approx((7 / 3, math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2
                                                                          + (4 - 7 / 3) ** 2) / 2)))
    assert _mean_std([3.0, math.nan, 5.0]) == pytest.approx((4.0, math.sqrt(2.0)))  # NaN left out
    mean, std = _mean_std([0.25])  # one seed: no spread to estimate (the report prints no ± then)
    assert mean == 0.25 and math.isnan(std)
    mean, std = _mean_std([math.nan])
    assert math.isnan(mean) and math.isnan(std)


def test_paired_change_is_the_paired_t_test_from_its_definition():
    """delta = mean of d = other - base over the shared seeds; t = mean(d) / (sd(d) / sqrt(n)), two-sided p."""
    base = {0: 0.50, 1: 0.40, 2: 0.45, 3: 0.60, 9: 0.1}
    other = {0: 0.47, 1: 0.41, 2: 0.40, 3: 0.52, 5: 0.9}
    d = np.array([0.47 - 0.50, 0.41 - 0.40, 0.40 - 0.45, 0.52 - 0.60])
    t = d.mean() / (d.std(ddof=1) / math.sqrt(4))
    p = 2 * stats.t.sf(abs(t), df=3)
    out = paired_change(base, other)
    assert out["delta"] == pytest.approx(d.mean()) and out["n"] == 4
    assert out["p_value"] == pytest.approx(p)
    # a seed with NaN on either side is left out
    out = paired_change({**base, 2: math.nan}, other)
    assert out["n"] == 3 and out["delta"] == pytest.approx(np.delete(d, 2).mean())
    two = paired_change({0: 1.0, 1: 2.0}, {0: 1.5, 1: 2.25})  # two seeds: d = .5, .25, t = .375 / .125 = 3
    assert two["p_value"] == pytest.approx(2 * stats.t.sf(3.0, df=1))
    # identical changes (no spread) and a single seed: no p-value
    assert math.isnan(paired_change({0: 1.0, 1: 2.0}, {0: 1.5, 1: 2.5})["p_value"])
    one = paired_change({0: 1.0}, {0: 0.25})
    assert one["delta"] == -0.75 and one["n"] == 1 and math.isnan(one["p_value"])
    assert paired_change({0: 1.0}, {1: 1.0})["n"] == 0


@pytest.mark.parametrize(("better", "delta", "helps"), [("lower", -0.1, "helps"), ("lower", 0.1, "hurts"),
                                                        ("higher", 0.1, "helps"), ("higher", -0.1, "hurts")])
def test_the_t_test_verdict_at_exactly_p_equal_alpha_is_unclear(better, delta, helps):
    """p < alpha decides (by the sign of the change); p = alpha does not."""
    assert judge({"delta": delta, "p_value": ALPHA}, better) == "unclear"
    assert judge({"delta": delta, "p_value": math.nextafter(ALPHA, 0)}, better) == helps
    assert judge({"delta": delta, "p_value": 0.0}, better) == helps
    assert judge({"delta": delta, "p_value": math.nan}, better) == "unclear"
    assert judge({"delta": 0.0, "p_value": 0.001}, better) == "unclear"
    assert judge({"delta": delta, "p_value": 0.01}, better, alpha=0.01) == "unclear"
    assert judge({"delta": delta, "p_value": 0.009}, better, alpha=0.01) == helps


@pytest.mark.parametrize(("low", "high", "lower_better", "higher_better"), [
    (-0.2, -0.01, "helps", "hurts"),
    (0.01, 0.2, "hurts", "helps"),
    (-0.2, 0.0, "unclear", "unclear"),  # an interval touching 0 cannot tell the change from none
    (0.0, 0.2, "unclear", "unclear"),
    (0.0, 0.0, "unclear", "unclear"),
    (-0.1, 0.1, "unclear", "unclear"),
])
def test_the_interval_verdict_at_its_boundaries(low, high, lower_better, higher_better):
    change = {"delta": (low + high) / 2, "p_value": 1e-9, "low": low, "high": high}  # the interval wins
    assert judge(change, "lower") == lower_better
    assert judge(change, "higher") == higher_better


def test_add_intervals_puts_the_bootstrap_into_the_row_over_the_same_seeds():
    interval = {"n_seeds": 3, "delta": -0.02, "low": -0.04, "high": -0.01, "detectable": 0.015}
    rows = {"m": {"nll_change": {"delta": -0.025, "p_value": 0.03, "n": 3}}, "none": {}}
    add_intervals(rows, {"m": {"nll": interval, "brier": interval}, "gone": {"nll": interval}})
    assert rows["m"]["nll_change"] == {"delta": -0.025, "p_value": 0.03, "n": 3, "low": -0.04, "high": -0.01,
                                       "detectable": 0.015, "level": 0.95}
    brier = rows["m"]["brier_change"]  # no t-test row: the change is the interval's
    assert brier["delta"] == -0.02 and brier["n"] == 3 and math.isnan(brier["p_value"]) and brier["low"] == -0.04
    assert "gone" not in rows


def test_shift_means_average_the_test_sets_every_run_has():
    """Per seed, the mean over the (kind, severity) sets all runs share; a set only one run has is left out."""
    def run(seed, cells):
        return {"seed": seed, "shift": {"typos": {str(k): {"accuracy": v} for k, v in cells.items()}}}

    base = [run(0, {1: 0.8, 2: 0.6, 3: 0.1}), run(1, {1: 0.7, 2: 0.5})]
    other = [run(0, {1: 0.9, 2: 0.7}), run(1, {1: 0.6, 2: 0.4})]
    b, o = shift_means(base, other, ["typos"])
    assert b == pytest.approx({0: 0.7, 1: 0.6}) and o == pytest.approx({0: 0.8, 1: 0.5})
    assert paired_change(b, o)["delta"] == pytest.approx(0.0)
