"""Reliability diagrams written as PNG files.

matplotlib is imported inside the functions and drives an explicit Agg canvas (no pyplot, no global backend
switch), so importing :mod:`textmix` stays light and the user's interactive backend is left alone.
Each function returns the :class:`~textmix.calibration.metrics.ReliabilityBins` it drew.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import LabelsLike, ReliabilityBins, ScoresLike, reliability_bins

__all__ = ["reliability_diagram", "reliability_grid", "reliability_overlay"]

PathLike = str | os.PathLike[str]


def new_figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib figure on its own Agg canvas (no pyplot, no global backend switch), laid out constrained."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: PathLike) -> None:
    """Save `fig` as a PNG at `path` through a new temporary file of a unique name and a rename (never
    written through a symlink at `path` or at a temporary name)."""
    import uuid

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


save_png = _save
"""`fig` saved as a PNG at `path`, never through a symlink (the harness's plots use it too)."""


def _draw_bars(ax: Any, bins: ReliabilityBins, *, show_gap: bool = True, show_counts: bool = False) -> None:
    """Accuracy bars per bin, the gap to the mean confidence, the diagonal and optionally the sample shares.

    Every bar carries a gid ("accuracy", "gap", "share") so the drawn values can be read back.
    """
    left, width = bins.edges[:-1], np.diff(bins.edges)
    filled = bins.counts > 0
    acc = np.where(filled, bins.accuracy, 0.0)
    ax.bar(
        left,
        acc,
        width=width,
        align="edge",
        color="tab:blue",
        edgecolor="black",
        linewidth=0.5,
        zorder=1,
        label="accuracy",
        gid="accuracy",
    )
    if show_gap:
        conf = np.where(filled, bins.confidence, 0.0)
        ax.bar(
            left,
            conf - acc,
            bottom=acc,
            width=width,
            align="edge",
            color="tab:red",
            alpha=0.3,
            edgecolor="tab:red",
            linewidth=0.5,
            hatch="//",
            zorder=2,
            label="gap",
            gid="gap",
        )
    if show_counts:  # share of samples per bin: unfilled outlines, so they hide no accuracy bar
        ax.bar(
            left,
            bins.counts / max(bins.n_samples, 1),
            width=width,
            align="edge",
            fill=False,
            edgecolor="black",
            linewidth=1.0,
            linestyle=":",
            zorder=4,
            label="share of samples",
            gid="share",
        )
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.4", linewidth=1, zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)


def _draw_counts(ax: Any, bins_by_name: Mapping[str, ReliabilityBins]) -> None:
    """Grouped bars with the number of samples in each bin, one colour per model."""
    names = list(bins_by_name)
    first = bins_by_name[names[0]]
    left, width = first.edges[:-1], np.diff(first.edges)
    sub = width / len(names)
    for i, name in enumerate(names):
        ax.bar(
            left + i * sub,
            bins_by_name[name].counts,
            width=sub,
            align="edge",
            color=f"C{i}",
            label=name,
            gid=f"count:{name}",
        )
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("count")


def reliability_diagram(
    probs_or_logits: ScoresLike,
    labels: LabelsLike,
    path: PathLike,
    n_bins: int = 15,
    title: str | None = None,
    *,
    from_logits: bool = True,
    smooth: bool = False,
) -> ReliabilityBins:
    """Write one model's reliability diagram (accuracy bars, gap, diagonal, bin-count panel) to a PNG.

    ``smooth=True`` adds the smoothed reliability curve behind smECE (``smooth_reliability``; the line has
    gid "smooth") with its smECE in the legend, and the smoothed density of the confidences in the lower panel.
    """
    bins = reliability_bins(probs_or_logits, labels, n_bins=n_bins, from_logits=from_logits)
    fig = new_figure((5.0, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    _draw_bars(top, bins)
    top.set_ylabel("accuracy")
    title_text = f"ECE = {bins.ece:.4f}"
    curve = None
    if smooth:
        from .smooth import smooth_reliability

        curve = smooth_reliability(probs_or_logits, labels, from_logits=from_logits)
        top.plot(curve.t, curve.accuracy, color="black", linewidth=2, zorder=5, gid="smooth",
                 label=f"smoothed (sigma = {curve.sigma:.3f})")
        title_text += f", smECE = {curve.smece:.4f}"
    top.legend(loc="upper left", title=title_text, fontsize="small")
    if title:
        top.set_title(title)
    _draw_counts(bottom, {"samples": bins})
    if curve is not None:
        twin = bottom.twinx()
        twin.plot(curve.t, curve.density, color="black", linewidth=1, gid="smooth_density")
        twin.set_ylim(bottom=0)
        twin.set_ylabel("density")
    _save(fig, path)
    return bins


def reliability_overlay(
    models: Mapping[str, tuple[ScoresLike, LabelsLike]],
    path: PathLike,
    n_bins: int = 15,
    title: str | None = None,
    *,
    from_logits: bool = True,
) -> dict[str, ReliabilityBins]:
    """Overlay several models ``{name: (scores, labels)}`` in one PNG: accuracy vs confidence, ECE in legend.

    The lower panel shows each model's bin counts as grouped bars.
    """
    if not models:
        raise ValueError("`models` is empty")
    result = {
        str(name): reliability_bins(s, y, n_bins=n_bins, from_logits=from_logits)
        for name, (s, y) in models.items()
    }
    fig = new_figure((6.0, 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], linestyle="--", color="0.4", linewidth=1, label="perfect calibration")
    for i, (name, bins) in enumerate(result.items()):
        filled = bins.counts > 0
        top.plot(
            bins.confidence[filled],
            bins.accuracy[filled],
            marker="o",
            color=f"C{i}",
            label=f"{name} (ECE = {bins.ece:.4f})",
        )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left", fontsize="small")
    if title:
        top.set_title(title)
    _draw_counts(bottom, result)
    _save(fig, path)
    return result


def reliability_grid(
    results: Mapping[tuple[Hashable, Hashable], tuple[ScoresLike, LabelsLike]],
    path: PathLike,
    n_bins: int = 15,
    title: str | None = None,
    *,
    from_logits: bool = True,
    notes: Mapping[tuple[Hashable, Hashable], str] | None = None,
) -> dict[tuple[Hashable, Hashable], ReliabilityBins]:
    """Rows x columns of small reliability diagrams, e.g. ``{(task, method): (logits, labels)}``, in one PNG.

    Rows and columns follow first appearance in ``results``; missing cells stay blank. Each cell shows
    accuracy bars, the gap, the share of samples per bin (dotted outlines) and its ECE, or its text of ``notes``
    instead (e.g. an ECE computed elsewhere), above everything; a legend under the grid says what is drawn.
    """
    if not results:
        raise ValueError("`results` is empty")
    for key in results:
        if not isinstance(key, tuple) or len(key) != 2:
            raise ValueError(f"`results` keys must be (row, column) pairs, got {key!r}")
    rows = list(dict.fromkeys(r for r, _ in results))
    cols = list(dict.fromkeys(c for _, c in results))
    out = {
        key: reliability_bins(s, y, n_bins=n_bins, from_logits=from_logits) for key, (s, y) in results.items()
    }

    fig = new_figure((2.6 * len(cols) + 0.6, 2.4 * len(rows) + 0.6))
    axes = np.asarray(fig.subplots(len(rows), len(cols), squeeze=False, sharex=True, sharey=True))
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            if i == 0:
                ax.set_title(str(col), fontsize="medium")
            if j == 0:
                ax.set_ylabel(f"{row}\naccuracy")
            if i == len(rows) - 1:
                ax.set_xlabel("confidence")
            bins = out.get((row, col))
            if bins is None:
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", color="0.5")
                continue
            _draw_bars(ax, bins, show_counts=True)
            ax.text(
                0.04,
                0.94,
                f"{(notes or {}).get((row, col), f'ECE {bins.ece:.3f}')}\nn = {bins.n_samples}",
                transform=ax.transAxes,
                va="top",
                fontsize="small",
                zorder=6,
                bbox={"facecolor": "white", "edgecolor": "0.7", "alpha": 0.85, "boxstyle": "round,pad=0.2"},
            )
    drawn = next((ax for ax in axes.flat if ax.get_legend_handles_labels()[0]), None)
    if drawn is not None:
        from matplotlib.lines import Line2D

        handles, labels = drawn.get_legend_handles_labels()
        names = {"accuracy": "accuracy per confidence bin", "gap": "gap to the bin's mean confidence",
                 "share of samples": "share of samples in the bin (dotted)"}
        handles.append(Line2D([], [], linestyle="--", color="0.4", linewidth=1))
        labels = [names.get(label, label) for label in labels] + ["perfect calibration"]
        fig.legend(handles, labels, loc="outside lower center", ncol=1 if len(cols) == 1 else 2 if len(cols) < 4 else 4,
                   fontsize="small")
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return out
