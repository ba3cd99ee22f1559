"""textmix.calibration.selective against a brute-force loop, a hand-computed example and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import softmax

from textmix.calibration import accuracy_at_coverage, aurc, risk_coverage, selective_metrics


def brute_force_risks(confidence, correct):
    """Selective risk for k = 1..n, by sorting (confidence desc, index asc) with plain Python."""
    order = sorted(range(len(confidence)), key=lambda i: (-confidence[i], i))
    risks = []
    for k in range(1, len(order) + 1):
        errors = sum(1 for i in order[:k] if not correct[i])
        risks.append(errors / k)
    return risks


def harmonic(n):
    return sum(1 / i for i in range(1, n + 1))


def test_hand_computed_example():
    confidence = [0.9, 0.6, 0.8, 0.7]
    correct = [True, False, False, True]
    # Ranked: 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (wrong).
    coverage, risk = risk_coverage(confidence, correct)
    np.testing.assert_allclose(coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0.0, 1 / 2, 1 / 3, 2 / 4])
    assert aurc(confidence, correct) == pytest.approx((0 + 1 / 2 + 1 / 3 + 1 / 2) / 4)
    assert accuracy_at_coverage(confidence, correct, 0.5) == pytest.approx(0.5)
    assert accuracy_at_coverage(confidence, correct, 0.25) == pytest.approx(1.0)
    assert accuracy_at_coverage(confidence, correct, 0.6) == pytest.approx(2 / 3)  # ceil(2.4) = 3
    assert accuracy_at_coverage(confidence, correct, 0.01) == pytest.approx(1.0)  # at least one sample


@pytest.mark.parametrize("seed", range(5))
def test_matches_a_brute_force_loop(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    confidence = np.round(rng.random(n), 1)  # many ties
    correct = rng.random(n) < 0.7
    risks = brute_force_risks(confidence.tolist(), correct.tolist())
    coverage, risk = risk_coverage(confidence, correct)
    np.testing.assert_allclose(risk, risks)
    np.testing.assert_allclose(coverage, np.arange(1, n + 1) / n)
    assert aurc(confidence, correct) == pytest.approx(sum(risks) / n)
    for c in (0.1, 0.5, 0.7, 0.8, 0.9, 1.0):
        k = max(1, math.ceil(round(c * n, 9)))
        assert accuracy_at_coverage(confidence, correct, c) == pytest.approx(1 - risks[k - 1])


def test_ties_keep_input_order():
    # Same confidence: input order decides, so the error first gives risk 1 at k = 1.
    assert risk_coverage([0.5, 0.5], [False, True])[1].tolist() == [1.0, 0.5]
    assert risk_coverage([0.5, 0.5], [True, False])[1].tolist() == [0.0, 0.5]


def test_float_noise_in_coverage_does_not_add_a_sample():
    correct = [True] * 7 + [False] * 18
    confidence = np.linspace(1, 0.1, 25)
    assert 0.28 * 25 > 7  # 7.000000000000001
    assert accuracy_at_coverage(confidence, correct, 0.28) == 1.0


@pytest.mark.parametrize(("n", "m"), [(10, 7), (100, 90), (37, 1), (5, 5), (8, 0)])
def test_perfect_ranking_has_the_closed_form_aurc(n, m):
    correct = np.array([True] * m + [False] * (n - m))
    confidence = np.linspace(1.0, 0.0, n)  # every correct one ahead of every error
    expected = (n - m) / n - (m / n) * (harmonic(n) - harmonic(m))
    assert aurc(confidence, correct) == pytest.approx(expected)
    # The worst ranking (errors first) is far worse whenever there are both kinds.
    if 0 < m < n:
        assert aurc(-confidence, correct) > expected + 0.1


def test_perfect_ranking_approaches_the_continuous_optimum():
    n, error_rate = 100_000, 0.2
    correct = np.arange(n) < n * (1 - error_rate)
    optimum = error_rate + (1 - error_rate) * math.log(1 - error_rate)  # Geifman et al. 2019, E-AURC
    assert aurc(-np.arange(n, dtype=float), correct) == pytest.approx(optimum, abs=1e-4)


def test_all_correct_and_all_wrong():
    confidence = np.random.default_rng(0).random(20)
    assert aurc(confidence, np.ones(20, dtype=bool)) == 0.0
    assert aurc(confidence, np.zeros(20, dtype=bool)) == 1.0
    assert aurc(confidence, np.ones(20, dtype=int)) == 0.0


def test_selective_metrics_from_logits_and_probs():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 4)) * 3
    labels = rng.integers(0, 4, size=50)
    probs = softmax(logits, axis=1)
    confidence, correct = probs.max(1), probs.argmax(1) == labels
    out = selective_metrics(logits, labels)
    assert list(out) == ["aurc", "accuracy_at_coverage_50", "accuracy_at_coverage_80", "accuracy_at_coverage_90",
                         "mean_confidence"]
    risks = brute_force_risks(confidence.tolist(), correct.tolist())
    assert out["aurc"] == pytest.approx(np.mean(risks))
    assert out["accuracy_at_coverage_50"] == pytest.approx(1 - risks[24])
    assert out["accuracy_at_coverage_80"] == pytest.approx(1 - risks[39])
    assert out["accuracy_at_coverage_90"] == pytest.approx(1 - risks[44])
    assert out["mean_confidence"] == pytest.approx(confidence.mean())
    from_probs = selective_metrics(probs, labels, from_logits=False)
    assert from_probs == pytest.approx(out)
    assert selective_metrics(torch.tensor(logits, requires_grad=True), torch.tensor(labels)) == pytest.approx(out)


def test_selective_metrics_custom_coverages():
    logits, labels = np.eye(3) * 2, [0, 1, 2]
    assert set(selective_metrics(logits, labels, coverages=(0.25, 0.955, 1.0))) == {
        "aurc", "accuracy_at_coverage_25", "accuracy_at_coverage_95_5", "accuracy_at_coverage_100", "mean_confidence"}


def test_selective_metrics_leaves_out_ignored_labels():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(6, 9, 5))
    labels = rng.integers(0, 5, size=(6, 9))
    labels[:, 0] = -100
    labels[rng.random(labels.shape) < 0.3] = -100
    keep = labels != -100
    flat = selective_metrics(logits[keep], labels[keep])
    assert selective_metrics(logits, labels) == pytest.approx(flat)
    # Sequence classification rows labelled -100 are dropped too.
    rows = selective_metrics(logits[:, 0], np.where(np.arange(6) < 2, -100, labels[:, 1]))
    assert rows == pytest.approx(selective_metrics(logits[2:, 0], labels[2:, 1]))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: risk_coverage([0.5, 0.6], [True]), "1-D of the same length"),
    (lambda: risk_coverage([], []), "empty"),
    (lambda: aurc([0.5, float("nan")], [True, False]), "finite"),
    (lambda: aurc([0.5, 0.6], [2, 0]), "booleans or 0/1"),
    (lambda: accuracy_at_coverage([0.5], [True], 0.0), r"coverage must be a number in \(0, 1\], got 0.0"),
    (lambda: accuracy_at_coverage([0.5], [True], 1.5), r"coverage must be a number in \(0, 1\]"),
    (lambda: selective_metrics(np.zeros((2, 3, 4)), np.zeros((2, 4))), r"need labels \(N, L\)"),
    (lambda: selective_metrics(np.zeros((2, 3)), [-100, -100]), "every label is -100"),
    (lambda: selective_metrics(np.zeros((2, 3)), [0, 1], coverages=(0.5, 2)), r"coverage must be"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
