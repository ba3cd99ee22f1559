"""Fine-tune a token classifier (NER, POS) with MixTrainer, in the manner of transformers' `run_ner.py`.

    python recipes/run_ner.py --train_file ../shared/data/wnut17/train.conll \\
        --validation_file ../shared/data/wnut17/dev.conll --test_file ../shared/data/wnut17/test.conll \\
        --model_name_or_path ../shared/models/bert-tiny --mix_method hidden --output_dir out/wnut17-hidden
    python recipes/run_ner.py ... --compare none embedding hidden --output_dir out/wnut17   # one run per method
    python recipes/run_ner.py config.yaml           # the same arguments from a .yaml or .json file
    python -m textmix.harness.recipes.ner ...       # the same without the launcher script
    torchrun --nproc_per_node 2 recipes/run_ner.py ...   |   accelerate launch recipes/run_ner.py ...

Data: CoNLL files (one `token<TAB>tag` per line, or whitespace-separated columns with the tag last;
sentences end at a line that is empty or holds only whitespace, such as the lone tab of WNUT-17's
train.conll; `-DOCSTART-` lines are skipped), csv / json / jsonl files with a `tokens` and a `tags`
column of lists (in csv, a JSON list or whitespace-separated words), or a hub dataset
(`--dataset_name`) with `tokens` and `ner_tags` columns. The files are read by their suffix: `.csv`,
`.json` and `.jsonl` as tables, anything else as CoNLL.

Splits: train, validation and test. Without validation data a validation split is carved from the
training data (`--validation_split`, the same split for every seed); with validation data but no test
data, the validation data is the test set (as GLUE dev is) and a validation split is carved.

Labels: the data contract of every recipe (`textmix.harness.recipes.contracts`), one label per word.
The tags of the training data (all of it, before `--max_train_samples`), sorted with `O` first, are
the model's `id2label`; a tag of the validation or test data that training never shows is an error
naming it, its word count and the file (`--drop_unseen_labels`: those words are left unscored instead,
counted in `dropped_unseen_labels`). An empty tag (`word<TAB>` in CoNLL, `""` or null in a table) and
`-1` (also a `ClassLabel` id of -1 in a hub dataset) are *missing*: the word is neither trained on
nor scored (label -100), counted per split in the log and in `dropped_unlabelled`; a validation or
test split with no tagged word is an error. Tags are class names (`1.0` and `1` are one tag). A
notice lists the tags and their words per split (and the tags a split lacks). Only the first
sub-token of each word carries the word's tag; the others, special tokens and padding are -100 (`--label_all_tokens`: every sub-token carries it, `B-x`
continuations as `I-x`). Words cut off by `--max_seq_length` are neither trained on nor scored; how
many, per split, is printed and recorded (`unscored_words` in results.json).

Every input is checked before a model is loaded: the arguments, `output_dir` (writable), the model
folder, the mixing method (one that mixes token labels: `token_labels` in the registry), the data (files exist,
columns, at least two tags) and the tokenizer (a fast one: the labels are aligned with `word_ids()`).

Writes to `output_dir` the files every recipe writes (see `textmix.harness.recipes.common`), with
`problem_type` `token`: `results.json` (per split: `entity_f1`, `entity_precision`, `entity_recall`
(seqeval), token `accuracy` and the calibration figures over labelled tokens; `test_ts` after
temperature scaling fitted on the validation split's labelled tokens; `temperature`;
`test_majority_accuracy`, the share of the most frequent tag; `label_names`, the tags in id order),
`predictions.npz` (`<split>_logits` (N, L, C) and `<split>_labels` (N, L)) and `reliability.png` (the
test split's labelled tokens). An interrupted run continues from the last complete checkpoint in
`output_dir` when started again.

`--compare none embedding hidden` runs `run()` once per method, with otherwise equal settings, into
OUTPUT_DIR/METHOD/, then writes OUTPUT_DIR/report.md, report.csv, report.json and reliability.png
with `textmix.harness.report` (task metric: entity F1).
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checks import InputError
from .contracts import label_name
from .glue import ModelArguments as _GlueModelArguments
from .glue import with_lora
from .registry import Recipe, loads_data, register_recipe

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import HfArgumentParser, PreTrainedTokenizerBase

    from textmix.trainer import MixTrainingArguments

IGNORE_INDEX = -100
TABLE_SUFFIXES = (".csv", ".json", ".jsonl")
"""Files read as tables (a tokens and a tags column of lists); every other suffix is read as CoNLL."""
PREFIX_SPACE_TYPES = {"bloom", "gpt2", "roberta", "deberta", "longformer", "bart"}
"""Model types whose byte-level BPE tokenizers need `add_prefix_space=True` for pre-split words."""

Sentence = tuple[list[str], list[str | None]]
"""(words, tags) of one sentence; a tag of None is missing (the word is neither trained on nor scored)."""

csv.field_size_limit(2**31 - 1)


@dataclass
class ModelArguments(_GlueModelArguments):
    """Which model to fine-tune as a tagger (a new token classification head is added); `--lora_*` train a
    LoRA adapter (peft task type TOKEN_CLS) and the head instead of the whole model."""


@dataclass
class DataArguments:
    """Which data to train and test on, and how its words become labelled tokens."""

    train_file: str | None = field(
        default=None, metadata={"help": "Training data: CoNLL (token<TAB>tag per line), .csv, .json or .jsonl "
                                        "(tokens and tags columns of lists)."})
    validation_file: str | None = field(
        default=None, metadata={"help": "Validation data (the temperature is fitted on it); default: carved from "
                                        "the training data (--validation_split)."})
    test_file: str | None = field(
        default=None, metadata={"help": "Test data; default: the validation file (a validation split is then "
                                        "carved from the training data)."})
    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub dataset (or a folder of data files) with tokens / ner_tags columns, "
                                        "instead of files."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "The hub dataset's configuration."})
    task_name: str | None = field(
        default=None, metadata={"help": "The data's name in results.json and reports (default: the dataset name, or "
                                        "the training file's folder when the file is called train.*, else its stem)."})
    tokens_column: str = field(default="tokens", metadata={"help": "Column of the words (tables, hub datasets)."})
    tags_column: str | None = field(
        default=None, metadata={"help": "Column of the tags (tables, hub datasets); default: tags, else ner_tags."})
    label_all_tokens: bool = field(
        default=False, metadata={"help": "Give every sub-token its word's tag (B- continuations become I-); "
                                         "default: only the first sub-token, the others are -100."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per sentence after truncation (> 0); words "
                                                                "beyond it are not trained on or scored."})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Train on at most this many sentences (after carving validation)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Validate on at most this many sentences."})
    max_test_samples: int | None = field(default=None, metadata={"help": "Test on at most this many sentences."})
    validation_split: float = field(
        default=0.1, metadata={"help": "Without validation data: share of the training sentences (< 1) or number "
                                       "of sentences (>= 1) held out for validation."})
    split_seed: int = field(
        default=0, metadata={"help": "Seed of the train/validation split (the same for every run and seed)."})
    shift_kinds: list[str] | None = field(
        default=None, metadata={"help": "Also test on corrupted copies of the test sentences: typo, deletion, swap, "
                                        "mask (textmix.robustness.corrupt_words; tags follow their words)."})
    shift_severities: list[int] | None = field(
        default=None, metadata={"help": "Severities (1-5) of --shift_kinds (default: 1 3 5)."})
    label_noise: float = field(
        default=0.0, metadata={"help": "Share of the training words whose tag is flipped to another tag, in [0, 1) "
                                       "(seeded by --split_seed: the same flips for every method and seed)."})
    drop_unseen_labels: bool = field(
        default=False, metadata={"help": "Leave unscored (and untrained) the validation/test words whose tag the "
                                         "training data never shows (counted in the log and in results.json) "
                                         "instead of stopping with an error that names the tags."})
    compare: list[str] | None = field(
        default=None, metadata={"help": "Train one model per mixing method (e.g. none embedding hidden) into "
                                        "OUTPUT_DIR/METHOD and report them together; default: the single "
                                        "--mix_method into OUTPUT_DIR."})
    skip_existing: bool = field(
        default=False, metadata={"help": "With --compare: read back methods that already have "
                                         "OUTPUT_DIR/METHOD/results.json instead of training them again."})

    def __post_init__(self) -> None:
        if not self.dataset_name and not self.train_file:
            raise InputError("give the data: --train_file (with --test_file and/or --validation_file) or "
                             "--dataset_name.")
        if self.dataset_name and (self.train_file or self.validation_file or self.test_file):
            raise InputError("give --dataset_name or --train_file / --validation_file / --test_file, not both.")
        if self.train_file and not (self.validation_file or self.test_file):
            raise InputError("no test data: give --test_file (and --validation_file, or a validation split is "
                             "carved from --train_file), or --validation_file alone to test on it.")
        if self.max_seq_length <= 0:
            raise InputError(f"--max_seq_length must be > 0 (got {self.max_seq_length}): the tokens kept per "
                             "sentence.")
        for name in ("max_train_samples", "max_eval_samples", "max_test_samples"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InputError(f"--{name} must be > 0 (got {value}); leave it out to use every sentence.")
        if self.validation_split <= 0:
            raise InputError("--validation_split must be > 0: temperature scaling needs a validation split.")
        from .common import check_label_noise, check_shift

        check_shift(self.shift_kinds, self.shift_severities, "tokens")
        check_label_noise(self.label_noise)
        if self.compare is not None and not self.compare:
            raise InputError("--compare needs at least one method, e.g. --compare none embedding hidden.")

    def name(self) -> str:
        """The data's name in results.json: --task_name, the dataset name, or the training file's folder
        (when the file is called train.*) or stem."""
        if self.task_name:
            return self.task_name
        if self.dataset_name:
            return self.dataset_name + (f"/{self.dataset_config_name}" if self.dataset_config_name else "")
        path = Path(self.train_file).resolve()
        generic = path.stem.lower() in ("train", "training") and path.parent.name
        return path.parent.name if generic else path.stem


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


def _table_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, row) of a csv, json (a list of objects, or JSON lines) or jsonl file."""
    if path.suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            return [(f"{path}, line {reader.line_num}", row) for row in reader]
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".json" and text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"{path} is not valid JSON ({err}).") from None
        if not all(isinstance(r, dict) for r in rows):
            raise InputError(f"{path}: expected a list of objects with tokens and tags.")
        return [(f"{path}, row {i + 1}", row) for i, row in enumerate(rows)]
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}, line {number} is not valid JSON ({err}): expected one object per line "
                             "(JSON lines) or one list of objects.") from None
        if not isinstance(row, dict):
            raise InputError(f"{path}, line {number}: expected an object with tokens and tags.")
        out.append((f"{path}, line {number}", row))
    return out


def _tags_column(columns: Sequence[str], tags_column: str | None, where: str) -> str:
    if tags_column:
        if tags_column not in columns:
            raise InputError(f"tags column {tags_column!r} not in {where} (columns: {list(columns)}); set "
                             "--tags_column.")
        return tags_column
    found = next((c for c in ("tags", "ner_tags") if c in columns), None)
    if found is None:
        raise InputError(f"{where} has no tags or ner_tags column (columns: {list(columns)}); set --tags_column.")
    return found


def _check_tokens_column(columns: Sequence[str], tokens_column: str, where: str) -> None:
    if tokens_column not in columns:
        raise InputError(f"tokens column {tokens_column!r} not in {where} (columns: {list(columns)}); set "
                         "--tokens_column.")


def read_table(path: str | Path, tokens_column: str = "tokens", tags_column: str | None = None) -> list[Sentence]:
    """The sentences of a csv / json / jsonl file with a column of words and one of tags (lists; in csv a
    JSON list or whitespace-separated). Rows with no word are skipped; a row whose words and tags differ in
    number is an error naming it. A tag that is empty, null or -1 is missing (None)."""
    path = Path(path)
    rows = _table_rows(path)
    if not rows:
        return []
    columns = list(rows[0][1])
    _check_tokens_column(columns, tokens_column, str(path))
    tags_column = _tags_column(columns, tags_column, str(path))
    sentences = []
    for where, row in rows:
        words = [str(w) for w in _as_list(row.get(tokens_column), tokens_column, where)]
        tags = [label_name(t) for t in _as_list(row.get(tags_column), tags_column, where)]
        if len(words) != len(tags):
            raise InputError(f"{where}: {len(words)} words but {len(tags)} tags; each word needs one tag.")
        if words:
            sentences.append((words, tags))
    return sentences


def read_file(path: str | Path, data_args: DataArguments) -> list[Sentence]:
    """The sentences of a data file, read by its suffix (`TABLE_SUFFIXES` as tables, else CoNLL)."""
    path = Path(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_table(path, data_args.tokens_column, data_args.tags_column)
    return read_conll(path)


def read_hub(data_args: DataArguments, cache_dir: str | None = None) -> dict[str, list[Sentence]]:
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
        _check_tokens_column(part.column_names, data_args.tokens_column, where)
        tags_column = _tags_column(part.column_names, data_args.tags_column, where)
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


@dataclass
class TaggedData:
    """The sentences of a run, split, and the tags the model predicts."""

    splits: dict[str, list[Sentence]]  # train, validation, test
    label_list: list[str]  # id -> tag: sorted, O first
    sources: dict[str, str]  # where each split comes from
    label_noise_flipped: int = 0  # training tags flipped by --label_noise
    entities: bool = True  # whether the tags are entity tags (BIO, ...): entity F1 is the task metric
    untagged: dict[str, int] = field(default_factory=dict)  # per split: words with a missing tag (not scored)
    dropped_unseen: dict[str, int] = field(default_factory=dict)  # per split: words whose unseen tag is unscored

    @property
    def label2id(self) -> dict[str, int]:
        """Tag -> id."""
        return {tag: i for i, tag in enumerate(self.label_list)}


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
    import numpy as np

    k = int(round(count * n)) if count < 1 else int(count)
    k = max(1, min(k, n - 1))
    order = np.random.default_rng(seed).permutation(n)
    return sorted(int(i) for i in order[:k]), sorted(int(i) for i in order[k:])


def load_data(data_args: DataArguments, cache_dir: str | None = None) -> TaggedData:
    """The train / validation / test sentences of `data_args` and the tag list, under the label contract
    (`contracts.fix_classes`, one label per tagged word). Errors name the problem: a missing or empty
    file, a training split with fewer than two tags, a tag only the evaluation data has (unless
    `--drop_unseen_labels`: its words are left unscored, counted), a validation or test split with no
    tagged word. A notice lists the tags and their words per split."""
    from ..checks import notice
    from .contracts import Classes, classes_notice, fix_classes

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
            raw[split], sources[split] = read_file(path, data_args), str(file)
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
    label_list = sorted_tags(split_tags(train))
    if len(label_list) < 2:
        which = f"only one tag ({label_list[0]!r})" if label_list else "no tag (every tag is missing: empty or -1)"
        raise InputError(f"{sources['train']} has {which} in its {len(train)} sentences: a tagger learns nothing "
                         "from it. Check the tag column (the last one of each line).")
    given = {"train": train, "test": test, **({"validation": validation} if validation is not None else {})}
    classes = fix_classes({split: split_tags(sentences) for split, sentences in given.items()}, sources,
                          drop_unseen=data_args.drop_unseen_labels, unit="word")
    for split, count in classes.dropped_unseen.items():
        given[split] = without_tags(given[split], classes.keep[split])
        notice(f"{count} word(s) of {sources[split]} have a tag the training data never shows: not scored "
               "(--drop_unseen_labels)")
    test, validation = given["test"], given.get("validation")
    if validation is None:
        if len(train) < 2:
            raise InputError(f"{sources['train']} has {len(train)} sentence: too few to hold out a validation split "
                             "and keep sentences to train on; give --validation_file.")
        held, kept = carve(len(train), data_args.validation_split, data_args.split_seed)
        validation, train = [train[i] for i in held], [train[i] for i in kept]
        sources["validation"] = f"{len(held)} sentences of {sources['train']} (--validation_split)"
    from .contracts import check_seqeval, entity_tags

    entities = entity_tags(label_list)
    if entities:
        check_seqeval(f"the tags of {sources['train']} ({label_list[:6]}...)")
    else:
        notice(f"the tags of {sources['train']} ({label_list[:6]}) are not entity tags (BIO: O, B-x, I-x, ...): entity "
               "F1 does not apply; the task metric is token accuracy (task_metric in results.json)")
    limits = {"train": data_args.max_train_samples, "validation": data_args.max_eval_samples,
              "test": data_args.max_test_samples}
    splits = {"train": train, "validation": validation, "test": test}
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
    return TaggedData(splits, label_list, sources, flipped, entities, untagged, dict(classes.dropped_unseen))


def with_tag_noise(sentences: list[Sentence], label_list: list[str], rate: float, seed: int
                   ) -> tuple[list[Sentence], int]:
    """`sentences` with `rate` of their tagged words' tags flipped to another tag (`textmix.robustness.flip_labels`
    over all tagged words, seeded by `seed`; missing tags stay missing), and how many were flipped."""
    import numpy as np

    from textmix.robustness import flip_labels

    index = {tag: i for i, tag in enumerate(label_list)}
    flat = np.asarray([index[t] for t in split_tags(sentences)], dtype=np.int64)
    noisy, mask = flip_labels(flat, rate, len(label_list), seed)
    flipped = iter(label_list[int(i)] for i in noisy)
    out = [(words, [None if t is None else next(flipped) for t in tags]) for words, tags in sentences]
    return out, int(mask.sum())


# ----------------------------------------------------------------------------------------------- tokens


def continuation_tag(tag: str, label2id: Mapping[str, int]) -> str:
    """The tag of a word's later sub-tokens under `--label_all_tokens`: `I-x` for `B-x` (when known), else `tag`."""
    if tag.startswith("B-") and f"I-{tag[2:]}" in label2id:
        return f"I-{tag[2:]}"
    return tag


def align_labels(word_ids: Sequence[int | None], tags: Sequence[str | None], label2id: Mapping[str, int],
                 label_all_tokens: bool = False) -> list[int]:
    """Label ids per token from `word_ids` (a fast tokenizer's `word_ids()`: the word of each token, None
    for special tokens and padding): the first sub-token of a word gets its tag, later ones -100 (or,
    with `label_all_tokens`, `continuation_tag`), special tokens and every sub-token of a word whose tag
    is missing (None) -100."""
    labels: list[int] = []
    previous = None
    for word in word_ids:
        if word is None or tags[word] is None:
            labels.append(IGNORE_INDEX)
        elif word != previous:
            labels.append(label2id[tags[word]])
        elif label_all_tokens:
            labels.append(label2id[continuation_tag(tags[word], label2id)])
        else:
            labels.append(IGNORE_INDEX)
        previous = word
    return labels


def load_tokenizer(model_args: ModelArguments) -> PreTrainedTokenizerBase:
    """The model's tokenizer, which must be a fast one (`word_ids()`); byte-level BPE ones get
    `add_prefix_space=True`, and one without a padding token pads with its end-of-sequence token."""
    from transformers import AutoConfig, AutoTokenizer

    from ..checks import notice
    from .contracts import padding_token

    config = AutoConfig.from_pretrained(model_args.model_name_or_path, cache_dir=model_args.cache_dir,
                                        trust_remote_code=model_args.trust_remote_code)
    extra = {"add_prefix_space": True} if config.model_type in PREFIX_SPACE_TYPES else {}
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, cache_dir=model_args.cache_dir,
                                              trust_remote_code=model_args.trust_remote_code, **extra)
    if not tokenizer.is_fast:
        raise InputError(
            f"the tokenizer of {model_args.model_name_or_path} ({type(tokenizer).__name__}) is not a fast tokenizer: "
            "the recipe gives each word's tag to its first sub-token with word_ids(), which only fast tokenizers "
            "have. Use a model folder with a fast tokenizer (a tokenizer.json, from the `tokenizers` library).")
    if padding_token(tokenizer, model_args.model_name_or_path):  # decoder-only tokenizers pad with EOS
        notice("the tokenizer has no padding token: padding with its end-of-sequence token")
    return tokenizer


def tokenize(sentences: Sequence[Sentence], tokenizer: PreTrainedTokenizerBase, label2id: Mapping[str, int],
             max_seq_length: int, label_all_tokens: bool = False) -> tuple[Dataset, int, int]:
    """(a `Dataset` of input_ids, attention_mask[, token_type_ids] and labels; the number of words that
    got no token (cut at `max_seq_length`, or no sub-token at all); the number of sentences they are in)."""
    from datasets import Dataset

    from .common import tokenized

    data = Dataset.from_dict({"tokens": [w for w, _ in sentences], "tags": [t for _, t in sentences]})

    def encode(batch: dict[str, list]) -> dict[str, list]:
        enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_seq_length)
        labels, unscored = [], []
        for i, tags in enumerate(batch["tags"]):
            word_ids = enc.word_ids(i)
            labels.append(align_labels(word_ids, tags, label2id, label_all_tokens))
            unscored.append(len(tags) - len({w for w in word_ids if w is not None}))
        return {**enc, "labels": labels, "unscored": unscored}

    tag = f"{getattr(tokenizer, 'name_or_path', '')}|{max_seq_length}|{label_all_tokens}|{sorted(label2id.items())}"
    data = tokenized(data, encode, tag, remove_columns=["tokens", "tags"], desc="tokenize")
    lost = data["unscored"]
    return data.remove_columns("unscored"), int(sum(lost)), int(sum(1 for n in lost if n))


# ----------------------------------------------------------------------------------------------- runs


def check_token_methods(training_args: MixTrainingArguments) -> None:
    """Raise `InputError` when `--mix_method` names a method that does not mix token labels."""
    from textmix.methods import get_method, registered

    if not getattr(training_args, "mixing", False):
        return
    names = training_args.mix_config().method_weights
    unfit = [n for n in names if not get_method(n).token_labels]
    if unfit:
        fit = [m.name for m in registered() if m.token_labels]
        raise InputError(f"--mix_method {training_args.mix_method}: {unfit} do not mix token classification "
                         f"batches (labels per token); use one of {fit}, or none.")


def run(model_args: ModelArguments, data_args: DataArguments, training_args: MixTrainingArguments,
        tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train a token classifier (resuming from the last complete checkpoint in `output_dir`), predict,
    calibrate and write `results.json`, `predictions.npz` and `reliability.png` (see
    `textmix.harness.recipes.common`, problem type `token`).

    Every input is checked first (output folder, model folder, method, data, tokenizer), before a model
    is loaded. `tags`: extra entries of results.json (a `method` tag names the method instead of
    `method_name`). Returns the results dict.
    """
    from ..checks import check_model, check_output_dir, notice

    check_output_dir(training_args.output_dir)
    check_model(model_args.model_name_or_path)
    check_token_methods(training_args)
    data = load_data(data_args, model_args.cache_dir)
    tokenizer = load_tokenizer(model_args)

    from transformers import AutoModelForTokenClassification, DataCollatorForTokenClassification, set_seed

    from textmix.calibration import token_classification_metrics
    from textmix.robustness import corrupt_words
    from textmix.trainer import MixTrainer

    from .common import method_name, shift_plan, train_and_report
    from .contracts import mask_token as shift_mask_token
    from .contracts import one_word_notice

    label2id = data.label2id
    splits, unscored = {}, {}
    for name, sentences in data.splits.items():
        splits[name], unscored[name], cut = tokenize(sentences, tokenizer, label2id, data_args.max_seq_length,
                                                     data_args.label_all_tokens)
        if unscored[name]:
            notice(f"{unscored[name]} word(s) in {cut} sentence(s) of the {name} split get no token (cut at "
                   f"--max_seq_length {data_args.max_seq_length}, or no sub-token at all): they are not trained on "
                   "or scored.")
    set_seed(training_args.seed)
    model = AutoModelForTokenClassification.from_pretrained(
        model_args.model_name_or_path, num_labels=len(data.label_list), id2label=dict(enumerate(data.label_list)),
        label2id=label2id, cache_dir=model_args.cache_dir, trust_remote_code=model_args.trust_remote_code,
        dtype="float32",  # trained weights in float32 (bf16 checkpoints too); --bf16 / --fp16 for mixed precision
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model = with_lora(model, model_args, task_type="TOKEN_CLS")
    shifted: dict[str, dict[int, Any]] = {}
    mask_token = shift_mask_token(tokenizer, data_args.shift_kinds, model_args.model_name_or_path)
    said = one_word_notice([" ".join(words) for words, _ in data.splits["test"]], data_args.shift_kinds)
    if said:
        notice(said.replace("texts", "sentences"))
    for kind, severity in shift_plan(data_args.shift_kinds, data_args.shift_severities):
        corrupted = corrupt_words(data.splits["test"], kind, severity, seed=data_args.split_seed, mask_token=mask_token)
        shifted.setdefault(kind, {})[severity] = tokenize(corrupted, tokenizer, label2id, data_args.max_seq_length,
                                                          data_args.label_all_tokens)[0]
    trainer = MixTrainer(
        model=model, args=training_args, train_dataset=splits["train"], eval_dataset=splits["validation"],
        processing_class=tokenizer, data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=token_classification_metrics(data.label_list, entities=data.entities),
    )
    tags = tags or {}
    test_file = data.sources.get("test", "test")
    header = {
        **tags,
        "task": tags.get("task") or data_args.name(),
        "modality": "tokens",
        "test_set": f"{Path(test_file).name if Path(test_file).exists() else test_file} "
                    f"({len(data.splits['test'])} sentences)",
        "label_noise": float(data_args.label_noise),
        "label_noise_flipped": data.label_noise_flipped,
        "method": tags.get("method", method_name(training_args)),
        "seed": training_args.seed,
        "model": model_args.model_name_or_path,
        "label_names": data.label_list,
        "unscored_words": unscored,
        "inputs": {"tokens_column": data_args.tokens_column, "tags_column": data_args.tags_column or "tags/ner_tags",
                   "how": "CoNLL: the first and the last column" if not data_args.dataset_name else "given"},
        "splits_made": {split: str(data.sources.get(split, split)) for split in ("train", "validation", "test")},
        "dropped_unseen_labels": data.dropped_unseen,
    }
    if not data.entities:
        header["task_metric"] = "accuracy"  # the tags are not entities: token accuracy, not entity F1
    config = {"model": asdict(model_args), "data": asdict(data_args), "training": training_args.to_dict()}
    return train_and_report(trainer, splits, header, config, problem_type="token", shifted=shifted,
                            dropped_unlabelled=data.untagged,
                            save_calibrated=model_args.save_calibrated)


# ----------------------------------------------------------------------------------------------- command line


def _config_file(argv: Sequence[str]) -> Path | None:
    return Path(argv[0]) if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")) else None


def _read_config(path: Path) -> dict[str, Any]:
    import yaml

    text = path.read_text(encoding="utf-8")
    values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(values, dict):
        raise InputError(f"{path} must hold a mapping of argument names to values.")
    return values


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, MixTrainingArguments]:
    """(ModelArguments, DataArguments, MixTrainingArguments) from the command line or one .json/.yaml file."""
    return _parse(_parser(), list(sys.argv[1:] if argv is None else argv))


def _parser() -> HfArgumentParser:
    from transformers import HfArgumentParser

    from textmix.trainer import MixTrainingArguments

    return HfArgumentParser((ModelArguments, DataArguments, MixTrainingArguments))


def _parse(parser: HfArgumentParser, argv: list[str], **override: str) -> tuple[Any, ...]:
    """The dataclasses of `argv` (a command line or one config file), with `override` (e.g. a method and
    output folder of `--compare`) replacing the given values."""
    path = _config_file(argv)
    if path is not None:
        return parser.parse_dict({**_read_config(path), **override})
    extra = [item for key, value in override.items() for item in (f"--{key}", value)]
    return parser.parse_args_into_dataclasses(args=[*argv, *extra])


def compare(parser: HfArgumentParser, argv: list[str], model_args: ModelArguments, data_args: DataArguments,
            training_args: MixTrainingArguments) -> list[dict[str, Any]]:
    """`--compare`: `run()` once per method into OUTPUT_DIR/METHOD (reading back finished ones with
    `--skip_existing`), then the report of `textmix.harness.report` in OUTPUT_DIR. Every method is
    checked before the first one trains. Returns the results, in the order of the methods."""
    from ..checks import check_output_dir
    from ..report import write_report
    from .common import RESULTS_FILE, read_results

    out = Path(training_args.output_dir)
    check_output_dir(out)
    methods = list(dict.fromkeys(data_args.compare))
    per_method = {}
    for method in methods:  # fresh TrainingArguments per method: the same arguments with this method and folder
        run_args = _parse(parser, argv, mix_method=method, output_dir=str(out / method))[2]
        check_token_methods(run_args)
        per_method[method] = run_args
    results = []
    for method, run_args in per_method.items():
        folder = out / method
        if data_args.skip_existing and (folder / RESULTS_FILE).exists():
            result = read_results(folder)
        else:
            result = run(model_args, data_args, run_args, tags={"method": method})
        results.append({**result, "_folder": str(folder)})
        if training_args.process_index == 0:
            _print_line(result)
    if training_args.process_index == 0:
        baseline = "none" if "none" in methods else methods[0]
        write_report(results, out, baseline=baseline, order={"methods": methods},
                     source="`textmix.harness.recipes.ner --compare`", test_set="the data's test split")
        print(f"\nreport: {out / 'report.md'} (and report.csv, report.json, reliability.png)", flush=True)
    return [{k: v for k, v in r.items() if k != "_folder"} for r in results]


def _print_line(result: dict[str, Any]) -> None:
    test, scaled = result["test"], result.get("test_ts", {})
    spent = result.get("train_time_s")
    print(f"\n{result['method']}: test entity F1 {test['entity_f1']:.4f}, token accuracy {test['accuracy']:.4f}, "
          f"ECE {test['ece']:.4f} ({scaled.get('ece', float('nan')):.4f} after temperature scaling), "
          + (f"{spent / 60:.1f} min of training" if spent is not None else "training time unknown"), flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any] | list[dict[str, Any]]:
    """Command-line entry point (see the module docstring): the results dict of one run, or with
    `--compare` the list of each method's, in the order of the methods."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    model_args, data_args, training_args = _parse(parser, argv)
    if data_args.compare:
        outcome: dict[str, Any] | list[dict[str, Any]] = compare(parser, argv, model_args, data_args, training_args)
    else:
        outcome = run(model_args, data_args, training_args)
        if training_args.process_index == 0:
            _print_line(outcome)
    from .common import shutdown_distributed

    shutdown_distributed()  # frees the trainer, then destroys the process group
    return outcome


def cli(argv: list[str] | None = None) -> int:
    """`python recipes/run_ner.py ...` (see `textmix.harness.checks.recipe_cli`); returns the exit status."""
    from ..checks import recipe_cli

    return recipe_cli(main, argv, "run_ner")


register_recipe(Recipe(  # the `tokens` modality of `textmix compare` (textmix.harness.recipes.registry)
    "tokens", DataArguments, ModelArguments, run, check_data=loads_data(load_data), mixes="text", token_labels=True,
    short_keys={"train_file": "train_file", "validation_file": "validation_file", "test_file": "test_file",
                "dataset": "dataset_name", "dataset_config": "dataset_config_name", "tokens_column": "tokens_column",
                "tags_column": "tags_column"},
    data_hint="train_file (+ test_file) or dataset", shift="text"))


if __name__ == "__main__":
    sys.exit(cli())
