"""Token-tagging data: CoNLL files (`read_conll`), csv / json / jsonl tables with a tokens and a tags column of lists
(`read_table`) or a hub dataset (`read_hub`) read into sentences, and the splits of a run (`load_data`) under the
label contract, one label per tagged word: an empty tag or `-1` is missing (neither trained on nor scored)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import InputError, notice
from .contracts import RecipeData, label_name

TABLE_SUFFIXES = (".csv", ".json", ".jsonl")
"""Files read as tables (a tokens and a tags column of lists); every other suffix is read as CoNLL."""

Sentence = tuple[list[str], list[str | None]]
"""(words, tags) of one sentence; a tag of None is missing (the word is neither trained on nor scored)."""

# ----------------------------------------------------------------------------------------------- reading


def read_conll(path: str | Path) -> list[Sentence]:
    """The sentences of a CoNLL file: one `token<TAB>tag` per line (or whitespace-separated columns, the
    tag last); any line that is empty or holds only whitespace ends a sentence; `-DOCSTART-` lines are
    skipped. An empty tag (`token<TAB>`) or `-1` is missing (None). A line without a token and a tag
    column is an error naming it."""
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            text = line.rstrip("\r\n")
            if not text.strip():
                if words:
                    sentences.append((words, tags))
                    words, tags = [], []
                continue
            if text.startswith("-DOCSTART-"):
                continue
            parts = [p.strip() for p in (text.split("\t") if "\t" in text else text.split())]
            if len(parts) < 2 or not parts[0]:
                raise InputError(f"{path}, line {number}: expected `token<TAB>tag`, got {text!r}. Fix the line (a "
                                 "sentence ends at an empty or whitespace-only line; `token<TAB>` or a tag of -1 is "
                                 "a word without a tag).")
            words.append(parts[0])
            tags.append(label_name(parts[-1]))
    if words:
        sentences.append((words, tags))
    return sentences


def _as_list(value: Any, column: str, where: str) -> list[Any]:
    """A list cell of a table: a list (its values as they are), a JSON list in a string, or
    whitespace-separated words."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise InputError(f"{where}: column {column!r} is not a valid JSON list ({err}).") from None
        else:
            return text.split()
    if not isinstance(value, list):
        raise InputError(f"{where}: column {column!r} holds {type(value).__name__}, not a list of words or tags.")
    return list(value)


def _tags_column(columns: Sequence[str], tokens_column: str, tags_column: str | None, where: str) -> str:
    """The tags column of a table with `columns` (given, else `tags` or `ner_tags`), once it has `tokens_column`."""
    if tokens_column not in columns:
        raise InputError(f"tokens column {tokens_column!r} not in {where} (columns: {list(columns)}); set "
                         "--tokens_column.")
    if tags_column and tags_column not in columns:
        raise InputError(f"tags column {tags_column!r} not in {where} (columns: {list(columns)}); set --tags_column.")
    found = tags_column or next((c for c in ("tags", "ner_tags") if c in columns), None)
    if found is None:
        raise InputError(f"{where} has no tags or ner_tags column (columns: {list(columns)}); set --tags_column.")
    return found


def read_table(path: str | Path, tokens_column: str = "tokens", tags_column: str | None = None) -> list[Sentence]:
    """The sentences of a csv / json / jsonl file with a column of words and one of tags (lists; in csv a
    JSON list or whitespace-separated). Rows with no word are skipped; a row whose words and tags differ in
    number is an error naming it. A tag that is empty, null or -1 is missing (None)."""
    from .tables import read_records

    rows = [(f"{path}, {where}", row) for where, row in read_records(Path(path))]
    if not rows:
        return []
    tags_column = _tags_column(list(rows[0][1]), tokens_column, tags_column, str(path))
    sentences = []
    for where, row in rows:
        words = [str(w) for w in _as_list(row.get(tokens_column), tokens_column, where)]
        tags = [label_name(t) for t in _as_list(row.get(tags_column), tags_column, where)]
        if len(words) != len(tags):
            raise InputError(f"{where}: {len(words)} words but {len(tags)} tags; each word needs one tag.")
        if words:
            sentences.append((words, tags))
    return sentences


def read_hub(data_args: Any, cache_dir: str | None = None) -> dict[str, list[Sentence]]:
    """train / validation / test sentences of a hub dataset with a tokens column and a tags column (tag
    names, or ids of a `ClassLabel`, turned into names; -1, empty and None are missing tags: None)."""
    from datasets import load_dataset

    from .contracts import class_name, is_missing_label

    ds = load_dataset(data_args.dataset_name, data_args.dataset_config_name, cache_dir=cache_dir)
    aliases = {"train": ("train",), "validation": ("validation", "valid", "dev"), "test": ("test",)}
    out: dict[str, list[Sentence]] = {}
    for split, names in aliases.items():
        name = next((n for n in names if n in ds), None)
        if name is None:
            continue
        part = ds[name]
        where = f"{data_args.dataset_name}[{name}]"
        tags_column = _tags_column(part.column_names, data_args.tokens_column, data_args.tags_column, where)
        inner = getattr(part.features[tags_column], "feature", None)
        names_of = getattr(inner, "names", None)
        out[split] = [
            ([str(w) for w in words],
             [None if is_missing_label(t) else names_of[t] if names_of else class_name(t) for t in tags])
            for words, tags in zip(part[data_args.tokens_column], part[tags_column], strict=True) if words
        ]
    if "train" not in out:
        raise InputError(f"{data_args.dataset_name} has no train split (splits: {list(ds)}).")
    return out


# ----------------------------------------------------------------------------------------------- splits


def sorted_tags(tags: Sequence[str | None] | set[str | None]) -> list[str]:
    """The distinct `tags` (missing ones, None, left out), sorted, with `O` first."""
    return sorted(set(tags) - {None}, key=lambda t: (t != "O", t))


def split_tags(sentences: Sequence[Sentence]) -> list[str]:
    """The tags of every tagged word of `sentences`, in order (missing tags left out)."""
    return [t for _, tags in sentences for t in tags if t is not None]


def without_tags(sentences: Sequence[Sentence], keep: Sequence[bool]) -> list[Sentence]:
    """`sentences` with the tags of the tagged words `keep` marks False (one flag per tagged word, in
    `split_tags` order) made missing."""
    flags = iter(keep)
    return [(words, [t if t is None or next(flags) else None for t in tags]) for words, tags in sentences]


def carve(n: int, count: float, seed: int) -> tuple[list[int], list[int]]:
    """(validation indices, training indices) of `n` sentences: `count` (a share < 1 or a number >= 1, at
    least 1, leaving at least 1) drawn with `seed`, both lists in file order."""
    k = int(round(count * n)) if count < 1 else int(count)
    k = max(1, min(k, n - 1))
    order = np.random.default_rng(seed).permutation(n)
    return sorted(int(i) for i in order[:k]), sorted(int(i) for i in order[k:])


def _read_splits(data_args: Any, cache_dir: str | None) -> tuple[dict[str, list[Sentence]], dict[str, str]]:
    """The sentences of each given split (hub dataset or files) and where each comes from."""
    if data_args.dataset_name:
        raw = read_hub(data_args, cache_dir)
        sources = {split: f"{data_args.dataset_name}[{split}]" for split in raw}
    else:
        files = {"train": data_args.train_file, "validation": data_args.validation_file,
                 "test": data_args.test_file}
        raw, sources = {}, {}
        for split, file in files.items():
            if file is None:
                continue
            path = Path(file)
            if not path.is_file():
                what = "a folder, not a file" if path.is_dir() else "does not exist"
                raise FileNotFoundError(f"--{split}_file {file} {what}: give a CoNLL (token<TAB>tag per line), "
                                        ".csv, .json or .jsonl file.")
            tables = path.suffix.lower() in TABLE_SUFFIXES
            sentences = read_table(path, data_args.tokens_column, data_args.tags_column) if tables else read_conll(path)
            raw[split], sources[split] = sentences, str(file)
    return raw, sources


def load_data(data_args: Any, cache_dir: str | None = None) -> RecipeData:
    """The train / validation / test sentences of `data_args` and the tag list, under the label contract
    (`contracts.fix_classes`, one label per tagged word; `--drop_unseen_labels` leaves an unseen tag's words
    unscored, counted). Errors name the problem; a notice lists the tags and their words per split."""
    from .contracts import Classes, check_seqeval, classes_notice, entity_tags

    given, sources = _given_splits(data_args, cache_dir)
    train = given["train"]
    label_list = sorted_tags(split_tags(train))
    if len(label_list) < 2:
        which = f"only one tag ({label_list[0]!r})" if label_list else "no tag (every tag is missing: empty or -1)"
        raise InputError(f"{sources['train']} has {which} in its {len(train)} sentences: a tagger learns nothing "
                         "from it. Check the tag column (the last one of each line).")
    dropped_unseen = _untag_unseen(given, sources, data_args.drop_unseen_labels)
    test, validation = given["test"], given.get("validation")
    if validation is None:
        if len(train) < 2:
            raise InputError(f"{sources['train']} has {len(train)} sentence: too few to hold out a validation split "
                             "and keep sentences to train on; give --validation_file.")
        held, kept = carve(len(train), data_args.validation_split, data_args.split_seed)
        validation, train = [train[i] for i in held], [train[i] for i in kept]
        sources["validation"] = f"{len(held)} sentences of {sources['train']} (--validation_split)"
    entities = entity_tags(label_list)
    if entities:
        check_seqeval(f"the tags of {sources['train']} ({label_list[:6]}...)")
    else:
        notice(f"the tags of {sources['train']} ({label_list[:6]}) are not entity tags (BIO: O, B-x, I-x, ...): entity "
               "F1 does not apply; the task metric is token accuracy (task_metric in results.json)")
    splits = _capped_splits({"train": train, "validation": validation, "test": test}, data_args, sources)
    untagged = {name: sum(t is None for _, tags in rows for t in tags) for name, rows in splits.items()}
    untagged = {name: n for name, n in untagged.items() if n}
    for name, count in untagged.items():
        notice(f"{count} word(s) of the {name} split have no tag (empty or -1: missing): not trained on or scored")
    counts = {name: dict(Counter(split_tags(rows))) for name, rows in splits.items()}
    notice(classes_notice(Classes(label_list, {}, counts), list(splits), unit="words"))
    flipped = 0
    if data_args.label_noise:
        splits["train"], flipped = with_tag_noise(splits["train"], label_list, data_args.label_noise,
                                                  data_args.split_seed)
    test = sources.get("test", "test")
    test_set = f"{Path(test).name if Path(test).exists() else test} ({len(splits['test'])} sentences)"
    inputs = {"tokens_column": data_args.tokens_column, "tags_column": data_args.tags_column or "tags/ner_tags",
              "how": "CoNLL: the first and the last column" if not data_args.dataset_name else "given"}
    return RecipeData(splits, None, len(label_list), "token", "entity tags" if entities else "tags that are not "
                      "entities", untagged, test_set, flipped, label_list, inputs,
                      {split: str(sources.get(split, split)) for split in ("train", "validation", "test")},
                      dropped_unseen, task_metric=None if entities else "accuracy")


def _given_splits(data_args: Any, cache_dir: str | None) -> tuple[dict[str, list[Sentence]], dict[str, str]]:
    """{train, test (, validation)} sentences as given (validation data without test data is the test set,
    noticed) and where each comes from; an empty split or no data besides train is an `InputError`."""
    raw, sources = _read_splits(data_args, cache_dir)
    for split, sentences in raw.items():
        if not sentences:
            raise InputError(f"{sources[split]} holds no sentence: a file needs `token<TAB>tag` lines (or rows with "
                             "tokens and tags).")
    train, validation, test = raw["train"], raw.get("validation"), raw.get("test")
    if test is None:
        if validation is None:
            raise InputError(f"{sources['train']} is the only data: give test data (--test_file).")
        notice(f"no test data: {sources['validation']} is the test set; a validation split is carved from the "
               "training data (--validation_split)")
        test, validation, sources["test"] = validation, None, sources.pop("validation")
    return {"train": train, "test": test, **({"validation": validation} if validation is not None else {})}, sources


def _untag_unseen(given: dict[str, list[Sentence]], sources: dict[str, str], drop_unseen: bool) -> dict[str, int]:
    """The words per split whose tag the training data never shows (`contracts.fix_classes`: an `InputError`
    unless `drop_unseen`), their tags made missing in `given`, noticed."""
    from .contracts import fix_classes

    classes = fix_classes({split: split_tags(sentences) for split, sentences in given.items()}, sources,
                          drop_unseen=drop_unseen, unit="word")
    for split, count in classes.dropped_unseen.items():
        given[split] = without_tags(given[split], classes.keep[split])
        notice(f"{count} word(s) of {sources[split]} have a tag the training data never shows: not scored "
               "(--drop_unseen_labels)")
    return dict(classes.dropped_unseen)


def _capped_splits(splits: dict[str, list[Sentence]], data_args: Any,
                   sources: dict[str, str]) -> dict[str, list[Sentence]]:
    """The first `--max_train_samples` / `--max_eval_samples` / `--max_predict_samples` sentences of each split;
    a capped training split with fewer than two tags, or a validation or test split with no tagged word, is an
    `InputError`."""
    limits = {"train": data_args.max_train_samples, "validation": data_args.max_eval_samples,
              "test": data_args.max_predict_samples}
    splits = {name: rows[:limits[name]] if limits[name] else rows for name, rows in splits.items()}
    used = sorted_tags(split_tags(splits["train"]))
    if len(used) < 2:
        which = f"only one tag ({used[0]!r})" if used else "no tagged word"
        raise InputError(f"the training split has {which} in its {len(splits['train'])} sentences: a tagger learns "
                         "nothing from it. Raise --max_train_samples.")
    for name in ("validation", "test"):
        if not split_tags(splits[name]):
            raise InputError(f"the {name} split ({sources[name]}, {len(splits[name])} sentences) has no tagged word "
                             "(every tag is missing: empty or -1): nothing to "
                             f"{'fit the temperature on' if name == 'validation' else 'score'}. Give tagged "
                             f"{name} data.")
    return splits


def with_tag_noise(sentences: list[Sentence], label_list: list[str], rate: float, seed: int
                   ) -> tuple[list[Sentence], int]:
    """`sentences` with `rate` of their tagged words' tags flipped to another tag (`textmix.robustness.flip_labels`
    over all tagged words, seeded by `seed`; missing tags stay missing), and how many were flipped."""
    from textmix.robustness import flip_labels

    index = {tag: i for i, tag in enumerate(label_list)}
    flat = np.asarray([index[t] for t in split_tags(sentences)], dtype=np.int64)
    noisy, mask = flip_labels(flat, rate, len(label_list), seed)
    flipped = iter(label_list[int(i)] for i in noisy)
    out = [(words, [None if t is None else next(flipped) for t in tags]) for words, tags in sentences]
    return out, int(mask.sum())
