"""Text classification data (GLUE tasks, csv/tsv/json files, hub datasets) as the splits of a run: validation
carved or given, caps, label noise, corrupted test copies (`load_data`, `shifted_tests`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..checks import notice
from .contracts import Classes, RecipeData, classes_notice, shift_plan


def load_data(data_args: Any) -> RecipeData:
    """The data of `data_args`, with a validation split carved from the training data (the same for every
    seed). Errors name the problem: files without labelled rows, too few rows, a one-class training split."""
    from datasets import DatasetDict

    read, source, test_name = _read_glue(data_args) if data_args.task_name else _read_tables(data_args)
    data, problem_type, made = read.splits, read.problem_type, read.splits_made
    splits = _split_train(data, data_args, source, made)
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
    natural = {name: f"{Path(made[f'test_{name}']).name} ({len(splits[f'test_{name}'])} rows)"
               for name in [*(data_args.ood_test_files or {}), *(data_args.ood_test_splits or {})]}
    return replace(read, splits=DatasetDict(splits), test_set=f"{test_name} ({len(splits['test'])} rows)",
                   label_noise_flipped=flipped, splits_made={k: made[k] for k in splits if k in made},
                   natural_shift=natural)


def _read_glue(data_args: Any) -> tuple[RecipeData, str, str]:
    """The train and dev (as test) data of the GLUE task `--task_name` (the splits as read), what the training
    data is and what the test set is, in messages."""
    from .glue import glue_task, load_glue, read_glue_extra
    from .tables import extra_test_sets

    task = glue_task(data_args.task_name)
    data = load_glue(task.name, data_args.glue_dir)
    made = {"train": f"GLUE {task.name} train", "test": f"GLUE {task.name} dev"}
    if "test_mismatched" in data:
        made["test_mismatched"] = f"GLUE {task.name} dev mismatched"
    dropped = {}
    for name, (path, header) in extra_test_sets(data_args.ood_test_files, data).items():
        data[f"test_{name}"], dropped[f"test_{name}"] = read_glue_extra(task, path, header,
                                                                        data_args.drop_unseen_labels)
        made[f"test_{name}"] = str(path)
        if dropped[f"test_{name}"]:
            notice(f"dropped {dropped[f'test_{name}']} row(s) of {path} whose label GLUE {task.name} does not have "
                   "(--drop_unseen_labels)")
    read = RecipeData(data, task, task.num_labels, "regression" if task.is_regression else "classification",
                      "given" if data_args.problem_type else f"that of GLUE task {task.name}",
                      label_names=None if task.is_regression else list(task.labels),
                      inputs={"text_columns": [task.text_a] + ([task.text_b] if task.text_b else []),
                              "how": f"the columns of GLUE task {task.name}"}, splits_made=made,
                      dropped_unseen={k: v for k, v in dropped.items() if v})
    return read, f"GLUE task {task.name}", f"GLUE {task.name} dev"


def _read_tables(data_args: Any) -> tuple[RecipeData, str, str]:
    """As `_read_glue`, of `--dataset_name` or of the files (`textmix.harness.data.tables`), with notices of the
    rows dropped, the text columns and the classes."""
    from .tables import read_dataset, read_files, where_rows

    if data_args.dataset_name:
        loaded = read_dataset(data_args.dataset_name, data_args.dataset_config_name, data_args.train_split,
                              data_args.test_split, data_args.text_columns, data_args.label_column,
                              data_args.problem_type, data_args.drop_unlabelled,
                              drop_unseen=data_args.drop_unseen_labels, extra_tests=data_args.ood_test_files,
                              extra_splits=data_args.ood_test_splits)
        files = loaded.sources
        source = data_args.dataset_name
    else:
        test_file = data_args.test_file or data_args.validation_file
        validation_file = data_args.validation_file if data_args.test_file else None
        loaded = read_files(data_args.train_file, test_file, data_args.text_columns, data_args.label_column,
                            data_args.problem_type, data_args.drop_unlabelled, data_args.label_separator,
                            validation_file=validation_file, drop_unseen=data_args.drop_unseen_labels,
                            extra_tests=data_args.ood_test_files)
        files = {"train": data_args.train_file, "test": test_file, "validation": validation_file}
        source = data_args.train_file
    problem_type = loaded.problem_type
    for split, where in loaded.dropped.items():
        notice(f"dropped {len(where)} unlabelled row(s) of {loaded.sources[split]} ({where_rows(where)}) "
               "(--drop_unlabelled)")
    for split, count in loaded.dropped_unseen.items():
        notice(f"dropped {count} row(s) of {loaded.sources[split]} whose label the training data never shows "
               "(--drop_unseen_labels)")
    label_names = None if problem_type == "regression" else list(loaded.names)
    inputs = {"text_columns": list(loaded.text_columns), "how": loaded.text_columns_how}
    notice(f"text read from column(s) {inputs['text_columns']} of {source} ({loaded.text_columns_how})")
    if loaded.class_counts:
        notice(classes_notice(Classes(label_names, {}, loaded.class_counts)))
    made = {split: str(loaded.sources.get(split, files[split])) for split in loaded.data}
    read = RecipeData(loaded.data, None, 1 if problem_type == "regression" else len(loaded.names), problem_type,
                      loaded.reason, loaded.dropped_counts, label_names=label_names, inputs=inputs, splits_made=made,
                      dropped_unseen=dict(loaded.dropped_unseen))
    return read, source, files["test"] if data_args.dataset_name else Path(files["test"]).name


def _first(split: Any, n: int | None) -> Any:
    """The first `n` rows of `split` (all of them: None)."""
    return split if n is None else split.select(range(min(n, len(split))))


def _split_train(data: Any, data_args: Any, source: str, made: dict[str, str]) -> dict[str, Any]:
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
        share = data_args.validation_split
        n_val = int(round(share * len(train))) if share < 1 else int(share)
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


def shifted_tests(test: Any, data_args: Any, mask_token: str) -> dict[str, dict[int, Any]]:
    """Corrupted copies of the `test` split ({kind: {severity: dataset}}) for `--shift_kinds` at
    `--shift_severities` (`textmix.robustness.corrupt_text` on every text column, seeded by
    `--split_seed`: the same copies for every method and seed); labels untouched."""
    from textmix.robustness import corrupt_text

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
