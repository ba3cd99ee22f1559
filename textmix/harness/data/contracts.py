"""The data contracts every recipe (text, image, tokens) checks where its data enters, before a model loads.

- **Labels** (`is_missing_label`, `label_name`, `fix_classes`, `classes_notice`; tags alike, one per word): the
  training split fixes the classes; another split's label outside them is an error naming the values and the
  source (or, on request, its rows are dropped and counted). None, blank, NaN and -1 (also as text: `"nan"`,
  `"-1.0"`) are missing everywhere; `1`, `1.0` and `" 1 "` are one class.
- **Inputs** (`unique_columns`, `choose_text_columns`, `images_nchw`, `npz_labels`): a column named twice is an
  error; text columns are chosen once and said; image arrays are scaled by dtype and range and laid out
  `(N, H, W)`, `(N, H, W, C)` or `(N, C, H, W)`, detected or refused, never guessed.
- **Splits** (`no_test_split`, `carve_count`): the test set is never the validation set; how each split was
  made goes to results.json (`splits_made`). **Shift and noise**: `check_shift`, `shift_plan`.
"""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import InputError, did_you_mean, notice

MISSING_LABEL = -1
"""The label value that means "no label" (besides empty and NaN), in files, .npz arrays and hub datasets."""

ID_COLUMNS = ("id", "idx", "index", "guid", "uid", "uuid", "key", "row", "row_id")
"""Column names never guessed as text (a column ending in `_id` neither)."""

CHANNELS = (1, 3, 4)
"""The channel counts an image array may have (grey, RGB, RGBA)."""


# ----------------------------------------------------------------------------------------------- labels


def is_blank_label(value: Any) -> bool:
    """Whether a label value is absent in every problem type (regression too): None, an empty or blank
    string, or NaN in any spelling (`float("nan")`, `"nan"`, `"NaN"`, as pandas writes a missing float)."""
    if value is None:
        return True
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return True
        try:
            return math.isnan(float(text))
        except ValueError:
            return False
    return isinstance(value, (float, np.floating)) and math.isnan(float(value))


def is_missing_label(value: Any) -> bool:
    """Whether a label value means "no label": `is_blank_label` (None, blank, NaN also as text), or -1
    (also "-1", -1.0, "-1.0")."""
    if is_blank_label(value):
        return True
    if isinstance(value, (list, tuple, dict, bool)):
        return False  # [] is an explicit empty label set (multi_label)
    if isinstance(value, str):
        try:
            return float(value.strip()) == MISSING_LABEL
        except ValueError:
            return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value) == MISSING_LABEL
    return False


def class_name(value: Any) -> str:
    """The class a label value names: whole numbers as integers (`1`, `1.0`, `" 1 "` -> "1"), anything
    else its text without surrounding space (never truncated: 1.5 stays "1.5")."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return text


def label_name(value: Any) -> str | None:
    """The class a label value names (`class_name`), or None when it is missing (`is_missing_label`)."""
    return None if is_missing_label(value) else class_name(value)


def class_order(name: str) -> tuple:
    """Sort key of class names: whole numbers first, in numeric order, then names alphabetically."""
    whole = name.lstrip("-").isdigit()
    return (not whole, int(name) if whole else 0, name)


@dataclass
class Classes:
    """The classes of a run (fixed by the training split) and what `fix_classes` found."""

    names: list[str]  # in id order (sorted by `class_order`)
    keep: dict[str, list[bool]]  # per split: which rows stay (False: a label training never shows, on request)
    counts: dict[str, dict[str, int]]  # per split: rows per class (kept rows)
    dropped_unseen: dict[str, int] = field(default_factory=dict)  # per split: rows dropped for an unseen label

    @property
    def ids(self) -> dict[str, int]:
        """Class name -> id."""
        return {name: i for i, name in enumerate(self.names)}

    def absent(self, split: str) -> list[str]:
        """The classes with no row in `split`."""
        got = self.counts.get(split, {})
        return [n for n in self.names if not got.get(n)]


def fix_classes(labels: Mapping[str, Sequence[str]], sources: Mapping[str, str], drop_unseen: bool = False,
                option: str = "--drop_unseen_labels", train: str = "train", unit: str = "row") -> Classes:
    """The label contract: the classes are the distinct names of `labels[train]` (missing labels removed), in
    `class_order`. Another split's label outside them is an `InputError` naming the values, their rows and
    `sources[split]` (a case or space variant of a training class pointed out), unless `drop_unseen`: then its
    rows are marked in `keep` and counted. Fewer than two training classes is an error. `unit`: "row" or "word"."""
    names = sorted(set(labels[train]), key=class_order)
    source = sources.get(train, train)
    if len(labels[train]) == 1:
        raise InputError(f"{source} has 1 row: too few to train a classifier (and to hold out a validation split).")
    if len(names) < 2:
        which = f"only one class ({names[0]!r})" if names else "no labels at all"
        raise InputError(f"the training split has {which} in {source}: a classifier needs at least two. Check the "
                         "label column (or --max_train_samples), or use --problem_type regression for numbers.")
    known = set(names)
    folded = {n.casefold(): n for n in names}
    keep: dict[str, list[bool]] = {}
    counts: dict[str, dict[str, int]] = {}
    dropped: dict[str, int] = {}
    for split, values in labels.items():
        mask = [v in known for v in values]
        if not all(mask):
            unseen = Counter(v for v, ok in zip(values, mask, strict=True) if not ok)
            if not drop_unseen:
                shown = sorted(unseen, key=class_order)
                listed = ", ".join(f"{v!r} ({unseen[v]} {unit}{'s' if unseen[v] > 1 else ''})" for v in shown[:10])
                more = f", ... ({len(shown) - 10} more)" if len(shown) > 10 else ""
                variants = [f"{v!r} is {folded[v.casefold()]!r} in training" for v in shown
                            if v.casefold() in folded]
                hint = f" ({'; '.join(variants[:3])}: labels are compared exactly)" if variants else ""
                raise InputError(
                    f"{sources.get(split, split)} has label(s) the training data ({sources.get(train, train)}) never "
                    f"shows: {listed}{more}{hint}; the training classes are {names[:20]}. A model cannot learn a class "
                    f"it never sees: fix the labels, or pass {option} to leave those {unit}s out (counted).")
            dropped[split] = sum(unseen.values())
        keep[split] = mask
        counts[split] = dict(Counter(v for v, ok in zip(values, mask, strict=True) if ok))
    return Classes(names, keep, counts, dropped)


def classes_notice(classes: Classes, splits: Sequence[str] | None = None, unit: str = "rows") -> str:
    """One line listing the classes and their rows (`unit`: "words" for token tags) per split, and the classes
    a split lacks, e.g. "classes (rows in train/validation/test): neg 40/5/6, pos 38/4/0; test lacks ['pos']"."""
    splits = list(splits or classes.counts)
    shown = ", ".join(f"{name} {'/'.join(str(classes.counts.get(s, {}).get(name, 0)) for s in splits)}"
                      for name in classes.names[:20])
    more = f", ... ({len(classes.names) - 20} more)" if len(classes.names) > 20 else ""
    lacks = [f"{s} lacks {classes.absent(s)}" for s in splits if s != "train" and classes.absent(s)]
    tail = ("; " + "; ".join(lacks) + " (its figures cover fewer classes than the model predicts)") if lacks else ""
    return f"{len(classes.names)} classes ({unit} in {'/'.join(splits)}): {shown}{more}{tail}"


# ----------------------------------------------------------------------------------------------- inputs


def _looks_like_id(name: str) -> bool:
    key = name.strip().lower()
    return key in ID_COLUMNS or key.endswith(("_id", "-id")) or key == "#"


def is_number(value: Any) -> bool:
    """Whether `value` reads as a number (a str, int or float that float() takes; not None, lists or dicts)."""
    if value is None or isinstance(value, (list, dict)):
        return False
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def unique_columns(header: Sequence[str], source: str) -> None:
    """An `InputError` naming the duplicated column names of a table's `header` (`text,label,label`),
    read from `source`; a table reader would otherwise silently keep one of them."""
    counts = Counter(str(c).strip() for c in header)
    twice = [name for name, n in counts.items() if n > 1]
    if twice:
        raise InputError(f"{source}: the header names column(s) {twice} more than once (columns: {list(header)}); "
                         "rename or remove the duplicates.")


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object from its (key, value) `pairs` (`json.loads(..., object_pairs_hook=unique_keys)`); a
    `ValueError` naming the keys it has more than once."""
    counts = Counter(k for k, _ in pairs)
    twice = [k for k, n in counts.items() if n > 1]
    if twice:
        raise ValueError(f"an object names key(s) {twice} more than once; rename or remove the duplicates")
    return dict(pairs)


def choose_text_columns(first: Mapping[str, Any], label_column: str, given: Sequence[str] | None = None
                        ) -> tuple[list[str], str]:
    """(the columns read as text, how they were chosen) for a table whose first row is `first`.

    Given columns are used as they are; else the first one or two columns holding text that are not the
    label, not numbers and not named like an identifier (`ID_COLUMNS`, `*_id`)."""
    if given:
        return list(given), "given (--text_columns)"
    texts = [c for c in first if c != label_column and isinstance(first[c], str) and not is_number(first[c])]
    skipped = [c for c in texts if _looks_like_id(str(c))]
    chosen = [c for c in texts if c not in skipped][:2]
    how = "guessed: the first text columns that are not the label"
    if skipped:
        how += f" (skipped {skipped}: named like identifiers)"
    return chosen, how + "; set --text_columns to choose"


def image_layout(shape: Sequence[int], key: str = "x", source: str = "the data") -> str:
    """The layout of an image array of `shape`: "NHW", "NHWC" or "NCHW"; an `InputError` when it cannot be
    told (not 3-D or 4-D, no dimension of 1, 3 or 4 channels, or both ends could be the channels)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        return "NHW"
    if len(shape) != 4:
        raise InputError(f"{source}: {key} has shape {shape}; images must be (N, H, W), (N, H, W, C) or (N, C, H, W).")
    last, second = shape[3] in CHANNELS, shape[1] in CHANNELS
    if last and not second:
        return "NHWC"
    if second and not last:
        return "NCHW"
    why = "both" if last else "neither"
    raise InputError(f"{source}: {key} has shape {shape}: {why} of dimension 1 and 3 could be the channels "
                     f"({list(CHANNELS)}), so the layout cannot be told. Save the images as (N, H, W, C) or "
                     "(N, C, H, W) with images larger than 4 pixels a side.")


def image_scale(array: np.ndarray, key: str = "x", source: str = "the data") -> float:
    """What an image array is divided by to lie in [0, 1]: 255 for uint8, 1 for floats already in [0, 1];
    anything else (other dtypes, floats outside [0, 1], NaN) is an `InputError` naming the fix."""
    if array.dtype == np.uint8:
        return 255.0
    if np.issubdtype(array.dtype, np.floating):
        if array.size == 0:
            return 1.0
        lo, hi = float(np.min(array)), float(np.max(array))
        if math.isfinite(lo) and math.isfinite(hi) and lo >= 0.0 and hi <= 1.0:
            return 1.0
        raise InputError(f"{source}: {key} is {array.dtype} with values in [{lo:g}, {hi:g}]; float images must lie "
                         "in [0, 1] (uint8 images in 0-255). Divide by 255, or save them as uint8.")
    raise InputError(f"{source}: {key} is {array.dtype}; images must be uint8 (0-255) or float (0-1). Convert them "
                     "with x.astype(np.uint8) (values 0-255) or x.astype(np.float32) / 255.")


def images_nchw(array: np.ndarray, key: str = "x", source: str = "the data") -> tuple[Any, float]:
    """(the images as a torch tensor (N, C, H, W) in their own dtype, the divisor that brings them to
    [0, 1]) after `image_layout` and `image_scale`."""
    import torch

    layout = image_layout(array.shape, key, source)
    scale = image_scale(array, key, source)
    x = torch.from_numpy(np.ascontiguousarray(array))
    if layout == "NHW":
        x = x[:, None]
    elif layout == "NHWC":
        x = x.permute(0, 3, 1, 2)
    return x, scale


def npz_labels(array: np.ndarray, n_images: int, key: str = "y", source: str = "the data") -> np.ndarray:
    """Class ids (int64, -1 = missing) from an .npz label array for `n_images` images: one whole number per
    image. One-hot rows, a length other than the images', fractions or other dtypes are `InputError`s."""
    y = np.asarray(array)
    if y.ndim == 2 and y.shape[1] > 1 and y.shape[0] == n_images:
        raise InputError(f"{source}: {key} has shape {y.shape}: one row of scores per image (one-hot?); give one "
                         f"class id per image, e.g. {key} = {key}.argmax(1).")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise InputError(f"{source}: {key} has shape {y.shape}; give one class id per image, shape (N,).")
    if len(y) != n_images:
        raise InputError(f"{source}: {key} has {len(y)} labels for {n_images} images (x{key[1:]}); give one label "
                         "per image.")
    if y.dtype == bool or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise InputError(f"{source}: {key} is {y.dtype}; labels must be whole numbers (class ids; -1 = missing).")
    if np.issubdtype(y.dtype, np.floating):
        finite = np.isfinite(y)
        if (~finite).any() or not np.all(np.equal(np.mod(y[finite], 1), 0)):
            bad = y[~finite | (np.mod(np.where(finite, y, 0), 1) != 0)][:3]
            raise InputError(f"{source}: {key} holds values that are not whole numbers ({bad.tolist()}); labels "
                             "are class ids (never truncated).")
    y = y.astype(np.int64)
    below = y[y < MISSING_LABEL]
    if below.size:
        raise InputError(f"{source}: {key} holds negative labels ({sorted(set(below.tolist()))[:3]}); class ids "
                         "are >= 0, and -1 means missing.")
    return y


# ----------------------------------------------------------------------------------------------- splits


def no_test_split(source: str, option: str) -> InputError:
    """The error for a data source without a test split: testing on the validation data would fit the
    temperature on the test set itself."""
    return InputError(f"{source} has no test split: testing on the validation data would fit the temperature "
                      f"on the test set itself. Give test data, or pass {option} (a share of the training data) "
                      "to carve a test split from it.")


def carve_count(n: int, share: float, what: str, source: str) -> int:
    """How many of `n` rows a share (< 1) or count (>= 1) `share` holds out, at least 1 and leaving at least 1."""
    if n < 2:
        raise InputError(f"{source} has {n} row(s): too few to hold out a {what} split and keep rows to train on.")
    k = math.floor(share * n + 0.5) if share < 1 else int(share)  # half up, as the corruption and noise counts
    return max(1, min(k, n - 1))


# ----------------------------------------------------------------------------------------------- tags and tokenizers

ENTITY_PREFIXES = ("B-", "I-", "E-", "S-", "L-", "U-")
"""Prefixes of entity tags (BIO, BIOES, BILOU); `O` is outside every entity."""


def entity_tags(tags: Sequence[str]) -> bool:
    """Whether `tags` are entity tags that entity F1 (seqeval) can score: every tag `O` or
    `<prefix>-<type>` (`ENTITY_PREFIXES`), and at least one entity tag."""
    entity = [t for t in tags if t != "O"]
    return bool(entity) and all(t.startswith(ENTITY_PREFIXES) and len(t) > 2 for t in entity)


def check_seqeval(what: str) -> None:
    """Raise `InputError` naming the install when `seqeval` (entity F1) is missing; `what` says what needs it."""
    if importlib.util.find_spec("seqeval") is None:
        raise InputError(f"{what} needs seqeval for entity F1: pip install 'textmix[ner]' (or pip install seqeval).")


def padding_token(tokenizer: Any, model: str) -> str | None:
    """Give `tokenizer` a padding token when it lacks one: its end-of-sequence token (returned, for a notice),
    else an `InputError` saying how to add one. Returns None when it already had one."""
    if tokenizer.pad_token is not None:
        return None
    if tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
        return str(tokenizer.eos_token)
    raise InputError(
        f"the tokenizer of {model} has neither a padding token nor an end-of-sequence token to pad with: batches "
        "cannot be padded. Add one and save the tokenizer into the model folder, e.g. "
        "tok.add_special_tokens({'pad_token': '[PAD]'}); tok.save_pretrained(folder) (and resize the model's "
        "embeddings: model.resize_token_embeddings(len(tok)); model.save_pretrained(folder)).")


def mask_token(tokenizer: Any, kinds: Sequence[str] | None, model: str) -> str:
    """The token the `mask` shift writes: the tokenizer's mask token, else (with a notice) its unknown
    token; an `InputError` when `mask` is asked for and it has neither."""
    if tokenizer.mask_token is not None:
        return str(tokenizer.mask_token)
    if "mask" not in (kinds or []):
        return str(tokenizer.unk_token or "[MASK]")
    if tokenizer.unk_token is not None:
        notice(f"the tokenizer of {model} has no mask token: the `mask` shift replaces words with its unknown token "
               f"{tokenizer.unk_token!r}")
        return str(tokenizer.unk_token)
    raise InputError(f"--shift_kinds mask: the tokenizer of {model} has neither a mask token nor an unknown token to "
                     "mask words with; leave `mask` out of --shift_kinds for this model.")


def one_word_notice(texts: Sequence[str], kinds: Sequence[str] | None) -> str | None:
    """A notice when some test texts have a single word: `swap` and `deletion` leave them unchanged at
    every severity (None when no text or no such kind is concerned)."""
    unchanged = [k for k in (kinds or []) if k in ("swap", "deletion")]
    single = sum(1 for t in texts if len(str(t).split()) < 2)
    if not unchanged or not single:
        return None
    return (f"{single} of the {len(texts)} test texts have fewer than two words: the {unchanged} shift leaves them "
            "unchanged at every severity (identical copies)")


@dataclass
class RecipeData:
    """The data of a run as every recipe's `load_data` returns it: the splits, and how its labels are read."""

    splits: Mapping[str, Any]  # train, validation, test[...]: datasets (text, tokens) or TensorImages (image)
    task: Any  # the GLUE task (`textmix.harness.data.glue.GlueTask`), or None
    num_labels: int
    problem_type: str  # classification, regression, multi_label or token
    reason: str  # "given", "that of GLUE task <name>", or why it was inferred from the labels
    dropped_unlabelled: dict[str, int] = field(default_factory=dict)
    test_set: str = ""  # what the test split is, e.g. "GLUE rte dev (277 rows)"
    label_noise_flipped: int = 0  # training labels flipped by --label_noise
    label_names: list[str] | None = None  # class names in id order (None for regression)
    inputs: dict[str, Any] = field(default_factory=dict)  # what was read as input, and how chosen
    splits_made: dict[str, str] = field(default_factory=dict)  # how each split was made
    dropped_unseen: dict[str, int] = field(default_factory=dict)  # rows dropped for a label training never shows
    shifted: dict[str, dict[int, Any]] = field(default_factory=dict)  # corrupted test copies made while loading
    image_shape: tuple[int, int] | None = None  # images: (channels, side) as the model takes them
    task_metric: str | None = None  # the task metric when not the problem type's own (tags that are not entities)
    natural_shift: dict[str, str] = field(default_factory=dict)  # further test sets (`ood_test_files`): what each is

    @property
    def label2id(self) -> dict[str, int]:
        """Label name -> id."""
        return {name: i for i, name in enumerate(self.label_names or [])}


# ----------------------------------------------------------------------------------------------- shift, noise


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


def file_task_name(train_file: str) -> str:
    """A task's name from its training file: the folder when the file is called train.* (or training.*), else
    the file's stem (`reviews/train.csv` -> reviews, `reviews_train.csv` -> reviews_train)."""
    path = Path(train_file).resolve()
    generic = path.stem.lower() in ("train", "training") and path.parent.name
    return path.parent.name if generic else path.stem
