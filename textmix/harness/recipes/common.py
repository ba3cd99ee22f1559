"""What the recipes share: tokenizing, versions, train / predict / calibrate / write (files: `files`; resuming: `resume`).

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
  its classification head (`textmix.calibration.export`; LoRA adapters merged) and its tokenizer or
  image processor, written with `save_pretrained`: `pipeline("text-classification", model=".../calibrated")`
  gives the temperature-scaled probabilities; config.json's `textmix_calibration` records the temperature.
  Not when the temperature sits at its search bound (`temperature_at_bound`): `calibrated_not_written`
  says why instead (`--save_calibrated_at_bound` writes it anyway).

Every saved model (final, checkpoints, calibrated) names its classes: config.json's `id2label` /
`label2id` are `label_names` (`name_classes`). A finished run prints one closing line (`summary_line`).

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

import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import InputError, did_you_mean, notice
from ..schema import RunResults
from .files import (  # noqa: F401 - re-exported: the recipes' shared names
    DAMAGED_PREFIX,
    PREDICTIONS_FILE,
    RELIABILITY_FILE,
    RESULTS_FILE,
    RUN_FILE,
    SUPERSEDED_PREFIX,
    TRAIN_TIME_FILE,
    read_results,
    save_npz_atomic,
    write_atomic,
    write_json_atomic,
)
from .resume import (  # noqa: F401 - re-exported
    PER_PROCESS,
    CheckpointError,
    _add_before_marker,
    _checkpoint_state,
    _earlier_time,
    _logged_loss,
    complete_checkpoints,
    identity_changes,
    progress_callback,
    resume_checkpoint,
    run_identity,
    verify_checkpoint,
)


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


def check_shift(kinds: Sequence[str] | None, severities: Sequence[int] | None, family: str) -> None:
    """Raise `InputError` for shift kinds that are not of the shift `family` (a key of
    `textmix.robustness.SHIFT_FAMILIES`: `text`, `image`) or severities outside 1-5."""
    from textmix.robustness import SHIFT_FAMILIES

    known = SHIFT_FAMILIES[family]
    for kind in kinds or []:
        if kind not in known:
            other = [name for name, family_kinds in SHIFT_FAMILIES.items() if kind in family_kinds]
            fit = f" ({kind} is a corruption of {other[0]} data)" if other else ""
            raise InputError(f"shift kind {kind!r} does not exist for {family} data{fit}"
                             f"{did_you_mean(str(kind), known)}; choose from {list(known)}.")
    if severities is not None and not kinds:
        raise InputError("shift severities are given but no shift kinds: give the kinds to corrupt the test set with.")
    check_severities(severities)


def check_severities(severities: Sequence[int] | None) -> None:
    """Raise `InputError` for shift severities outside 1-5."""
    from textmix.robustness import SEVERITIES

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
    save_calibrated_at_bound: bool = False,
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
    its head (`write_calibrated`; single-label and token classifiers), named in results.json's `calibrated`;
    not when the temperature sits at its search bound (`temperature_at_bound`: results.json's
    `calibrated_not_written` and the closing line say why) unless `save_calibrated_at_bound`.
    The model's config gets `id2label` / `label2id` from `header`'s `label_names` (the saved and calibrated
    models name their classes). Returns the results dict (on every process; only the main one writes), as `textmix.harness.schema` declares it
    (`ClassifierResults` for runs with a temperature).
    """
    import torch

    problem_type = _problem_type(problem_type, regression)
    training_args = trainer.args
    identity = run_identity(header, config)
    name_classes(trainer.model, header.get("label_names"), problem_type)
    quiet_pin_memory(training_args)
    for said in (process_count_notice(training_args.world_size), long_run_notice(trainer)):
        if said:
            notice(said)
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
    elif save_calibrated and results.get("temperature_at_bound") and not save_calibrated_at_bound:
        results["calibrated_not_written"] = (
            f"the temperature {results['temperature']:.4g} sits at an end of its search interval (or the validation "
            "NLL is as low there): it is no fit, so no calibrated model is written (--save_calibrated_at_bound "
            "writes it anyway)")
        notice(f"--save_calibrated: {results['calibrated_not_written']}")
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


def name_classes(model: Any, label_names: Sequence[str] | None, problem_type: str) -> None:
    """Set `model.config`'s `id2label` / `label2id` to `label_names` (class names in id order) for classifiers and
    taggers, so that every saved model (final, checkpoints, calibrated) names its classes, not `LABEL_k`."""
    if not label_names or problem_type == "regression":
        return
    config = model.config  # a PEFT wrapper's is its base model's
    if int(getattr(config, "num_labels", len(label_names))) != len(label_names):
        raise ValueError(f"the model has {config.num_labels} outputs for {len(label_names)} classes {list(label_names)}.")
    config.id2label = {i: str(name) for i, name in enumerate(label_names)}
    config.label2id = {str(name): i for i, name in enumerate(label_names)}


def quiet_pin_memory(training_args: Any) -> None:
    """Turn `dataloader_pin_memory` off where there is no accelerator to pin memory for (torch warns on every data
    loader otherwise); it changes nothing on CPU."""
    if training_args.dataloader_pin_memory and training_args.device.type == "cpu":
        training_args.dataloader_pin_memory = False


def process_count_notice(world_size: int, env: Mapping[str, str] | None = None) -> str | None:
    """Why the processes that started are not those asked for, or None: a launcher's `WORLD_SIZE` that is not
    the run's world size, or `accelerate launch --num_processes N` (N > 1) that started one process (it sets
    `MASTER_ADDR` for N > 1 but, with `--cpu`, starts one process without `WORLD_SIZE`)."""
    env = os.environ if env is None else env
    asked = env.get("WORLD_SIZE")
    if asked is not None and asked.isdigit() and int(asked) != world_size:
        return (f"the launcher asked for {asked} processes (WORLD_SIZE) but the run has {world_size}: check the "
                "launch line (docs/recipes.md, several processes).")
    if asked is None and world_size == 1 and "ACCELERATE_USE_CPU" in env and "MASTER_ADDR" in env:
        return ("accelerate launch was asked for several processes but one started (`--cpu` starts one process): "
                "for N processes on CPU use `accelerate launch --multi_gpu --num_processes N recipes/run_<recipe>.py "
                "... --use_cpu` (docs/recipes.md, several processes).")
    return None


LONG_CPU_STEPS = 2000
"""A run of more optimizer steps than this on CPU is announced before it trains (`long_run_notice`)."""


def training_steps(trainer: Any) -> int:
    """The optimizer steps `trainer` will train: `max_steps`, else the epochs of the training data at the batch
    size of all processes (as the Trainer counts them, with `gradient_accumulation_steps`)."""
    import math

    args = trainer.args
    if args.max_steps and args.max_steps > 0:
        return int(args.max_steps)
    batches = math.ceil(len(trainer.train_dataset) / (args.per_device_train_batch_size * max(args.world_size, 1)))
    per_epoch = max(math.ceil(batches / max(args.gradient_accumulation_steps, 1)), 1)
    return math.ceil(args.num_train_epochs * per_epoch)


def long_run_notice(trainer: Any) -> str | None:
    """A notice of the step count before a long CPU run (more than `LONG_CPU_STEPS`), or None."""
    args = trainer.args
    if args.device.type != "cpu":
        return None
    steps = training_steps(trainer)
    if steps <= LONG_CPU_STEPS:
        return None
    how = ("--max_steps" if args.max_steps and args.max_steps > 0 else
           f"{args.num_train_epochs:g} epoch(s) of {len(trainer.train_dataset)} rows at batch "
           f"{args.per_device_train_batch_size * max(args.world_size, 1)}")
    return (f"this run trains {steps} steps ({how}) on CPU: expect a long run; --max_steps, --num_train_epochs or "
            "--max_train_samples make it shorter.")


def summary_line(result: Mapping[str, Any]) -> str:
    """The closing line of a finished run: its task metric on the test split (accuracy; a tagger's entity F1 and
    token accuracy; a regression's first figures), flagged with ⚠ when the accuracy is at (or below) the
    majority-class accuracy, ECE before and after temperature scaling, training time, where the model and the
    results are, and the calibrated model (or why there is none)."""
    test = result.get("test") or {}
    scaled = result.get("test_ts") or {}
    shown = []
    if result.get("problem_type") == "token" and "entity_f1" in test and result.get("task_metric") is None:
        shown.append(f"test entity F1 {test['entity_f1']:.4f}")
    if "accuracy" in test:
        shown.append(f"{'token ' if result.get('problem_type') == 'token' else ''}accuracy {test['accuracy']:.4f}"
                     if shown else f"test accuracy {test['accuracy']:.4f}")
        majority = result.get("test_majority_accuracy")
        if isinstance(majority, (int, float)) and test["accuracy"] <= majority + 1e-9:
            shown[-1] += f" ⚠ not above the majority-class accuracy {majority:.4f} (always guessing one class)"
    if not shown:
        shown = [f"test {k} {v:.4f}" for k, v in test.items() if isinstance(v, (int, float)) and k != "loss"][:2]
    if "ece" in test:
        shown.append(f"ECE {test['ece']:.4f}" + (f" ({scaled['ece']:.4f} after temperature scaling)"
                                                 if "ece" in scaled else ""))
    spent = result.get("train_time_s")
    shown.append(f"{spent / 60:.1f} min of training" if spent is not None else "training time unknown")
    folder = Path(str(result.get("final_model")))
    where = f"; model in {folder}, results in {folder / RESULTS_FILE}"
    if result.get("calibrated"):
        where += f", calibrated model in {folder / str(result['calibrated'])}"
    elif result.get("calibrated_not_written"):
        where += f"; no calibrated model: {result['calibrated_not_written']}"
    return f"{result.get('method')}: " + ", ".join(shown) + where


def file_task_name(train_file: str | os.PathLike) -> str:
    """A task's name from its training file: the folder when the file is called train.* (or training.*), else
    the file's stem (`reviews/train.csv` -> reviews, `reviews_train.csv` -> reviews_train), as the NER recipe."""
    path = Path(train_file).resolve()
    generic = path.stem.lower() in ("train", "training") and path.parent.name
    return path.parent.name if generic else path.stem
