"""Fine-tune a sequence classifier on a GLUE task (or csv/tsv/json data) with MixTrainer.

    python recipes/run_glue.py --task_name sst2 --glue_dir ../shared/data/glue \\
        --model_name_or_path ../shared/models/bert-tiny --mix_method hidden --output_dir out/sst2-hidden
    python recipes/run_glue.py config.yaml          # the same arguments from a .yaml or .json file
    python -m textmix.harness.recipes.glue ...      # the same without the launcher script
    torchrun --nproc_per_node 2 recipes/run_glue.py ...   |   accelerate launch recipes/run_glue.py ...

A validation split is carved from the training data (for temperature scaling and model
selection); the GLUE dev set is the test set. Writes to `output_dir`: `results.json` (task metrics,
calibration before and after temperature scaling, training time, configuration, versions),
`predictions.npz` (logits and labels of every split) and `reliability.png`: the schema every recipe
shares, described in `textmix.harness.recipes.common`. An interrupted run continues from the last
complete checkpoint in `output_dir` when started again.

Inputs are checked before a model is loaded: the arguments, `output_dir` (writable), the model
folder, and the data (rows without a label are an error naming them, or dropped with
`--drop_unlabelled`; a training split needs two classes). `--problem_type` is `classification`,
`regression` or `multi_label`; without it, a GLUE task has its own, and files are read as
`textmix.harness.glue.infer_problem_type` says (lists -> multi_label; numbers not all whole ->
regression; else classification), and the choice is printed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .registry import Recipe, loads_data, register_recipe

if TYPE_CHECKING:

    from textmix.trainer import MixTrainingArguments

from .arguments import DEFAULT_MODEL, DataArgumentsBase, ModelArguments, renamed, with_lora
from .contracts import RecipeData

__all__ = ["DEFAULT_MODEL", "DataArguments", "ModelArguments", "RecipeData", "load_data", "parse_args", "run",
           "with_lora"]


@dataclass
class DataArguments(DataArgumentsBase):
    """Which data to train and test on (the shared fields: `DataArgumentsBase`)."""

    UNIT = "example"
    RENAMED = {"max_test_samples": "max_predict_samples", "max_validation_samples": "max_eval_samples"}

    task_name: str | None = field(
        default=None, metadata={"help": "GLUE task: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli."}
    )
    glue_dir: str | None = field(
        default=None,
        metadata={"help": "Folder in the layout of GLUE's download script (default $GLUE_DIR); else the hub."},
    )
    train_file: str | None = field(default=None, metadata={"help": "Training data (.csv, .tsv, .json, .jsonl)."})
    validation_file: str | None = field(
        default=None, metadata={"help": "Validation data when --test_file is given; without it, held-out data "
                                        "reported as the test set (like GLUE dev), and validation is carved."}
    )
    test_file: str | None = field(
        default=None, metadata={"help": "Test data (.csv, .tsv, .json, .jsonl); default: --validation_file."}
    )
    dataset_name: str | None = field(
        default=None, metadata={"help": "A hub dataset (or a local folder of data files) instead of files, e.g. "
                                        "fancyzhx/ag_news; its columns by --text_columns / --label_column."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "The dataset's configuration."})
    train_split: str = field(default="train", metadata={"help": "The dataset's training split."})
    test_split: str | None = field(
        default=None, metadata={"help": "The dataset's split tested on (default: test, else validation)."}
    )
    text_columns: list[str] | None = field(
        default=None, metadata={"help": "One or two text columns of the files (default: the first text columns)."}
    )
    label_column: str = field(default="label", metadata={"help": "Label column of the files."})
    problem_type: str | None = field(
        default=None,
        metadata={"help": "classification, regression or multi_label. Default: the GLUE task's; for files, "
                  "inferred: lists -> multi_label, numbers not all whole -> regression, else classification."},
    )
    drop_unlabelled: bool = field(
        default=False,
        metadata={"help": "Leave out rows of the files whose label is empty or missing (counted in the log and in "
                  "results.json) instead of stopping with an error that names them."},
    )
    drop_unseen_labels: bool = field(
        default=False,
        metadata={"help": "Leave out validation/test rows whose label the training data never shows (counted in the "
                  "log and in results.json) instead of stopping with an error that names the labels."},
    )
    label_separator: str = field(
        default=",", metadata={"help": "multi_label: separator of the labels in a csv/tsv field (json: a list)."}
    )
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example after truncation (> 0)."})
    max_eval_samples: int | None = field(default=2000, metadata={"help": "Validate on at most this many examples."})
    max_test_samples: int | None = renamed("max_predict_samples")
    max_validation_samples: int | None = renamed("max_eval_samples")
    shift_kinds: list[str] | None = field(
        default=None, metadata={"help": "Also test on corrupted copies of the test set: typo, deletion, swap, mask "
                                        "(textmix.robustness.corrupt_text)."}
    )

    def __post_init__(self) -> None:
        from ..glue import glue_task
        from ..tables import check_problem_type

        files = self.train_file or self.validation_file or self.test_file
        sources = [bool(self.task_name), bool(files), bool(self.dataset_name)]
        if sum(sources) == 0:
            raise ValueError("give the data: --task_name (a GLUE task), --train_file with --test_file (or "
                             "--validation_file), or --dataset_name.")
        if sum(sources) > 1:
            raise ValueError("give one source of data: --task_name (a GLUE task), --train_file ..., or "
                             "--dataset_name, not several.")
        if files and not (self.train_file and (self.test_file or self.validation_file)):
            raise ValueError("files need --train_file and --test_file (or --validation_file, then the test set).")
        if (self.task_name or files) and (self.dataset_config_name or self.test_split):
            raise ValueError("--dataset_config_name and --test_split are for --dataset_name.")
        if self.task_name and (self.text_columns or self.label_column != "label"):
            raise ValueError("--text_columns and --label_column are for files or datasets; a GLUE task has its own.")
        if self.max_seq_length <= 0:
            raise ValueError(f"--max_seq_length must be > 0 (got {self.max_seq_length}): the tokens kept per example.")
        super().__post_init__()  # caps, validation split, shift, label noise
        check_problem_type(self.problem_type)
        if self.task_name and self.problem_type:
            own = "regression" if glue_task(self.task_name).is_regression else "classification"
            if self.problem_type != own:
                raise ValueError(f"GLUE task {self.task_name} is {own}; --problem_type {self.problem_type} does not "
                                 "apply (leave it out).")
        if self.label_noise and self.problem_type in ("regression", "multi_label"):
            raise ValueError(f"--label_noise flips class labels; a {self.problem_type} task has none to flip.")


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, MixTrainingArguments]:
    """(ModelArguments, DataArguments, MixTrainingArguments) from the command line or one .json/.yaml file."""
    from .arguments import argument_parser, parse

    return parse(argument_parser(ModelArguments, DataArguments), argv)


def load_data(data_args: DataArguments) -> RecipeData:
    """The data of `data_args`, with a validation split carved from the training data (the same for every
    seed). Errors name the problem: files without labelled rows, too few rows, a one-class training split."""
    from datasets import DatasetDict

    read = _read_glue(data_args) if data_args.task_name else _read_tables(data_args)
    data, problem_type, made = read.data, read.problem_type, read.made
    splits = _split_train(data, data_args, read.source, made)
    if problem_type == "classification":
        classes = sorted(set(splits["train"]["label"]))
        if len(classes) < 2:
            names = splits["train"].features["label"].names
            raise ValueError(
                f"the training split has only one class ({names[classes[0]]!r}) in its {len(splits['train'])} rows: "
                "a classifier learns nothing from it. Check the labels of the training data (or --max_train_samples).")
    for name in data:
        if name not in ("train", "validation"):
            splits[name] = _first(data[name], data_args.max_predict_samples)
    if data_args.shift_kinds and problem_type != "classification":
        raise ValueError(f"--shift_kinds measures classifiers on corrupted test sets; this task is {problem_type} "
                         "(leave the shift out for it).")
    flipped = 0
    if data_args.label_noise:
        if problem_type != "classification":
            raise ValueError(f"--label_noise flips class labels; this task is {problem_type}.")
        splits["train"], flipped = with_label_noise(splits["train"], data_args.label_noise, read.num_labels,
                                                    data_args.split_seed)
    if read.task:
        test_set = f"GLUE {read.task.name} dev ({len(splits['test'])} rows)"
    else:
        name = read.files["test"] if data_args.dataset_name else Path(read.files["test"]).name
        test_set = f"{name} ({len(splits['test'])} rows)"
    return RecipeData(DatasetDict(splits), read.task, read.num_labels, problem_type, read.reason, read.dropped,
                      test_set, flipped, read.label_names, read.inputs, {k: made[k] for k in splits if k in made},
                      read.unseen)


@dataclass
class _Read:
    """The data as read, before the splits are made (`load_data`)."""

    data: Any  # DatasetDict: train, test (and validation, test_mismatched when given)
    task: Any  # the GlueTask, or None for files and datasets
    problem_type: str
    reason: str
    num_labels: int
    source: str  # what the training data is, in messages
    label_names: list[str] | None
    inputs: dict[str, Any]
    made: dict[str, str]  # split -> where it comes from
    files: dict[str, Any] = field(default_factory=dict)  # split -> file (or dataset[split]); files and datasets
    dropped: dict[str, int] = field(default_factory=dict)
    unseen: dict[str, int] = field(default_factory=dict)


def _read_glue(data_args: DataArguments) -> _Read:
    """The train and dev (as test) data of the GLUE task `--task_name`."""
    from ..glue import glue_task, load_glue

    task = glue_task(data_args.task_name)
    data = load_glue(task.name, data_args.glue_dir)
    made = {"train": f"GLUE {task.name} train", "test": f"GLUE {task.name} dev"}
    if "test_mismatched" in data:
        made["test_mismatched"] = f"GLUE {task.name} dev mismatched"
    return _Read(data, task, "regression" if task.is_regression else "classification",
                 "given" if data_args.problem_type else f"that of GLUE task {task.name}", task.num_labels,
                 f"GLUE task {task.name}", None if task.is_regression else list(task.labels),
                 {"text_columns": [task.text_a] + ([task.text_b] if task.text_b else []),
                  "how": f"the columns of GLUE task {task.name}"}, made)


def _read_tables(data_args: DataArguments) -> _Read:
    """The data of `--dataset_name` or of the files (`textmix.harness.tables`), with notices of the rows dropped,
    the text columns and the classes."""
    from ..checks import notice
    from ..glue import read_dataset, read_files, where_rows  # ..glue lifts csv's field size limit

    if data_args.dataset_name:
        loaded = read_dataset(data_args.dataset_name, data_args.dataset_config_name, data_args.train_split,
                              data_args.test_split, data_args.text_columns, data_args.label_column,
                              data_args.problem_type, data_args.drop_unlabelled,
                              drop_unseen=data_args.drop_unseen_labels)
        files = loaded.sources
        source = data_args.dataset_name
    else:
        test_file = data_args.test_file or data_args.validation_file
        validation_file = data_args.validation_file if data_args.test_file else None
        loaded = read_files(data_args.train_file, test_file, data_args.text_columns, data_args.label_column,
                            data_args.problem_type, data_args.drop_unlabelled, data_args.label_separator,
                            validation_file=validation_file, drop_unseen=data_args.drop_unseen_labels)
        files = {"train": data_args.train_file, "test": test_file, "validation": validation_file}
        source = data_args.train_file
    problem_type = loaded.problem_type
    for split, where in loaded.dropped.items():
        notice(f"dropped {len(where)} unlabelled row(s) of {files[split]} ({where_rows(where)}) "
               "(--drop_unlabelled)")
    for split, count in loaded.dropped_unseen.items():
        notice(f"dropped {count} row(s) of {files[split]} whose label the training data never shows "
               "(--drop_unseen_labels)")
    label_names = None if problem_type == "regression" else list(loaded.names)
    inputs = {"text_columns": list(loaded.text_columns), "how": loaded.text_columns_how}
    notice(f"text read from column(s) {inputs['text_columns']} of {source} ({loaded.text_columns_how})")
    if loaded.class_counts:
        from .contracts import Classes, classes_notice

        notice(classes_notice(Classes(label_names, {}, loaded.class_counts)))
    made = {split: str(loaded.sources.get(split, files[split])) for split in loaded.data}
    return _Read(loaded.data, None, problem_type, loaded.reason,
                 1 if problem_type == "regression" else len(loaded.names), source, label_names, inputs, made, files,
                 loaded.dropped_counts, dict(loaded.dropped_unseen))


def _first(split: Any, n: int | None) -> Any:
    """The first `n` rows of `split` (all of them: None)."""
    return split if n is None else split.select(range(min(n, len(split))))


def _split_train(data: Any, data_args: DataArguments, source: str, made: dict[str, str]) -> dict[str, Any]:
    """{validation, train}: the training data shuffled by `--split_seed`, the validation split given (capped by
    `--max_eval_samples`) or carved from its first rows, the rest capped by `--max_train_samples`; how each
    was made goes into `made`."""
    train = data["train"].shuffle(seed=data_args.split_seed)
    if "validation" in data:  # given: nothing is carved
        splits = {"validation": _first(data["validation"], data_args.max_eval_samples), "train": train}
    else:
        if len(train) < 2:
            raise ValueError(f"{source} has {len(train)} row{'s' if len(train) != 1 else ''}: too few to hold out a "
                             "validation split and keep rows to train on (at least 2 are needed; many more to "
                             "learn).")
        n_val = data_args.validation_split
        n_val = int(round(n_val * len(train))) if n_val < 1 else int(n_val)
        if data_args.max_eval_samples is not None:
            n_val = min(n_val, data_args.max_eval_samples)
        n_val = max(1, min(n_val, len(train) - 1))
        splits = {"validation": train.select(range(n_val)), "train": train.select(range(n_val, len(train)))}
        made["validation"] = (f"{n_val} rows carved from {made['train']} (--validation_split "
                              f"{data_args.validation_split}, --split_seed {data_args.split_seed}), disjoint from train")
        made["train"] += f" less the {n_val} validation rows"
    if data_args.max_train_samples is not None and data_args.max_train_samples < len(splits["train"]):
        made["train"] += f", first {data_args.max_train_samples} after shuffling (--max_train_samples)"
    splits["train"] = _first(splits["train"], data_args.max_train_samples)
    return splits


def with_label_noise(train: Any, rate: float, num_labels: int, seed: int) -> tuple[Any, int]:
    """`train` with `rate` of its labels flipped to another class (`textmix.robustness.flip_labels`, seeded
    by `seed`), and how many were flipped."""
    import numpy as np

    from textmix.robustness import flip_labels

    noisy, mask = flip_labels(np.asarray(train["label"]), rate, num_labels, seed)
    feature = train.features["label"]
    train = train.remove_columns("label").add_column("label", [int(x) for x in noisy]).cast_column("label", feature)
    return train, int(mask.sum())


def run(model_args: ModelArguments, data_args: DataArguments, training_args: MixTrainingArguments,
        tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (resuming from the last complete checkpoint in `output_dir`), predict, calibrate and write
    `results.json`, `predictions.npz` and `reliability.png` (see `textmix.harness.recipes.common`).

    Every input is checked first (output folder, model folder, data), before a model is loaded.
    `tags`: extra entries of results.json (a `method` tag names the method instead of `method_name`).
    Returns the results dict.
    """
    data = _checked_data(model_args, data_args, training_args)

    from transformers import AutoTokenizer, DataCollatorWithPadding, set_seed

    from textmix.calibration import classification_metrics, multi_label_metrics, regression_metrics
    from textmix.trainer import MixTrainer

    from ..checks import notice
    from .arguments import as_config
    from .common import train_and_report
    from .contracts import padding_token

    set_seed(training_args.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, cache_dir=model_args.cache_dir,
                                              trust_remote_code=model_args.trust_remote_code)
    if padding_token(tokenizer, model_args.model_name_or_path):  # decoder-only tokenizers (GPT-2, Llama)
        notice("the tokenizer has no padding token: padding with its end-of-sequence token")
    splits, shifted = _tokenized_splits(data.splits, tokenizer, model_args, data_args, training_args)
    model = _classifier(model_args, data, tokenizer)
    metrics = {"classification": classification_metrics, "regression": regression_metrics,
               "multi_label": multi_label_metrics}[data.problem_type]()
    trainer = MixTrainer(
        model=model, args=training_args, train_dataset=splits["train"], eval_dataset=splits["validation"],
        processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=metrics,
    )
    header = _header(tags or {}, data, model_args, data_args, training_args)
    config = {"model": as_config(model_args), "data": as_config(data_args), "training": training_args.to_dict()}
    return train_and_report(trainer, splits, header, config, problem_type=data.problem_type,
                            dropped_unlabelled=data.dropped_unlabelled, shifted=shifted,
                            save_calibrated=model_args.save_calibrated,
                            save_calibrated_at_bound=model_args.save_calibrated_at_bound)


def _checked_data(model_args: ModelArguments, data_args: DataArguments,
                  training_args: MixTrainingArguments) -> RecipeData:
    """The data of `run` once the output folder, the model folder, the data and the label smoothing (none for
    regression) pass their checks; the problem type is noticed."""
    from ..checks import InputError, check_model, check_output_dir, notice

    check_output_dir(training_args.output_dir)
    check_model(model_args.model_name_or_path)
    data = load_data(data_args)
    if data.reason == "given" or data.task:
        notice(f"problem type: {data.problem_type} ({data.reason})")
    else:
        notice(f"problem type: {data.problem_type} (inferred: {data.reason}; set --problem_type to choose)")
    smoothing = [f"--{k} {v}" for k in ("label_smoothing_factor", "mix_label_smoothing")
                 if (v := getattr(training_args, k, 0) or 0)]
    if data.problem_type == "regression" and smoothing:
        raise InputError(f"{' and '.join(smoothing)}: label smoothing needs class labels, and this task is regression "
                         "(its labels are numbers); drop the smoothing for it.")
    return data


def _tokenized_splits(splits: Any, tokenizer: Any, model_args: ModelArguments, data_args: DataArguments,
                      training_args: MixTrainingArguments) -> tuple[Any, dict[str, dict[int, Any]]]:
    """The splits and the shifted test sets (`shifted_tests`) tokenized (text pairs as pairs, truncated to
    `--max_seq_length`; cached, by the main process first)."""
    from ..checks import notice
    from .common import tokenized
    from .contracts import mask_token, one_word_notice

    pair = "text_b" in splits["train"].column_names

    def tokenize(batch):
        texts = (batch["text_a"], batch["text_b"]) if pair else (batch["text_a"],)
        return tokenizer(*texts, truncation=True, max_length=data_args.max_seq_length)

    shifted = shifted_tests(splits["test"], data_args,
                            mask_token(tokenizer, data_args.shift_kinds, model_args.model_name_or_path))
    said = one_word_notice(splits["test"]["text_a"], data_args.shift_kinds)
    if said:
        notice(said)
    tag = f"{model_args.model_name_or_path}|{data_args.max_seq_length}|{pair}"
    with training_args.main_process_first(desc="tokenize"):
        splits = tokenized(splits, tokenize, tag, desc="tokenize")
        shifted = {kind: {sev: tokenized(ds, tokenize, tag, desc="tokenize") for sev, ds in by_sev.items()}
                   for kind, by_sev in shifted.items()}
    return splits, shifted


_HF_PROBLEM_TYPES = {"classification": "single_label_classification", "regression": "regression",
                     "multi_label": "multi_label_classification"}
"""The `problem_type` of a transformers config for each of `textmix.harness.tables.PROBLEM_TYPES`."""


def _classifier(model_args: ModelArguments, data: RecipeData, tokenizer: Any) -> Any:
    """The sequence classifier of `--model_name_or_path` for `data` in float32 (its padding token that of the
    tokenizer where it has none), with LoRA where asked for."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        model_args.model_name_or_path, num_labels=data.num_labels, cache_dir=model_args.cache_dir,
        trust_remote_code=model_args.trust_remote_code, problem_type=_HF_PROBLEM_TYPES[data.problem_type],
        dtype="float32",  # trained weights in float32 (bf16 checkpoints too); --bf16 / --fp16 for mixed precision
    )
    if model.config.pad_token_id is None:  # decoder-only models pool the last token that is not padding
        model.config.pad_token_id = tokenizer.pad_token_id
    return with_lora(model, model_args)


def _header(tags: dict[str, Any], data: RecipeData, model_args: ModelArguments, data_args: DataArguments,
            training_args: MixTrainingArguments) -> dict[str, Any]:
    """The run's entries of results.json besides its figures (task, method, seed, data facts); `tags` first."""
    from .common import file_task_name, method_name

    return {
        **tags,
        "task": tags.get("task") or (data.task.name if data.task else data_args.dataset_name
                                     or file_task_name(data_args.train_file)),
        "method": tags.get("method", method_name(training_args)),
        "seed": training_args.seed,
        "model": model_args.model_name_or_path,
        "modality": "text",
        "test_set": data.test_set,
        "label_noise": float(data_args.label_noise),
        "label_noise_flipped": data.label_noise_flipped,
        "label_names": data.label_names,
        "inputs": data.inputs,
        "splits_made": data.splits_made,
        "dropped_unseen_labels": data.dropped_unseen,
    }


def shifted_tests(test: Any, data_args: DataArguments, mask_token: str) -> dict[str, dict[int, Any]]:
    """Corrupted copies of the `test` split ({kind: {severity: dataset}}) for `--shift_kinds` at
    `--shift_severities` (`textmix.robustness.corrupt_text` on every text column, seeded by
    `--split_seed`: the same copies for every method and seed); labels untouched."""
    from textmix.robustness import corrupt_text

    from .common import shift_plan

    out: dict[str, dict[int, Any]] = {}
    columns = [c for c in ("text_a", "text_b") if c in test.column_names]
    for kind, severity in shift_plan(data_args.shift_kinds, data_args.shift_severities):
        copy = test
        for i, column in enumerate(columns):
            texts = corrupt_text(test[column], kind, severity, seed=data_args.split_seed * 1000 + i,
                                 mask_token=mask_token)
            copy = copy.remove_columns(column).add_column(column, texts)
        out.setdefault(kind, {})[severity] = copy
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point (see the module docstring)."""
    model_args, data_args, training_args = parse_args(argv)
    results = run(model_args, data_args, training_args)
    from .common import shutdown_distributed, summary_line

    if training_args.process_index == 0:
        print("\n" + summary_line(results), flush=True)
    shutdown_distributed()  # frees the trainer, then destroys the process group
    return results


def cli(argv: list[str] | None = None, prog: str | None = None) -> int:
    """`python recipes/run_glue.py ...` (see `textmix.harness.checks.recipe_cli`; `prog`: the command as typed, in
    errors); returns the exit status."""
    from ..checks import recipe_cli, typed_command

    return recipe_cli(main, argv, prog or typed_command("recipes/run_glue.py", "textmix.harness.recipes.glue"))


register_recipe(Recipe(  # the `text` modality of `textmix compare` (textmix.harness.recipes.registry)
    "text", DataArguments, ModelArguments, run, check_data=loads_data(load_data),
    short_keys={"train_file": "train_file", "validation_file": "validation_file", "test_file": "test_file",
                "text_columns": "text_columns", "label_column": "label_column", "problem_type": "problem_type",
                "dataset": "dataset_name", "dataset_config": "dataset_config_name", "train_split": "train_split",
                "test_split": "test_split"},
    data_hint="train_file (+ test_file) or dataset", mixes="text", data_defaults={"task_name": None}))


if __name__ == "__main__":
    sys.exit(cli())
