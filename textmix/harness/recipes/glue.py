"""Fine-tune a sequence classifier on a GLUE task (or csv/tsv/json data, or a hub dataset) with MixTrainer.

    python recipes/run_glue.py --task_name sst2 --glue_dir ../shared/data/glue \\
        --model_name_or_path ../shared/models/bert-tiny --mix_method hidden --output_dir out/sst2-hidden
    python recipes/run_glue.py config.yaml  |  textmix train glue ...  |  torchrun ... recipes/run_glue.py ...

A validation split is carved from the training data; the GLUE dev set is the test set. Without
`--problem_type` a GLUE task has its own and files are read as `textmix.harness.data.tables.infer_problem_type`
says (the choice is printed).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ..checks import InputError, notice
from ..data.contracts import file_task_name
from .arguments import DataArgumentsBase, arg, with_lora
from .base import Prepared, Recipe
from .registry import register_recipe


@dataclass
class DataArguments(DataArgumentsBase):
    """Which data to train and test on."""

    OWN = {
        "task_name": (None, "GLUE task: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli."),
        "dataset_name": (None, "A hub dataset (or a local folder of data files) instead of files, e.g. "
                               "fancyzhx/ag_news; its columns by --text_columns / --label_column."),
        "max_eval_samples": (2000, "Validate on at most this many examples."),
    }

    glue_dir: str | None = arg(None, "Folder in the layout of GLUE's download script (default $GLUE_DIR); "
        "else the hub.")
    train_file: str | None = arg(None, "Training data (.csv, .tsv, .json, .jsonl).")
    validation_file: str | None = arg(None, "Validation data when --test_file is given; without it, "
        "held-out data reported as the test set (like GLUE dev), and validation is carved.")
    test_file: str | None = arg(None, "Test data (.csv, .tsv, .json, .jsonl); default: --validation_file.")
    train_split: str = arg("train", "The dataset's training split.")
    test_split: str | None = arg(None, "The dataset's split tested on (default: test, else validation).")
    text_columns: list[str] | None = arg(None, "One or two text columns of the files (default: the first "
        "text columns).")
    label_column: str = arg("label", "Label column of the files.")
    problem_type: str | None = arg(None, "classification, regression or multi_label. Default: the GLUE "
        "task's; for files, inferred: lists -> multi_label, numbers not all whole -> regression, else "
        "classification.")
    drop_unlabelled: bool = arg(False, "Leave out rows of the files whose label is empty or missing "
        "(counted in the log and in results.json) instead of stopping with an error that names them.")
    label_separator: str = arg(",", "multi_label: separator of the labels in a csv/tsv field (json: a list).")
    max_seq_length: int = arg(128, "Tokens per example after truncation (> 0).")
    ood_test_files: dict[str, Any] | str | None = arg(None, "Further test sets (natural shift), a mapping {name: "
        "file} (JSON on the command line), each tested as the split test_<name> like the test set (same columns "
        "and labels, not corrupted): a file read with its header, or {path: FILE, header: false} for a file "
        "without one whose columns are the text column(s), then the label (.csv comma-, else tab-separated).")
    ood_test_splits: dict[str, str] | str | None = arg(None, "--dataset_name: further test sets (natural shift) "
        "of the dataset's splits, a mapping {name: split} (JSON on the command line), each tested as the split "
        "test_<name> like --ood_test_files.")

    TASK_DATA_ONLY = frozenset({"ood_test_files", "ood_test_splits"})  # a grid's top-level `data` cannot set them

    def __post_init__(self) -> None:
        from ..data.glue import glue_task
        from ..data.tables import check_problem_type, extra_test_sets, extra_test_split

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
        for option in ("ood_test_files", "ood_test_splits"):
            if isinstance(getattr(self, option), str):
                setattr(self, option, _json_mapping(getattr(self, option), f"--{option}"))
        files = extra_test_sets(self.ood_test_files)  # names, files
        if self.ood_test_splits is not None:
            if not self.dataset_name:
                raise InputError("--ood_test_splits names splits of --dataset_name; for files give --ood_test_files.")
            if not isinstance(self.ood_test_splits, dict):
                raise InputError(f"--ood_test_splits maps names to splits, e.g. {{dev: validation}}; got "
                                 f"{self.ood_test_splits!r}.")
            for name, split in self.ood_test_splits.items():
                extra_test_split(name, [f"test_{n}" for n in files], "ood_test_splits")
                if not isinstance(split, str):
                    raise InputError(f"ood_test_splits: {name}: {split!r} must be the name of a split of the dataset.")
        check_problem_type(self.problem_type)
        if self.task_name and self.problem_type:
            own = "regression" if glue_task(self.task_name).is_regression else "classification"
            if self.problem_type != own:
                raise ValueError(f"GLUE task {self.task_name} is {own}; --problem_type {self.problem_type} does not "
                                 "apply (leave it out).")
        if self.label_noise and self.problem_type in ("regression", "multi_label"):
            raise ValueError(f"--label_noise flips class labels; a {self.problem_type} task has none to flip.")

    def name(self) -> str:
        """The data's name in results.json: the GLUE task, the dataset, else `file_task_name`."""
        return self.task_name or self.dataset_name or file_task_name(self.train_file)


def _json_mapping(text: str, option: str) -> dict[str, Any]:
    """The JSON object `text` given to `option` on the command line; an `InputError` when it is not one."""
    import json

    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InputError(f"{option} takes a JSON object, e.g. '{{\"imdb\": \"imdb.tsv\"}}', got {text!r}.")
    return value


_HF_PROBLEM_TYPES = {"classification": "single_label_classification", "regression": "regression",
                     "multi_label": "multi_label_classification"}  # a transformers config's, for each of ours


class TextRecipe(Recipe):
    """Text classification: GLUE tasks, csv/tsv/json files and hub datasets."""

    name, modality, launcher = "glue", "text", "recipes/run_glue.py"
    data_arguments = DataArguments
    short_keys = {"train_file": "train_file", "validation_file": "validation_file", "test_file": "test_file",
                  "text_columns": "text_columns", "label_column": "label_column", "problem_type": "problem_type",
                  "dataset": "dataset_name", "dataset_config": "dataset_config_name", "train_split": "train_split",
                  "test_split": "test_split", "ood_test_files": "ood_test_files",
                  "ood_test_splits": "ood_test_splits"}
    data_defaults = {"task_name": None}

    def check_data(self, model_args: Any, data_args: DataArguments, training_args: Any) -> None:
        from ..data.text import load_data

        load_data(data_args)

    def load_data(self, model_args: Any, data_args: DataArguments, training_args: Any) -> Any:
        """The data, its problem type said; label smoothing refused for regression."""
        from ..data.text import load_data

        data = load_data(data_args)
        if data.reason == "given" or data.task:
            notice(f"problem type: {data.problem_type} ({data.reason})")
        else:
            notice(f"problem type: {data.problem_type} (inferred: {data.reason}; set --problem_type to choose)")
        smoothing = [f"--{k} {v}" for k in ("label_smoothing_factor", "mix_label_smoothing")
                     if (v := getattr(training_args, k, 0) or 0)]
        if data.problem_type == "regression" and smoothing:
            raise InputError(f"{' and '.join(smoothing)}: label smoothing needs class labels, and this task is "
                             "regression (its labels are numbers); drop the smoothing for it.")
        return data

    def preprocess(self, data: Any, model_args: Any, data_args: DataArguments, training_args: Any) -> Prepared:
        """The splits and the shifted test sets tokenized (text pairs as pairs; by the main process first)."""
        from transformers import AutoTokenizer

        from ..data.contracts import mask_token, one_word_notice, padding_token
        from ..data.text import shifted_tests
        from .common import tokenized

        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, cache_dir=model_args.cache_dir,
                                                  trust_remote_code=model_args.trust_remote_code)
        if padding_token(tokenizer, model_args.model_name_or_path):  # decoder-only tokenizers (GPT-2, Llama)
            notice("the tokenizer has no padding token: padding with its end-of-sequence token")
        splits = data.splits
        pair = "text_b" in splits["train"].column_names

        def tokenize(batch: dict) -> dict:
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
        return Prepared(splits, shifted, tokenizer)

    def build_model(self, data: Any, model_args: Any, processor: Any) -> Any:
        """The sequence classifier in float32, with LoRA where asked for."""
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(
            model_args.model_name_or_path, num_labels=data.num_labels, cache_dir=model_args.cache_dir,
            trust_remote_code=model_args.trust_remote_code, problem_type=_HF_PROBLEM_TYPES[data.problem_type],
            dtype="float32",  # trained weights in float32 (bf16 checkpoints too); --bf16 / --fp16 for mixed precision
        )
        if model.config.pad_token_id is None:  # decoder-only models pool the last token that is not padding
            model.config.pad_token_id = processor.pad_token_id
        return with_lora(model, model_args)

    def collator(self, processor: Any) -> Any:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(processor)

    def metrics(self, data: Any) -> Any:
        from textmix.calibration import classification_metrics, multi_label_metrics, regression_metrics

        return {"classification": classification_metrics, "regression": regression_metrics,
                "multi_label": multi_label_metrics}[data.problem_type]()

    def task_name(self, data_args: DataArguments, data: Any) -> str:
        return data.task.name if data.task else data_args.name()


RECIPE = register_recipe(TextRecipe())

if __name__ == "__main__":
    sys.exit(RECIPE.cli())
