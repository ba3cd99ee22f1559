"""Oracle tests for textmix.calibration.metrics.

Oracles: netcal (ECE, MCE, ACE), torchmetrics (multiclass calibration error, called directly), scikit-learn
(log_loss, accuracy_score, brier_score_loss) and plain numpy loops written independently of the code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from netcal.metrics import ACE, ECE, MCE
from scipy.special import expit, softmax
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss
from torchmetrics.functional.classification import multiclass_calibration_error

from textmix.calibration import (
    REPORT_KEYS,
    accuracy,
    adaptive_calibration_error,
    brier_score,
    calibration_report,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_bins,
    rms_calibration_error,
    to_probabilities,
)

ATOL = 1e-6


# ------------------------------------------------------------------------------------------- numpy oracles


def np_binned(conf: np.ndarray, hit: np.ndarray, n_bins: int) -> dict[str, object]:
    """Equal-width bins [k/B, (k+1)/B), last bin closed at 1, filled one sample at a time."""
    counts = np.zeros(n_bins)
    sum_conf = np.zeros(n_bins)
    sum_hit = np.zeros(n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    for c, h in zip(conf, hit, strict=True):
        b = min(int(np.floor(c * n_bins)), n_bins - 1)
        # floor(c * B) can be off by one next to an edge; settle with the edges themselves
        while b > 0 and c < edges[b]:
            b -= 1
        while b < n_bins - 1 and c >= edges[b + 1]:
            b += 1
        counts[b] += 1
        sum_conf[b] += c
        sum_hit[b] += h
    n = counts.sum()
    ece = mce = sq = 0.0
    for b in range(n_bins):
        if counts[b] == 0:
            continue
        gap = abs(sum_hit[b] / counts[b] - sum_conf[b] / counts[b])
        ece += counts[b] / n * gap
        sq += counts[b] / n * gap**2
        mce = max(mce, gap)
    return {"ece": ece, "mce": mce, "rmsce": np.sqrt(sq), "counts": counts}


def np_top_label(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.argmax(probs, axis=1)
    return probs[np.arange(len(labels)), pred], (pred == labels).astype(float)


def np_adaptive_ece(conf: np.ndarray, hit: np.ndarray, n_bins: int) -> float:
    """Per-sample loop: the r-th smallest confidence (stable order) goes to group g(r); sizes differ by <= 1."""
    n = len(conf)
    base, extra = divmod(n, n_bins)
    sizes = [base + (1 if g < extra else 0) for g in range(n_bins)]
    starts = np.cumsum([0] + sizes)
    order = np.argsort(conf, kind="stable")
    s_conf = np.zeros(n_bins)
    s_hit = np.zeros(n_bins)
    cnt = np.zeros(n_bins)
    for rank, i in enumerate(order):
        g = int(np.searchsorted(starts, rank, side="right") - 1)
        s_conf[g] += conf[i]
        s_hit[g] += hit[i]
        cnt[g] += 1
    assert cnt.sum() == n and cnt.max() - cnt[cnt > 0].min() <= 1
    return sum(cnt[g] / n * abs(s_hit[g] / cnt[g] - s_conf[g] / cnt[g]) for g in range(n_bins) if cnt[g])


def np_classwise_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    return float(
        np.mean(
            [
                np_binned(probs[:, k], (labels == k).astype(float), n_bins)["ece"]
                for k in range(probs.shape[1])
            ]
        )
    )


def np_brier(probs: np.ndarray, labels: np.ndarray) -> float:
    onehot = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


# ---------------------------------------------------------------------------------------------- test data


def make_multiclass(
    seed: int, n: int = 3000, c: int = 5, scale: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * scale
    # labels correlated with the logits, so accuracy is neither 0 nor 1
    labels = np.array([rng.choice(c, p=p) for p in softmax(logits / scale, axis=1)])
    return logits, labels


def make_binary(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.normal(size=n) * 3.0
    labels = (rng.random(n) < expit(s / 2.0)).astype(int)
    return s, labels


# -------------------------------------------------------------------------------------- multiclass oracles


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_bins", [15, 10, 7])
def test_multiclass_against_netcal_torchmetrics_numpy(seed: int, n_bins: int) -> None:
    logits, labels = make_multiclass(seed)
    probs = softmax(logits, axis=1)
    rep = calibration_report(logits, labels, n_bins=n_bins)
    assert tuple(rep) == REPORT_KEYS
    conf, hit = np_top_label(probs, labels)
    oracle = np_binned(conf, hit, n_bins)

    assert rep["ece"] == pytest.approx(ECE(bins=n_bins).measure(probs, labels), abs=ATOL)
    assert rep["ece"] == pytest.approx(oracle["ece"], abs=ATOL)
    tm = float(
        multiclass_calibration_error(torch.tensor(probs), torch.tensor(labels), probs.shape[1], n_bins)
    )
    assert rep["ece"] == pytest.approx(tm, abs=ATOL)

    assert rep["mce"] == pytest.approx(MCE(bins=n_bins).measure(probs, labels), abs=ATOL)
    assert rep["mce"] == pytest.approx(oracle["mce"], abs=ATOL)

    assert rep["rmsce"] == pytest.approx(oracle["rmsce"], abs=ATOL)
    tm_l2 = multiclass_calibration_error(
        torch.tensor(probs), torch.tensor(labels), probs.shape[1], n_bins, norm="l2"
    )
    assert rep["rmsce"] == pytest.approx(float(tm_l2), abs=ATOL)

    assert rep["adaptive_ece"] == pytest.approx(np_adaptive_ece(conf, hit, n_bins), abs=ATOL)
    assert rep["classwise_ece"] == pytest.approx(np_classwise_ece(probs, labels, n_bins), abs=ATOL)
    netcal_classwise = np.mean(
        [ECE(bins=n_bins).measure(probs[:, k], (labels == k).astype(int)) for k in range(probs.shape[1])]
    )
    assert rep["classwise_ece"] == pytest.approx(netcal_classwise, abs=ATOL)

    assert rep["brier"] == pytest.approx(np_brier(probs, labels), abs=ATOL)
    assert rep["nll"] == pytest.approx(log_loss(labels, probs, labels=range(probs.shape[1])), abs=ATOL)
    assert rep["accuracy"] == pytest.approx(accuracy_score(labels, probs.argmax(1)), abs=1e-12)


def test_individual_functions_match_report() -> None:
    logits, labels = make_multiclass(3, n=500, c=3)
    rep = calibration_report(logits, labels, n_bins=12)
    assert expected_calibration_error(logits, labels, n_bins=12) == rep["ece"]
    assert maximum_calibration_error(logits, labels, n_bins=12) == rep["mce"]
    assert rms_calibration_error(logits, labels, n_bins=12) == rep["rmsce"]
    assert adaptive_calibration_error(logits, labels, n_bins=12) == rep["adaptive_ece"]
    assert classwise_calibration_error(logits, labels, n_bins=12) == rep["classwise_ece"]
    assert brier_score(logits, labels) == rep["brier"]
    assert negative_log_likelihood(logits, labels) == rep["nll"]
    assert accuracy(logits, labels) == rep["accuracy"]


def test_logits_and_probabilities_agree_and_torch_input() -> None:
    logits, labels = make_multiclass(4, n=800)
    probs = softmax(logits, axis=1)
    a = calibration_report(logits, labels)
    b = calibration_report(probs, labels, from_logits=False)
    c = calibration_report(torch.tensor(logits, dtype=torch.float32), torch.tensor(labels))
    for k in REPORT_KEYS:
        assert a[k] == pytest.approx(b[k], abs=1e-9), k
        assert a[k] == pytest.approx(c[k], abs=1e-5), k


def test_nll_from_logits_is_exact_for_extreme_logits() -> None:
    logits = np.array([[0.0, 800.0], [900.0, 0.0]])
    labels = np.array([0, 1])
    # log_softmax, not log(softmax): both errors are ~800 / 900 nats, not the clamp value
    assert negative_log_likelihood(logits, labels) == pytest.approx((800.0 + 900.0) / 2)


# ------------------------------------------------------------------------------------------ adaptive ECE


@pytest.mark.parametrize("seed", [0, 1])
def test_adaptive_ece_equals_netcal_ace_when_groups_are_exact(seed: int) -> None:
    # netcal's ACE(equal_intervals=False) averages |acc - conf| over quantile bins with equal weight. With
    # N divisible by n_bins and distinct confidences every quantile bin holds exactly N / n_bins samples,
    # so it coincides with our size-weighted equal-mass ECE.
    logits, labels = make_multiclass(seed, n=3000, c=4)
    probs = softmax(logits, axis=1)
    ours = adaptive_calibration_error(logits, labels, n_bins=15)
    theirs = ACE(bins=15, equal_intervals=False).measure(probs, labels)
    assert ours == pytest.approx(theirs, abs=ATOL)


def test_adaptive_ece_handles_uneven_groups_and_more_bins_than_samples() -> None:
    logits, labels = make_multiclass(5, n=37, c=3)
    probs = softmax(logits, axis=1)
    conf, hit = np_top_label(probs, labels)
    for n_bins in (1, 4, 15, 37, 50):
        got = adaptive_calibration_error(logits, labels, n_bins=n_bins)
        assert got == pytest.approx(np_adaptive_ece(conf, hit, n_bins), abs=ATOL), n_bins
    # one bin: |accuracy - mean confidence|
    assert adaptive_calibration_error(logits, labels, n_bins=1) == pytest.approx(
        abs(hit.mean() - conf.mean())
    )
    # one sample per group: mean |hit - conf|
    assert adaptive_calibration_error(logits, labels, n_bins=37) == pytest.approx(np.mean(np.abs(hit - conf)))


def test_adaptive_ece_ties_follow_input_order() -> None:
    # four samples with the same confidence; groups of two must follow the input order
    probs = np.array([[0.7, 0.3]] * 4)
    labels = np.array([0, 0, 1, 1])
    expected = 0.5 * abs(1.0 - 0.7) + 0.5 * abs(0.0 - 0.7)
    assert adaptive_calibration_error(probs, labels, n_bins=2, from_logits=False) == pytest.approx(expected)


# ------------------------------------------------------------------------------------------------- binary


@pytest.mark.parametrize("seed", [0, 1])
def test_binary_all_input_forms_agree(seed: int) -> None:
    s, labels = make_binary(seed)
    p1 = expit(s)
    forms = {
        "logit (N,)": (s, True),
        "logit (N,1)": (s[:, None], True),
        "logits (N,2)": (np.stack([np.zeros_like(s), s], 1), True),
        "prob (N,)": (p1, False),
        "probs (N,2)": (np.stack([1 - p1, p1], 1), False),
    }
    reports = {k: calibration_report(x, labels, from_logits=fl) for k, (x, fl) in forms.items()}
    ref = reports["logits (N,2)"]
    for name, rep in reports.items():
        for k in REPORT_KEYS:
            assert rep[k] == pytest.approx(ref[k], abs=1e-9), (name, k)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_is_top_label_against_oracles(seed: int) -> None:
    s, labels = make_binary(seed)
    p1 = expit(s)
    probs = np.stack([1 - p1, p1], axis=1)
    rep = calibration_report(s, labels)
    conf, hit = np_top_label(probs, labels)
    oracle = np_binned(conf, hit, 15)
    # netcal treats (N,) input as positive-class calibration; feeding (confidence, correct) makes it top-label
    assert rep["ece"] == pytest.approx(ECE(bins=15).measure(conf, hit.astype(int)), abs=ATOL)
    assert rep["ece"] == pytest.approx(oracle["ece"], abs=ATOL)
    tm = multiclass_calibration_error(torch.tensor(probs), torch.tensor(labels), 2, 15)
    assert rep["ece"] == pytest.approx(float(tm), abs=ATOL)
    assert rep["mce"] == pytest.approx(MCE(bins=15).measure(conf, hit.astype(int)), abs=ATOL)
    assert rep["rmsce"] == pytest.approx(oracle["rmsce"], abs=ATOL)
    assert rep["adaptive_ece"] == pytest.approx(np_adaptive_ece(conf, hit, 15), abs=ATOL)
    assert rep["classwise_ece"] == pytest.approx(np_classwise_ece(probs, labels, 15), abs=ATOL)
    # for two classes p_0 = 1 - p_1 mirrors the bins, so classwise ECE equals the positive-class ECE
    # (netcal's binary mode) up to samples sitting exactly on a bin edge
    assert rep["classwise_ece"] == pytest.approx(ECE(bins=15).measure(p1, labels), abs=1e-4)
    assert rep["brier"] == pytest.approx(2 * brier_score_loss(labels, p1), abs=ATOL)
    assert rep["nll"] == pytest.approx(log_loss(labels, p1), abs=ATOL)
    assert rep["accuracy"] == pytest.approx(accuracy_score(labels, (p1 > 0.5).astype(int)))


def test_confidence_of_exactly_one_goes_to_last_bin() -> None:
    # netcal and numpy.histogram put conf == 1 into the last bin; torchmetrics alone would open an extra bin.
    probs = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.96, 0.04, 0.0], [0.2, 0.3, 0.5]])
    labels = np.array([0, 1, 2, 0, 2])
    rep = calibration_report(probs, labels, from_logits=False)
    conf, hit = np_top_label(probs, labels)
    oracle = np_binned(conf, hit, 15)
    assert rep["ece"] == pytest.approx(oracle["ece"], abs=ATOL)
    assert rep["ece"] == pytest.approx(ECE(bins=15).measure(probs, labels), abs=ATOL)
    assert rep["mce"] == pytest.approx(oracle["mce"], abs=ATOL)
    assert rep["classwise_ece"] == pytest.approx(np_classwise_ece(probs, labels, 15), abs=ATOL)
    bins = reliability_bins(probs, labels, from_logits=False)
    np.testing.assert_array_equal(bins.counts, oracle["counts"])
    assert bins.counts[-1] == 4


def test_perfect_and_worst_cases() -> None:
    probs = np.eye(3)[[0, 1, 2, 1]]
    labels = np.array([0, 1, 2, 1])
    rep = calibration_report(probs, labels, from_logits=False)
    assert rep["accuracy"] == 1.0
    for k in ("ece", "adaptive_ece", "mce", "rmsce", "classwise_ece", "brier", "nll"):
        assert rep[k] == pytest.approx(0.0, abs=1e-12), k
    wrong = calibration_report(probs, np.array([1, 2, 0, 0]), from_logits=False)
    assert wrong["accuracy"] == 0.0
    assert wrong["ece"] == pytest.approx(1.0) and wrong["mce"] == pytest.approx(1.0)
    assert wrong["brier"] == pytest.approx(2.0)
    assert np.isfinite(wrong["nll"]) and wrong["nll"] > 700  # -log(tiny float64) ~ 708


# ------------------------------------------------------------------------------------- property-based


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    c=st.integers(2, 6),
    n_bins=st.integers(1, 20),
    scale=st.sampled_from([0.1, 1.0, 5.0]),
)
def test_property_against_numpy(seed: int, n: int, c: int, n_bins: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * scale
    labels = rng.integers(0, c, size=n)
    probs = softmax(logits, axis=1)
    rep = calibration_report(logits, labels, n_bins=n_bins)
    conf, hit = np_top_label(probs, labels)
    oracle = np_binned(conf, hit, n_bins)
    assert rep["ece"] == pytest.approx(oracle["ece"], abs=ATOL)
    assert rep["mce"] == pytest.approx(oracle["mce"], abs=ATOL)
    assert rep["rmsce"] == pytest.approx(oracle["rmsce"], abs=ATOL)
    assert rep["adaptive_ece"] == pytest.approx(np_adaptive_ece(conf, hit, n_bins), abs=ATOL)
    assert rep["classwise_ece"] == pytest.approx(np_classwise_ece(probs, labels, n_bins), abs=ATOL)
    assert rep["brier"] == pytest.approx(np_brier(probs, labels), abs=ATOL)
    assert rep["nll"] == pytest.approx(log_loss(labels, probs, labels=range(c)), abs=ATOL)
    assert rep["accuracy"] == pytest.approx(hit.mean())
    np.testing.assert_array_equal(reliability_bins(logits, labels, n_bins=n_bins).counts, oracle["counts"])


# -------------------------------------------------------------------------------------------- validation


def test_to_probabilities_shapes() -> None:
    probs, y = to_probabilities(np.array([0.0, 2.0]), [1, 0])
    assert probs.shape == (2, 2) and probs.dtype == torch.float64 and y.dtype == torch.int64
    np.testing.assert_allclose(probs[:, 1].numpy(), expit([0.0, 2.0]))
    probs, _ = to_probabilities(np.array([[0.25, 0.75]]), [1], from_logits=False)
    np.testing.assert_allclose(probs.numpy(), [[0.25, 0.75]])
    # float labels with integral values and bool labels are accepted
    _, y = to_probabilities(np.zeros((3, 2)), np.array([0.0, 1.0, 1.0]))
    assert y.tolist() == [0, 1, 1]
    _, y = to_probabilities(np.zeros(2), np.array([True, False]))
    assert y.tolist() == [1, 0]
    _, y = to_probabilities(np.zeros((2, 3)), np.array([2, 0], dtype=np.uint64))
    assert y.tolist() == [2, 0]


@pytest.mark.parametrize(
    ("scores", "labels", "kwargs", "match"),
    [
        (np.zeros((4, 3)), np.zeros(5, int), {}, "shape mismatch"),
        (np.zeros((4, 3)), np.zeros((4, 1), int), {}, r"shape \(N,\)"),
        (np.zeros((4, 3, 2)), np.zeros(4, int), {}, "shape"),
        (np.zeros((0, 3)), np.zeros(0, int), {}, "empty"),
        (np.full((2, 3), 0.5), np.zeros(2, int), {"from_logits": False}, "sum to 1"),
        (np.array([[1.2, -0.2]]), np.zeros(1, int), {"from_logits": False}, r"\[0, 1\]"),
        (np.array([0.3, 1.5]), np.zeros(2, int), {"from_logits": False}, r"\[0, 1\]"),
        (np.zeros((2, 3)), np.array([0, 3]), {}, "out of range"),
        (np.zeros((2, 3)), np.array([-1, 0]), {}, "out of range"),
        (np.zeros(2), np.array([0, 2]), {}, "out of range"),
        (np.zeros((2, 3)), np.array([0.5, 1.0]), {}, "integer"),
        (np.zeros((2, 3)), np.array(["a", "b"]), {}, "integer"),
        (np.zeros((2, 3)), np.array([0j, 1j]), {}, "integer"),
        (np.array([[np.nan, 0.0]]), np.zeros(1, int), {}, "NaN"),
        (np.zeros((2, 3)), np.zeros(2, int), {"n_bins": 0}, "n_bins"),
        (np.zeros((2, 3)), np.zeros(2, int), {"n_bins": -3}, "n_bins"),
        (np.zeros((2, 3)), np.zeros(2, int), {"n_bins": 2.5}, "n_bins"),
        (np.zeros((2, 3)), np.zeros(2, int), {"n_bins": True}, "n_bins"),
        (np.zeros((2, 3)), np.zeros(2, int), {"from_logits": "yes"}, "from_logits"),
    ],
)
def test_bad_input_raises_value_error(scores, labels, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        calibration_report(scores, labels, **kwargs)


def test_n_bins_validated_by_every_binned_metric() -> None:
    logits, labels = np.zeros((2, 2)), np.array([0, 1])
    for fn in (
        expected_calibration_error,
        maximum_calibration_error,
        rms_calibration_error,
        adaptive_calibration_error,
        classwise_calibration_error,
        reliability_bins,
    ):
        with pytest.raises(ValueError, match="n_bins"):
            fn(logits, labels, n_bins=0)
