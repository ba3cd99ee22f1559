"""Seed ensembles, free rows of the report: a method's seeds' predicted probabilities averaged on every set they
predicted (validation, test, each further test set, each corrupted copy) and measured as a run of their own."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..runfile import PREDICTIONS_FILE, RESULTS_FILE, save_npz_atomic, write_json_atomic
from .reading import label_noise, variant

ENSEMBLE_SEED = -1
"""The seed of an ensemble's pseudo-run: it has none of its own (two ensembles of a task pair on it)."""
NOTE = ("`<method> (ensemble of k)`: the mean of the predicted probabilities of the method's k seeds on every test "
        "set, measured like one model (temperature fitted on the averaged validation predictions); no model is "
        "trained for it (the seeds' saved predictions are reused); its training time is its seeds' sum.")
KEPT = ("task", "model", "modality", "test_set", "label_noise", "label_names", "inputs", "problem_type", "regression",
        "sizes", "config", "versions", "natural_shift", "task_metric")
"""The entries of an ensemble's results copied from its first seed's: the run's description, no figure."""


def log_mean_probabilities(logits: list[np.ndarray]) -> np.ndarray:
    """log of the mean over members of softmax(`logits`) (softmax over the last axis): the ensemble's logits."""
    stacked = np.stack([np.asarray(x, dtype=np.float64) for x in logits])
    z = stacked - stacked.max(axis=-1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    return np.log(probs.mean(axis=0))


def _load(result: dict) -> dict[str, np.ndarray] | None:
    path = Path(result.get("_folder") or "") / PREDICTIONS_FILE
    if not result.get("_folder") or result.get("_predictions_problem") or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in data.files}
    except Exception:  # noqa: BLE001 - a damaged file (its test arrays named by `reading.check_predictions`)
        return None


def ensemble_arrays(members: list[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray] | None, str]:
    """(the ensemble's predictions: `<set>_logits` = `log_mean_probabilities`, `<set>_labels`; or None, why not):
    the members must have predicted the same sets, with equal labels."""
    names = [{k.removesuffix("_logits") for k in m if k.endswith("_logits")} for m in members]
    if any(n != names[0] for n in names):
        return None, f"the seeds predicted different sets ({sorted(set.union(*names) - set.intersection(*names))})"
    arrays = {}
    for name in sorted(names[0]):
        labels = [m[f"{name}_labels"] for m in members]
        if any(x.shape != labels[0].shape or not np.array_equal(x, labels[0]) for x in labels):
            return None, f"the seeds' `{name}` labels differ (not the same examples in the same order)"
        arrays[f"{name}_logits"] = log_mean_probabilities([m[f"{name}_logits"] for m in members])
        arrays[f"{name}_labels"] = labels[0]
    return arrays, ""


def build_ensembles(results: list[dict], out_dir: str | Path) -> tuple[list[dict], list[dict[str, str]]]:
    """(a pseudo-run per task variant and method of single-label or token classification runs with >= 2 seeds whose
    predictions all load, validation's among them; the cells left out with the reason, as skipped files): its
    results (as a run's, with `ensemble`: {method, seeds, k}, seed `ENSEMBLE_SEED`, `_folder`) and predictions.npz
    written to `<out_dir>/ensembles/<task>/<method>/`. A token run's ensemble averages each token's probabilities."""
    from textmix.calibration import classification_metrics, token_classification_metrics

    from ..recipes.common import figures_of

    cells: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in results:
        if r.get("problem_type", "classification") in ("classification", "token") and not r.get("ensemble"):
            cells[(variant(r), r["method"])].append(r)
    made, skipped = [], []
    for (task, method), runs in cells.items():
        runs = sorted(runs, key=lambda r: r["seed"])
        members = [_load(r) for r in runs]
        if len(runs) < 2 or any(m is None for m in members):
            continue
        if any("validation_logits" not in m for m in members) or (  # type: ignore[operator]
                runs[0].get("problem_type") == "token" and not runs[0].get("label_names")):
            continue  # runs from before validation predictions (and a tagger's label names) were kept
        noise = label_noise(runs[0])
        folder = Path(out_dir, "ensembles", *(re.sub(r"[^A-Za-z0-9_.-]+", "_", part) for part in (
            runs[0]["task"] + (f"_noise{noise:g}" if noise else ""), method)))
        arrays, why = ensemble_arrays(members)  # type: ignore[arg-type]
        if arrays is None:
            skipped.append({"file": str(folder), "reason": f"no ensemble of {task} / {method}: {why}"})
            continue
        seeds = [r["seed"] for r in runs]
        times = [r.get("train_time_s") for r in runs]
        result = {k: runs[0][k] for k in KEPT if k in runs[0]}
        result.update(method=f"{method} (ensemble of {len(runs)})", seed=ENSEMBLE_SEED,
                      ensemble={"method": method, "seeds": seeds, "k": len(runs)},
                      train_time_s=sum(times) if all(isinstance(t, int | float) for t in times) else None)
        kind = runs[0].get("problem_type", "classification")
        metrics = classification_metrics() if kind == "classification" else token_classification_metrics(
            runs[0]["label_names"], entities=runs[0].get("task_metric") is None)  # the NER recipe's `metrics`
        result.update(figures_of(arrays, metrics, kind))
        folder.mkdir(parents=True, exist_ok=True)
        save_npz_atomic(folder / PREDICTIONS_FILE, arrays)
        write_json_atomic(folder / RESULTS_FILE, result)
        made.append({**result, "_folder": str(folder)})
    return made, skipped
