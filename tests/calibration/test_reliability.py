"""Reliability diagrams: valid PNGs, and the bins drawn match numpy oracles."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

import textmix.calibration.reliability as rel
from textmix.calibration import (
    expected_calibration_error,
    reliability_bins,
    reliability_diagram,
    reliability_grid,
    reliability_overlay,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert len(data) > 0
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0
    return width, height


def oracle_bins(logits: np.ndarray, labels: np.ndarray, n_bins: int) -> dict[str, np.ndarray]:
    """numpy.histogram counts (last bin closed) plus per-bin means from an explicit loop."""
    probs = softmax(logits, axis=1)
    conf = probs.max(axis=1)
    hit = (probs.argmax(axis=1) == labels).astype(float)
    counts, edges = np.histogram(conf, bins=n_bins, range=(0.0, 1.0))
    idx = np.clip(np.digitize(conf, edges[1:-1], right=False), 0, n_bins - 1)
    mean_conf = np.full(n_bins, np.nan)
    mean_acc = np.full(n_bins, np.nan)
    for b in range(n_bins):
        sel = idx == b
        if sel.any():
            mean_conf[b] = conf[sel].mean()
            mean_acc[b] = hit[sel].mean()
    return {"counts": counts, "edges": edges, "confidence": mean_conf, "accuracy": mean_acc}


def make(seed: int, n: int = 600, c: int = 3, scale: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * scale
    labels = rng.integers(0, c, size=n)
    labels[: n // 2] = logits[: n // 2].argmax(1)  # about half correct by construction
    return logits, labels


@pytest.fixture
def captured_figures(monkeypatch: pytest.MonkeyPatch) -> list:
    """Keep every figure the module saves, so the drawn artists can be inspected."""
    figs: list = []
    original = rel._save

    def spy(fig, path):
        figs.append(fig)
        original(fig, path)

    monkeypatch.setattr(rel, "_save", spy)
    return figs


def heights(ax, gid: str) -> np.ndarray:
    return np.array([p.get_height() for p in ax.patches if p.get_gid() == gid])


def check_bins(bins, logits, labels, n_bins) -> None:
    o = oracle_bins(logits, labels, n_bins)
    np.testing.assert_array_equal(bins.counts, o["counts"])
    np.testing.assert_allclose(bins.edges, o["edges"], atol=1e-15)
    np.testing.assert_allclose(bins.confidence, o["confidence"], atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(bins.accuracy, o["accuracy"], atol=1e-12, equal_nan=True)
    filled = bins.counts > 0
    ece_from_bins = np.sum(
        bins.counts[filled] / bins.counts.sum() * np.abs(bins.accuracy - bins.confidence)[filled]
    )
    assert bins.ece == pytest.approx(ece_from_bins, abs=1e-9)
    assert bins.ece == pytest.approx(expected_calibration_error(logits, labels, n_bins=n_bins), abs=1e-12)


@pytest.mark.parametrize("n_bins", [15, 6])
def test_reliability_bins_match_oracle(n_bins: int) -> None:
    logits, labels = make(0)
    bins = reliability_bins(logits, labels, n_bins=n_bins)
    check_bins(bins, logits, labels, n_bins)
    assert bins.n_bins == n_bins and bins.n_samples == len(labels)


def test_single_diagram_png_and_drawn_counts(tmp_path: Path, captured_figures: list) -> None:
    logits, labels = make(1)
    path = tmp_path / "sub" / "single.png"
    bins = reliability_diagram(logits, labels, path, n_bins=10, title="model A")
    assert_png(path)
    check_bins(bins, logits, labels, 10)
    (fig,) = captured_figures
    top, bottom = fig.axes
    oracle = oracle_bins(logits, labels, 10)
    np.testing.assert_array_equal(heights(bottom, "count:samples"), oracle["counts"])
    assert top.get_title() == "model A"
    assert f"{bins.ece:.4f}" in top.get_legend().get_title().get_text()
    np.testing.assert_allclose(heights(top, "accuracy"), np.nan_to_num(oracle["accuracy"]), atol=1e-12)
    gap_tops = heights(top, "gap") + heights(top, "accuracy")
    np.testing.assert_allclose(gap_tops, np.nan_to_num(oracle["confidence"]), atol=1e-12)


def test_overlay_png_counts_and_legend(tmp_path: Path, captured_figures: list) -> None:
    models = {"baseline": make(2, scale=4.0), "mixup": make(3, scale=1.0), "cutmix": make(4, n=300)}
    path = tmp_path / "overlay.png"
    result = reliability_overlay(models, path, n_bins=12, title="overlay")
    assert_png(path)
    assert list(result) == list(models)
    for name, (logits, labels) in models.items():
        check_bins(result[name], logits, labels, 12)
    (fig,) = captured_figures
    top, bottom = fig.axes
    for name, (logits, labels) in models.items():
        np.testing.assert_array_equal(
            heights(bottom, f"count:{name}"), oracle_bins(logits, labels, 12)["counts"]
        )
    legend = [t.get_text() for t in top.get_legend().get_texts()]
    for name, bins in result.items():
        assert f"{name} (ECE = {bins.ece:.4f})" in legend


def test_grid_png_layout_and_bins(tmp_path: Path, captured_figures: list) -> None:
    results = {
        ("sst2", "none"): make(5),
        ("sst2", "mixup"): make(6),
        ("mnli", "none"): make(7, c=3),
        # ("mnli", "mixup") missing on purpose
    }
    path = tmp_path / "grid.png"
    out = reliability_grid(results, path, n_bins=8, title="tasks x methods")
    w, h = assert_png(path)
    assert w > 0 and h > 0
    assert set(out) == set(results)
    for key, (logits, labels) in results.items():
        check_bins(out[key], logits, labels, 8)
    (fig,) = captured_figures
    assert len(fig.axes) == 4  # 2 rows x 2 cols
    assert [ax.get_title() for ax in fig.axes[:2]] == ["none", "mixup"]
    assert any(t.get_text() == "n/a" for t in fig.axes[3].texts)
    for ax, key in zip(fig.axes[:3], [("sst2", "none"), ("sst2", "mixup"), ("mnli", "none")], strict=True):
        oracle = oracle_bins(*results[key], 8)
        np.testing.assert_allclose(
            heights(ax, "share"), oracle["counts"] / oracle["counts"].sum(), atol=1e-12
        )
        np.testing.assert_allclose(heights(ax, "accuracy"), np.nan_to_num(oracle["accuracy"]), atol=1e-12)
        assert f"ECE {out[key].ece:.3f}" in ax.texts[0].get_text()
        # the shares are outlines in front: they hide no accuracy bar; the cell's text is above everything
        assert all(not p.get_fill() for p in ax.patches if p.get_gid() == "share")
        assert ax.texts[0].get_zorder() > max(p.get_zorder() for p in ax.patches)
    (legend,) = fig.legends  # what the dotted bars and the rest are
    assert [t.get_text() for t in legend.get_texts()] == [
        "accuracy per confidence bin", "gap to the bin's mean confidence", "share of samples in the bin (dotted)",
        "perfect calibration"]
    reliability_grid(results, path, notes={("sst2", "mixup"): "ECE 0.1234 (mean of 3 seeds)"})
    assert captured_figures[-1].axes[1].texts[0].get_text() == f"ECE 0.1234 (mean of 3 seeds)\nn = {len(results[('sst2', 'mixup')][1])}"


def test_binary_probabilities_and_validation(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    p = rng.random(200)
    y = (rng.random(200) < p).astype(int)
    bins = reliability_diagram(p, y, tmp_path / "binary.png", from_logits=False)
    assert_png(tmp_path / "binary.png")
    two_col = np.log(np.stack([1 - p, p], 1))
    check_bins(bins, two_col, y, 15)
    with pytest.raises(ValueError, match="empty"):
        reliability_overlay({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="empty"):
        reliability_grid({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="pairs"):
        reliability_grid({"a": (p, y)}, tmp_path / "x.png", from_logits=False)
    with pytest.raises(ValueError, match="n_bins"):
        reliability_diagram(p, y, tmp_path / "x.png", n_bins=0, from_logits=False)


def test_importing_calibration_does_not_import_matplotlib_or_torchmetrics() -> None:
    # only what textmix.calibration adds on top of textmix is checked
    code = (
        "import sys, textmix; before = set(sys.modules); import textmix.calibration; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "bad = new & {'matplotlib', 'torchmetrics', 'sklearn', 'scipy', 'evaluate', 'netcal'}; "
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


# top-label confidences exactly on the edges of 4 (and 8) equal-width bins: 0.25, 0.5, 0.75 and 1.0 (dyadic,
# so the edges are exact in float64), and between them
EDGE_PROBS = np.array([
    [0.25, 0.25, 0.25, 0.25],  # conf 0.25: on the first inner edge
    [0.5, 0.25, 0.25, 0.0],  # 0.5
    [0.0, 0.75, 0.25, 0.0],  # 0.75
    [0.0, 0.0, 1.0, 0.0],  # 1.0: the last edge (numpy.histogram's last bin is closed)
    [0.375, 0.25, 0.25, 0.125],  # 0.375: inside bin 1 of 4
    [0.0, 0.0, 0.125, 0.875],  # 0.875
    [0.5, 0.5, 0.0, 0.0],  # 0.5 again, a tie (class 0)
])
EDGE_LABELS = np.array([0, 1, 1, 2, 0, 3, 1])


@pytest.mark.parametrize("n_bins", [4, 8, 2])
def test_bins_at_exact_edges_match_numpy_histogram(n_bins: int) -> None:
    """A confidence on an inner edge belongs to the upper bin (half-open [e_k, e_k+1)), 1.0 to the last one,
    as in numpy.histogram and torchmetrics' binned ECE."""
    conf = EDGE_PROBS.max(1)
    counts, _ = np.histogram(conf, bins=n_bins, range=(0.0, 1.0))
    bins = reliability_bins(EDGE_PROBS, EDGE_LABELS, n_bins=n_bins, from_logits=False)
    np.testing.assert_array_equal(bins.counts, counts)
    hit = (EDGE_PROBS.argmax(1) == EDGE_LABELS).astype(float)
    idx = np.minimum((conf * n_bins).astype(int), n_bins - 1)  # exact on dyadic edges: floor(c * n)
    for b in range(n_bins):
        sel = idx == b
        if sel.any():
            assert bins.confidence[b] == pytest.approx(conf[sel].mean())
            assert bins.accuracy[b] == pytest.approx(hit[sel].mean())
        else:
            assert np.isnan(bins.confidence[b]) and np.isnan(bins.accuracy[b])
    ece = sum(np.sum(idx == b) / conf.size * abs(hit[idx == b].mean() - conf[idx == b].mean())
              for b in range(n_bins) if (idx == b).any())
    assert bins.ece == pytest.approx(ece, abs=1e-7)
    assert expected_calibration_error(EDGE_PROBS, EDGE_LABELS, n_bins=n_bins, from_logits=False) == pytest.approx(
        ece, abs=1e-7)


def test_bins_of_four_at_the_edges_by_hand() -> None:
    # confidences .25 .5 .75 1 .375 .875 .5 -> bins [.25, .375 | .5, .5 | .75, .875 | 1.0] of 4
    bins = reliability_bins(EDGE_PROBS, EDGE_LABELS, n_bins=4, from_logits=False)
    assert bins.counts.tolist() == [0, 2, 2, 3]
    np.testing.assert_allclose(bins.confidence[1:], [(0.25 + 0.375) / 2, 0.5, (0.75 + 0.875 + 1.0) / 3])
    # right: .25 (argmax 0, label 0) yes, .375 yes | .5 (0 vs 1) no, tie .5 (0 vs 1) no | .75 yes, .875 yes, 1 yes
    np.testing.assert_allclose(bins.accuracy[1:], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(bins.edges, [0.0, 0.25, 0.5, 0.75, 1.0])
    assert bins.n_samples == 7 and bins.n_bins == 4
