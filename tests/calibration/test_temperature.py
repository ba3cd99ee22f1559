"""Temperature scaling: grid-search oracle, NLL never worse than T = 1, argmax preserved, direction of T."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, softmax
from sklearn.metrics import log_loss

from textmix.calibration import (
    apply_temperature,
    calibration_report,
    fit_temperature,
    temperature_scaling_report,
)


def np_nll(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    return float(-np.mean(log_softmax(logits / t, axis=1)[np.arange(len(labels)), labels]))


def grid_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Two-stage grid search: a coarse log grid over [0.01, 100], then a fine linear grid around the best."""
    coarse = np.logspace(-2, 2, 801)
    best = coarse[np.argmin([np_nll(logits, labels, t) for t in coarse])]
    fine = np.linspace(best * 0.985, best * 1.015, 1501)  # spacing ~2e-5 * T
    return float(fine[np.argmin([np_nll(logits, labels, t) for t in fine])])


def synthetic(seed: int, factor: float, n: int = 4000, c: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the model reports ``factor * z`` (factor > 1: over-confident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c)) * 1.5
    p = softmax(z, axis=1)
    labels = (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return z * factor, labels


@pytest.mark.parametrize(("seed", "factor"), [(0, 2.5), (1, 0.4), (2, 1.0), (3, 6.0)])
def test_fitted_temperature_matches_grid_oracle(seed: int, factor: float) -> None:
    logits, labels = synthetic(seed, factor, n=1500)
    t_fit = fit_temperature(logits, labels)
    t_grid = grid_temperature(logits, labels)
    assert t_fit == pytest.approx(t_grid, abs=1e-3)
    assert np_nll(logits, labels, t_fit) <= np_nll(logits, labels, t_grid) + 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overconfident_gets_t_above_one_and_underconfident_below(seed: int) -> None:
    over_logits, over_labels = synthetic(seed, 3.0)
    under_logits, under_labels = synthetic(seed, 1 / 3)
    t_over = fit_temperature(over_logits, over_labels)
    t_under = fit_temperature(under_logits, under_labels)
    assert t_over > 1.0 and t_over == pytest.approx(3.0, rel=0.15)
    assert t_under < 1.0 and t_under == pytest.approx(1 / 3, rel=0.15)


@pytest.mark.parametrize(("seed", "factor"), [(0, 2.0), (1, 0.5), (4, 1.1)])
def test_nll_not_worse_than_identity_and_argmax_unchanged(seed: int, factor: float) -> None:
    logits, labels = synthetic(seed, factor, n=1000)
    t = fit_temperature(logits, labels)
    scaled = apply_temperature(logits, t)
    assert np_nll(logits, labels, t) <= np_nll(logits, labels, 1.0) + 1e-12
    assert (
        log_loss(labels, softmax(scaled, axis=1), labels=range(4))
        <= log_loss(labels, softmax(logits, axis=1), labels=range(4)) + 1e-12
    )
    np.testing.assert_array_equal(scaled.argmax(axis=1), logits.argmax(axis=1))
    for t_any in (0.05, 0.7, 13.0):
        np.testing.assert_array_equal(apply_temperature(logits, t_any).argmax(1), logits.argmax(1))


def test_binary_single_logit_matches_two_column_form() -> None:
    rng = np.random.default_rng(7)
    s = rng.normal(size=2000) * 4.0
    labels = (rng.random(2000) < 1 / (1 + np.exp(-s / 4.0))).astype(int)  # true logit s / 4: over-confident
    t1 = fit_temperature(s, labels)
    t2 = fit_temperature(np.stack([np.zeros_like(s), s], 1), labels)
    t3 = fit_temperature(s[:, None], labels)
    assert t1 == pytest.approx(t2, abs=1e-9) and t1 == pytest.approx(t3, abs=1e-9)
    assert t1 == pytest.approx(grid_temperature(np.stack([np.zeros_like(s), s], 1), labels), abs=1e-3)
    assert t1 == pytest.approx(4.0, rel=0.2)


def test_fit_is_deterministic_and_accepts_tensors() -> None:
    logits, labels = synthetic(5, 2.0, n=800)
    t_np = fit_temperature(logits, labels)
    assert fit_temperature(logits, labels) == t_np
    t_torch = fit_temperature(torch.tensor(logits, dtype=torch.float32), torch.tensor(labels))
    assert t_torch == pytest.approx(t_np, rel=1e-4)


def test_separable_data_hits_the_lower_bound_without_blowing_up() -> None:
    logits = np.array([[3.0, 0.0], [0.0, 2.0], [5.0, 1.0]])
    labels = np.array([0, 1, 0])  # all correct: NLL keeps falling as T -> 0
    t = fit_temperature(logits, labels)
    # below T ~ 0.05 the NLL is 0 to float64 precision, so any T in [0.01, 0.05] is a minimiser
    assert 1e-2 - 1e-9 <= t < 0.05
    assert np_nll(logits, labels, t) == pytest.approx(0.0, abs=1e-15)
    assert np_nll(logits, labels, t) < np_nll(logits, labels, 1.0)
    assert fit_temperature(logits, labels, min_temperature=0.5) == pytest.approx(0.5, rel=1e-3)


def test_apply_temperature_types_and_validation() -> None:
    x = np.array([[1.0, -2.0]])
    np.testing.assert_allclose(apply_temperature(x, 2.0), [[0.5, -1.0]])
    out = apply_temperature(torch.tensor(x), 4.0)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, torch.tensor([[0.25, -0.5]], dtype=torch.float64))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            apply_temperature(x, bad)


def test_fit_validation() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        fit_temperature(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="out of range"):
        fit_temperature(np.zeros((2, 2)), [0, 2])
    with pytest.raises(ValueError, match="min_temperature"):
        fit_temperature(np.zeros((2, 2)), [0, 1], min_temperature=2.0)
    with pytest.raises(ValueError, match="shape"):
        fit_temperature(np.zeros((2, 2, 2)), [0, 1])


def test_temperature_scaling_report() -> None:
    val_logits, val_labels = synthetic(10, 3.0, n=2000)
    test_logits, test_labels = synthetic(11, 3.0, n=1000)
    rep = temperature_scaling_report(val_logits, val_labels, test_logits, test_labels, n_bins=10)
    t = rep["temperature"]
    assert t == fit_temperature(val_logits, val_labels)
    assert rep["before"] == calibration_report(test_logits, test_labels, n_bins=10)
    after = calibration_report(test_logits / t, test_labels, n_bins=10)
    for k, v in after.items():
        assert rep["after"][k] == pytest.approx(v, abs=1e-12), k
    assert rep["after"]["nll"] == pytest.approx(
        log_loss(test_labels, softmax(test_logits / t, axis=1)), abs=1e-6
    )
    assert rep["after"]["accuracy"] == rep["before"]["accuracy"]
    # on an over-confident model, held-out calibration clearly improves
    assert rep["after"]["nll"] < rep["before"]["nll"]
    assert rep["after"]["ece"] < rep["before"]["ece"]
