"""What the recipes share: atomic result files, versions, resuming, and train / predict / calibrate / write.

Every recipe run writes, into its `output_dir`:

- `results.json`: `task`, `method`, `seed`, `model`, `regression`, `sizes` (rows per split),
  `train_time_s`, `train_loss`, `resumed_from` (the checkpoint the run continued from, or null), one
  metric dict per predicted split (`validation`, `test`, ...: the task metrics and, for classifiers,
  accuracy, ECE, MCE, adaptive ECE, Brier, NLL), for classifiers `<test split>_ts` (the same after
  temperature scaling fitted on `validation`), `temperature` and `<test split>_majority_accuracy`,
  then `config` (the recipe's arguments), `versions`, `device` and `world_size`;
- `predictions.npz`: `<split>_logits` and `<split>_labels` of every predicted split;
- `reliability.png`: the test split's reliability diagram (classifiers only).

Files are written by the main process only, each to a temporary name and then renamed, so a killed
run never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.npz"
RELIABILITY_FILE = "reliability.png"


def write_json_atomic(path: str | os.PathLike, payload: Mapping[str, Any]) -> None:
    """Write `payload` as indented JSON to `path` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def save_npz_atomic(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Save plain arrays (no pickled objects) to the `.npz` file `path` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def read_results(folder: str | os.PathLike) -> dict[str, Any]:
    """The `results.json` of a finished run in `folder`."""
    path = Path(folder) / RESULTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: the run in {folder} has not finished; run it (again).")
    return json.loads(path.read_text(encoding="utf-8"))


def versions() -> dict[str, str]:
    """Versions of textmix, torch, transformers, datasets and Python, for the results file."""
    import datasets
    import torch
    import transformers

    import textmix

    return {"textmix": textmix.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "datasets": datasets.__version__, "python": platform.python_version()}


def majority_accuracy(labels: Any) -> float:
    """Share of the most frequent class: the accuracy of always guessing it."""
    from collections import Counter

    counts = Counter(int(x) for x in np.asarray(labels).reshape(-1))
    return max(counts.values()) / sum(counts.values()) if counts else float("nan")


def resume_checkpoint(training_args: Any) -> str | None:
    """The checkpoint to resume from: `--resume_from_checkpoint` if given, else the last complete
    checkpoint in `output_dir` (an interrupted run continues), else None."""
    from textmix.trainer import last_complete_checkpoint

    resume = training_args.resume_from_checkpoint
    if resume is None:
        resume = last_complete_checkpoint(training_args.output_dir)
    return resume


def predict_and_calibrate(
    trainer: Any, splits: Mapping[str, Any], regression: bool = False
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Predict every split but `train`; for classifiers, fit a temperature on `validation` and report
    each `test*` split after scaling. Returns (results entries, arrays for predictions.npz)."""
    from textmix.calibration import temperature_scaling_report

    results: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    names = [name for name in splits if name != "train"]
    if "validation" not in names:
        raise ValueError(f"the splits {list(splits)} lack `validation`: temperature scaling is fitted on it.")
    for name in names:
        pred = trainer.predict(splits[name], metric_key_prefix=name)
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        arrays[f"{name}_logits"], arrays[f"{name}_labels"] = np.asarray(logits), np.asarray(pred.label_ids)
        results[name] = {k.removeprefix(f"{name}_"): v for k, v in pred.metrics.items()
                         if not k.endswith(("_runtime", "_per_second"))}
    if not regression:
        for name in [n for n in names if n.startswith("test")]:
            report = temperature_scaling_report(arrays["validation_logits"], arrays["validation_labels"],
                                                arrays[f"{name}_logits"], arrays[f"{name}_labels"])
            results[f"{name}_ts"] = report["after"]
            results["temperature"] = report["temperature"]
            results[f"{name}_majority_accuracy"] = majority_accuracy(arrays[f"{name}_labels"])
    return results, arrays


def write_run(output_dir: str | os.PathLike, results: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
              regression: bool = False) -> None:
    """Write `predictions.npz`, `reliability.png` (classifiers) and, last, `results.json` into `output_dir`."""
    from textmix.calibration import reliability_diagram

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_npz_atomic(out / PREDICTIONS_FILE, arrays)
    if not regression and "test_logits" in arrays:
        title = f"{results['task']} / {results['method']} / seed {results['seed']}"
        reliability_diagram(arrays["test_logits"], arrays["test_labels"], str(out / RELIABILITY_FILE), title=title)
    write_json_atomic(out / RESULTS_FILE, results)  # last: its presence marks a finished run


def train_and_report(
    trainer: Any,
    splits: Mapping[str, Any],
    header: Mapping[str, Any],
    config: Mapping[str, Any],
    regression: bool = False,
) -> dict[str, Any]:
    """Train `trainer` (resuming from the last complete checkpoint), predict, calibrate and write the run's files.

    `splits`: `train`, `validation` and one or more `test*` datasets; `header`: the first entries of
    results.json (`task`, `method`, `seed`, `model` and any tags); `config`: the recipe's arguments.
    Returns the results dict (on every process; only the main one writes).
    """
    import torch

    training_args = trainer.args
    resume = resume_checkpoint(training_args)
    start = time.perf_counter()
    train_output = trainer.train(resume_from_checkpoint=resume)
    train_time = time.perf_counter() - start
    results: dict[str, Any] = {
        **header,
        "regression": regression,
        "sizes": {name: len(split) for name, split in splits.items()},
        "train_time_s": train_time,
        "train_loss": train_output.training_loss,
        "resumed_from": resume,
    }
    predicted, arrays = predict_and_calibrate(trainer, splits, regression)
    results.update(predicted)
    results["config"] = dict(config)
    results["versions"] = versions()
    results["device"] = str(training_args.device)
    results["world_size"] = training_args.world_size
    if trainer.is_world_process_zero():
        write_run(training_args.output_dir, results, arrays, regression)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return results
