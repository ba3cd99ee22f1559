"""The report's paired, hierarchical bootstrap intervals and verdicts on synthetic predictions with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textmix.harness.report import build_report
from textmix.harness.report.intervals import hierarchical_change, task_intervals
from textmix.harness.report.statistics import judge

SEEDS = (0, 1, 2)
N = 600


def test_known_answer_when_each_seed_changes_every_example_alike():
    """Per-seed changes constant over the example resamples: a replicate is the mean of 3 seeds drawn with
    replacement from {c0, c1, c2}; with c0 < c1 < c2, P(all c0) = 1/27 < 5 % < P(<= two c0 and one c1) = 4/27,
    so the 90 % interval is [(2 c0 + c1) / 3, (c1 + 2 c2) / 3]."""
    c = {0: -0.03, 1: -0.01, 2: 0.02}
    base = {s: (0.5, np.full(200, 0.5)) for s in SEEDS}
    other = {s: (0.5 + c[s], np.full(200, 0.5 + c[s])) for s in SEEDS}
    out = hierarchical_change(base, other, n_bootstrap=1000, level=0.9)
    assert out["delta"] == pytest.approx(np.mean(list(c.values())))
    assert out["low"] == pytest.approx((2 * c[0] + c[1]) / 3)
    assert out["high"] == pytest.approx((c[1] + 2 * c[2]) / 3)
    assert out["detectable"] == pytest.approx((out["high"] - out["low"]) / 2) and out["n_seeds"] == 3
    with pytest.raises(ValueError, match="n_bootstrap"):
        hierarchical_change(base, other, n_bootstrap=50)
    with pytest.raises(ValueError, match="level"):
        hierarchical_change(base, other, level=1.0)


def test_judge_reads_the_interval_before_the_t_test():
    assert judge({"delta": -0.1, "p_value": 0.5, "low": -0.2, "high": -0.01}, "lower") == "helps"
    assert judge({"delta": -0.1, "p_value": 0.001, "low": -0.2, "high": 0.01}, "lower") == "unclear"
    assert judge({"delta": 0.1, "p_value": 0.5, "low": 0.01, "high": 0.2}, "lower") == "hurts"
    assert judge({"delta": 0.1, "p_value": 0.001, "low": 0.01, "high": 0.2}, "higher") == "helps"
    assert judge({"delta": 0.1, "p_value": 0.001}, "lower") == "hurts"  # no interval: the t-test decides
    assert judge({"delta": 0.1, "p_value": 0.2}, "lower") == "unclear"


def logit_sets(seed: int, task: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Binary labels drawn from sigmoid(z): `calibrated` predicts z (calibrated), `none` 3 z (over-confident,
    undone exactly by T = 3), `sharp` 6 z; on `wide`, `informed` also sees w, a second signal in the labels."""
    rng = np.random.default_rng(100 + seed)
    z, w = rng.normal(0, 1.5, N), rng.normal(0, 1.5, N)
    truth = z + w if task == "wide" else z
    labels = (rng.uniform(size=N) < 1 / (1 + np.exp(-truth))).astype(np.int64)
    single = {"none": 3 * z, "calibrated": z, "sharp": 6 * z, "informed": z + w}
    return {m: np.stack([np.zeros(N), v], axis=1) for m, v in single.items()}, labels


TEMPERATURE = {"none": 3.0, "calibrated": 1.0, "sharp": 6.0, "informed": 1.0}
VAL_NLL = {"none": 0.50, "calibrated": 0.45, "sharp": 0.50, "informed": 0.30}
METHODS = {"tight": ("none", "calibrated", "sharp"), "wide": ("none", "informed")}


def nll(logits, labels, t=1.0):
    z = logits / t
    logp = z - np.logaddexp(z[:, :1], z[:, 1:])
    return float(-logp[np.arange(len(labels)), labels].mean())


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    import textmix.harness.report.intervals as intervals

    pool, intervals.POOL = intervals.POOL, 100  # the fewest resamples allowed: a faster test
    root = tmp_path_factory.mktemp("intervals")
    for task, methods in METHODS.items():
        for s in SEEDS:
            sets, labels = logit_sets(s, task)
            for method in methods:
                folder = root / "runs" / task / method / f"seed{s}"
                folder.mkdir(parents=True)
                np.savez(folder / "predictions.npz", test_logits=sets[method], test_labels=labels)
                r = {"task": task, "method": method, "seed": s, "problem_type": "classification",
                     "test_majority_accuracy": 0.5, "temperature": TEMPERATURE[method],
                     "test": {"accuracy": 0.75, "ece": 0.1, "nll": nll(sets[method], labels)},
                     "test_ts": {"nll": nll(sets[method], labels, TEMPERATURE[method])},
                     "validation_ts": {"nll": VAL_NLL[method]}}
                (folder / "results.json").write_text(json.dumps(r))
    try:
        summary = build_report(root)
    finally:
        intervals.POOL = pool
    return root, summary, (root / "report.md").read_text(encoding="utf-8")


def test_intervals_are_paired_and_centred_on_the_seed_mean(sweep):
    root, summary, _ = sweep
    rows = summary["tasks"]["tight"]["methods"]
    change = rows["calibrated"]["nll_change"]
    expected = np.mean([nll(logit_sets(s, "tight")[0]["calibrated"], logit_sets(s, "tight")[1])
                        - nll(logit_sets(s, "tight")[0]["none"], logit_sets(s, "tight")[1]) for s in SEEDS])
    assert change["delta"] == pytest.approx(expected)
    assert change["low"] <= change["delta"] <= change["high"] < 0
    # after temperature scaling `calibrated` and `none` make the same predictions: a paired bootstrap scores
    # both on the same resampled examples, so every replicate's change is 0
    for metric in ("nll_ts", "smece_ts", "brier_ts"):
        same = rows["calibrated"][f"{metric}_change"]
        assert same["delta"] == pytest.approx(0, abs=1e-12)
        assert same["low"] == pytest.approx(0, abs=1e-12) and same["high"] == pytest.approx(0, abs=1e-12)


def test_the_calibration_verdict_needs_smece_nll_and_brier_to_agree(sweep):
    _, summary, md = sweep
    (row,) = [r for r in summary["verdict"]["rows"] if r["claim"] == "calibration" and r["task"] == "tight"]
    assert [e["method"] for e in row["helps"]] == ["calibrated"] and [e["method"] for e in row["hurts"]] == ["sharp"]
    helps = row["helps"][0]
    assert set(helps["metrics"]) == {"smece", "nll", "brier"} and helps["evidence"] == "bootstrap interval"
    assert all(c["judged"] == "helps" and c["high"] < 0 for c in helps["metrics"].values())
    (after,) = [r for r in summary["verdict"]["rows"]
                if r["claim"] == "calibration after temperature scaling" and r["task"] == "tight"]
    # after scaling all three make the same predictions (T undoes each one's scale): no change, unclear
    assert [e["method"] for e in after["no_change"]] == ["calibrated", "sharp"] and not after["helps"]
    line = next(x for x in md.splitlines() if x.startswith("| tight | calibrated | ▲ helps | -"))
    assert line.count("] ±") == 3  # smooth ECE, NLL and Brier score: each its change, interval and p-value


def test_each_task_says_whether_the_recommendation_beat_the_baseline_after_scaling(sweep):
    _, summary, md = sweep
    tight = summary["tasks"]["tight"]["recommended"]
    assert tight["method"] == "calibrated" and tight["against_baseline_ts"]["verdict"] == "unclear"
    wide = summary["tasks"]["wide"]["recommended"]
    assert wide["method"] == "informed" and wide["against_baseline_ts"]["verdict"] == "beat"
    change = wide["against_baseline_ts"]["changes"]["nll_ts"]
    assert change["high"] < 0 and change["delta"] == pytest.approx(np.mean(
        [nll(logit_sets(s, "wide")[0]["informed"], logit_sets(s, "wide")[1])
         - nll(logit_sets(s, "wide")[0]["none"], logit_sets(s, "wide")[1], 3.0) for s in SEEDS]))
    assert "beat `none` + temperature scaling on the test set on 1 of 2 tasks" in md
    assert "On the test set it beat `none` + temperature scaling: NLL after temperature scaling -" in md


def test_without_predictions_there_is_no_interval():
    runs = [{"task": "t", "method": m, "seed": 0, "temperature": 1.0} for m in ("none", "x")]
    assert task_intervals({"none": runs[:1], "x": runs[1:]}, "none") == {}


def test_an_interval_over_fewer_seeds_than_the_t_test_is_left_out():
    """A method with results for 3 seeds but predictions for 2: its change, p-value and verdict stay those
    of the 3-seed t-test (an interval over other seeds would judge another set than the row shows)."""
    from textmix.harness.report.statistics import add_intervals, judge

    t_test = {"delta": 0.01, "p_value": 0.4, "n": 3}
    interval = {"n_seeds": 2, "delta": 0.03, "low": 0.01, "high": 0.05, "detectable": 0.02}
    rows = {"mixup": {"nll_change": dict(t_test)}, "span": {"nll_change": dict(t_test)}}
    add_intervals(rows, {"mixup": {"nll": interval}, "span": {"nll": {**interval, "n_seeds": 3}}})
    assert rows["mixup"]["nll_change"] == t_test and judge(rows["mixup"]["nll_change"], "lower") == "unclear"
    assert rows["span"]["nll_change"]["low"] == 0.01 and judge(rows["span"]["nll_change"], "lower") == "hurts"


# ------------------------------------------------------------------ known answers, from the definitions


def _width(out):
    return out["high"] - out["low"]


def test_k_identical_seeds_give_an_interval_1_over_sqrt_k_as_wide_as_one():
    """k seeds with the same example-level differences: a replicate is the mean of k independent example
    resamples (one per seed drawn), so its spread is that of one seed over sqrt(k). One resample shared by the
    seeds of a replicate would keep the one-seed width."""
    rng = np.random.default_rng(0)
    diffs = rng.normal(0.0, 1.0, 2000)
    one = hierarchical_change({0: (0.0, np.zeros(2000))}, {0: (0.0, diffs)}, n_bootstrap=4000, level=0.9)
    for k in (4, 9):
        base = {s: (0.0, np.zeros(2000)) for s in range(k)}
        other = {s: (0.0, diffs) for s in range(k)}
        many = hierarchical_change(base, other, n_bootstrap=4000, level=0.9)
        assert _width(many) / _width(one) == pytest.approx(1 / np.sqrt(k), rel=0.12)
        assert many["n_seeds"] == k


def test_one_seed_interval_is_the_percentiles_of_the_example_differences():
    """One seed, example-level differences 0, 1/K, ..., (K-1)/K: the level-0.95 interval is their 2.5 and
    97.5 % percentiles, its half-width `detectable`, and `delta` the seed's own change (not a resample's)."""
    k = 1000
    diffs = np.arange(k) / k
    out = hierarchical_change({7: (0.2, np.zeros(k))}, {7: (0.5, diffs)}, n_bootstrap=20000, level=0.95)
    assert out["low"] == pytest.approx(0.025, abs=0.004) and out["high"] == pytest.approx(0.975, abs=0.004)
    assert out["delta"] == pytest.approx(0.3) and out["n_seeds"] == 1
    assert out["detectable"] == pytest.approx((out["high"] - out["low"]) / 2)
    half = hierarchical_change({7: (0.2, np.zeros(k))}, {7: (0.5, diffs)}, n_bootstrap=20000, level=0.5)
    assert half["low"] == pytest.approx(0.25, abs=0.01) and half["high"] == pytest.approx(0.75, abs=0.01)


def test_the_change_is_other_minus_base_over_the_seeds_both_have():
    """Seeds 0..2 in `base`, 1..3 in `other`: only 1 and 2 count; each resample's change is other - base of
    that resample (paired), so base = other + 1 everywhere gives exactly -1."""
    base = {s: (1.0 + s, np.full(300, 1.0 + s)) for s in (0, 1, 2)}
    other = {s: (float(s), np.full(300, float(s))) for s in (1, 2, 3)}
    out = hierarchical_change(base, other, n_bootstrap=200)
    assert out == {"delta": -1.0, "low": -1.0, "high": -1.0, "detectable": 0.0, "n_seeds": 2}
    assert hierarchical_change(base, {9: (0.0, np.zeros(300))}, n_bootstrap=200)["n_seeds"] == 0


def test_every_seed_and_every_example_resample_is_drawn():
    """Seed s's resample j has change 1000 s + j: every replicate value's seed and resample is readable,
    and all of them occur (a draw that skips the last seed or resample is seen)."""
    from textmix.harness.report import intervals

    seeds, k = 3, 50
    base = {s: (0.0, np.zeros(k)) for s in range(seeds)}
    other = {s: (0.0, 1000.0 * s + np.arange(k)) for s in range(seeds)}
    drawn = []
    real = np.quantile

    def spy(values, q):
        drawn.append(np.asarray(values))
        return real(values, q)

    intervals.np.quantile, saved = spy, intervals.np.quantile
    try:
        hierarchical_change({0: base[0]}, {0: other[0]}, n_bootstrap=2000)
        hierarchical_change({s: base[s] for s in range(seeds)}, other, n_bootstrap=2000)
    finally:
        intervals.np.quantile = saved
    assert set(drawn[0].astype(int)) == set(range(k))  # one seed: each replicate is one resample
    # three seeds: the replicate mean, times 3, is a sum of one (1000 s + j) per seed drawn
    sums = np.rint(drawn[1] * 3).astype(int)
    assert set((sums // 1000).tolist()) == set(range(0, 3 * (seeds - 1) + 1))


def _probs(rows):
    return np.asarray(rows, dtype=float)


def test_resampled_values_average_the_per_example_figures_of_each_resample():
    """NLL, Brier and smECE by hand on each resample row: -log p[y], sum_k (p_k - 1[y = k])^2, relplot-free
    smECE of the resample (`smooth_ece_binary` on it); the scaled metrics read the scaled probabilities."""
    from textmix.calibration.smooth import smooth_ece_binary
    from textmix.harness.figures import FIGURE
    from textmix.harness.report.intervals import resampled_values

    probs = _probs([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    scaled = _probs([[0.6, 0.4], [0.3, 0.7], [0.55, 0.45], [0.2, 0.8]])
    labels = np.array([0, 1, 1, 1])
    pool = np.array([[0, 0, 0, 0], [3, 2, 1, 0], [2, 2, 3, 3]] + [[1, 2, 3, 3]] * 100)
    nll_ex = [-np.log(0.7), -np.log(0.8), -np.log(0.4), -np.log(0.9)]
    brier_ex = [2 * 0.3 ** 2, 2 * 0.2 ** 2, 2 * 0.6 ** 2, 2 * 0.1 ** 2]
    nll_ts_ex = [-np.log(0.6), -np.log(0.7), -np.log(0.45), -np.log(0.8)]
    for name, per_example in (("nll", nll_ex), ("brier", brier_ex), ("nll_ts", nll_ts_ex)):
        whole, each = resampled_values((probs, scaled, labels), FIGURE[name], pool)
        assert whole == pytest.approx(np.mean(per_example))
        np.testing.assert_allclose(each[:3], [np.mean([per_example[i] for i in row]) for row in pool[:3]])
    for name, p in (("smece", probs), ("smece_ts", scaled)):
        whole, each = resampled_values((probs, scaled, labels), FIGURE[name], pool[:3])
        conf, hit = p.max(1), (p.argmax(1) == labels).astype(float)
        assert whole == pytest.approx(smooth_ece_binary(conf, hit)[0])
        np.testing.assert_allclose(each, [smooth_ece_binary(conf[row], hit[row])[0] for row in pool[:3]], atol=1e-9)


def test_run_predictions_read_logits_labels_and_the_temperature(tmp_path):
    """One positive-class logit z is the two-class (0, z); the scaled probabilities are softmax(logits / T)."""
    from textmix.harness.report.intervals import run_predictions

    z = np.array([[2.0], [-1.0], [0.5]])
    np.savez(tmp_path / "predictions.npz", test_logits=z, test_labels=np.array([1, 0, 1]))
    got = run_predictions({"_folder": str(tmp_path), "temperature": 2.0, "problem_type": "classification"})
    assert got is not None
    probs, scaled, labels = got
    sig = 1 / (1 + np.exp(-z[:, 0]))
    np.testing.assert_allclose(probs, np.stack([1 - sig, sig], 1))
    sig_t = 1 / (1 + np.exp(-z[:, 0] / 2.0))
    np.testing.assert_allclose(scaled, np.stack([1 - sig_t, sig_t], 1))
    assert labels.tolist() == [1, 0, 1]
    three = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    np.savez(tmp_path / "predictions.npz", test_logits=three, test_labels=np.array([2, 0]))
    probs, scaled, _ = run_predictions({"_folder": str(tmp_path), "temperature": 0.5})
    e = np.exp(three - three.max(1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(1, keepdims=True))
    e = np.exp(three / 0.5 - (three / 0.5).max(1, keepdims=True))
    np.testing.assert_allclose(scaled, e / e.sum(1, keepdims=True))
    assert run_predictions({"_folder": str(tmp_path), "temperature": None}) is None
    assert run_predictions({"_folder": str(tmp_path), "temperature": 1.0, "problem_type": "regression"}) is None
