"""Smooth ECE against its authors' package (relplot), the sweep ECE against a per-bin loop, bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from textmix.calibration import (
    bootstrap_indices,
    bootstrap_interval,
    calibration_report,
    reliability_diagram,
    smooth_calibration_error,
    smooth_reliability,
    sweep_calibration_error,
)
from textmix.calibration.smooth import smooth_ece_binary, sweep_ece_binary, top_label

relplot = pytest.importorskip("relplot")


def _top(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-label (confidence, correct) computed independently of textmix."""
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return p.max(1), (p.argmax(1) == labels).astype(float)


@pytest.mark.parametrize(("n", "classes", "scale", "seed"),
                         [(40, 2, 1.0, 0), (277, 2, 4.0, 1), (1000, 5, 2.0, 2), (872, 3, 0.3, 3), (3000, 10, 6.0, 4)])
def test_smece_equals_relplot_on_random_predictions(n: int, classes: int, scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, classes)) * scale
    labels = rng.integers(0, classes, n)
    f, y = _top(logits, labels)
    expected, width = relplot.smECE(f, y, return_width=True)
    assert smooth_calibration_error(logits, labels) == pytest.approx(expected, abs=1e-6)
    value, sigma = smooth_ece_binary(f, y)
    assert sigma == pytest.approx(width, abs=1e-12)
    assert calibration_report(logits, labels)["smece"] == pytest.approx(expected, abs=1e-6)
    assert smooth_calibration_error(logits, labels, sigma=0.07) == pytest.approx(
        relplot.smECE_sigma(f, y, 0.07), abs=1e-6)


def test_smece_equals_relplot_on_calibrated_predictions() -> None:
    rng = np.random.default_rng(5)
    f = rng.uniform(0.5, 1.0, 2000)
    y = (rng.uniform(size=f.size) < f).astype(float)
    assert smooth_ece_binary(f, y)[0] == pytest.approx(relplot.smECE(f, y), abs=1e-6)


def test_smece_equals_relplot_on_real_predictions() -> None:
    """A logistic regression trained on MNIST digits: real, imperfectly calibrated probabilities."""
    from pathlib import Path

    from sklearn.linear_model import LogisticRegression

    from textmix.harness.paths import shared_dir

    path = Path(shared_dir()) / "data" / "mnist" / "mnist.npz"
    if not path.exists():
        pytest.skip(f"{path} is not here")
    data = np.load(path)
    def pooled(x: np.ndarray) -> np.ndarray:  # 4 x 4 average pooling: 49 features, a fast fit
        return x.reshape(len(x), 7, 4, 7, 4).mean(axis=(2, 4)).reshape(len(x), -1) / 255.0

    x_train, x_test = pooled(data["x_train"][:1500]), pooled(data["x_test"][:800])
    model = LogisticRegression(max_iter=300).fit(x_train, data["y_train"][:1500])
    probs, labels = model.predict_proba(x_test), data["y_test"][:800]
    f, y = relplot.multiclass_logits_to_confidences(probs, labels, probs=True)
    assert smooth_calibration_error(probs, labels, from_logits=False) == pytest.approx(relplot.smECE(f, y), abs=1e-6)


def test_smece_of_constant_predictions_is_the_gap() -> None:
    """The paper's case with a known answer: one confidence c for all, outcome frequency a -> smECE = |c - a|."""
    y = np.array([1.0] * 60 + [0.0] * 40)
    assert smooth_ece_binary(np.full(100, 0.9), y)[0] == pytest.approx(0.3, abs=2e-3)
    assert smooth_ece_binary(np.full(100, 0.6), y)[0] == pytest.approx(0.0, abs=2e-3)


def test_smooth_reliability_equals_relplots_curve(tmp_path) -> None:
    rng = np.random.default_rng(6)
    f = rng.uniform(0.5, 1.0, 500)
    y = (rng.uniform(size=f.size) < f ** 2).astype(int)
    probs = np.stack([1 - f, f], 1)
    curve = smooth_reliability(probs, y, from_logits=False)
    expected = relplot.prepare_rel_diagram(f, y, plot_confidence_band=False)
    assert curve.sigma == pytest.approx(expected["sigma"])
    np.testing.assert_allclose(curve.accuracy, expected["mu"], atol=1e-6)
    np.testing.assert_allclose(curve.density, expected["density"], atol=1e-6)

    import matplotlib

    matplotlib.use("Agg")
    from unittest import mock

    drawn = {}
    from matplotlib.axes import Axes

    original = Axes.plot

    def spy(self, *args, **kwargs):
        if kwargs.get("gid") == "smooth":
            drawn["y"] = np.asarray(args[1])
        return original(self, *args, **kwargs)

    with mock.patch.object(Axes, "plot", spy):
        reliability_diagram(probs, y, tmp_path / "r.png", from_logits=False, smooth=True)
    np.testing.assert_allclose(drawn["y"], expected["mu"], atol=1e-6)
    assert (tmp_path / "r.png").stat().st_size > 0


def _sweep_oracle(f: np.ndarray, y: np.ndarray) -> float:
    """ECE_sweep by its definition, bin by bin in plain Python."""
    order = sorted(range(len(f)), key=lambda i: (f[i], i))
    fs, ys = [f[i] for i in order], [y[i] for i in order]
    best = None
    for bins in range(1, len(f) + 1):
        q, r = divmod(len(f), bins)
        groups, start = [], 0
        for b in range(bins):
            size = q + (1 if b < r else 0)
            groups.append(range(start, start + size))
            start += size
        accs = [sum(ys[i] for i in g) / len(g) for g in groups]
        if any(accs[b + 1] < accs[b] for b in range(bins - 1)):
            break
        best = sum(len(g) * abs(accs[k] - sum(fs[i] for i in g) / len(g)) for k, g in enumerate(groups)) / len(f)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sweep_ece_equals_the_per_bin_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(300, 3)) * 3
    labels = np.where(rng.uniform(size=300) < 0.7, logits.argmax(1), rng.integers(0, 3, 300))
    f, y = _top(logits, labels)
    assert sweep_calibration_error(logits, labels) == pytest.approx(_sweep_oracle(f, y), abs=1e-12)
    assert calibration_report(logits, labels)["ece_sweep"] == pytest.approx(_sweep_oracle(f, y), abs=1e-12)


def test_sweep_ece_by_hand() -> None:
    # sorted f: .6 .7 .8 .9 with outcomes 0 1 1 1: 1 bin -> |.75 - .75| = 0; 2 bins (.5, 1) monotone -> ece
    # (2 * |.5 - .65| + 2 * |1 - .85|) / 4 = .15; 3 bins (sizes 2, 1, 1): accs .5, 1, 1 monotone -> (2 * .15 +
    # .2 + .1) / 4 = .15; 4 bins: 0, 1, 1, 1 monotone -> (.6 + .3 + .2 + .1) / 4 = .3
    value, bins = sweep_ece_binary([0.9, 0.6, 0.8, 0.7], [1, 0, 1, 1])
    assert bins == 4 and value == pytest.approx(0.3)
    value, bins = sweep_ece_binary([0.6, 0.7, 0.8, 0.9], [1, 0, 1, 1])  # 2 bins: 0.5, 1; 3 bins: 0.5, 1, 1;
    assert bins == 3 and value == pytest.approx((2 * abs(0.5 - 0.65) + 0.2 + 0.1) / 4)  # 4: 1, 0 breaks


def test_bootstrap_interval_is_the_percentile_of_relplot_over_the_paired_resamples() -> None:
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(150, 2)) * 2
    labels = rng.integers(0, 2, 150)
    f, y = _top(logits, labels)
    idx = bootstrap_indices(150, 100, seed=3)
    assert np.array_equal(idx, bootstrap_indices(150, 100, seed=3))  # a function of (n, count, seed): paired
    values = [relplot.smECE(f[i], y[i]) for i in idx]
    low, high = bootstrap_interval(logits, labels, "smece", n_bootstrap=100, level=0.9, seed=3)
    assert low == pytest.approx(np.quantile(values, 0.05), abs=1e-6)
    assert high == pytest.approx(np.quantile(values, 0.95), abs=1e-6)
    assert low <= smooth_calibration_error(logits, labels) <= high


@pytest.mark.parametrize(("count", "level"), [(99, 0.95), (0, 0.95), (1000, 0.0), (1000, 1.0), (1000, 95)])
def test_bootstrap_rejects_too_few_resamples_and_levels_outside_0_1(count: int, level: float) -> None:
    with pytest.raises(ValueError, match="n_bootstrap|level"):
        bootstrap_interval(np.zeros((10, 2)), np.zeros(10, dtype=int), n_bootstrap=count, level=level)


def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(ValueError, match="sigma"):
        smooth_calibration_error(np.zeros((3, 2)), [0, 1, 0], sigma=0.0)
    with pytest.raises(ValueError, match="outcomes"):
        smooth_ece_binary([0.5, 0.6], [0.5, 1.0])
    with pytest.raises(ValueError, match="unknown metric"):
        bootstrap_interval(np.zeros((3, 2)), [0, 1, 0], "ece15", n_bootstrap=100)
    f, y = top_label(np.array([[2.0, 0.0], [0.0, 1.0]]), [0, 0])
    assert np.allclose(f, [1 / (1 + np.exp(-2)), 1 / (1 + np.exp(-1))]) and list(y) == [1.0, 0.0]


def test_smece_of_many_resamples_at_once_equals_relplot_on_each() -> None:
    from textmix.calibration.smooth import smooth_ece_rows

    rng = np.random.default_rng(8)
    f = rng.uniform(0.34, 1.0, 300)
    y = (rng.uniform(size=f.size) < f ** 1.5).astype(float)
    pool = bootstrap_indices(f.size, 100, seed=1)
    pool[:3] = 0  # a degenerate resample (one example) among them
    got = smooth_ece_rows(f[pool], y[pool])
    for k in (0, 3, 17, 42, 99):
        assert got[k] == pytest.approx(relplot.smECE(f[pool[k]], y[pool[k]]), abs=1e-6)
    np.testing.assert_allclose(got, [smooth_ece_binary(f[i], y[i])[0] for i in pool], atol=1e-9)


# ------------------------------------------------------------------ known answers, from the definitions


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_bootstrap_indices_draw_every_example_uniformly(n: int) -> None:
    """Resampling with replacement: each row holds n draws, each uniform over all n examples (the last too)."""
    idx = bootstrap_indices(n, 2000, seed=5)
    assert idx.shape == (2000, n) and idx.min() == 0 and idx.max() == n - 1
    share = np.bincount(idx.ravel(), minlength=n) / idx.size
    np.testing.assert_allclose(share, np.full(n, 1 / n), atol=0.03)
    assert not np.array_equal(idx, bootstrap_indices(n, 2000, seed=6)) or n == 1


def test_bootstrap_interval_of_a_mean_on_two_examples_is_0_to_1() -> None:
    """y = (0, 1): a resample's mean is 0, 1/2 or 1 with chances 1/4, 1/2, 1/4, so the 95 % percentile
    interval of 1000 resamples is [0, 1] (a resampling that misses an example gives [0, 0] or [1, 1])."""
    def mean(f, y):
        return float(np.mean(y))

    probs = np.array([[0.6, 0.4], [0.3, 0.7]])
    for labels in ([1, 1], [0, 0]):  # only the first / only the last example is right
        assert bootstrap_interval(probs, labels, mean, from_logits=False, n_bootstrap=1000) == (0.0, 1.0)


def test_bootstrap_interval_of_a_mean_is_the_normal_interval() -> None:
    """Level 0.95: the 2.5 / 97.5 % percentiles of resampled means of n = 4000 0/1 outcomes with mean p are
    p -+ 1.96 sqrt(p (1 - p) / n) (within the percentiles' noise); level 0.5: -+ 0.674 sd."""
    n, p = 4000, 0.3
    labels = np.zeros(n, dtype=int)
    labels[: int(p * n)] = 1  # probs favour class 0: right where the label is 0
    probs = np.tile([0.8, 0.2], (n, 1))
    sd = np.sqrt(p * (1 - p) / n)
    for level, z in ((0.95, 1.959964), (0.5, 0.674490)):
        low, high = bootstrap_interval(probs, labels, lambda f, y: float(y.mean()), from_logits=False,
                                       n_bootstrap=2000, level=level)
        assert low == pytest.approx((1 - p) - z * sd, abs=0.15 * z * sd)
        assert high == pytest.approx((1 - p) + z * sd, abs=0.15 * z * sd)
        assert (high - low) / 2 == pytest.approx(z * sd, rel=0.1)


def test_smece_of_a_perfectly_calibrated_constant_is_near_0_and_of_a_shifted_one_the_gap() -> None:
    """All confidences c with accuracy c: smECE ~ 0; the same outcomes at confidence c + 0.2: smECE ~ 0.2."""
    n = 1000
    y = np.zeros(n)
    y[: 600] = 1.0
    assert smooth_ece_binary(np.full(n, 0.6), y)[0] == pytest.approx(0.0, abs=1e-3)
    assert smooth_ece_binary(np.full(n, 0.8), y)[0] == pytest.approx(0.2, abs=1e-3)
    assert smooth_ece_binary(np.full(n, 0.4), y)[0] == pytest.approx(0.2, abs=1e-3)


def test_sweep_ece_of_two_examples_by_hand() -> None:
    # f .2, .9 with y 0, 1: one bin |.5 - .55| = .05; two bins (acc 0, 1 monotone) (.2 + .1) / 2 = .15
    assert sweep_ece_binary([0.9, 0.2], [1, 0]) == pytest.approx((0.15, 2))
    # y 1, 0: two bins' accuracies 1, 0 decrease -> one bin: |.5 - .55| = .05
    assert sweep_ece_binary([0.2, 0.9], [1, 0]) == pytest.approx((0.05, 1))
