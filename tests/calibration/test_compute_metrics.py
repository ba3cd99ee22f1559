"""Trainer ``compute_metrics`` factories, checked against scikit-learn and scipy directly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
from transformers import EvalPrediction

from textmix.calibration import calibration_report, classification_metrics, regression_metrics

CALIBRATION_KEYS = {"ece", "adaptive_ece", "mce", "rmsce", "classwise_ece", "smece", "ece_sweep", "brier", "nll"}


def with_ignored(labels: np.ndarray, rng: np.random.Generator, frac: float = 0.2) -> np.ndarray:
    out = labels.copy()
    out[rng.random(len(out)) < frac] = -100
    return out


def test_binary_glue_metrics_with_tuple_predictions_and_ignored_labels() -> None:
    rng = np.random.default_rng(0)
    n = 400
    logits = rng.normal(size=(n, 2)).astype(np.float32) * 2
    labels = with_ignored(rng.integers(0, 2, n), rng)
    hidden = rng.normal(size=(n, 8))
    fn = classification_metrics()
    out = fn(EvalPrediction(predictions=(logits, hidden), label_ids=labels))

    keep = labels != -100
    y, lg = labels[keep], logits[keep]
    pred = lg.argmax(1)
    assert set(out) == {"accuracy", "f1", "matthews_correlation"} | CALIBRATION_KEYS
    assert out["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert out["f1"] == pytest.approx(f1_score(y, pred), abs=1e-12)
    assert out["matthews_correlation"] == pytest.approx(matthews_corrcoef(y, pred), abs=1e-12)
    report = calibration_report(lg, y)
    for k in CALIBRATION_KEYS:
        assert out[k] == pytest.approx(report[k], abs=1e-9), k
    assert all(isinstance(v, float) for v in out.values())


def test_multiclass_uses_macro_f1_by_default() -> None:
    rng = np.random.default_rng(1)
    n = 500
    logits = rng.normal(size=(n, 3))
    labels = with_ignored(rng.integers(0, 3, n), rng)
    out = classification_metrics()(EvalPrediction(predictions=logits, label_ids=labels))
    keep = labels != -100
    pred = logits[keep].argmax(1)
    assert out["f1"] == pytest.approx(f1_score(labels[keep], pred, average="macro"), abs=1e-12)
    assert out["matthews_correlation"] == pytest.approx(matthews_corrcoef(labels[keep], pred), abs=1e-12)
    assert out["accuracy"] == pytest.approx(accuracy_score(labels[keep], pred), abs=1e-12)
    assert out["nll"] == pytest.approx(calibration_report(logits[keep], labels[keep])["nll"], abs=1e-12)


def test_macro_f1_on_binary_and_binary_f1_rejected_for_multiclass() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(300, 2))
    labels = rng.integers(0, 2, 300)
    out = classification_metrics(f1_average="macro", calibration=False)((logits, labels))
    assert set(out) == {"accuracy", "f1", "matthews_correlation"}
    assert out["f1"] == pytest.approx(f1_score(labels, logits.argmax(1), average="macro"), abs=1e-12)
    with pytest.raises(ValueError, match="2 classes"):
        classification_metrics(f1_average="binary")((rng.normal(size=(5, 3)), rng.integers(0, 3, 5)))
    with pytest.raises(ValueError, match="f1_average"):
        classification_metrics(f1_average="micro")  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", ["(N,)", "(N,1)"])
def test_single_logit_binary_head(shape: str) -> None:
    rng = np.random.default_rng(3)
    s = rng.normal(size=250) * 2
    labels = rng.integers(0, 2, 250)
    preds = s if shape == "(N,)" else s[:, None]
    out = classification_metrics()(EvalPrediction(predictions=preds, label_ids=labels))
    pred = (expit(s) > 0.5).astype(int)
    assert out["accuracy"] == pytest.approx(accuracy_score(labels, pred))
    assert out["f1"] == pytest.approx(f1_score(labels, pred))
    assert out["ece"] == pytest.approx(calibration_report(np.stack([np.zeros(250), s], 1), labels)["ece"])


def test_probabilities_input() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(200, 4))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 4, 200)
    a = classification_metrics()((logits, labels))
    b = classification_metrics(from_logits=False)((probs, labels))
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-9), k


def test_classification_errors() -> None:
    fn = classification_metrics()
    with pytest.raises(ValueError, match="no labelled examples"):
        fn((np.zeros((3, 2)), np.full(3, -100)))
    with pytest.raises(ValueError, match="shape mismatch"):
        fn((np.zeros((3, 2)), np.zeros(4, int)))
    with pytest.raises(ValueError, match="out of range"):
        fn((np.zeros((3, 2)), np.array([0, 1, 2])))
    with pytest.raises(ValueError, match="label_ids"):
        fn(EvalPrediction(predictions=np.zeros((3, 2)), label_ids=None))


@pytest.mark.parametrize("column", [False, True])
def test_regression_metrics_against_scipy(column: bool) -> None:
    rng = np.random.default_rng(5)
    n = 300
    labels = rng.uniform(0, 5, n)
    preds = labels + rng.normal(size=n)
    labels_ignored = labels.copy()
    labels_ignored[:20] = -100
    p = preds[:, None].astype(np.float32) if column else preds.astype(np.float32)
    out = regression_metrics()(EvalPrediction(predictions=(p,), label_ids=labels_ignored))
    keep = labels_ignored != -100
    pk, lk = p.reshape(-1)[keep].astype(np.float64), labels[keep]
    assert set(out) == {"pearson", "spearmanr", "mse"}
    assert out["pearson"] == pytest.approx(pearsonr(pk, lk)[0], abs=1e-9)
    assert out["spearmanr"] == pytest.approx(spearmanr(pk, lk)[0], abs=1e-9)
    assert out["mse"] == pytest.approx(np.mean((pk - lk) ** 2), abs=1e-9)


def test_regression_rejects_multi_output() -> None:
    with pytest.raises(ValueError, match="shape"):
        regression_metrics()((np.zeros((4, 2)), np.zeros(4)))
