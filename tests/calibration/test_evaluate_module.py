"""The bundled `evaluate` module loads offline from its file and reproduces calibration_report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from textmix.calibration import calibration_report, evaluate_module_path


@pytest.fixture
def evaluate_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    import evaluate

    # keep the copied module script out of ~/.cache/huggingface/modules
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", tmp_path / "modules")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    return evaluate


def load_metric(evaluate, tmp_path: Path):
    return evaluate.load(evaluate_module_path(), keep_in_memory=True, cache_dir=str(tmp_path / "cache"))


def test_module_path_points_at_the_script() -> None:
    path = Path(evaluate_module_path())
    assert path.is_file() and path.name == "calibration_error.py"
    assert path.parent.name == "calibration_error"  # so evaluate.load(<folder>) finds it too


def test_loading_by_folder(evaluate_offline, tmp_path: Path) -> None:
    folder = str(Path(evaluate_module_path()).parent)
    metric = evaluate_offline.load(folder, keep_in_memory=True, cache_dir=str(tmp_path / "cache"))
    got = metric.compute(predictions=np.array([[2.0, 0.0], [0.0, 1.0]]), references=np.array([0, 0]))
    assert got["accuracy"] == 0.5


def test_compute_matches_calibration_report(evaluate_offline, tmp_path: Path) -> None:
    metric = load_metric(evaluate_offline, tmp_path)
    assert isinstance(metric, evaluate_offline.Metric)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(300, 4)) * 2
    labels = rng.integers(0, 4, 300)

    got = metric.compute(predictions=logits, references=labels)
    expected = calibration_report(logits, labels)
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, abs=1e-12), k

    got = metric.compute(predictions=logits, references=labels, n_bins=7)
    for k, v in calibration_report(logits, labels, n_bins=7).items():
        assert got[k] == pytest.approx(v, abs=1e-12), k


def test_batches_binary_scores_and_probabilities(evaluate_offline, tmp_path: Path) -> None:
    metric = load_metric(evaluate_offline, tmp_path)
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(200, 3))
    labels = rng.integers(0, 3, 200)
    metric.add_batch(predictions=logits[:120], references=labels[:120])
    metric.add_batch(predictions=logits[120:], references=labels[120:])
    got = metric.compute()
    for k, v in calibration_report(logits, labels).items():
        assert got[k] == pytest.approx(v, abs=1e-12), k

    s = rng.normal(size=150)
    y = rng.integers(0, 2, 150)
    got = metric.compute(predictions=s, references=y)
    for k, v in calibration_report(s, y).items():
        assert got[k] == pytest.approx(v, abs=1e-12), k

    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    got = metric.compute(predictions=probs, references=labels, from_logits=False)
    for k, v in calibration_report(probs, labels, from_logits=False).items():
        assert got[k] == pytest.approx(v, abs=1e-12), k


def test_smooth_ece_interval_on_request(evaluate_offline, tmp_path: Path) -> None:
    from textmix.calibration import bootstrap_interval

    metric = load_metric(evaluate_offline, tmp_path)
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(120, 3)) * 2, rng.integers(0, 3, 120)
    got = metric.compute(predictions=logits, references=labels, n_bootstrap=100, level=0.9, seed=4)
    low, high = bootstrap_interval(logits, labels, "smece", n_bootstrap=100, level=0.9, seed=4)
    assert got["smece_low"] == low and got["smece_high"] == high and low <= got["smece"] <= high
    for bad in ({"n_bootstrap": 50}, {"n_bootstrap": 100, "level": 1.5}):
        with pytest.raises(ValueError, match="n_bootstrap|level"):
            metric.compute(predictions=logits, references=labels, **bad)
