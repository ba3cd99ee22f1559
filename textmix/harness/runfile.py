"""A run's files: the results.json schema, the files' names, their atomic writes and reads, the header every
results.json starts with (`header`) and a run's identity (`identity`: what makes two runs the same experiment),
which the run key, the resume check and the report's clash check each extend.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict, get_type_hints

import numpy as np

from .figures import split_figure_names

SplitFigures = TypedDict("SplitFigures", split_figure_names(), total=False)  # type: ignore[misc]
"""The figures of one split (`validation`, `test`, `test_ts`, ...): those declared in `textmix.harness.figures`
(the trainer's metrics, the calibration report, the selective-prediction figures, the smooth ECE's interval)."""


ShiftFigures = dict[str, dict[str, dict[str, float]]]
"""`shift`: {kind: {severity (a string): figures of that corrupted test set, `<figure>_ts` after scaling, `size`}}."""
RunConfig = dict[str, dict[str, Any]]
"""`config`: the recipe's arguments by section (`model`, `data`, `training`)."""


class RunHeader(TypedDict):
    """The first entries, from the recipe (its header), naming the run and its data."""

    task: str
    method: str
    seed: int
    model: str
    modality: str
    test_set: str
    label_noise: float
    label_noise_flipped: int | None
    label_names: list[str] | None
    inputs: dict[str, Any]
    splits_made: dict[str, Any]
    dropped_unseen_labels: dict[str, Any]


class RunResults(RunHeader):
    """Every run's results.json (`train_and_report`)."""

    regression: bool
    problem_type: str
    sizes: dict[str, int]
    dropped_unlabelled: dict[str, int]
    train_time_s: float | None
    train_loss: float | None
    this_attempt: dict[str, Any]
    resumed_from: str | None
    final_model: str
    test: SplitFigures
    validation: SplitFigures
    config: RunConfig
    versions: dict[str, str]
    device: str
    world_size: int


class ClassifierResults(RunResults):
    """A classifier's results.json: a temperature fitted on validation and the figures after scaling."""

    test_ts: SplitFigures
    validation_ts: SplitFigures
    temperature: float
    temperature_at_bound: bool
    test_majority_accuracy: float


class OptionalResults(TypedDict, total=False):
    """Entries written only sometimes (`--save_calibrated`, the NER recipe's, a run of `textmix compare`)."""

    shift: ShiftFigures
    calibrated: str
    calibrated_not_written: str
    unscored_words: dict[str, Any]
    task_metric: str
    grid_key: str
    natural_shift: dict[str, str]  # further test sets (`ood_test_files`): name -> what it is, e.g. "x.txt (1000 rows)"
    ensemble: dict[str, Any]


RESULT_KEYS = frozenset(ClassifierResults.__required_keys__)  # every classifier run's entries
RUN_KEYS = frozenset(RunResults.__required_keys__)  # every run's, regression and multi-label included
OPTIONAL_KEYS = frozenset(OptionalResults.__optional_keys__)
IDENTITY_KEYS = ("task", "method", "seed")  # without these the report cannot place a run
EXTRA_TEST_SPLIT = re.compile(r"test_\w+?(_ts|_majority_accuracy)?")
"""The entries of a further test split (`test_<name>`, after scaling `_ts`, its majority accuracy)."""


def _mapping_keys() -> tuple[str, ...]:
    hints = {**get_type_hints(ClassifierResults), **get_type_hints(OptionalResults)}
    keys = [k for k, v in hints.items() if v in (SplitFigures, ShiftFigures, RunConfig)]
    return tuple(sorted(keys, key=lambda k: keys.index(k.removesuffix("_ts"))))  # a split, then it after scaling


MAPPINGS = _mapping_keys()
"""Entries that must be mappings when present: the splits' figures, `config` and `shift`."""


def unknown_keys(results: dict[str, Any]) -> list[str]:
    """The entries of `results` that the schema does not declare (further test splits are declared)."""
    known = RESULT_KEYS | OPTIONAL_KEYS
    return sorted(k for k in results if k not in known and not EXTRA_TEST_SPLIT.fullmatch(k))


RESULT_NEUTRAL = frozenset({"output_dir", "logging_dir", "run_name", "report_to", "disable_tqdm",
                            "overwrite_output_dir", "resume_from_checkpoint", "save_total_limit",
                            "save_calibrated", "save_calibrated_at_bound"})
"""Arguments that do not change a run's figures (paths of the output, reporting, which files are written)."""
PER_PROCESS = frozenset({"local_rank", "hub_token"})
"""Training arguments that differ between the processes of one run (or are secrets)."""
PATHS = frozenset({"train_file", "validation_file", "test_file", "npz_path", "data_dir", "glue_dir", "cache_dir",
                   "model_name_or_path", "ood_test_files"})
"""Arguments that say where the inputs are: their content is in the identity's `inputs` instead."""


def identity(config: Mapping[str, Mapping[str, Any]], inputs: Mapping[str, str]) -> dict[str, Any]:
    """What makes a run this experiment: its arguments by section (`model`, `data`, `training`, as in
    results.json's `config`) less `RESULT_NEUTRAL`, `PER_PROCESS` and `PATHS`, and the content fingerprints of
    its inputs (`inputs`: model and data, `textmix.harness.fingerprints`), JSON-normalised."""
    dropped = RESULT_NEUTRAL | PER_PROCESS | PATHS
    kept = {section: {k: v for k, v in dict(values).items() if k not in dropped}
            for section, values in config.items() if isinstance(values, Mapping)}
    return json.loads(json.dumps({**kept, "inputs": dict(inputs)}, sort_keys=True, default=str))


def method_name(training_args: Any) -> str:
    """What a run trains with (results.json's `method`): the mixing method (`none` without one),
    `label_smoothing` for label smoothing without mixing, and `<method>+label_smoothing` for both."""
    mixing = getattr(training_args, "mix_method", "none") not in ("none", "", None)
    smoothing = bool(getattr(training_args, "label_smoothing_factor", 0.0)) or bool(
        getattr(training_args, "mix_label_smoothing", None))
    if not mixing:
        return "label_smoothing" if smoothing else "none"
    return f"{training_args.mix_method}+label_smoothing" if smoothing else str(training_args.mix_method)


def header(tags: Mapping[str, Any], *, task: str, training_args: Any, model: str, modality: str, data: Any,
           label_noise: float, **extra: Any) -> RunHeader:
    """The first entries of a run's results.json (`RunHeader`): `tags` first (a `task` or `method` tag names
    them), then the run's and its data's (`data`: the recipe's `RecipeData`), then the recipe's `extra`."""
    return {  # type: ignore[typeddict-item]
        **tags,
        "task": tags.get("task") or task,
        "method": tags.get("method", method_name(training_args)),
        "seed": training_args.seed,
        "model": model,
        "modality": modality,
        "test_set": data.test_set,
        "label_noise": float(label_noise),
        "label_noise_flipped": data.label_noise_flipped,
        "label_names": data.label_names,
        "inputs": data.inputs,
        "splits_made": data.splits_made,
        "dropped_unseen_labels": data.dropped_unseen,
        **({"natural_shift": data.natural_shift} if data.natural_shift else {}),
        **extra,
    }


RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.npz"
RELIABILITY_FILE = "reliability.png"
TRAIN_TIME_FILE = "textmix_train_time.json"  # in each checkpoint: the training time up to it, every attempt
RUN_FILE = "textmix_run.json"  # in each checkpoint: the identity of the run that wrote it (`run_identity`)
DAMAGED_PREFIX = "damaged-"  # a checkpoint that failed verification, kept for inspection
SUPERSEDED_PREFIX = "superseded-"  # a checkpoint of another configuration, kept, never resumed


def write_atomic(path: str | os.PathLike, write: Callable[[Any], None]) -> None:
    """Write `path` through `write(binary file)` into a new temporary file in its folder (created exclusively:
    a symlink planted there is never written through), then renamed over `path` (removed if `write` fails)."""
    import uuid

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, payload: Any) -> None:
    """Write `payload` as indented JSON to `path` atomically (`write_atomic`)."""
    text = json.dumps(payload, indent=2, default=str).encode("utf-8")
    write_atomic(path, lambda f: f.write(text))


def save_npz_atomic(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Save plain arrays (no pickled objects) to the `.npz` file `path` atomically (`write_atomic`)."""
    write_atomic(path, lambda f: np.savez(f, **arrays))


def read_results(folder: str | os.PathLike) -> dict[str, Any]:
    """The `results.json` of a finished run in `folder`."""
    path = Path(folder) / RESULTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: the run in {folder} has not finished; run it (again).")
    return json.loads(path.read_text(encoding="utf-8"))
