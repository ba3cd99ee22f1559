"""Calibration metrics, temperature scaling, reliability diagrams and Trainer ``compute_metrics``.

Importing this package is cheap: torchmetrics, matplotlib, scikit-learn and scipy load on first use.
"""

from __future__ import annotations

from pathlib import Path

from .compute_metrics import classification_metrics, multi_label_metrics, regression_metrics
from .metrics import (
    REPORT_KEYS,
    ReliabilityBins,
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
from .reliability import reliability_diagram, reliability_grid, reliability_overlay
from .selective import accuracy_at_coverage, aurc, risk_coverage, selective_metrics
from .smooth import (
    SmoothReliability,
    bootstrap_indices,
    bootstrap_interval,
    smooth_calibration_error,
    smooth_reliability,
    sweep_calibration_error,
)
from .temperature import apply_temperature, fit_temperature, temperature_scaling_report
from .tokens import (
    entity_calibration,
    entity_scores,
    labelled_tokens,
    token_calibration_report,
    token_classification_metrics,
)


def evaluate_module_path() -> str:
    """Path of the bundled ``evaluate`` metric script; ``evaluate.load(evaluate_module_path())`` works offline."""
    return str(Path(__file__).resolve().parent / "calibration_error" / "calibration_error.py")


__all__ = [
    "multi_label_metrics",
    "REPORT_KEYS",
    "ReliabilityBins",
    "SmoothReliability",
    "accuracy",
    "accuracy_at_coverage",
    "adaptive_calibration_error",
    "apply_temperature",
    "aurc",
    "bootstrap_indices",
    "bootstrap_interval",
    "brier_score",
    "calibration_report",
    "classification_metrics",
    "classwise_calibration_error",
    "entity_calibration",
    "entity_scores",
    "evaluate_module_path",
    "expected_calibration_error",
    "fit_temperature",
    "labelled_tokens",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "regression_metrics",
    "reliability_bins",
    "reliability_diagram",
    "reliability_grid",
    "reliability_overlay",
    "risk_coverage",
    "rms_calibration_error",
    "selective_metrics",
    "smooth_calibration_error",
    "smooth_reliability",
    "sweep_calibration_error",
    "temperature_scaling_report",
    "to_probabilities",
    "token_calibration_report",
    "token_classification_metrics",
]
