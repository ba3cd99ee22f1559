"""GLUE tasks and other text classification data, as `datasets` splits with uniform columns.

Every loader returns a `DatasetDict` whose splits have `text_a`, optionally `text_b`, and `label`
(int class ids, or floats for regression). The GLUE dev set is the `test` split (GLUE's own test
labels are private). Sources: a folder in the layout of GLUE's `download_glue_data.py` (the
`GLUE_DIR` convention), the Hugging Face hub (`nyu-mll/glue`), or csv/tsv/json files.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class GlueTask:
    """Where one GLUE task keeps its text and labels."""

    name: str
    folder: str
    text_a: str
    text_b: str | None
    label: str
    labels: tuple[str, ...] | None  # class names in the hub's order; None for regression
    test_files: dict[str, str] = field(default_factory=lambda: {"test": "dev.tsv"})
    header: tuple[str, ...] | None = None  # for files without a header row (CoLA)
    hub_splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "test": "validation"})
    metric: str = "accuracy"

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        return 1 if self.labels is None else len(self.labels)


GLUE_TASKS: dict[str, GlueTask] = {
    t.name: t
    for t in [
        GlueTask("cola", "CoLA", "sentence", None, "label", ("unacceptable", "acceptable"),
                 header=("source", "label", "original_label", "sentence"), metric="matthews_correlation"),
        GlueTask("sst2", "SST-2", "sentence", None, "label", ("negative", "positive")),
        GlueTask("mrpc", "MRPC", "#1 String", "#2 String", "Quality", ("not_equivalent", "equivalent"), metric="f1"),
        GlueTask("qqp", "QQP", "question1", "question2", "is_duplicate", ("not_duplicate", "duplicate"), metric="f1"),
        GlueTask("stsb", "STS-B", "sentence1", "sentence2", "score", None, metric="pearson"),
        GlueTask("mnli", "MNLI", "sentence1", "sentence2", "gold_label", ("entailment", "neutral", "contradiction"),
                 test_files={"test": "dev_matched.tsv", "test_mismatched": "dev_mismatched.tsv"},
                 hub_splits={"train": "train", "test": "validation_matched",
                             "test_mismatched": "validation_mismatched"}),
        GlueTask("qnli", "QNLI", "question", "sentence", "label", ("entailment", "not_entailment")),
        GlueTask("rte", "RTE", "sentence1", "sentence2", "label", ("entailment", "not_entailment")),
        GlueTask("wnli", "WNLI", "sentence1", "sentence2", "label", ("not_entailment", "entailment")),
    ]
}
_ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "mnli-m": "mnli"}


def glue_task(name: str) -> GlueTask:
    """The `GlueTask` called `name` (case-insensitive; 'SST-2' and 'sst2' both work)."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in GLUE_TASKS:
        raise ValueError(f"unknown GLUE task {name!r}; choose from {sorted(GLUE_TASKS)}.")
    return GLUE_TASKS[key]


def _features(task: GlueTask, pair: bool) -> Features:
    cols = {"text_a": Value("string")}
    if pair:
        cols["text_b"] = Value("string")
    cols["label"] = Value("float32") if task.is_regression else ClassLabel(names=list(task.labels))
    return Features(cols)


def _label_value(task: GlueTask, raw: str, path: Path, line: int) -> float | int:
    raw = raw.strip()
    if task.is_regression:
        return float(raw)
    if raw.lstrip("-").isdigit():
        value = int(raw)
        if 0 <= value < task.num_labels:
            return value
    elif raw in task.labels:
        return task.labels.index(raw)
    raise ValueError(f"{path}:{line}: label {raw!r} is not one of {task.labels} (or their indices).")


def read_glue_tsv(task: GlueTask, path: Path, labelled: bool = True) -> Dataset:
    """One GLUE TSV file as a Dataset: tab-separated, no quoting, optional byte-order mark."""
    columns: dict[str, list] = {"text_a": [], "label": []}
    if task.text_b:
        columns["text_b"] = []
    skipped = 0
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = list(task.header) if task.header else next(reader)
        index = {name: i for i, name in enumerate(header)}
        wanted = [task.text_a] + ([task.text_b] if task.text_b else []) + ([task.label] if labelled else [])
        missing = [w for w in wanted if w not in index]
        if missing:
            raise ValueError(f"{path}: columns {missing} not found (header: {header}); is this the {task.folder} file?")
        for line, row in enumerate(reader, start=2 if not task.header else 1):
            if len(row) < len(header) and max(index[w] for w in wanted) >= len(row):
                skipped += 1  # a few GLUE rows (QQP) are truncated
                continue
            columns["text_a"].append(row[index[task.text_a]])
            if task.text_b:
                columns["text_b"].append(row[index[task.text_b]])
            columns["label"].append(_label_value(task, row[index[task.label]], path, line) if labelled else -1)
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} malformed rows", stacklevel=2)
    if not labelled:
        columns.pop("label")
        return Dataset.from_dict(columns)
    return Dataset.from_dict(columns, features=_features(task, task.text_b is not None))


def load_glue(task_name: str, glue_dir: str | os.PathLike | None = None) -> DatasetDict:
    """A GLUE task with `train` and `test` (= GLUE dev; MNLI also `test_mismatched`) splits.

    Reads `glue_dir/<Task>/` (argument, else `$GLUE_DIR`) when given, else the hub's `nyu-mll/glue`.
    """
    task = glue_task(task_name)
    glue_dir = glue_dir or os.environ.get("GLUE_DIR")
    if glue_dir:
        folder = Path(glue_dir) / task.folder
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder} does not exist: --glue_dir must hold the task folders of GLUE's download script "
                f"(CoLA, SST-2, MRPC, ...)."
            )
        files = {"train": "train.tsv", **task.test_files}
        return DatasetDict({split: read_glue_tsv(task, folder / name) for split, name in files.items()})
    from datasets import load_dataset

    hub = load_dataset("nyu-mll/glue", task.name)
    text_a, text_b = _hub_columns(task.name)
    out = {}
    for split, hub_split in task.hub_splits.items():
        ds = hub[hub_split].rename_column(text_a, "text_a")
        if text_b:
            ds = ds.rename_column(text_b, "text_b")
        keep = ["text_a", "label"] + (["text_b"] if text_b else [])
        out[split] = ds.remove_columns([c for c in ds.column_names if c not in keep])
    return DatasetDict(out)


def _hub_columns(name: str) -> tuple[str, str | None]:
    return {
        "cola": ("sentence", None), "sst2": ("sentence", None), "mrpc": ("sentence1", "sentence2"),
        "qqp": ("question1", "question2"), "stsb": ("sentence1", "sentence2"), "mnli": ("premise", "hypothesis"),
        "qnli": ("question", "sentence"), "rte": ("sentence1", "sentence2"), "wnli": ("sentence1", "sentence2"),
    }[name]


def load_files(
    train_file: str,
    test_file: str,
    text_columns: list[str] | None = None,
    label_column: str = "label",
    regression: bool | None = None,
) -> DatasetDict:
    """Any text classification data from csv, tsv or json(l) files, with the same columns as GLUE.

    `text_columns`: one or two column names (default: the first one or two string columns that are
    not the label). Labels that are strings become class ids in sorted order; floats with
    `regression=True` (default: inferred, float labels with more than 10 values) stay floats.
    """
    raw = {"train": _read_table(Path(train_file)), "test": _read_table(Path(test_file))}
    first = raw["train"]
    if not first:
        raise ValueError(f"{train_file} has no rows.")
    if label_column not in first[0]:
        raise ValueError(f"label column {label_column!r} not in {train_file} (columns: {list(first[0])}); "
                         "set --label_column.")
    if not text_columns:
        text_columns = [c for c in first[0] if c != label_column and isinstance(first[0][c], str)
                        and not _is_number(first[0][c])][:2]
    if not 1 <= len(text_columns) <= 2:
        raise ValueError(f"text_columns must name one or two columns, got {text_columns}.")
    for split, rows in raw.items():
        missing = [c for c in text_columns + [label_column] if rows and c not in rows[0]]
        if missing:
            raise ValueError(f"{split} file lacks columns {missing}.")
    values = [r[label_column] for rows in raw.values() for r in rows]
    if regression is None:
        regression = all(_is_number(v) for v in values) and len({float(v) for v in values}) > 10 and any(
            not float(v).is_integer() for v in values)
    if regression:
        names = None
        convert = float
    else:
        names = sorted({str(v).strip() for v in values}, key=lambda s: (not _is_int(s), int(s) if _is_int(s) else 0, s))
        lookup = {n: i for i, n in enumerate(names)}

        def convert(v):
            return lookup[str(v).strip()]

    out = {}
    for split, rows in raw.items():
        cols = {"text_a": [str(r[text_columns[0]]) for r in rows]}
        if len(text_columns) == 2:
            cols["text_b"] = [str(r[text_columns[1]]) for r in rows]
        cols["label"] = [convert(r[label_column]) for r in rows]
        features = Features({**{k: Value("string") for k in cols if k != "label"},
                             "label": Value("float32") if regression else ClassLabel(names=names)})
        out[split] = Dataset.from_dict(cols, features=features)
    return DatasetDict(out)


def _read_table(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        text = path.read_text(encoding="utf-8")
        if suffix == ".json" and text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if suffix not in (".csv", ".tsv"):
        raise ValueError(f"{path}: use a .csv, .tsv, .json or .jsonl file.")
    with open(path, encoding="utf-8-sig", newline="") as f:
        if suffix == ".tsv":
            return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        return list(csv.DictReader(f))


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _is_int(s: str) -> bool:
    return s.lstrip("-").isdigit()

