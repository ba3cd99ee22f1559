"""The figures of a run are declared once (`textmix.harness.figures`): the report's views are tuples of their
names, checked at import; the schema's split figures and the intervals' per-example figures come from them."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from textmix.harness.figures import FIGURE, FIGURES, Figure, check_view, split_figure_names

HARNESS = Path(__file__).resolve().parents[2] / "textmix" / "harness"


def test_a_view_naming_no_figure_is_an_error_naming_the_known_ones():
    assert check_view("table", ("ece", "nll")) == ("ece", "nll")
    with pytest.raises(ValueError, match=r"view 'table': \['ecee'\] are no figures.*known: \['task_metric'"):
        check_view("table", ("ece", "ecee"))


def test_every_view_of_the_report_is_a_tuple_of_figure_names():
    from textmix.harness.report import views

    found = {k: v for k, v in vars(views).items() if k.isupper() and isinstance(v, tuple) and v
             and all(isinstance(n, str) for n in v) and k not in ("OCCLUSION_KINDS", "SHIFT_KINDS")}
    assert {"COLUMNS", "TABLE", "CSV_CHANGES", "INTERVALS", "SHIFT", "PLOTTED", "RECOMMENDED", "BEST"} <= set(found)
    assert all(set(v) <= set(FIGURE) for v in found.values())


def test_the_figures_are_declared_once_in_the_harness():
    """No second list: no module but figures.py constructs a `Figure`, and none declares the old lists."""
    makers = []
    for path in HARNESS.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Figure"]
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        names |= {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        if calls or names & {"Column", "ExampleMetric", "EXAMPLE_METRICS", "REPORT_COLUMNS"}:
            makers.append(path.relative_to(HARNESS).as_posix())
    assert makers == ["figures.py"]
    assert len({f.name for f in FIGURES}) == len(FIGURES) and all(isinstance(f, Figure) for f in FIGURES)


def test_a_splits_figures_are_those_of_the_schema():
    from typing import get_type_hints

    from textmix.harness.runfile import SplitFigures

    assert split_figure_names() == get_type_hints(SplitFigures)


def test_nll_and_brier_per_example_are_the_librarys_and_the_hand_formulas():
    from textmix.calibration.metrics import brier_score, negative_log_likelihood

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 4)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 4, 50)
    onehot = np.eye(4)[labels]
    nll, brier = FIGURE["nll"].per_example(probs, labels), FIGURE["brier_ts"].per_example(probs, labels)
    np.testing.assert_allclose(nll, -np.log(probs[np.arange(50), labels]), rtol=1e-12)
    np.testing.assert_allclose(brier, ((probs - onehot) ** 2).sum(1), rtol=1e-12)
    assert nll.mean() == pytest.approx(negative_log_likelihood(logits, labels), rel=1e-12)
    assert brier.mean() == pytest.approx(brier_score(logits, labels), rel=1e-12)
    assert FIGURE["nll_ts"].scaled and not FIGURE["nll"].scaled and FIGURE["smece_ts"].resampled is not None
