"""Fine-tune a token classifier (NER, POS) with MixTrainer, in the manner of transformers' `run_ner.py`.

    python recipes/run_ner.py --train_file ../shared/data/wnut17/train.conll \\
        --validation_file ../shared/data/wnut17/dev.conll --test_file ../shared/data/wnut17/test.conll \\
        --model_name_or_path ../shared/models/bert-tiny --mix_method hidden --output_dir out/wnut17-hidden
    python recipes/run_ner.py ... --compare none embedding hidden --output_dir out/wnut17   # a one-task sweep
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

`--compare none embedding hidden` trains one model per method, with otherwise equal settings, as a
one-task sweep of `textmix compare` (`textmix.harness.compare.recipe`): each run in
OUTPUT_DIR/runs/<task>/<method>/seed<N>/ (the task: the data's name, see `DataArguments.name`; N:
--seed), the report (report.md, report.csv, report.json, reliability.png; task metric: entity F1) in
OUTPUT_DIR. Finished runs (same run key) are skipped, so the same command again trains nothing; a
changed setting is a new run key and trains again.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textmix.targets import IGNORE_INDEX

from ..checks import InputError
from .arguments import (
    SKIP_EXISTING,
    DataArgumentsBase,
    argument_parser,
    as_config,
    no_effect,
    parse,
    renamed,
    with_lora,
)
from .arguments import ModelArguments as _SharedModelArguments
from .ner_data import (  # noqa: F401 - the recipe's data, re-exported
    TABLE_SUFFIXES,
    Sentence,
    carve,
    load_data,
    read_conll,
    read_file,
    read_hub,
    read_table,
    sorted_tags,
    split_tags,
    with_tag_noise,
    without_tags,
)
from .registry import Recipe, loads_data, register_recipe

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import HfArgumentParser, PreTrainedTokenizerBase

    from textmix.trainer import MixTrainingArguments

PREFIX_SPACE_TYPES = {"bloom", "gpt2", "roberta", "deberta", "longformer", "bart"}
"""Model types whose byte-level BPE tokenizers need `add_prefix_space=True` for pre-split words."""


@dataclass
class ModelArguments(_SharedModelArguments):
    """Which model to fine-tune as a tagger (a new token classification head is added); `--lora_*` train a
    LoRA adapter (peft task type TOKEN_CLS) and the head instead of the whole model."""


@dataclass
class DataArguments(DataArgumentsBase):
    """Which data to train and test on, and how its words become labelled tokens (the shared fields:
    `DataArgumentsBase`)."""

    UNIT = "sentence"
    RENAMED = {"max_test_samples": "max_predict_samples"}
    NO_EFFECT = {"skip_existing": SKIP_EXISTING}

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
    max_predict_samples: int | None = field(default=None, metadata={"help": "Test on at most this many sentences."})
    max_test_samples: int | None = renamed("max_predict_samples")
    validation_split: float = field(
        default=0.1, metadata={"help": "Without validation data: share of the training sentences (< 1) or number "
                                       "of sentences (>= 1) held out for validation."})
    shift_kinds: list[str] | None = field(
        default=None, metadata={"help": "Also test on corrupted copies of the test sentences: typo, deletion, swap, "
                                        "mask (textmix.robustness.corrupt_words; tags follow their words)."})
    label_noise: float = field(
        default=0.0, metadata={"help": "Share of the training words whose tag is flipped to another tag, in [0, 1) "
                                       "(seeded by --split_seed: the same flips for every method and seed)."})
    drop_unseen_labels: bool = field(
        default=False, metadata={"help": "Leave unscored (and untrained) the validation/test words whose tag the "
                                         "training data never shows (counted in the log and in results.json) "
                                         "instead of stopping with an error that names the tags."})
    compare: list[str] | None = field(
        default=None, metadata={"help": "Train one model per mixing method (e.g. none embedding hidden) as a "
                                        "one-task sweep: runs in OUTPUT_DIR/runs/<task>/<method>/seed<N>, finished "
                                        "ones skipped, the report in OUTPUT_DIR; default: the single --mix_method "
                                        "into OUTPUT_DIR."})
    skip_existing: bool = no_effect(SKIP_EXISTING)

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
        super().__post_init__()  # caps, validation split, shift, label noise
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


def _shifted_tests(data: Any, data_args: DataArguments, model_args: ModelArguments,
                   tokenizer: PreTrainedTokenizerBase) -> dict[str, dict[int, Any]]:
    """Tokenized corrupted copies of the test sentences ({kind: {severity: dataset}}) for `--shift_kinds`
    (`textmix.robustness.corrupt_words`, seeded by `--split_seed`; tags follow their words)."""
    from textmix.robustness import corrupt_words

    from ..checks import notice
    from .common import shift_plan
    from .contracts import mask_token as shift_mask_token
    from .contracts import one_word_notice

    shifted: dict[str, dict[int, Any]] = {}
    mask_token = shift_mask_token(tokenizer, data_args.shift_kinds, model_args.model_name_or_path)
    said = one_word_notice([" ".join(words) for words, _ in data.splits["test"]], data_args.shift_kinds)
    if said:
        notice(said.replace("texts", "sentences"))
    for kind, severity in shift_plan(data_args.shift_kinds, data_args.shift_severities):
        corrupted = corrupt_words(data.splits["test"], kind, severity, seed=data_args.split_seed, mask_token=mask_token)
        shifted.setdefault(kind, {})[severity] = tokenize(corrupted, tokenizer, data.label2id, data_args.max_seq_length,
                                                          data_args.label_all_tokens)[0]
    return shifted


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
    from textmix.trainer import MixTrainer

    from .common import method_name, train_and_report

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
        model_args.model_name_or_path, num_labels=len(data.label_names), id2label=dict(enumerate(data.label_names)),
        label2id=label2id, cache_dir=model_args.cache_dir, trust_remote_code=model_args.trust_remote_code,
        dtype="float32",  # trained weights in float32 (bf16 checkpoints too); --bf16 / --fp16 for mixed precision
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model = with_lora(model, model_args, task_type="TOKEN_CLS")
    shifted = _shifted_tests(data, data_args, model_args, tokenizer)
    trainer = MixTrainer(
        model=model, args=training_args, train_dataset=splits["train"], eval_dataset=splits["validation"],
        processing_class=tokenizer, data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=token_classification_metrics(data.label_names, entities=data.task_metric is None),
    )
    tags = tags or {}
    header = {
        **tags,
        "task": tags.get("task") or data_args.name(),
        "modality": "tokens",
        "test_set": data.test_set,
        "label_noise": float(data_args.label_noise),
        "label_noise_flipped": data.label_noise_flipped,
        "method": tags.get("method", method_name(training_args)),
        "seed": training_args.seed,
        "model": model_args.model_name_or_path,
        "label_names": data.label_names,
        "unscored_words": unscored,
        "inputs": data.inputs,
        "splits_made": data.splits_made,
        "dropped_unseen_labels": data.dropped_unseen,
    }
    if data.task_metric:
        header["task_metric"] = data.task_metric  # the tags are not entities: token accuracy, not entity F1
    config = {"model": as_config(model_args), "data": as_config(data_args), "training": training_args.to_dict()}
    return train_and_report(trainer, splits, header, config, problem_type="token", shifted=shifted,
                            dropped_unlabelled=data.dropped_unlabelled,
                            save_calibrated=model_args.save_calibrated,
                            save_calibrated_at_bound=model_args.save_calibrated_at_bound)


# ----------------------------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, MixTrainingArguments]:
    """(ModelArguments, DataArguments, MixTrainingArguments) from the command line or one .json/.yaml file."""
    return parse(_parser(), argv)


def _parser() -> HfArgumentParser:
    return argument_parser(ModelArguments, DataArguments)


def main(argv: list[str] | None = None) -> dict[str, Any] | list[dict[str, Any]]:
    """Command-line entry point (see the module docstring): the results dict of one run, or with
    `--compare` (a one-task sweep: `textmix.harness.compare.recipe.compare_recipe`) the list of each
    method's, in the order of the methods."""
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, data_args, training_args = parse(_parser(), argv)
    if data_args.compare:
        from ..compare.recipe import compare_recipe

        outcome: dict[str, Any] | list[dict[str, Any]] = compare_recipe("tokens", model_args, data_args,
                                                                         training_args)
    else:
        outcome = run(model_args, data_args, training_args)
    from .common import shutdown_distributed, summary_line

    if not data_args.compare and training_args.process_index == 0:
        print("\n" + summary_line(outcome), flush=True)
    shutdown_distributed()  # frees the trainer, then destroys the process group
    return outcome


def cli(argv: list[str] | None = None, prog: str | None = None) -> int:
    """`python recipes/run_ner.py ...` (see `textmix.harness.checks.recipe_cli`; `prog`: the command as typed, in
    errors); returns the exit status."""
    from ..checks import recipe_cli, typed_command

    return recipe_cli(main, argv, prog or typed_command("recipes/run_ner.py", "textmix.harness.recipes.ner"))


register_recipe(Recipe(  # the `tokens` modality of `textmix compare` (textmix.harness.recipes.registry)
    "tokens", DataArguments, ModelArguments, run, check_data=loads_data(load_data), mixes="text", token_labels=True,
    short_keys={"train_file": "train_file", "validation_file": "validation_file", "test_file": "test_file",
                "dataset": "dataset_name", "dataset_config": "dataset_config_name", "tokens_column": "tokens_column",
                "tags_column": "tags_column"},
    data_hint="train_file (+ test_file) or dataset"))


if __name__ == "__main__":
    sys.exit(cli())
