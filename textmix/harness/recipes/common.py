"""What the recipes share: atomic result files, versions, resuming, and train / predict / calibrate / write.

Every recipe run writes, into its `output_dir`:

- `results.json`: `task`, `method` (what was run: the mixing method, `label_smoothing` for smoothing
  without mixing, `none`, or a `+label_smoothing` suffix; see `method_name`), `seed`, `model`,
  `modality` (`text`, `image` or `tokens`), `test_set` (what the test split is, e.g. "GLUE rte dev
  (277 rows)"), `label_noise` (the share of training labels flipped, `--label_noise`) and
  `label_noise_flipped` (how many), `regression`, `problem_type` (`classification`, `regression`,
  `multi_label` or `token`), `sizes`
  (rows per split), `dropped_unlabelled` (rows left out for want of a label, per split), `train_time_s` and
  `train_loss` (over the whole training, earlier attempts of a resumed run included), `this_attempt`
  (`from_step`, `steps`, `train_time_s`, `train_loss` of this process's part), `resumed_from` (the
  checkpoint the run continued from, or null), `final_model` (the folder the trained model is saved in,
  as Hugging Face's example scripts save it: `output_dir`; adapters only for PEFT), one metric dict per predicted split (`validation`,
  `test`, ...: the task metrics and, for classifiers, accuracy, ECE, MCE, adaptive ECE, Brier, NLL),
  for single-label classifiers and token classifiers `<test split>_ts` (the same after temperature
  scaling fitted on `validation`; both with `smece` (smooth ECE), `ece_sweep` (monotone-sweep ECE) and
  `smece_ci`, smECE's 95 % bootstrap interval over the test examples, `RUN_BOOTSTRAP` resamples drawn
  with `BOOTSTRAP_SEED`, so the same for every run on one test set), `validation_ts`, `temperature` and `<test split>_majority_accuracy`,
  and beside the calibration figures the selective-prediction ones (`aurc`,
  `accuracy_at_coverage_50/80/90`, `mean_confidence`; `textmix.calibration.selective_metrics`); with
  `--shift_kinds`, `shift`: kind -> severity -> the same figures on a corrupted copy of the test set
  (`ece_ts`, `nll_ts`, ... with the validation temperature); then `config` (the recipe's arguments),
  `versions`, `device` and `world_size`; from the data contracts (`textmix.harness.recipes.contracts`)
  `label_names` (class names in id order; null for regression), `inputs` (what was read as input: the
  text columns and how they were chosen, image layouts and scaling, token and tag columns),
  `splits_made` (how each split was made) and `dropped_unseen_labels`; `temperature_at_bound` (the
  fitted temperature lies at an end of its search interval, or the validation NLL there is as low:
  `textmix.calibration.temperature.at_search_bound`);
- `predictions.npz`: `<split>_logits` and `<split>_labels` of every predicted split;
- `reliability.png`: the test split's reliability diagram (single-label and token classifiers), with the
  smoothed reliability curve;
- with `--save_calibrated`, `calibrated/`: the trained model with the validation temperature folded into
  its classification head (`textmix.calibration.export`; LoRA adapters merged) and its tokenizer,
  written with `save_pretrained`: `pipeline("text-classification", model=".../calibrated")` gives the
  temperature-scaled probabilities; config.json's `textmix_calibration` records the temperature.

Token classification (`problem_type` `token`, the NER recipe): logits are (N, L, C) and labels
(N, L) with -100 where a position is not scored (special tokens, padding, sub-word continuations).
Every calibration figure, the temperature (fitted on the validation split's labelled tokens), the
majority accuracy (the share of the most frequent tag) and the reliability diagram are over the
labelled tokens, each token one prediction (`textmix.calibration.labelled_tokens`).

Files are written by the main process only, each to a new temporary file of a unique name in its
folder and then renamed (`write_atomic`), so a killed run never leaves a half-written file behind and
a symlink is never written through. A run continues from the newest checkpoint in its `output_dir`
that is complete, loads and was written by the same run (`resume_checkpoint`, `run_identity`, stored
in each checkpoint's `RUN_FILE`); a damaged one is moved aside to `damaged-checkpoint-N`, with a
message naming the file, one of another configuration to `superseded-checkpoint-N`, with a message
naming what changed. A checkpoint at the run's last step is not trained further: its results are
written without training.
"""

from __future__ import annotations

import json
import os
import platform
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import InputError, did_you_mean, notice
from ..schema import RunResults

RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.npz"
RELIABILITY_FILE = "reliability.png"
TRAIN_TIME_FILE = "textmix_train_time.json"
"""In each checkpoint: the training time up to it, over every attempt (`{"step": N, "train_time_s": t}`)."""
DAMAGED_PREFIX = "damaged-"
"""A checkpoint that failed verification is renamed to `damaged-checkpoint-N` (kept for inspection)."""
RUN_FILE = "textmix_run.json"
"""In each checkpoint: the identity of the run that wrote it (`run_identity`); a run resumes only its own."""
SUPERSEDED_PREFIX = "superseded-"
"""A checkpoint of another configuration is renamed to `superseded-checkpoint-N` (kept, never resumed)."""


def write_atomic(path: str | os.PathLike, write: Callable[[Any], None]) -> None:
    """Write `path` through `write(binary file)`: into a new temporary file of a unique name in the same
    folder (created exclusively, with the umask's permissions: a symlink planted at a temporary name is
    never written through), then renamed over `path` (a symlink at `path` is replaced, not followed).
    The temporary file is removed when `write` fails."""
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


def tokenized(dataset: Any, fn: Callable[[dict], dict], tag: str, **kwargs: Any) -> Any:
    """`dataset.map(fn, batched=True, **kwargs)` (a `Dataset`, or each split of a `DatasetDict`) with a
    fingerprint made from the dataset's own and `tag` (the tokenizer's name, the length), so `datasets`
    does not hash `fn` itself — pickling a tokenizer costs about a second a call. Since `tag` cannot
    tell a tokenizer changed under the same name, a cached result is never read back."""
    import hashlib

    from datasets import DatasetDict

    if isinstance(dataset, DatasetDict):
        return DatasetDict({name: tokenized(split, fn, f"{tag}|{name}", **kwargs) for name, split in dataset.items()})
    fingerprint = hashlib.sha256(f"{dataset._fingerprint}|{tag}".encode()).hexdigest()[:32]
    return dataset.map(fn, batched=True, new_fingerprint=fingerprint, load_from_cache_file=False, **kwargs)


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


def method_name(training_args: Any) -> str:
    """What a run trains with, for results.json and reports: the mixing method (`none` without one),
    `label_smoothing` for label smoothing without mixing, and `<method>+label_smoothing` for both."""
    mixing = getattr(training_args, "mix_method", "none") not in ("none", "", None)
    smoothing = bool(getattr(training_args, "label_smoothing_factor", 0.0)) or bool(
        getattr(training_args, "mix_label_smoothing", None))
    if not mixing:
        return "label_smoothing" if smoothing else "none"
    return f"{training_args.mix_method}+label_smoothing" if smoothing else str(training_args.mix_method)


class CheckpointError(InputError):
    """A checkpoint that cannot be resumed from (a file is truncated, missing or unreadable)."""


def _step(folder: Path) -> int:
    return int(folder.name.rsplit("-", 1)[1])


def complete_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """The `checkpoint-N` folders of `output_dir` that MixTrainer marked complete, newest first
    (the rule of `textmix.checkpoints.last_complete_checkpoint`, for every checkpoint)."""
    from textmix.checkpoints import COMPLETE_MARKER, MIXER_STATE_FILE

    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    done = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()
            and ((p / COMPLETE_MARKER).exists() or (p / MIXER_STATE_FILE.format(rank=0)).exists())
            and (p / "trainer_state.json").exists()]
    return sorted(done, key=_step, reverse=True)


def _check_safetensors(path: Path) -> None:
    """Raise ValueError unless the header of the .safetensors file `path` is readable and its tensors fit the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{size} bytes: too short for a header")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise ValueError(f"header of {n} bytes, but the file has {size}: truncated")
        header = json.loads(f.read(n))
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        raise ValueError(f"the tensors need {8 + n + end} bytes, the file has {size}: truncated")


_FULL_LOAD_LIMIT = 256 * 2**20
"""`.pt` / `.pth` files larger than this are loaded memory-mapped when verified (not read in full)."""


def verify_checkpoint(checkpoint: str | os.PathLike) -> str | None:
    """Why `checkpoint` cannot be resumed from, naming the file, or None when everything loads:
    weights (`*.safetensors` headers and sizes), `*.pt` / `*.pth` states (`torch.load(weights_only=True)`,
    memory-mapped above `_FULL_LOAD_LIMIT`) and the JSON files (trainer state, training time, index)."""
    import torch

    folder = Path(checkpoint)
    if not folder.is_dir():
        return f"{folder} does not exist."
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("pytorch_model*.bin")):
        return f"{folder} holds no weights (model.safetensors)."
    try:
        from transformers.trainer_pt_utils import safe_globals
    except ImportError:  # another transformers version: plain weights_only loading
        import contextlib

        safe_globals = contextlib.nullcontext
    for path in sorted(folder.iterdir()):
        try:
            if path.suffix == ".safetensors":
                _check_safetensors(path)
            elif path.suffix in (".pt", ".pth"):
                big = path.stat().st_size > _FULL_LOAD_LIMIT  # then its structure only: a truncation still fails
                with safe_globals():
                    torch.load(path, weights_only=True, map_location="cpu", mmap=big)
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except Exception as err:  # noqa: BLE001 - any failure to load means the file is damaged
            return f"{folder.name}/{path.name} does not load ({type(err).__name__}: {str(err)[:200]})"
    return None


def run_identity(header: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """What makes a run this run, stored with each of its checkpoints (`RUN_FILE`): the grid's run key
    (`grid_key` in `header`, for runs of `textmix compare`; it ignores paths) and the recipe's arguments
    (`config`: sections of arguments) without those that do not change results (paths of the output,
    reporting: `textmix.harness.compare.RESULT_NEUTRAL`) or differ between its processes (`PER_PROCESS`)."""
    from ..compare import RESULT_NEUTRAL

    neutral = RESULT_NEUTRAL | PER_PROCESS
    plain = json.loads(json.dumps(dict(config), default=str))
    return {"grid_key": header.get("grid_key"),
            "config": {section: ({k: v for k, v in values.items() if k not in neutral}
                                 if isinstance(values, dict) else values) for section, values in plain.items()}}


PER_PROCESS = frozenset({"local_rank", "hub_token"})
"""Training arguments that differ between the processes of one run (or are secrets): not part of its identity."""


def identity_changes(stored: Mapping[str, Any] | None, identity: Mapping[str, Any]) -> list[str]:
    """How the run `identity` differs from the `stored` one of a checkpoint, one entry per changed argument
    (`training.learning_rate: 0.0001 -> 0.0003`); [] when it is the same run. Two runs of a grid are the
    same when their run keys are (paths may differ); a checkpoint without a stored identity is of an
    unknown run."""
    if not isinstance(stored, Mapping) or not isinstance(stored.get("config"), Mapping):
        return [f"the checkpoint does not record the configuration it was trained with ({RUN_FILE})"]
    if stored.get("grid_key") and stored.get("grid_key") == identity.get("grid_key"):
        return []
    old, new = _flat(stored["config"]), _flat(identity["config"])
    changes = [f"{k}: {old.get(k, '(not set)')!r} -> {new.get(k, '(not set)')!r}"
               for k in sorted(set(old) | set(new)) if old.get(k, _UNSET) != new.get(k, _UNSET)]
    if not changes and stored.get("grid_key") != identity.get("grid_key"):
        changes = [f"the model's or the data's files (run key {stored.get('grid_key')} -> {identity.get('grid_key')})"]
    return changes


_UNSET = object()


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _stored_identity(checkpoint: Path) -> Any:
    try:
        return json.loads((checkpoint / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _move_aside(checkpoint: Path, prefix: str, training_args: Any) -> str:
    """Rename `checkpoint` to `<prefix>checkpoint-N` (main process only); says where it went."""
    if getattr(training_args, "process_index", 0) != 0:
        return "left to the main process"
    aside = checkpoint.with_name(prefix + checkpoint.name)
    try:
        if aside.exists():
            import shutil

            shutil.rmtree(aside)
        checkpoint.rename(aside)
        return f"moved to {aside.name}"
    except OSError as err:
        return f"could not be moved aside ({err})"


def resume_checkpoint(training_args: Any, identity: Mapping[str, Any] | None = None) -> str | None:
    """The checkpoint to resume from: `--resume_from_checkpoint` if given (an error naming the file when
    it does not load), else the newest complete checkpoint in `output_dir` that loads and (given the
    run's `identity`, see `run_identity`) was written by the same run, else None.

    A damaged checkpoint (a truncated weights, optimizer, scheduler, RNG or mixer file, say) is moved
    aside to `damaged-checkpoint-N` by the main process, with a message, and the previous one is used. A
    checkpoint of another configuration (the grid was edited: another learning rate, more steps) is
    moved aside to `superseded-checkpoint-N`, with a message naming what changed, and never resumed.
    `--resume_from_checkpoint` of another configuration is resumed as asked, with that message."""
    resume = training_args.resume_from_checkpoint
    if resume is not None and resume is not True:
        problem = verify_checkpoint(resume)
        if problem:
            raise CheckpointError(f"--resume_from_checkpoint {resume}: {problem}. Give another checkpoint, or "
                                  "leave the option out to resume from the newest one that loads.")
        changes = identity_changes(_stored_identity(Path(resume)), identity) if identity is not None else []
        if changes:
            notice(f"--resume_from_checkpoint {resume} was written by another configuration ({'; '.join(changes)}); "
                   "resuming from it as asked.")
        return str(resume)
    for checkpoint in complete_checkpoints(training_args.output_dir):
        problem = verify_checkpoint(checkpoint)
        changes = identity_changes(_stored_identity(checkpoint), identity) if identity is not None else []
        if problem is None and changes:
            where = _move_aside(checkpoint, SUPERSEDED_PREFIX, training_args)
            notice(f"checkpoint {checkpoint} is of another configuration, not resumed ({'; '.join(changes)}); "
                   f"{where}; this run starts from the beginning.")
            continue
        if problem is None:
            return str(checkpoint)
        aside = checkpoint.with_name(DAMAGED_PREFIX + checkpoint.name)
        if getattr(training_args, "process_index", 0) == 0:
            try:
                checkpoint.rename(aside)
                where = f"moved to {aside.name}"
            except OSError as err:
                where = f"could not be moved aside ({err})"
        else:
            where = "left to the main process"
        following = next((c for c in complete_checkpoints(training_args.output_dir) if _step(c) < _step(checkpoint)),
                         None)
        instead = (f"falling back to the previous complete checkpoint, {following.name}" if following else
                   "no earlier complete checkpoint: training starts from the beginning")
        notice(f"checkpoint {checkpoint} is damaged: {problem}; {where}; {instead}.")
    return None


def _checkpoint_state(checkpoint: str) -> dict[str, Any]:
    path = Path(checkpoint) / "trainer_state.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _earlier_time(checkpoint: str) -> float | None:
    path = Path(checkpoint) / TRAIN_TIME_FILE
    if not path.exists():
        return None
    spent = json.loads(path.read_text(encoding="utf-8")).get("train_time_s")
    return None if spent is None else float(spent)


def _logged_loss(log_history: list[dict[str, Any]], up_to_step: int) -> tuple[float, int]:
    """(sum of the per-step training losses, steps covered) of the logged windows up to `up_to_step`."""
    total, covered, previous = 0.0, 0, 0
    for entry in log_history:
        step = entry.get("step")
        if "loss" not in entry or step is None or step > up_to_step:
            continue
        if step > previous:
            total += float(entry["loss"]) * (step - previous)
            covered += step - previous
            previous = step
    return total, covered


def progress_callback(earlier_time: float | None, start: float, identity: Mapping[str, Any] | None = None) -> Any:
    """A `TrainerCallback` that makes checkpoints carry what a resumed run needs to report its totals:
    a log entry at every save (so the logged losses cover every step up to it) and, in
    `TRAIN_TIME_FILE`, the training time up to it (`earlier_time`, the time before this attempt, or
    None when unknown, plus the time since `start`, a `time.perf_counter()` value); and, given the run's
    `identity` (`run_identity`), that in `RUN_FILE`, so only the same run resumes the checkpoint."""
    from transformers import TrainerCallback

    class TextmixProgressCallback(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if control.should_save:
                control.should_log = True
            return control

        on_epoch_end = on_step_end

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and folder.is_dir():
                spent = None if earlier_time is None else earlier_time + time.perf_counter() - start
                write_json_atomic(folder / TRAIN_TIME_FILE, {"step": state.global_step, "train_time_s": spent})
                if identity is not None:
                    write_json_atomic(folder / RUN_FILE, identity)

    return TextmixProgressCallback()


def _add_before_marker(trainer: Any, callback: Any) -> None:
    """Add `callback` so that what it writes is part of every complete checkpoint (MixTrainer marks a
    checkpoint complete after its callbacks' `on_save`)."""
    if hasattr(trainer, "add_checkpoint_callback"):
        trainer.add_checkpoint_callback(callback)
    else:
        trainer.add_callback(callback)


def multi_label_metrics(n_bins: int = 15, ignore_index: int = -100) -> Callable[[Any], dict[str, float]]:
    """`compute_metrics` for multi-label classifiers (one sigmoid per label, 0/1 targets (N, C)):

    `accuracy` (every label of a row right), `f1_micro`, `f1_macro`, `brier` and `nll` (binary
    cross-entropy) averaged over rows and labels, and `ece` / `mce` of the N x C yes/no decisions
    (confidence max(p, 1 - p), `n_bins` equal-width bins). Rows labelled `ignore_index` everywhere are dropped.
    """

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(eval_pred.label_ids, dtype=np.float64)
        keep = ~(labels == ignore_index).all(axis=1)
        logits, labels = logits[keep], labels[keep]
        probs = 1.0 / (1.0 + np.exp(-logits))
        decided = probs >= 0.5
        truth = labels >= 0.5
        tp, fp, fn = (decided & truth).sum(0), (decided & ~truth).sum(0), (~decided & truth).sum(0)
        per_label = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 1.0)
        confidence = np.where(decided, probs, 1.0 - probs).reshape(-1)
        hits = (decided == truth).reshape(-1).astype(np.float64)
        bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
        gaps = [abs(confidence[bins == b].mean() - hits[bins == b].mean()) for b in range(n_bins) if (bins == b).any()]
        weights = [(bins == b).mean() for b in range(n_bins) if (bins == b).any()]
        eps = 1e-12
        return {
            "accuracy": float((decided == truth).all(axis=1).mean()),
            "f1_micro": float(2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1)),
            "f1_macro": float(per_label.mean()),
            "brier": float(((probs - labels) ** 2).mean()),
            "nll": float(-(labels * np.log(probs + eps) + (1 - labels) * np.log(1 - probs + eps)).mean()),
            "ece": float(np.dot(weights, gaps)),
            "mce": float(max(gaps)),
        }

    return compute_metrics


PROBLEM_TYPES = ("classification", "regression", "multi_label", "token")
"""The kinds of run the shared schema knows (`problem_type` in results.json)."""
CALIBRATED = ("classification", "token")
"""Problem types with a temperature, `<test>_ts`, a majority accuracy and a reliability diagram."""


def _problem_type(problem_type: str | None, regression: bool) -> str:
    if problem_type is None:
        return "regression" if regression else "classification"
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {list(PROBLEM_TYPES)} (got {problem_type!r}).")
    return problem_type


def _scored(logits: np.ndarray, labels: np.ndarray, problem_type: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores, labels) as one prediction per row: a token run's labelled tokens (M, C), (M,), else as they are."""
    if problem_type == "token":
        from textmix.calibration import labelled_tokens

        return labelled_tokens(logits, labels)
    return logits, labels


RUN_BOOTSTRAP = 200
"""Resamples of the test examples behind each run's `smece_ci` (the report resamples predictions.npz itself)."""
BOOTSTRAP_SEED = 0
"""One seed for every run's resamples: runs on one test set are resampled alike (paired intervals)."""


def predict_and_calibrate(
    trainer: Any, splits: Mapping[str, Any], regression: bool = False, problem_type: str | None = None,
    shifted: Mapping[str, Mapping[int, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Predict every split but `train`; for single-label and token classifiers, fit a temperature on
    `validation` (only there; a token run's labelled tokens), report each `test*` split after scaling
    (`<split>_ts`) and the validation split after it (`validation_ts`), with the selective-prediction
    figures (`textmix.calibration.selective_metrics`) beside the others; `shifted` ({kind: {severity:
    dataset}}: corrupted copies of the test set) gives `shift` (kind -> severity -> figures, `*_ts` with
    the validation temperature). Returns (results entries, arrays for predictions.npz).

    `problem_type`: `classification`, `regression`, `multi_label` or `token` (default: from `regression`)."""
    from textmix.calibration import temperature_scaling_report

    problem_type = _problem_type(problem_type, regression)
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
    if problem_type in CALIBRATED:
        from textmix.calibration import apply_temperature, calibration_report, selective_metrics
        from textmix.calibration.smooth import bootstrap_interval

        validation = _scored(arrays["validation_logits"], arrays["validation_labels"], problem_type)
        for name in [n for n in names if n.startswith("test")]:
            test = _scored(arrays[f"{name}_logits"], arrays[f"{name}_labels"], problem_type)
            report = temperature_scaling_report(*validation, *test)
            results[f"{name}_ts"] = report["after"]
            results["temperature"] = report["temperature"]
            results[f"{name}_majority_accuracy"] = majority_accuracy(test[1])
            results[name].update(selective_metrics(*test))
            scaled = (apply_temperature(np.asarray(test[0], dtype=np.float64), report["temperature"]), test[1])
            for key, (scores, labels) in ((name, test), (f"{name}_ts", scaled)):
                results[key]["smece_ci"] = list(bootstrap_interval(
                    scores, labels, "smece", n_bootstrap=RUN_BOOTSTRAP, level=0.95, seed=BOOTSTRAP_SEED))
        temperature = results.get("temperature")
        if temperature is None:  # no test split: fit it for the validation figures alone
            from textmix.calibration import fit_temperature

            temperature = fit_temperature(*validation)
        from textmix.calibration.temperature import TEMPERATURE_BOUNDS, at_search_bound

        results["temperature_at_bound"] = at_search_bound(temperature, logits=validation[0], labels=validation[1])
        if results["temperature_at_bound"]:
            notice(f"the temperature {temperature:.4g} lies at an end of its search interval {list(TEMPERATURE_BOUNDS)} "
                   "(or the validation NLL is as low there): the validation NLL was still falling, or flat (every "
                   "validation prediction right, or too few rows?), so the scaled figures say little "
                   "(temperature_at_bound in results.json)")
        results["validation"].update(selective_metrics(*validation))
        results["validation_ts"] = calibration_report(apply_temperature(validation[0], temperature), validation[1])
        if shifted:
            results["shift"] = {}
            for kind, by_severity in shifted.items():
                for severity, dataset in by_severity.items():
                    pred = trainer.predict(dataset, metric_key_prefix="shift")
                    logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
                    scores, labels = _scored(np.asarray(logits), np.asarray(pred.label_ids), problem_type)
                    figures = {k.removeprefix("shift_"): v for k, v in pred.metrics.items()
                               if not k.endswith(("_runtime", "_per_second"))}
                    figures.update(selective_metrics(scores, labels))
                    scaled = calibration_report(apply_temperature(scores, temperature), labels)
                    figures.update({f"{k}_ts": scaled[k] for k in ("ece", "nll", "brier", "adaptive_ece", "smece")})
                    figures["size"] = len(dataset)
                    results["shift"].setdefault(kind, {})[str(severity)] = figures
    elif shifted:
        raise ValueError(f"shifted test sets are measured for classifiers; this run is {problem_type}.")
    return results, arrays


def nonfinite_figures(results: Mapping[str, Any]) -> list[str]:
    """`split.figure` of every figure of a run's split dicts (`validation`, `test`, `test_ts`, ...) that is NaN
    or infinite (a regression run's Pearson on constant predictions, say)."""
    return [f"{split}.{key}" for split, figures in results.items() if isinstance(figures, Mapping) and split != "shift"
            for key, value in figures.items()
            if isinstance(value, float) and not np.isfinite(value)]


def check_shift(kinds: Sequence[str] | None, severities: Sequence[int] | None, modality: str) -> None:
    """Raise `InputError` for shift kinds that do not exist for `modality` (`text`, `tokens`, `image`) or
    severities outside 1-5."""
    from textmix.robustness import IMAGE_CORRUPTIONS, SEVERITIES, TEXT_CORRUPTIONS

    known = IMAGE_CORRUPTIONS if modality == "image" else TEXT_CORRUPTIONS
    other = TEXT_CORRUPTIONS if modality == "image" else IMAGE_CORRUPTIONS
    for kind in kinds or []:
        if kind not in known:
            fit = f" ({kind} corrupts {'text' if modality == 'image' else 'images'})" if kind in other else ""
            raise InputError(f"shift kind {kind!r} does not exist for {modality} data{fit}"
                             f"{did_you_mean(str(kind), known)}; choose from {list(known)}.")
    if severities is not None and not kinds:
        raise InputError("shift severities are given but no shift kinds: give the kinds to corrupt the test set with.")
    for severity in severities or []:
        if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
            raise InputError(f"shift severity {severity!r} is not one of {list(SEVERITIES)}.")


def check_label_noise(rate: float) -> None:
    """Raise `InputError` unless `rate` (a share of training labels to flip) is in [0, 1)."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= float(rate) < 1.0:
        raise InputError(f"label noise {rate!r} must be a share in [0, 1) of training labels to flip.")


DEFAULT_SEVERITIES = (1, 3, 5)
"""The severities of a shift when none are given."""


def shift_plan(kinds: Sequence[str] | None, severities: Sequence[int] | None) -> list[tuple[str, int]]:
    """The (kind, severity) pairs to test on: every kind at every severity (default `DEFAULT_SEVERITIES`)."""
    return [(kind, int(sev)) for kind in kinds or [] for sev in (severities or DEFAULT_SEVERITIES)]


def write_run(output_dir: str | os.PathLike, results: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
              regression: bool = False, problem_type: str | None = None) -> None:
    """Write `predictions.npz`, `reliability.png` (single-label classifiers; token classifiers: over the
    labelled tokens) and, last, `results.json` into `output_dir`."""
    from textmix.calibration import reliability_diagram

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_npz_atomic(out / PREDICTIONS_FILE, arrays)
    problem_type = _problem_type(problem_type, regression)
    if problem_type in CALIBRATED and "test_logits" in arrays:
        title = f"{results['task']} / {results['method']} / seed {results['seed']}"
        if problem_type == "token":
            title += " (labelled tokens)"
        reliability_diagram(*_scored(arrays["test_logits"], arrays["test_labels"], problem_type),
                            str(out / RELIABILITY_FILE), title=title, smooth=True)
    write_json_atomic(out / RESULTS_FILE, results)  # last: its presence marks a finished run


CALIBRATED_DIR = "calibrated"
"""The folder of a run's `output_dir` that `--save_calibrated` writes the calibrated model to."""


def write_calibrated(trainer: Any, splits: Mapping[str, Any], temperature: float) -> Path:
    """Save `trainer.model` with `temperature` folded into its head (`textmix.calibration.export`) and the
    trainer's tokenizer or image processor to `<output_dir>/calibrated`, checked on a batch of the test set
    (the folded model's logits must be the model's divided by the temperature)."""
    import torch

    from textmix.calibration.export import save_calibrated

    test = next(name for name in splits if name.startswith("test"))
    batch = next(iter(trainer.get_test_dataloader(splits[test])))
    device = next(trainer.model.parameters()).device
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    out = save_calibrated(trainer.model, temperature, Path(trainer.args.output_dir) / CALIBRATED_DIR,
                          trainer.processing_class, check_inputs=batch)
    notice(f"calibrated model (temperature {temperature:.4f} folded into its head) written to {out}")
    return out


def _resume_point(training_args: Any, identity: Mapping[str, Any]) -> tuple[str | None, int, float | None]:
    """(the checkpoint to resume from or None, its step, the training time before it or None when it does not
    record it), saying what it found."""
    resume = resume_checkpoint(training_args, identity)
    from_step, earlier_time = 0, 0.0
    if resume:
        state = _checkpoint_state(resume)
        from_step = int(state.get("global_step", 0))
        earlier_time = _earlier_time(resume)
        if from_step >= int(state.get("max_steps") or 0) > 0:
            notice(f"{resume} holds the run's last step ({from_step}): writing its results without training")
        else:
            notice(f"resuming from {resume} (step {from_step} of {state.get('max_steps', '?')})")
        if earlier_time is None:
            notice(f"{resume} does not record the training time before it (written by an older version): "
                   "train_time_s will be null; this_attempt.train_time_s has this attempt's.")
    return resume, from_step, earlier_time


def train_and_report(
    trainer: Any,
    splits: Mapping[str, Any],
    header: Mapping[str, Any],
    config: Mapping[str, Any],
    regression: bool = False,
    problem_type: str | None = None,
    dropped_unlabelled: Mapping[str, int] | None = None,
    shifted: Mapping[str, Mapping[int, Any]] | None = None,
    save_calibrated: bool = False,
) -> RunResults:
    """Train `trainer` (resuming from the newest complete checkpoint that loads, saying so), predict,
    calibrate and write the run's files.

    `splits`: `train`, `validation` and one or more `test*` datasets; `header`: the first entries of
    results.json (`task`, `method`, `seed`, `model` and any tags); `config`: the recipe's arguments;
    `problem_type`: `classification`, `regression`, `multi_label` or `token` (default: from `regression`);
    `dropped_unlabelled`: rows the data lost for want of a label, per split. `train_time_s` and
    `train_loss` cover every step of the run, earlier attempts included (the time up to the checkpoint
    resumed from, from its `TRAIN_TIME_FILE`; the loss from its logged history); `this_attempt` has
    this process's part. `shifted`: corrupted copies of the test set (see `predict_and_calibrate`).
    `save_calibrated`: also write `CALIBRATED_DIR`, the model with the validation temperature folded into
    its head (`write_calibrated`; single-label and token classifiers), named in results.json's `calibrated`.
    Returns the results dict (on every process; only the main one writes), as `textmix.harness.schema` declares it
    (`ClassifierResults` for runs with a temperature).
    """
    import torch

    problem_type = _problem_type(problem_type, regression)
    training_args = trainer.args
    identity = run_identity(header, config)
    resume, from_step, earlier_time = _resume_point(training_args, identity)
    start = time.perf_counter()
    _add_before_marker(trainer, progress_callback(earlier_time, start, identity))
    train_output = trainer.train(resume_from_checkpoint=resume)
    attempt_time = time.perf_counter() - start
    trainer.save_model()  # the final model (and tokenizer / processor) in output_dir, as HF's examples do
    steps = int(trainer.state.global_step) - from_step
    attempt_loss = float(train_output.training_loss) if steps > 0 else None
    train_loss: float | None = attempt_loss
    if resume:
        earlier_sum, earlier_steps = _logged_loss(trainer.state.log_history, from_step)
        covered = earlier_steps + steps
        train_loss = (earlier_sum + (attempt_loss or 0.0) * steps) / covered if covered else None
    results: RunResults = {  # type: ignore[typeddict-item]  # the rest follows (predicted, config, ...)
        **header,
        "regression": problem_type == "regression",
        "problem_type": problem_type,
        "sizes": {name: len(split) for name, split in splits.items()},
        "dropped_unlabelled": dict(dropped_unlabelled or {}),
        "train_time_s": None if earlier_time is None else earlier_time + attempt_time,
        "train_loss": train_loss,
        "this_attempt": {"from_step": from_step, "steps": steps, "train_time_s": attempt_time,
                         "train_loss": attempt_loss},
        "resumed_from": resume,
        "final_model": str(training_args.output_dir),
    }
    predicted, arrays = predict_and_calibrate(trainer, splits, problem_type=problem_type, shifted=shifted)
    results.update(predicted)
    odd = nonfinite_figures(predicted)
    if odd:
        notice(f"{training_args.output_dir}: figures that are not finite numbers: {', '.join(odd)} (e.g. constant "
               "predictions); `textmix report` lists this run as incomplete and leaves it out of the means.")
    results["config"] = dict(config)
    results["versions"] = versions()
    results["device"] = str(training_args.device)
    results["world_size"] = training_args.world_size
    if save_calibrated and problem_type not in CALIBRATED:
        notice(f"--save_calibrated: a {problem_type} run has no temperature; no calibrated model is written.")
    elif save_calibrated:
        results["calibrated"] = CALIBRATED_DIR
    if trainer.is_world_process_zero():
        if results.get("calibrated"):
            write_calibrated(trainer, splits, results["temperature"])
        write_run(training_args.output_dir, results, arrays, problem_type=problem_type)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return results


def shutdown_distributed() -> None:
    """End a distributed run cleanly: free what still holds the process group, then destroy it.

    A finished Trainer sits in reference cycles and, through its DDP wrapper, keeps the gloo process
    group (and its threads) alive past `destroy_process_group()`; freed during interpreter shutdown it
    aborted rank 0 ("terminate called without an active exception") in about 1 run of 6 under torchrun
    on CPU. Collecting first frees it while the group is up; the barrier keeps ranks from leaving early.
    """
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def summary_line(result: Mapping[str, Any]) -> str:
    """One line of a finished run's final test figures: the accuracy (else the task's metrics), ECE before
    and after temperature scaling where there are, training time, and where the model and results are."""
    test = result.get("test") or {}
    scaled = result.get("test_ts") or {}
    if "accuracy" in test:
        shown = [f"test accuracy {test['accuracy']:.4f}"]
    else:
        shown = [f"test {k} {v:.4f}" for k, v in test.items() if isinstance(v, (int, float))][:2]
    if "ece" in test:
        shown.append(f"ECE {test['ece']:.4f}" + (f" ({scaled['ece']:.4f} after temperature scaling)"
                                                 if "ece" in scaled else ""))
    spent = result.get("train_time_s")
    shown.append(f"{spent / 60:.1f} min of training" if spent is not None else "training time unknown")
    return f"{result.get('method')}: " + ", ".join(shown) + f"; model and results in {result.get('final_model')}"


def file_task_name(train_file: str | os.PathLike) -> str:
    """A task's name from its training file: the folder when the file is called train.* (or training.*), else
    the file's stem (`reviews/train.csv` -> reviews, `reviews_train.csv` -> reviews_train), as the NER recipe."""
    path = Path(train_file).resolve()
    generic = path.stem.lower() in ("train", "training") and path.parent.name
    return path.parent.name if generic else path.stem
