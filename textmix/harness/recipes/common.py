"""What the recipes share after their data is prepared: train (resuming: `resume`), predict, calibrate and write
the run's files (`train_and_report`; their schema: `textmix.harness.runfile`), and the closing line."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import notice
from ..runfile import (
    PREDICTIONS_FILE,
    RELIABILITY_FILE,
    RESULTS_FILE,
    RunResults,
    save_npz_atomic,
    write_json_atomic,
)
from .resume import _logged_loss, progress_callback, resume_point, run_identity


def tokenized(dataset: Any, fn: Callable[[dict], dict], tag: str, **kwargs: Any) -> Any:
    """`dataset.map(fn, batched=True, **kwargs)` (a `Dataset`, or each split of a `DatasetDict`) fingerprinted by
    the dataset's fingerprint and `tag` (not by hashing `fn`: pickling a tokenizer costs about a second a call);
    `tag` cannot tell a tokenizer changed under the same name, so a cached result is never read back."""
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


CALIBRATED = ("classification", "token")
"""The problem types with a temperature, `<test>_ts`, a majority accuracy and a reliability diagram."""


def _scored(logits: np.ndarray, labels: np.ndarray, problem_type: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores, labels) as one prediction per row: a token run's labelled tokens (M, C), (M,), else as they are."""
    if problem_type == "token":
        from textmix.calibration import labelled_tokens

        return labelled_tokens(logits, labels)
    return logits, labels


def shifted_key(kind: str, severity: int | str) -> str:
    """The name of a corrupted test copy's arrays in predictions.npz (`<name>_logits`, `<name>_labels`)."""
    return f"shift_{kind}_{severity}"


RUN_BOOTSTRAP = 200  # resamples behind each run's `smece_ci` (the report resamples predictions.npz itself)
BOOTSTRAP_SEED = 0  # one seed for every run: runs on one test set are resampled alike (paired intervals)


def predict_and_calibrate(trainer: Any, splits: Mapping[str, Any], problem_type: str = "classification",
                          shifted: Mapping[str, Mapping[int, Any]] | None = None,
                          ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Predict every split but `train` and every corrupted copy of `shifted` ({kind: {severity: test set}}), then
    `figures_of` those predictions with the trainer's `compute_metrics` (each split's loss is the trainer's).
    Returns (results entries, arrays for predictions.npz: every split's and every corrupted copy's logits and
    labels, `shifted_key`)."""
    if "validation" not in splits:
        raise ValueError(f"the splits {list(splits)} lack `validation`: temperature scaling is fitted on it.")
    sets = {name: split for name, split in splits.items() if name != "train"}
    sets.update({shifted_key(kind, severity): dataset for kind, by_severity in (shifted or {}).items()
                 for severity, dataset in by_severity.items()})
    arrays: dict[str, np.ndarray] = {}
    losses: dict[str, Any] = {}
    metric_fn, trainer.compute_metrics = trainer.compute_metrics, None  # computed once, by `figures_of`
    try:
        for name, dataset in sets.items():
            pred = trainer.predict(dataset, metric_key_prefix="eval")
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            arrays[f"{name}_logits"], arrays[f"{name}_labels"] = np.asarray(logits), np.asarray(pred.label_ids)
            losses[name] = pred.metrics.get("eval_loss")
    finally:
        trainer.compute_metrics = metric_fn
    results = figures_of(arrays, metric_fn, problem_type)
    for name, loss in losses.items():
        if name.startswith("shift_"):
            kind, severity = name.removeprefix("shift_").rsplit("_", 1)
            results["shift"][kind][severity]["loss"] = loss
        else:
            results[name]["loss"] = loss
    return results, arrays


def figures_of(arrays: Mapping[str, np.ndarray], compute_metrics: Callable[[Any], Mapping[str, float]] | None,
               problem_type: str = "classification") -> dict[str, Any]:
    """The results entries of a set of predictions (`<name>_logits` / `<name>_labels` of `validation`, each `test*`
    split and each corrupted copy `shifted_key`): each split's `compute_metrics` figures; for `CALIBRATED` problem
    types a temperature fitted on `validation` (a token run's labelled tokens), each `test*` split and `validation`
    after scaling too (`<split>_ts`), the selective-prediction figures, the smooth ECE's interval, the majority
    accuracy and `temperature_at_bound`; the corrupted copies as `shift` ({kind: {severity: figures}})."""
    names = [k.removesuffix("_logits") for k in arrays if k.endswith("_logits")]
    if "validation" not in names:
        raise ValueError(f"the predictions {names} lack `validation`: temperature scaling is fitted on it.")
    shifts = [n for n in names if n.startswith("shift_")]
    if shifts and problem_type not in CALIBRATED:
        raise ValueError(f"shifted test sets are measured for classifiers; this run is {problem_type}.")

    def measured(name: str) -> dict[str, Any]:
        from transformers.trainer_utils import EvalPrediction  # what the Trainer passes to `compute_metrics`

        if compute_metrics is None:
            return {}
        return dict(compute_metrics(EvalPrediction(predictions=arrays[f"{name}_logits"],
                                                   label_ids=arrays[f"{name}_labels"])))

    results: dict[str, Any] = {name: measured(name) for name in names if name not in shifts}
    if problem_type not in CALIBRATED:
        return results
    from textmix.calibration import (
        apply_temperature,
        calibration_report,
        fit_temperature,
        selective_metrics,
        temperature_scaling_report,
    )
    from textmix.calibration.smooth import bootstrap_interval
    from textmix.calibration.temperature import TEMPERATURE_BOUNDS, at_search_bound

    validation = _scored(arrays["validation_logits"], arrays["validation_labels"], problem_type)
    temperature = None
    for name in [n for n in names if n.startswith("test")]:
        test = _scored(arrays[f"{name}_logits"], arrays[f"{name}_labels"], problem_type)
        report = temperature_scaling_report(*validation, *test)
        results[f"{name}_ts"] = report["after"]
        temperature = results["temperature"] = report["temperature"]
        results[f"{name}_majority_accuracy"] = majority_accuracy(test[1])
        results[name].update(selective_metrics(*test))
        scaled = (apply_temperature(np.asarray(test[0], dtype=np.float64), temperature), test[1])
        for key, (scores, labels) in ((name, test), (f"{name}_ts", scaled)):
            results[key]["smece_ci"] = list(bootstrap_interval(
                scores, labels, "smece", n_bootstrap=RUN_BOOTSTRAP, level=0.95, seed=BOOTSTRAP_SEED))
    if temperature is None:  # no test split: fit it for the validation figures alone
        temperature = fit_temperature(*validation)
    results["temperature_at_bound"] = at_search_bound(temperature, logits=validation[0], labels=validation[1])
    if results["temperature_at_bound"]:
        notice(f"the temperature {temperature:.4g} lies at an end of its search interval {list(TEMPERATURE_BOUNDS)} "
               "(or the validation NLL is as low there): the validation NLL was still falling, or flat (every "
               "validation prediction right, or too few rows?), so the scaled figures say little "
               "(temperature_at_bound in results.json)")
    results["validation"].update(selective_metrics(*validation))
    results["validation_ts"] = calibration_report(apply_temperature(validation[0], temperature), validation[1])
    for name in shifts:
        scores, labels = _scored(arrays[f"{name}_logits"], arrays[f"{name}_labels"], problem_type)
        figures = measured(name)
        figures.update(selective_metrics(scores, labels))
        scaled = calibration_report(apply_temperature(np.asarray(scores, dtype=np.float64), temperature), labels)
        figures.update({f"{k}_ts": scaled[k] for k in ("ece", "nll", "brier", "adaptive_ece", "smece")})
        figures["size"] = len(arrays[f"{name}_labels"])
        kind, severity = name.removeprefix("shift_").rsplit("_", 1)
        results.setdefault("shift", {}).setdefault(kind, {})[severity] = figures
    return results


def nonfinite_figures(results: Mapping[str, Any]) -> list[str]:
    """`split.figure` of each figure of a run's splits that is NaN or infinite (Pearson on constant predictions)."""
    return [f"{split}.{key}" for split, figures in results.items() if isinstance(figures, Mapping) and split != "shift"
            for key, value in figures.items()
            if isinstance(value, float) and not np.isfinite(value)]


def write_run(output_dir: str | os.PathLike, results: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
              problem_type: str) -> None:
    """Write `predictions.npz`, `reliability.png` (`CALIBRATED` runs) and, last, `results.json` into `output_dir`."""
    from textmix.calibration import reliability_diagram

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_npz_atomic(out / PREDICTIONS_FILE, arrays)
    if problem_type in CALIBRATED and "test_logits" in arrays:
        title = f"{results['task']} / {results['method']} / seed {results['seed']}" + (
            " (labelled tokens)" if problem_type == "token" else "")
        reliability_diagram(*_scored(arrays["test_logits"], arrays["test_labels"], problem_type),
                            str(out / RELIABILITY_FILE), title=title, smooth=True)
    write_json_atomic(out / RESULTS_FILE, results)  # last: its presence marks a finished run


CALIBRATED_DIR = "calibrated"  # the folder of `output_dir` that --save_calibrated writes


def write_calibrated(trainer: Any, splits: Mapping[str, Any], temperature: float) -> Path:
    """Save `trainer.model` with `temperature` folded into its head and the trainer's processor to
    `CALIBRATED_DIR`, checked on a batch of the test set (logits = the model's / temperature)."""
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


def train_and_report(trainer: Any, splits: Mapping[str, Any], header: Mapping[str, Any], config: Mapping[str, Any],
                     problem_type: str, dropped_unlabelled: Mapping[str, int], shifted: Mapping[str, Any],
                     save_calibrated: bool = False, save_calibrated_at_bound: bool = False) -> RunResults:
    """Train `trainer` (resuming this run's newest complete checkpoint that loads), predict, calibrate and write
    the run's files: results.json is `header`, the run's entries (`this_attempt`: this process's part), the
    figures, `config` and the environment. `save_calibrated`: also `write_calibrated`, unless the temperature
    is at its search bound and not `save_calibrated_at_bound` (`calibrated_not_written` says why). Returns
    the results (on every process; only the main one writes)."""
    import torch

    training_args = trainer.args
    identity = run_identity(header, config)
    name_classes(trainer.model, header.get("label_names"), problem_type)
    quiet_pin_memory(training_args)
    for said in (process_count_notice(training_args.world_size), long_run_notice(trainer)):
        if said:
            notice(said)
    resume, from_step, earlier_time = resume_point(training_args, identity)
    start = time.perf_counter()
    trainer.add_checkpoint_callback(progress_callback(earlier_time, start, identity))  # before the complete marker
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
        "dropped_unlabelled": dict(dropped_unlabelled),
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
    """Collect the finished Trainer (its DDP wrapper keeps the gloo group alive; freed at exit it aborted rank 0
    in about 1 run of 6 under torchrun), wait for every rank, then destroy the process group."""
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def name_classes(model: Any, label_names: Sequence[str] | None, problem_type: str) -> None:
    """Set `model.config`'s `id2label` / `label2id` to `label_names` (in id order), so that every saved model
    names its classes, not `LABEL_k`."""
    if not label_names or problem_type == "regression":
        return
    config = model.config  # a PEFT wrapper's is its base model's
    if int(getattr(config, "num_labels", len(label_names))) != len(label_names):
        raise ValueError(f"the model has {config.num_labels} outputs for {len(label_names)} classes {list(label_names)}.")
    config.id2label = {i: str(name) for i, name in enumerate(label_names)}
    config.label2id = {str(name): i for i, name in enumerate(label_names)}


def quiet_pin_memory(training_args: Any) -> None:
    """Turn `dataloader_pin_memory` off on CPU (torch warns on every data loader otherwise; nothing changes)."""
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
                "for N processes on CPU use `accelerate launch --multi_gpu --num_processes N recipes/run_glue.py "
                "... --use_cpu` (docs/recipes.md, several processes).")
    return None


LONG_CPU_STEPS = 2000  # a CPU run of more optimizer steps is announced before it trains


def training_steps(trainer: Any) -> int:
    """The optimizer steps `trainer` will train, as the Trainer counts them."""
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
    """The closing line of a finished run: its test task metric (⚠ when the accuracy is not above the majority
    class's), ECE before and after temperature scaling, training time and where its files are."""
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
