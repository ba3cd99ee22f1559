"""Fine-tune a token classifier (NER, POS) with MixTrainer, in the manner of transformers' `run_ner.py`.

    python recipes/run_ner.py --train_file ../shared/data/wnut17/train.conll \\
        --validation_file ../shared/data/wnut17/dev.conll --test_file ../shared/data/wnut17/test.conll \\
        --model_name_or_path ../shared/models/bert-tiny --mix_method hidden --output_dir out/wnut17-hidden
    textmix train ner ...  |  torchrun --nproc_per_node 2 recipes/run_ner.py ...  |  accelerate launch ...

Data and its labels: `textmix.harness.data.tokens`. A word's tag goes to its first sub-token (`align_labels`);
words cut off by `--max_seq_length` are neither trained on nor scored (`unscored_words`). results.json has
`problem_type` `token`: per split seqeval's entity figures, token `accuracy` and the figures over labelled tokens.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textmix.targets import IGNORE_INDEX

from ..checks import InputError, notice
from ..data.contracts import file_task_name
from ..data.tokens import Sentence
from .arguments import DataArgumentsBase, arg, with_lora
from .base import Prepared, Recipe
from .registry import register_recipe

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

PREFIX_SPACE_TYPES = {"bloom", "gpt2", "roberta", "deberta", "longformer", "bart"}
"""Model types whose byte-level BPE tokenizers need `add_prefix_space=True` for pre-split words."""


@dataclass
class DataArguments(DataArgumentsBase):
    """Which data to train and test on, and how its words become labelled tokens."""

    UNIT = "sentence"
    OWN = {
        "dataset_name": (None, "Hub dataset (or a folder of data files) with tokens / ner_tags columns, instead "
                               "of files."),
        "task_name": (None, "The data's name in results.json and reports (default: the dataset name, or the "
                            "training file's folder when the file is called train.*, else its stem)."),
    }

    train_file: str | None = arg(None, "Training data: CoNLL (token<TAB>tag per line), .csv, .json or "
        ".jsonl (tokens and tags columns of lists).")
    validation_file: str | None = arg(None, "Validation data (the temperature is fitted on it); default: "
        "carved from the training data (--validation_split).")
    test_file: str | None = arg(None, "Test data; default: the validation file (a validation split is then "
        "carved from the training data).")
    tokens_column: str = arg("tokens", "Column of the words (tables, hub datasets).")
    tags_column: str | None = arg(None, "Column of the tags (tables, hub datasets); default: tags, else "
        "ner_tags.")
    label_all_tokens: bool = arg(False, "Give every sub-token its word's tag (B- continuations become I-); "
        "default: only the first sub-token, the others are -100.")
    max_seq_length: int = arg(128, "Tokens per sentence after truncation (> 0); words beyond it are not "
        "trained on or scored.")

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

    def name(self) -> str:
        """The data's name in results.json: --task_name, the dataset name, else `file_task_name`."""
        if self.task_name:
            return self.task_name
        if self.dataset_name:
            return self.dataset_name + (f"/{self.dataset_config_name}" if self.dataset_config_name else "")
        return file_task_name(self.train_file)


# ----------------------------------------------------------------------------------------------- tokens


def align_labels(word_ids: Sequence[int | None], tags: Sequence[str | None], label2id: Mapping[str, int],
                 label_all_tokens: bool = False) -> list[int]:
    """Label ids per token from `word_ids` (a fast tokenizer's `word_ids()`: the word of each token, None for
    special tokens and padding): the first sub-token of a word gets its tag, later ones -100 (with
    `label_all_tokens` its tag, `B-x` as `I-x` when known); special tokens and words without a tag -100."""
    labels: list[int] = []
    previous = None
    for word in word_ids:
        if word is None or tags[word] is None:
            labels.append(IGNORE_INDEX)
        elif word != previous:
            labels.append(label2id[tags[word]])
        elif label_all_tokens:
            inside = f"I-{tags[word][2:]}"
            labels.append(label2id[inside if tags[word].startswith("B-") and inside in label2id else tags[word]])
        else:
            labels.append(IGNORE_INDEX)
        previous = word
    return labels


def load_tokenizer(model_args: Any) -> PreTrainedTokenizerBase:
    """The model's tokenizer, which must be a fast one (`word_ids()`); byte-level BPE ones get
    `add_prefix_space=True`, and one without a padding token pads with its end-of-sequence token."""
    from transformers import AutoConfig, AutoTokenizer

    from ..data.contracts import padding_token

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


class TokensRecipe(Recipe):
    """Token classification: CoNLL files, token tables and hub datasets."""

    name, modality, launcher = "ner", "tokens", "recipes/run_ner.py"
    data_arguments = DataArguments
    short_keys = {"train_file": "train_file", "validation_file": "validation_file", "test_file": "test_file",
                  "dataset": "dataset_name", "dataset_config": "dataset_config_name", "tokens_column": "tokens_column",
                  "tags_column": "tags_column"}
    token_labels = True

    def load_data(self, model_args: Any, data_args: DataArguments, training_args: Any) -> Any:
        from ..data.tokens import load_data

        return load_data(data_args, model_args.cache_dir)

    def preprocess(self, data: Any, model_args: Any, data_args: DataArguments, training_args: Any) -> Prepared:
        """The sentences tokenized with their labels aligned (words that get no token said and counted), and the
        corrupted test copies (tags follow their words)."""
        from textmix.robustness import corrupt_words

        from ..data.contracts import mask_token, one_word_notice, shift_plan

        tokenizer = load_tokenizer(model_args)
        splits, unscored = {}, {}
        for name, sentences in data.splits.items():
            splits[name], unscored[name], cut = tokenize(sentences, tokenizer, data.label2id, data_args.max_seq_length,
                                                         data_args.label_all_tokens)
            if unscored[name]:
                notice(f"{unscored[name]} word(s) in {cut} sentence(s) of the {name} split get no token (cut at "
                       f"--max_seq_length {data_args.max_seq_length}, or no sub-token at all): they are not trained "
                       "on or scored.")
        shifted: dict[str, dict[int, Any]] = {}
        mask = mask_token(tokenizer, data_args.shift_kinds, model_args.model_name_or_path)
        said = one_word_notice([" ".join(words) for words, _ in data.splits["test"]], data_args.shift_kinds)
        if said:
            notice(said.replace("texts", "sentences"))
        for kind, severity in shift_plan(data_args.shift_kinds, data_args.shift_severities):
            corrupted = corrupt_words(data.splits["test"], kind, severity, seed=data_args.split_seed, mask_token=mask)
            shifted.setdefault(kind, {})[severity] = tokenize(corrupted, tokenizer, data.label2id,
                                                              data_args.max_seq_length, data_args.label_all_tokens)[0]
        own = {"unscored_words": unscored}
        if data.task_metric:
            own["task_metric"] = data.task_metric  # the tags are not entities: token accuracy, not entity F1
        return Prepared(splits, shifted, tokenizer, own)

    def build_model(self, data: Any, model_args: Any, processor: Any) -> Any:
        """A token classifier of `--model_name_or_path` for the tags, in float32, with LoRA where asked for."""
        from transformers import AutoModelForTokenClassification

        model = AutoModelForTokenClassification.from_pretrained(
            model_args.model_name_or_path, num_labels=len(data.label_names), id2label=dict(enumerate(data.label_names)),
            label2id=data.label2id, cache_dir=model_args.cache_dir, trust_remote_code=model_args.trust_remote_code,
            dtype="float32",  # trained weights in float32 (bf16 checkpoints too); --bf16 / --fp16 for mixed precision
        )
        if model.config.pad_token_id is None:
            model.config.pad_token_id = processor.pad_token_id
        return with_lora(model, model_args, task_type="TOKEN_CLS")

    def collator(self, processor: Any) -> Any:
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(processor)

    def metrics(self, data: Any) -> Any:
        from textmix.calibration import token_classification_metrics

        return token_classification_metrics(data.label_names, entities=data.task_metric is None)


RECIPE = register_recipe(TokensRecipe())

if __name__ == "__main__":
    sys.exit(RECIPE.cli())
