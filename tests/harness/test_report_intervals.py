"""The report's paired, hierarchical bootstrap intervals and verdicts on synthetic predictions with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textmix.harness.report import build_report, judge
from textmix.harness.report.intervals import hierarchical_change, task_intervals

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
    line = next(x for x in md.splitlines() if x.startswith("| calibration | tight |"))
    assert "calibrated (smooth ECE -" in line and "NLL -" in line and "Brier score -" in line and " ±" in line


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
