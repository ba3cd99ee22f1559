"""The grid's presets (each names its methods: a newly registered method joins none), its methods (baselines
and registered mixing methods), its top-level keys and the training defaults of every run."""

from __future__ import annotations

from typing import Any

from ...methods import method_names
from ..recipes.registry import SHIFT_FAMILIES

BASELINES: dict[str, dict[str, Any]] = {
    "none": {"mix_method": "none"},
    "label_smoothing": {"mix_method": "none", "label_smoothing_factor": 0.1},
}
"""The grid's methods that do not mix, and the training arguments each one sets."""


def grid_methods() -> dict[str, dict[str, Any]]:
    """Method names a grid knows and the training arguments each one sets (on top of `training`): the
    baselines, then every registered mixing method as `mix_method=<name>`."""
    return {**BASELINES, **{name: {"mix_method": name} for name in method_names()}}


BASELINE = "none"

_TRAINING_DEFAULTS: dict[str, Any] = {
    "per_device_train_batch_size": 32, "per_device_eval_batch_size": 128, "learning_rate": 1e-4, "num_train_epochs": 3,
    "warmup_steps": 0.06, "weight_decay": 0.01, "mix_alpha": 0.4, "logging_steps": 50, "save_strategy": "steps",
    "save_steps": 100, "save_total_limit": 2, "eval_strategy": "no", "report_to": "none", "disable_tqdm": True,
    "dataloader_num_workers": 0, "dataloader_pin_memory": False}
"""The training arguments of every run of a sweep, under the grid's own."""

_SMALL_VIT = {"patch_size": 4, "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
              "intermediate_size": 128}
"""A ViT trained from scratch for MNIST's 28 x 28 digits (a 7 x 7 grid of patches): the digits task of `smoke_tasks` and `quick`."""

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "description": "CI: bert-tiny, one task, three methods, a few steps (well under 2 minutes).",
        "model_name_or_path": "{shared}/models/bert-tiny",
        "glue_dir": "{shared}/data/glue",
        "tasks": ["rte"],
        "methods": ["none", "hidden", "span"],
        "seeds": [0, 1],
        "data": {"max_train_samples": 96, "max_predict_samples": 96, "validation_split": 64, "max_seq_length": 64},
        "training": {"max_steps": 6, "save_steps": 3, "logging_steps": 3, "per_device_train_batch_size": 16},
    },
    "smoke_tasks": {
        "description": "CI: every kind of task (GLUE RTE, a csv file with string labels, MNIST, WNUT-17) with shift "
                       "and label noise, one seed, a few steps each (a few minutes).",
        "model_name_or_path": "{shared}/models/bert-tiny",
        "glue_dir": "{shared}/data/glue",
        "tasks": [
            "rte",
            {"name": "reviews", "train_file": "{reviews}/train.csv", "test_file": "{reviews}/test.csv",
             "text_columns": ["review"], "label_column": "sentiment"},
            {"name": "digits", "modality": "image", "train_file": "{shared}/data/mnist/mnist.npz",
             "model": _SMALL_VIT, "data": {"max_train_samples": 256, "max_eval_samples": 64, "max_predict_samples": 64}},
            {"name": "wnut17", "modality": "tokens", "train_file": "{shared}/data/wnut17/train.conll",
             "validation_file": "{shared}/data/wnut17/dev.conll", "test_file": "{shared}/data/wnut17/test.conll",
             "data": {"max_train_samples": 96, "max_eval_samples": 64, "max_predict_samples": 64, "max_seq_length": 64}},
        ],
        "methods": ["none", "hidden", "mixup"],
        "seeds": [0],
        "data": {"max_train_samples": 96, "max_predict_samples": 64, "validation_split": 64, "max_seq_length": 64},
        "training": {"max_steps": 3, "save_strategy": "no", "logging_steps": 1, "per_device_train_batch_size": 16},
        "shift": {"text": ["typo", "mask"], "image": ["occlusion", "gaussian_noise"], "severities": [1, 5]},
        "label_noise": [0.0, 0.2],
    },
    "intro": {
        "description": "The first report, in minutes: bert-tiny on 1,000 SST-2 sentences with no mixing, label "
                       "smoothing, hidden and span Mixup, 2 seeds, each also tested on typo'd and masked copies of "
                       "its test set (8 runs, 50-84 s measured on 2 idle CPU cores; README.md).",
        "model_name_or_path": "{shared}/models/bert-tiny",
        "glue_dir": "{shared}/data/glue",
        "tasks": ["sst2"],
        "methods": ["none", "label_smoothing", "hidden", "span"],
        "seeds": [0, 1],
        "data": {"max_train_samples": 1000, "max_seq_length": 64, "validation_split": 200, "max_predict_samples": 400},
        "training": {"num_train_epochs": 2, "learning_rate": 3e-4, "save_strategy": "no", "logging_steps": 10},
        "shift": {"text": ["typo", "mask"], "severities": [1, 3]},
    },
    "quick": {
        "description": "bert-tiny on SST-2, RTE and a csv task, a small ViT on MNIST, training subsets; hidden "
                       "and span Mixup on text, Mixup and CutMix on MNIST, with RegMixup and attention-label "
                       "(TransMix) variants; corrupted "
                       "test sets and 20 % label noise; 3 seeds (162 runs, about an hour on 2 CPU cores: 46 minutes "
                       "measured as two 1-thread --shard processes, docs/results.md).",
        "model_name_or_path": "{shared}/models/bert-tiny",
        "glue_dir": "{shared}/data/glue",
        "tasks": [
            "sst2",
            "rte",
            {"name": "reviews", "train_file": "{reviews}/train.csv", "test_file": "{reviews}/test.csv",
             "text_columns": ["review"], "label_column": "sentiment"},
            {"name": "digits", "modality": "image", "train_file": "{shared}/data/mnist/mnist.npz",
             "model": _SMALL_VIT, "data": {"max_train_samples": 10000, "max_eval_samples": 500, "max_predict_samples": 500},
             "training": {"num_train_epochs": 5, "learning_rate": 2e-3, "per_device_train_batch_size": 128,
                          "warmup_steps": 0.05, "lr_scheduler_type": "cosine", "weight_decay": 0.05,
                          "mix_cutmix_alpha": 1.0}},
        ],
        "methods": ["none", "label_smoothing", "hidden", "regmixup_hidden", "span", "regmixup_span", "span_attention",
                    "mixup", "regmixup_mixup", "cutmix", "transmix_cutmix"],
        "method_args": {  # RegMixup (a clean loss beside the mixed one, alpha 20) and attention label weights
            "regmixup_hidden": {"mix_method": "hidden", "mix_clean_weight": 1.0, "mix_alpha": 20.0},
            "regmixup_span": {"mix_method": "span", "mix_clean_weight": 1.0, "mix_alpha": 20.0},
            "span_attention": {"mix_method": "span", "mix_label_weights": "attention"},
            "regmixup_mixup": {"mix_method": "mixup", "mix_clean_weight": 1.0, "mix_alpha": 20.0},
            "transmix_cutmix": {"mix_method": "cutmix", "mix_label_weights": "attention"},
        },
        "seeds": [0, 1, 2],
        "data": {"max_train_samples": 1000, "max_seq_length": 64, "validation_split": 300, "max_predict_samples": 500},
        "training": {"num_train_epochs": 3, "learning_rate": 3e-4},
        "shift": {"text": ["typo", "deletion", "swap", "mask"],
                  "image": ["gaussian_noise", "blur", "contrast", "occlusion"], "severities": [1, 3, 5]},
        "label_noise": [0.0, 0.2],
    },
    "gpu": {
        "description": "One GPU: MiniLM-L6 on SST-2, MRPC, RTE, CoLA and STS-B (2,000 training rows each), every "
                       "text method, 3 seeds (STS-B, a regression task, without label smoothing): 102 runs of 96 "
                       "steps, bf16, batch 64; benchmarks/gpu_run.sh runs it as 7 processes sharing the GPU in about "
                       "5 minutes on one H100/H200, set-up and checks included (an estimate, not yet measured on a "
                       "GPU: from the CPU dry run and earlier H200 step times; benchmarks/README.md).",
        "model_name_or_path": "{shared}/models/minilm-l6",
        "glue_dir": "{shared}/data/glue",
        "tasks": ["sst2", "mrpc", "rte", "cola", "stsb"],
        "methods": ["none", "label_smoothing", "embedding", "hidden", "pooled", "span", "saliency_span"],
        "seeds": [0, 1, 2],
        "data": {"max_train_samples": 2000, "max_seq_length": 128, "validation_split": 500},
        "training": {"num_train_epochs": 3, "learning_rate": 1e-4, "per_device_train_batch_size": 64,
                     "per_device_eval_batch_size": 512, "save_strategy": "no", "bf16": True,
                     "dataloader_num_workers": 0, "logging_steps": 32},
    },
    "standard": {
        "description": "MiniLM-L6 on SST-2, MRPC, RTE and CoLA, full training sets, 3 seeds (hours on CPU).",
        "model_name_or_path": "{shared}/models/minilm-l6",
        "glue_dir": "{shared}/data/glue",
        "tasks": ["sst2", "mrpc", "rte", "cola"],
        "methods": ["none", "label_smoothing", "embedding", "hidden", "pooled", "span", "saliency_span"],
        "seeds": [0, 1, 2],
        "data": {"max_seq_length": 128},
        "training": {"num_train_epochs": 3, "learning_rate": 5e-5, "save_steps": 500},
    },
    "full": {
        "description": "Every GLUE task, 5 seeds, BERT-base: meant for a GPU.",
        "model_name_or_path": "google-bert/bert-base-uncased",
        "glue_dir": None,
        "tasks": ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"],
        "methods": ["none", "label_smoothing", "embedding", "hidden", "pooled", "span", "saliency_span"],
        "seeds": [0, 1, 2, 3, 4],
        "data": {"max_seq_length": 128},
        "training": {"num_train_epochs": 3, "learning_rate": 2e-5, "save_steps": 1000, "bf16": True},
    },
}


GRID_KEYS = ("description", "model_name_or_path", "glue_dir", "tasks", "methods", "seeds", "data", "training",
             "task_args", "method_args", "baseline", "shift", "label_noise", "save_calibrated")
"""The keys a grid may have at the top level."""

SHIFT_KEYS = (*SHIFT_FAMILIES, "severities")
"""The keys of a grid's `shift`: the text kinds (text and token tasks), the image kinds, the severities."""
