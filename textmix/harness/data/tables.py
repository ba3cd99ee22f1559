"""Text classification data from csv/tsv/json files and hub datasets, as `datasets` splits with uniform
columns (`text_a`, optionally `text_b`, `label`): the labels under the data contracts
(`textmix.harness.data.contracts`), the problem type given or inferred. GLUE itself: `textmix.harness.data.glue`."""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from ..checks import InputError, did_you_mean
from .contracts import (
    choose_text_columns,
    class_name,
    fix_classes,
    is_blank_label,
    is_missing_label,
    is_number,
    unique_columns,
    unique_keys,
)

PROBLEM_TYPES = ("classification", "regression", "multi_label")
"""What a label is: one class of several, a number, or a set of classes (see `infer_problem_type`)."""


def check_problem_type(problem_type: str | None) -> None:
    """Raise `ValueError` unless `problem_type` is None or one of `PROBLEM_TYPES`."""
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise ValueError(f"--problem_type must be one of {list(PROBLEM_TYPES)}, got {problem_type!r}.")


def infer_problem_type(values: list[Any]) -> tuple[str, str]:
    """(problem type, why) of labelled values without `--problem_type`: any label a list -> `multi_label`; every
    label a number and some not whole -> `regression`; else (words, whole numbers) -> `classification`."""
    if any(isinstance(v, list) for v in values):
        return "multi_label", "labels are lists"
    if values and all(is_number(v) for v in values):
        fractional = sorted({float(v) for v in values if not float(v).is_integer()})
        if fractional:
            shown = ", ".join(f"{v:g}" for v in fractional[:4]) + (", ..." if len(fractional) > 4 else "")
            return "regression", f"labels are numbers and not all whole ({shown})"
        return "classification", "labels are whole numbers"
    return "classification", "labels are words"


@dataclass
class LoadedFiles:
    """What `read_files` found: the data and how its labels were read."""

    data: DatasetDict
    problem_type: str
    reason: str  # "given", or why the problem type was inferred
    names: list[str] | None  # class names (classification, multi_label); None for regression
    dropped: dict[str, list[str]] = field(default_factory=dict)  # split -> locations of dropped unlabelled rows
    sources: dict[str, str] = field(default_factory=dict)  # split -> the file (or dataset[split]) it came from
    text_columns: list[str] = field(default_factory=list)  # the columns read as text (text_a, text_b)
    text_columns_how: str = ""  # given, or how they were guessed
    dropped_unseen: dict[str, int] = field(default_factory=dict)  # split -> rows dropped for an unseen label
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class name -> rows

    @property
    def dropped_counts(self) -> dict[str, int]:
        """Rows dropped for want of a label, per split (only splits that lost rows)."""
        return {split: len(where) for split, where in self.dropped.items() if where}


def where_rows(where: list[str], limit: int = 10) -> str:
    """'line 3' / 'lines 3, 4, ...' for row locations of `read_files` (at most `limit` of them)."""
    kind = where[0].split(" ")[0] if where else "line"
    numbers = [w.split(" ", 1)[1] for w in where[:limit]]
    more = f", ... ({len(where) - limit} more)" if len(where) > limit else ""
    return f"{kind}{'s' if len(where) > 1 else ''} {', '.join(numbers)}{more}"


def read_files(train_file: str, test_file: str, text_columns: list[str] | None = None, label_column: str = "label",
               problem_type: str | None = None, drop_unlabelled: bool = False, label_separator: str = ",",
               validation_file: str | None = None, drop_unseen: bool = False,
               extra_tests: Mapping[str, Any] | None = None) -> LoadedFiles:
    """Text classification (or regression) data from csv, tsv or json(l) files, with the columns of GLUE:
    splits `train`, `test` and, when `validation_file` is given, `validation`.

    `text_columns`: one or two columns (default: `contracts.choose_text_columns`). `problem_type`: given, or
    `infer_problem_type` (the reason in `reason`); multi-label labels are json lists or strings split at
    `label_separator`, stored as 0/1 vectors over the training label names. Rows with a missing label
    (`contracts.is_missing_label`; -1 is a number in regression) are an error, or left out with
    `drop_unlabelled` (located in `dropped`); labels the training file never shows: `contracts.fix_classes`.
    `extra_tests` (`ood_test_files`, see `extra_test_sets`): further test splits `test_<name>`, read as the test file.
    """
    files = {"train": train_file, "test": test_file}
    if validation_file:
        files["validation"] = validation_file
    raw = {split: read_records(Path(file)) for split, file in files.items()}
    _add_extra_tests(raw, files, extra_tests, text_columns, label_column)
    return read_tables(raw, files, text_columns, label_column, problem_type, drop_unlabelled, label_separator,
                       drop_unseen)


def read_dataset(dataset_name: str, dataset_config_name: str | None = None, train_split: str = "train",
                 test_split: str | None = None, text_columns: list[str] | None = None, label_column: str = "label",
                 problem_type: str | None = None, drop_unlabelled: bool = False, cache_dir: str | None = None,
                 drop_unseen: bool = False, extra_tests: Mapping[str, Any] | None = None,
                 extra_splits: Mapping[str, str] | None = None) -> LoadedFiles:
    """`read_files` for a hub dataset (or a local folder of data files `datasets.load_dataset` reads):
    splits `train_split` and `test_split` (default: `test`, else `validation`), and further test splits
    `test_<name>` of the dataset's splits `extra_splits` ({name: split}, `ood_test_splits`) and of the files
    `extra_tests`. Class-label columns are read as their names; a label of -1 (a hidden test label) counts as
    missing."""
    from datasets import load_dataset

    try:
        loaded = load_dataset(dataset_name, dataset_config_name, cache_dir=cache_dir)
    except Exception as err:  # noqa: BLE001 - say which dataset did not load, and why
        raise ValueError(f"dataset {dataset_name}{f' ({dataset_config_name})' if dataset_config_name else ''} does "
                         f"not load: {type(err).__name__}: {str(err)[:300]}") from None
    if test_split is None:
        test_split = next((s for s in ("test", "validation") if s in loaded), None)
    roles = [("train_split", "train", train_split), ("test_split", "test", test_split)]
    roles += [(f"ood_test_splits: {n}", extra_test_split(n, ["test"], "ood_test_splits"), s)
              for n, s in (extra_splits or {}).items()]
    for role, _, split in roles:
        if split not in loaded:
            raise ValueError(f"dataset {dataset_name} has no split {split!r} ({role}); its splits are "
                             f"{list(loaded)}.")
    files = {key: f"{dataset_name}[{split}]" for _, key, split in roles}
    raw: dict[str, list[tuple[str, dict]]] = {}
    for _, split, name in roles:
        feature = loaded[name].features.get(label_column)
        raw[split] = [(f"row {i}", row) for i, row in enumerate(loaded[name], start=1)]
        if isinstance(feature, ClassLabel):  # ids read as their names; -1 (a hidden label) as missing
            for _, row in raw[split]:
                value = row[label_column]
                row[label_column] = None if value is None or value < 0 else feature.int2str(value)
    _add_extra_tests(raw, files, extra_tests, text_columns, label_column)
    return read_tables(raw, files, text_columns, label_column, problem_type, drop_unlabelled, drop_unseen=drop_unseen)


def _add_extra_tests(raw: dict[str, list[tuple[str, dict]]], files: dict[str, str], extra_tests: Any,
                     text_columns: list[str] | None, label_column: str) -> None:
    """The further test files `extra_tests` (`extra_test_sets`) read into `raw` and named in `files` as the
    splits `test_<name>`, a file without a header with the columns the training data's first row gives."""
    for name, (path, header) in extra_test_sets(extra_tests, raw).items():
        columns = choose_text_columns(raw["train"][0][1] if raw["train"] else {}, label_column, text_columns)[0]
        raw[f"test_{name}"], files[f"test_{name}"] = read_extra_test(path, header, [*columns, label_column]), str(path)


def read_tables(raw: dict[str, list[tuple[str, dict]]], files: dict[str, str], text_columns: list[str] | None = None,
                label_column: str = "label", problem_type: str | None = None, drop_unlabelled: bool = False,
                label_separator: str = ",", drop_unseen: bool = False) -> LoadedFiles:
    """The data of `read_files` from rows already read: `raw` maps each split to its (location, row)
    records, `files` each split to the source named in errors. Rows left out are left out of `raw` too."""
    check_problem_type(problem_type)
    text_columns, how = _check_columns(raw, files, text_columns, label_column)
    present = [row[label_column] for rows in raw.values() for _, row in rows
               if not is_blank_label(row.get(label_column))]
    problem_type, reason = infer_problem_type(present) if problem_type is None else (problem_type, "given")
    dropped = _drop_unlabelled(raw, files, label_column, problem_type, drop_unlabelled)
    labels = _LABEL_READERS[problem_type](raw, files, label_column, label_separator, drop_unseen)
    data = _datasets(raw, text_columns, label_column, labels.convert, _label_feature(problem_type, labels.names))
    return LoadedFiles(data, problem_type, reason, labels.names, dropped, dict(files), list(text_columns), how,
                       labels.dropped_unseen, labels.counts)


def _check_columns(raw: dict[str, list[tuple[str, dict]]], files: dict[str, str], text_columns: list[str] | None,
                   label_column: str) -> tuple[list[str], str]:
    """(text columns, how they were chosen) once every split has rows, the label and text columns, and
    text in every row; else a `ValueError` naming the file and the fix."""
    for split, rows in raw.items():
        if not rows:
            raise ValueError(f"{files[split]} has no rows.")
    first = raw["train"][0][1]
    if label_column not in first:
        raise ValueError(f"label column {label_column!r} not in {files['train']} (columns: {list(first)}"
                         f"{did_you_mean(label_column, first)}); set label_column.")
    text_columns, how = choose_text_columns(first, label_column, text_columns)
    if not 1 <= len(text_columns) <= 2:
        raise ValueError(f"text_columns must name one or two columns, got {text_columns} ({how}; columns: "
                         f"{list(first)}).")
    for split, rows in raw.items():
        missing = [c for c in text_columns + [label_column] if c not in rows[0][1]]
        if missing:
            hint = "".join(did_you_mean(c, rows[0][1]) for c in missing)
            raise ValueError(f"{files[split]} lacks column(s) {missing}{hint} (columns: {list(rows[0][1])}); set "
                             "text_columns / label_column.")
    for split, rows in raw.items():
        short = [where for where, row in rows if any(row.get(c) is None for c in text_columns)]
        if short:
            raise ValueError(f"{files[split]}: {len(short)} row(s) without the text column(s) {text_columns} "
                             f"({where_rows(short)}): fix the file.")
    return text_columns, how


def _drop_unlabelled(raw: dict[str, list[tuple[str, dict]]], files: dict[str, str], label_column: str,
                     problem_type: str, drop_unlabelled: bool) -> dict[str, list[str]]:
    """The locations of the rows without a label per split, those rows taken out of `raw` with
    `drop_unlabelled` (else a `ValueError` naming them). -1 is a hidden label, except in regression."""

    def missing(value: Any) -> bool:
        return is_blank_label(value) or (problem_type != "regression" and is_missing_label(value))

    dropped: dict[str, list[str]] = {}
    for split, rows in raw.items():
        unlabelled = [where for where, row in rows if missing(row.get(label_column))]
        if unlabelled and not drop_unlabelled:
            raise ValueError(f"{files[split]}: {len(unlabelled)} row(s) without a label in column "
                             f"{label_column!r} ({where_rows(unlabelled)}): empty, NaN or -1 (a hidden label); fill "
                             "them in, or pass --drop_unlabelled to leave them out.")
        if unlabelled:
            dropped[split] = unlabelled
            keep = set(unlabelled)
            raw[split] = [(where, row) for where, row in rows if where not in keep]
            if not raw[split]:
                raise ValueError(f"{files[split]} has no labelled rows.")
    return dropped


@dataclass
class _Labels:
    """How one problem type reads the labels: `convert` (a raw label to the stored one), class names."""

    convert: Callable[[Any], Any]
    names: list[str] | None = None
    dropped_unseen: dict[str, int] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def _regression_labels(raw: dict[str, list[tuple[str, dict]]], files: dict[str, str], label_column: str,
                       label_separator: str, drop_unseen: bool) -> _Labels:
    """Finite numbers, as floats; anything else is a `ValueError` naming the first."""
    for split, rows in raw.items():
        bad = [(where, row[label_column]) for where, row in rows
               if not is_number(row[label_column]) or not math.isfinite(float(row[label_column]))]
        if bad:
            raise ValueError(f"{files[split]}: --problem_type regression needs numeric labels; "
                             f"{bad[0][1]!r} ({bad[0][0]}) and {len(bad) - 1} more are not.")
    return _Labels(float)


def _multi_label_labels(raw: dict[str, list[tuple[str, dict]]], files: dict[str, str], label_column: str,
                        label_separator: str, drop_unseen: bool) -> _Labels:
    """Lists (or strings split at `label_separator`) as 0/1 vectors over the training data's label names."""

    def tokens(v: Any) -> list[str]:
        items = v if isinstance(v, list) else str(v).split(label_separator)
        return [str(t).strip() for t in items if str(t).strip()]

    per_split = {split: [t for _, row in rows for t in tokens(row[label_column])] for split, rows in raw.items()}
    names = fix_classes(per_split, files).names  # every label the test data uses is one training shows
    lookup = {n: i for i, n in enumerate(names)}

    def convert(v: Any) -> Any:
        hot = [0.0] * len(names)
        for t in tokens(v):
            hot[lookup[t]] = 1.0
        return hot

    return _Labels(convert, names)


def _class_labels(raw: dict[str, list[tuple[str, dict]]], files: dict[str, str], label_column: str,
                  label_separator: str, drop_unseen: bool) -> _Labels:
    """Class ids over the training data's classes (`contracts.fix_classes`); rows of a class training never
    shows taken out of `raw` with `drop_unseen`."""
    lists = [where for rows in raw.values() for where, row in rows if isinstance(row[label_column], list)]
    if lists:
        raise ValueError(f"labels are lists ({where_rows(lists)}): use --problem_type multi_label.")
    classes = fix_classes({split: [class_name(row[label_column]) for _, row in rows] for split, rows in raw.items()},
                          files, drop_unseen)
    for split, keep_row in classes.keep.items():
        raw[split] = [record for record, kept in zip(raw[split], keep_row, strict=True) if kept]
        if not raw[split]:
            raise ValueError(f"{files[split]} has no rows left after dropping the labels training never shows.")
    lookup = classes.ids
    return _Labels(lambda v: lookup[class_name(v)], classes.names, classes.dropped_unseen, classes.counts)


_LABEL_READERS: dict[str, Callable[..., _Labels]] = {
    "regression": _regression_labels, "multi_label": _multi_label_labels, "classification": _class_labels,
}
"""How each of `PROBLEM_TYPES` reads its labels."""


def _label_feature(problem_type: str, names: list[str] | None) -> Any:
    """The `datasets` feature of the stored labels."""
    if problem_type == "regression":
        return Value("float32")
    if problem_type == "multi_label":
        return Sequence(Value("float32"), length=len(names))
    return ClassLabel(names=names)


def _datasets(raw: dict[str, list[tuple[str, dict]]], text_columns: list[str], label_column: str,
              convert: Callable[[Any], Any], label_feature: Any) -> DatasetDict:
    """The splits with columns `text_a` (, `text_b`) and `label` (`convert`ed)."""
    out = {}
    for split, rows in raw.items():
        cols = {name: [str(r[c]) for _, r in rows] for name, c in zip(("text_a", "text_b"), text_columns, strict=False)}
        cols["label"] = [convert(r[label_column]) for _, r in rows]
        features = Features({**{k: Value("string") for k in cols if k != "label"}, "label": label_feature})
        out[split] = Dataset.from_dict(cols, features=features)
    return DatasetDict(out)


EXTRA_TEST_NAME = re.compile(r"[a-z][a-z0-9_]*")
"""A further test set's name (`ood_test_files`): a lowercase identifier; its split is `test_<name>`."""


def extra_test_sets(value: Mapping[str, Any] | None, taken: Iterable[str] = ()) -> dict[str, tuple[Path, bool]]:
    """{name: (path, whether it has a header row)} of `ood_test_files`, a mapping {name: file}. A file is a path,
    read as the test file is (its header names the columns), or {path: ..., header: false}: a file without a
    header row whose columns are, in order, the task's text column(s) and its label column (.csv comma-separated,
    any other tab-separated). An `InputError` for a name that is not a lowercase identifier or whose split
    `test_<name>` clashes with a split or an entry of the run (`taken`: its splits), or a file that does not exist."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"ood_test_files must map names to files, e.g. {{imdb: imdb.tsv}}, got {value!r}.")
    out = {}
    for name, given in value.items():
        extra_test_split(name, taken)
        if isinstance(given, Mapping):
            unknown = sorted(set(given) - {"path", "header"})
            if unknown or not isinstance(given.get("path"), (str, os.PathLike)) or given.get("header", True) not in (
                    True, False):
                raise InputError(f"ood_test_files: {name}: {dict(given)!r} must be a path or {{path: FILE, header: "
                                 "false}} (header true or false; no other keys).")
            path, header = Path(given["path"]), bool(given.get("header", True))
        elif isinstance(given, (str, os.PathLike)):
            path, header = Path(given), True
        else:
            raise InputError(f"ood_test_files: {name}: {given!r} must be a path or {{path: FILE, header: false}}.")
        if not path.is_file():
            raise InputError(f"ood_test_files: {name}: {path} does not exist (or is not a file); fix the path.")
        out[name] = (path, header)
    return out


def extra_test_split(name: Any, taken: Iterable[str] = (), option: str = "ood_test_files") -> str:
    """`test_<name>`, the split of the further test set `name` (of `option`); an `InputError` when `name` is not a
    lowercase identifier or the split clashes with one of `taken` or an entry of results.json."""
    split = f"test_{name}"
    if not isinstance(name, str) or not EXTRA_TEST_NAME.fullmatch(name):
        raise InputError(f"{option}: name {name!r} must be a lowercase identifier (a-z, 0-9, _; a letter first), "
                         "e.g. imdb: it names the split test_<name> in results.json.")
    if split in taken or name == "ts" or name.endswith("_ts") or "majority_accuracy" in name:
        raise InputError(f"{option}: name {name!r} clashes with an entry of results.json ({split} or test_*_ts / "
                         "test_*_majority_accuracy); choose another name.")
    return split


def read_extra_test(path: Path, header: bool, columns: list[str]) -> list[tuple[str, dict]]:
    """The records of a further test file (`extra_test_sets`): `read_records` with a header; without one, each
    line's fields named `columns` in order (a line with another number of fields is an `InputError`)."""
    if header:
        return read_records(path)
    tabs = path.suffix.lower() != ".csv"
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, **({"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tabs else {}))
        records = [(f"line {reader.line_num}", row) for row in reader if row]
    bad = [where for where, row in records if len(row) != len(columns)]
    if bad:
        raise InputError(f"{path}: {len(bad)} line(s) ({where_rows(bad)}) do not have {len(columns)} "
                         f"{'tab-separated' if tabs else 'comma-separated'} fields {columns} (header: false: the text "
                         "column(s), then the label); fix the file, or give it a header row and drop `header: false`.")
    return [(where, dict(zip(columns, row, strict=True))) for where, row in records]


def read_records(path: Path) -> list[tuple[str, dict]]:
    """(location, row) of every record of a csv, tsv, json or jsonl file: 'line N', or 'item N' in a json array.
    A column or key named twice, a line that is not JSON or a record that is not an object is an `InputError`."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist." if not path.exists() else f"{path} is not a file.")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, **({"delimiter": "\t", "quoting": csv.QUOTE_NONE} if suffix == ".tsv" else {}))
            unique_columns(reader.fieldnames or [], str(path))
            return [(f"line {reader.line_num}", row) for row in reader]
    if suffix not in (".json", ".jsonl"):
        raise ValueError(f"{path}: use a .csv, .tsv, .json or .jsonl file.")
    text = path.read_text(encoding="utf-8-sig")
    records = []
    if suffix == ".json" and text.lstrip().startswith("["):
        try:
            records = [(f"item {i}", r) for i, r in enumerate(json.loads(text, object_pairs_hook=unique_keys), start=1)]
        except ValueError as err:
            raise InputError(f"{path}: {err}.") from None
    else:
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((f"line {i}", json.loads(line, object_pairs_hook=unique_keys)))
            except json.JSONDecodeError as err:
                raise InputError(f"{path}: line {i} is not JSON ({err.msg}): give one object per line (JSON lines) "
                                 "or one list of objects.") from None
            except ValueError as err:
                raise InputError(f"{path}: line {i}: {err}.") from None
    bad = [where for where, r in records if not isinstance(r, dict)]
    if bad:
        raise InputError(f"{path}: records must be objects with named fields ({where_rows(bad)} are not).")
    return records
