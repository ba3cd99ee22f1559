"""Fine-tune a sequence classifier on a GLUE task (or csv/tsv/json data) with MixTrainer.

    python recipes/run_glue.py --task_name sst2 --glue_dir ../shared/data/glue \\
        --model_name_or_path ../shared/models/bert-tiny --mix_method hidden --output_dir out/sst2-hidden
    python recipes/run_glue.py config.yaml          # the same arguments from a .yaml or .json file
    python -m textmix.harness.recipes.glue ...      # the same without the launcher script
    torchrun --nproc_per_node 2 recipes/run_glue.py ...   |   accelerate launch recipes/run_glue.py ...

A validation split is carved from the training data (for temperature scaling and model
selection); the GLUE dev set is the test set. Writes to `output_dir`: `results.json` (task metrics,
calibration before and after temperature scaling, training time, configuration, versions),
`predictions.npz` (logits and labels of every split) and `reliability.png`: the schema every recipe
shares, described in `textmix.harness.recipes.common`. An interrupted run continues from the last
complete checkpoint in `output_dir` when started again.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import DatasetDict

    from textmix.harness.glue import GlueTask
    from textmix.trainer import MixTrainingArguments

DEFAULT_MODEL = "google/bert_uncased_L-2_H-128_A-2"  # BERT-tiny on the hub


@dataclass
class ModelArguments:
    """Which model to fine-tune."""

    model_name_or_path: str = field(
        default=DEFAULT_MODEL, metadata={"help": "Hub id or local folder of a pretrained model."}
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow model code from the hub (only for models you trust)."}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where hub downloads are cached."})


@dataclass
class DataArguments:
    """Which data to train and test on."""

    task_name: str | None = field(
        default=None, metadata={"help": "GLUE task: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli."}
    )
    glue_dir: str | None = field(
        default=None,
        metadata={"help": "Folder in the layout of GLUE's download script (default $GLUE_DIR); else the hub."},
    )
    train_file: str | None = field(default=None, metadata={"help": "Training data (.csv, .tsv, .json, .jsonl)."})
    validation_file: str | None = field(
        default=None, metadata={"help": "Held-out data reported as the test set (like GLUE dev)."}
    )
    text_columns: list[str] | None = field(
        default=None, metadata={"help": "One or two text columns of the files (default: the first text columns)."}
    )
    label_column: str = field(default="label", metadata={"help": "Label column of the files."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example after truncation."})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use at most this many training examples (after carving validation)."}
    )
    max_test_samples: int | None = field(default=None, metadata={"help": "Test on at most this many examples."})
    validation_split: float = field(
        default=0.1,
        metadata={"help": "Share of the training data (< 1) or number of examples (>= 1) held out for validation."},
    )
    max_validation_samples: int | None = field(default=2000, metadata={"help": "Cap on the validation split."})
    split_seed: int = field(
        default=0, metadata={"help": "Seed of the train/validation split (the same for every run and seed)."}
    )

    def __post_init__(self) -> None:
        if not self.task_name and not (self.train_file and self.validation_file):
            raise ValueError("give --task_name (a GLUE task) or both --train_file and --validation_file.")
        if self.validation_split <= 0:
            raise ValueError("--validation_split must be > 0: temperature scaling needs a validation split.")


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, MixTrainingArguments]:
    """(ModelArguments, DataArguments, MixTrainingArguments) from the command line or one .json/.yaml file."""
    from transformers import HfArgumentParser

    from textmix.trainer import MixTrainingArguments

    parser = HfArgumentParser((ModelArguments, DataArguments, MixTrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        path = Path(argv[0])
        if path.suffix == ".json":
            return parser.parse_json_file(str(path))
        return parser.parse_yaml_file(str(path))
    return parser.parse_args_into_dataclasses(args=argv)


def load_data(data_args: DataArguments) -> tuple[DatasetDict, GlueTask | None, int, bool]:
    """(DatasetDict with train/validation/test[...], task or None, num_labels, is_regression)."""
    from ..glue import glue_task, load_files, load_glue

    if data_args.task_name:
        task = glue_task(data_args.task_name)
        data = load_glue(task.name, data_args.glue_dir)
        regression, num_labels = task.is_regression, task.num_labels
    else:
        task = None
        data = load_files(data_args.train_file, data_args.validation_file, data_args.text_columns,
                          data_args.label_column)
        feature = data["train"].features["label"]
        regression = not hasattr(feature, "names")
        num_labels = 1 if regression else len(feature.names)
    train = data["train"].shuffle(seed=data_args.split_seed)
    n_val = data_args.validation_split
    n_val = int(round(n_val * len(train))) if n_val < 1 else int(n_val)
    if data_args.max_validation_samples is not None:
        n_val = min(n_val, data_args.max_validation_samples)
    n_val = max(1, min(n_val, len(train) - 1))
    splits = {"validation": train.select(range(n_val)), "train": train.select(range(n_val, len(train)))}
    if data_args.max_train_samples is not None:
        splits["train"] = splits["train"].select(range(min(data_args.max_train_samples, len(splits["train"]))))
    for name in data:
        if name != "train":
            test = data[name]
            if data_args.max_test_samples is not None:
                test = test.select(range(min(data_args.max_test_samples, len(test))))
            splits[name] = test
    from datasets import DatasetDict

    return DatasetDict(splits), task, num_labels, regression


def run(model_args: ModelArguments, data_args: DataArguments, training_args: MixTrainingArguments,
        tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (resuming from the last complete checkpoint in `output_dir`), predict, calibrate and write
    `results.json`, `predictions.npz` and `reliability.png` (see `textmix.harness.recipes.common`).

    `tags`: extra entries of results.json (a `method` tag names the method instead of `mix_method`).
    Returns the results dict.
    """
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        set_seed,
    )

    from textmix.calibration import classification_metrics, regression_metrics
    from textmix.trainer import MixTrainer

    from .common import train_and_report

    set_seed(training_args.seed)
    data, task, num_labels, regression = load_data(data_args)
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, cache_dir=model_args.cache_dir,
                                              trust_remote_code=model_args.trust_remote_code)
    pair = "text_b" in data["train"].column_names

    def tokenize(batch):
        texts = (batch["text_a"], batch["text_b"]) if pair else (batch["text_a"],)
        return tokenizer(*texts, truncation=True, max_length=data_args.max_seq_length)

    with training_args.main_process_first(desc="tokenize"):
        data = data.map(tokenize, batched=True, desc="tokenize")
    model = AutoModelForSequenceClassification.from_pretrained(
        model_args.model_name_or_path, num_labels=num_labels, cache_dir=model_args.cache_dir,
        trust_remote_code=model_args.trust_remote_code,
        problem_type="regression" if regression else "single_label_classification",
    )
    trainer = MixTrainer(
        model=model, args=training_args, train_dataset=data["train"], eval_dataset=data["validation"],
        processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=regression_metrics() if regression else classification_metrics(),
    )
    header = {
        **(tags or {}),
        "task": task.name if task else Path(data_args.train_file).stem,
        "method": (tags or {}).get("method", training_args.mix_method),
        "seed": training_args.seed,
        "model": model_args.model_name_or_path,
    }
    config = {"model": asdict(model_args), "data": asdict(data_args), "training": training_args.to_dict()}
    return train_and_report(trainer, data, header, config, regression=regression)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point (see the module docstring)."""
    import torch.distributed as dist

    model_args, data_args, training_args = parse_args(argv)
    results = run(model_args, data_args, training_args)
    if dist.is_available() and dist.is_initialized():  # shut the process group down cleanly
        dist.destroy_process_group()
    return results


if __name__ == "__main__":
    main()
