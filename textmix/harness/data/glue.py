"""GLUE tasks as `datasets` splits with uniform columns (csv/tsv/json files and hub datasets: `tables`).

Every loader returns a `DatasetDict` whose splits have `text_a`, optionally `text_b`, and `label`
(int class ids, or floats for regression). The GLUE dev set is the `test` split (GLUE's own test
labels are private). Sources: a folder in the layout of GLUE's `download_glue_data.py` (the
`GLUE_DIR` convention), the Hugging Face hub (`nyu-mll/glue`), or csv/tsv/json files.
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from .contracts import unique_columns


@dataclass(frozen=True)
class GlueTask:
    """Where one GLUE task keeps its text and labels, and its `metric` (GLUE's: the report's task metric)."""

    name: str
    folder: str
    text_a: str
    text_b: str | None
    label: str
    labels: tuple[str, ...] | None  # class names in the hub's order; None for regression
    test_files: dict[str, str] = field(default_factory=lambda: {"test": "dev.tsv"})
    header: tuple[str, ...] | None = None  # for files without a header row (CoLA)
    hub_columns: tuple[str, str | None] | None = None  # the hub's text columns, where they differ (text_a, text_b)
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
        GlueTask("mrpc", "MRPC", "#1 String", "#2 String", "Quality", ("not_equivalent", "equivalent"), metric="f1",
                 hub_columns=("sentence1", "sentence2")),
        GlueTask("qqp", "QQP", "question1", "question2", "is_duplicate", ("not_duplicate", "duplicate"), metric="f1"),
        GlueTask("stsb", "STS-B", "sentence1", "sentence2", "score", None, metric="pearson"),
        GlueTask("mnli", "MNLI", "sentence1", "sentence2", "gold_label", ("entailment", "neutral", "contradiction"),
                 test_files={"test": "dev_matched.tsv", "test_mismatched": "dev_mismatched.tsv"},
                 hub_splits={"train": "train", "test": "validation_matched",
                             "test_mismatched": "validation_mismatched"}, hub_columns=("premise", "hypothesis")),
        GlueTask("qnli", "QNLI", "question", "sentence", "label", ("entailment", "not_entailment")),
        GlueTask("rte", "RTE", "sentence1", "sentence2", "label", ("entailment", "not_entailment")),
        GlueTask("wnli", "WNLI", "sentence1", "sentence2", "label", ("not_entailment", "entailment")),
    ]
}
_ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "mnli-m": "mnli"}


def glue_task(name: str) -> GlueTask:
    """The `GlueTask` called `name` (case-insensitive; 'SST-2' and 'sst2' both work)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in GLUE_TASKS:
        raise ValueError(f"unknown GLUE task {name!r}; choose from {sorted(GLUE_TASKS)}.")
    return GLUE_TASKS[key]


def _label_value(task: GlueTask, raw: str, path: Path, line: int) -> float | int:
    raw = raw.strip()
    if task.is_regression:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{path}:{line}: label {raw!r} is not a number ({task.name} is regression).") from None
    if raw.lstrip("-").isdigit():
        value = int(raw)
        if 0 <= value < task.num_labels:
            return value
    elif raw in task.labels:
        return task.labels.index(raw)
    raise ValueError(f"{path}:{line}: label {raw!r} is not one of {task.labels} (or their indices).")


def read_glue_tsv(task: GlueTask, path: Path) -> Dataset:
    """One GLUE TSV file as a Dataset: tab-separated, no quoting, optional byte-order mark."""
    columns: dict[str, list] = {"text_a": [], "label": [], **({"text_b": []} if task.text_b else {})}
    skipped = 0
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = list(task.header) if task.header else next(reader)
        unique_columns(header, str(path))
        index = {name: i for i, name in enumerate(header)}
        wanted = [task.text_a] + ([task.text_b] if task.text_b else []) + [task.label]
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
            columns["label"].append(_label_value(task, row[index[task.label]], path, line))
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} malformed rows", stacklevel=2)
    label = Value("float32") if task.is_regression else ClassLabel(names=list(task.labels))
    return Dataset.from_dict(columns, features=Features({**{c: Value("string") for c in columns if c != "label"},
                                                         "label": label}))


def read_glue_extra(task: GlueTask, path: Path, header: bool, drop_unseen: bool = False) -> tuple[Dataset, int]:
    """(a further test set of `task` (`tables.extra_test_sets`), rows left out): the task's columns named by the
    file's header, or without one its text column(s) then its label; labels as in the task's files (names or
    ids). A label the task does not have is an `InputError` naming the file and the fix, or with `drop_unseen`
    its rows are left out (counted)."""
    from ..checks import InputError
    from .contracts import fix_classes
    from .tables import read_extra_test

    columns = [c for c in (task.text_a, task.text_b, task.label) if c]
    records = read_extra_test(path, header, columns)
    if not records:
        raise InputError(f"{path} has no rows.")
    missing = [c for c in columns if c not in records[0][1]]
    if missing:
        raise InputError(f"{path} lacks column(s) {missing} of GLUE task {task.name} (columns: "
                         f"{list(records[0][1])}); name them in its header, or give {{path: ..., header: false}} "
                         f"for a file without a header whose columns are {columns}.")
    label = Value("float32") if task.is_regression else ClassLabel(names=list(task.labels))
    if task.is_regression:
        keep, labels = [True] * len(records), [_label_value(task, r[task.label], path, w) for w, r in records]
        dropped = 0
    else:
        names = [str(r[task.label]).strip() for _, r in records]
        names = [task.labels[int(n)] if n.isdigit() and int(n) < task.num_labels else n for n in names]
        classes = fix_classes({"train": list(task.labels), "test": names},
                              {"train": f"GLUE {task.name} train", "test": str(path)}, drop_unseen)
        keep, dropped = classes.keep["test"], classes.dropped_unseen.get("test", 0)
        labels = [task.labels.index(n) if n in task.labels else -1 for n in names]
        if not any(keep):
            raise InputError(f"{path} has no rows left after dropping the labels training never shows.")
    rows = [r for (_, r), k in zip(records, keep, strict=True) if k]
    columns = {"text_a": [r[task.text_a] for r in rows], **({"text_b": [r[task.text_b] for r in rows]}
                                                            if task.text_b else {}),
               "label": [v for v, k in zip(labels, keep, strict=True) if k]}
    features = Features({**{c: Value("string") for c in columns if c != "label"}, "label": label})
    return Dataset.from_dict(columns, features=features), dropped


def load_glue(task_name: str, glue_dir: str | os.PathLike | None = None) -> DatasetDict:
    """A GLUE task with `train` and `test` (= GLUE dev; MNLI also `test_mismatched`) splits.

    Reads `glue_dir/<Task>/` (argument, else `$GLUE_DIR`, else `shared_dir()/data/glue` when it holds
    the task), else the hub's `nyu-mll/glue`; a hub that cannot be reached is an error naming `--glue_dir`.
    """
    task = glue_task(task_name)
    glue_dir = glue_dir or os.environ.get("GLUE_DIR") or _shared_glue(task.folder)
    if glue_dir:
        folder = Path(glue_dir) / task.folder
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} does not exist: --glue_dir must hold the task folders of GLUE's "
                                    "download script (CoLA, SST-2, MRPC, ...).")
        files = {"train": "train.tsv", **task.test_files}
        return DatasetDict({split: read_glue_tsv(task, folder / name) for split, name in files.items()})
    from datasets import load_dataset

    try:
        hub = load_dataset("nyu-mll/glue", task.name)
    except Exception as err:  # offline, no cache: say where GLUE can come from instead
        raise FileNotFoundError(
            f"GLUE task {task.name} could not be loaded from the hub (nyu-mll/glue: {type(err).__name__}: {err}). "
            "Offline, pass --glue_dir DIR (or set $GLUE_DIR) with the task folders of GLUE's download script "
            "(CoLA, SST-2, MRPC, ...)."
        ) from err
    text_a, text_b = task.hub_columns or (task.text_a, task.text_b)
    out = {}
    for split, hub_split in task.hub_splits.items():
        ds = hub[hub_split].rename_column(text_a, "text_a")
        if text_b:
            ds = ds.rename_column(text_b, "text_b")
        keep = ["text_a", "label"] + (["text_b"] if text_b else [])
        out[split] = ds.remove_columns([c for c in ds.column_names if c not in keep])
    return DatasetDict(out)


def _shared_glue(folder: str) -> str | None:
    """`shared_dir()/data/glue` when it holds the task's folder (the default without --glue_dir)."""
    from ..paths import shared_dir

    glue = shared_dir() / "data" / "glue"
    return str(glue) if (glue / folder).is_dir() else None
