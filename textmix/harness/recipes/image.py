"""Train an image classifier with Mixup / CutMix (pixels or ViT patch tokens) and report accuracy and calibration.

    # the quick comparison: a small ViT from scratch on MNIST, none / mixup / cutmix / patch_cutmix
    python recipes/run_image_classification.py --quick --output_dir out/vision_quick

    # one run: any ViT config or pretrained id, data from the hub, an image folder or an .npz file
    python recipes/run_image_classification.py --output_dir out/run --npz_path ../shared/data/mnist/mnist.npz \\
        --mix_method cutmix --mix_alpha 1.0 --num_train_epochs 5 --per_device_train_batch_size 128
    python recipes/run_image_classification.py --output_dir out/run --model_name_or_path google/vit-base-patch16-224 \\
        --dataset_name imagefolder --data_dir path/to/images --mix_method patch_cutmix ...
    torchrun --nproc_per_node 2 recipes/run_image_classification.py ...   (or accelerate launch)
    python -m textmix.harness.recipes.image ...                          (the same without the launcher)

Arguments: the fields of ModelArguments and DataArguments below and of `textmix.MixTrainingArguments`
(every `transformers.TrainingArguments` field plus `--mix_method`, `--mix_alpha`, `--mix_cutmix_alpha`,
`--mix_lam_mode`, ...). A run trains (continuing from the last complete checkpoint in `output_dir`
when there is one), predicts the validation and test splits, fits a temperature on validation and
writes the files every recipe writes (see `textmix.harness.recipes.common`): `results.json`,
`predictions.npz` and `reliability.png`.

`--compare none mixup cutmix` runs `run()` once per method, with otherwise equal settings, into
OUTPUT_DIR/METHOD/, then writes OUTPUT_DIR/report.md, report.csv, report.json and reliability.png
(one column per method) with `textmix.harness.report`. `--quick` only changes defaults (`QUICK`
below, and the MNIST file in `shared_dir()`); anything given on the command line wins.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..paths import shared_dir
from .registry import Recipe, register_recipe

if TYPE_CHECKING:
    from transformers import HfArgumentParser, PreTrainedModel

    from textmix.trainer import MixTrainingArguments

QUICK: dict[str, str | list[str]] = {
    "compare": ["none", "mixup", "cutmix", "patch_cutmix"],
    "model_type": "vit", "patch_size": "4", "hidden_size": "64", "num_hidden_layers": "4",
    "num_attention_heads": "4", "intermediate_size": "128",
    "num_train_epochs": "8", "per_device_train_batch_size": "128", "per_device_eval_batch_size": "500",
    "learning_rate": "2e-3", "weight_decay": "0.05", "warmup_steps": "0.05", "lr_scheduler_type": "cosine",
    "mix_alpha": "0.4", "mix_cutmix_alpha": "1.0",
    "eval_strategy": "no", "save_strategy": "no", "logging_steps": "100", "report_to": "none",
    "dataloader_num_workers": "0", "dataloader_pin_memory": "false", "seed": "0",
}
"""Defaults of `--quick` (besides `--npz_path`, MNIST in `shared_dir()`): a 4-layer, hidden-64 ViT with
4 x 4 patches (a 7 x 7 grid), 8 epochs of MNIST, four methods compared."""


def quick_defaults() -> dict[str, str | list[str]]:
    """`--quick`'s defaults: `--npz_path` (the MNIST file in `shared_dir()`) and `QUICK`."""
    return {"npz_path": str(shared_dir() / "data" / "mnist" / "mnist.npz"), **QUICK}


@dataclass
class ModelArguments:
    """The model: a pretrained checkpoint, or a ViT-style config trained from scratch."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Pretrained model id or folder (its head is replaced for the data's classes). "
                  "Default: a model of --model_type built from the size fields below, trained from scratch."},
    )
    model_type: str = field(
        default="vit", metadata={"help": "Model type to build from scratch: vit or deit (any image classifier works "
                                         "with the pixel methods)."}
    )
    image_size: int | None = field(
        default=None, metadata={"help": "Input size; default: the pretrained model's, else the data's own."}
    )
    patch_size: int = field(default=7, metadata={"help": "From scratch: patch side in pixels."})
    hidden_size: int = field(default=64, metadata={"help": "From scratch: token width."})
    num_hidden_layers: int = field(default=4, metadata={"help": "From scratch: transformer layers."})
    num_attention_heads: int = field(default=4, metadata={"help": "From scratch: attention heads."})
    intermediate_size: int = field(default=128, metadata={"help": "From scratch: MLP width."})
    hidden_dropout_prob: float = field(default=0.0, metadata={"help": "From scratch: dropout."})
    save_calibrated: bool = field(
        default=False, metadata={"help": "Also write <output_dir>/calibrated: the model with the validation temperature "
                                         "folded into its classification head (save_pretrained; LoRA merged), so "
                                         "it gives temperature-scaled probabilities without textmix."})


@dataclass
class DataArguments:
    """The data: a hub dataset, an image folder, or an .npz file of arrays."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub dataset id (e.g. cifar10), or 'imagefolder' with --data_dir."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "The dataset's configuration name."})
    data_dir: str | None = field(
        default=None,
        metadata={"help": "Image folder: DATA_DIR/{train,validation,test}/<class>/<image> (implies imagefolder)."},
    )
    npz_path: str | None = field(
        default=None,
        metadata={"help": "An .npz with x_train, y_train, x_test, y_test and optionally x_validation, y_validation: "
                  "images (N, H, W), (N, H, W, C) or (N, C, H, W), uint8 (0-255) or float (0-1); labels whole "
                  "numbers, -1 = missing; e.g. ../shared/data/mnist/mnist.npz."},
    )
    task_name: str | None = field(
        default=None,
        metadata={"help": "The data's name in results.json and reports (default: the .npz file's stem, the "
                  "dataset name, or the image folder's name)."},
    )
    image_column: str | None = field(default=None, metadata={"help": "Image column (default: image or img)."})
    label_column: str | None = field(default=None, metadata={"help": "Label column (default: label or labels)."})
    validation_share: float = field(
        default=0.1, metadata={"help": "Share of train held out for validation when the data has no validation split."}
    )
    test_share: float | None = field(
        default=None, metadata={"help": "Share of train (< 1) or number of images (>= 1) held out as the test set "
                                        "when the data has no test split, drawn with --corruption_seed (the same for "
                                        "every seed); without it such data is an error: the test set is never the "
                                        "validation set."}
    )
    drop_unlabelled: bool = field(
        default=False, metadata={"help": "Leave out images whose label is missing (-1) instead of stopping with an "
                                         "error (counted in the log and in results.json)."}
    )
    drop_unseen_labels: bool = field(
        default=False, metadata={"help": "Leave out validation/test images whose class the training data never "
                                         "shows instead of stopping with an error (counted)."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only this many training images."})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Use only this many validation and test images."}
    )
    image_mean: list[float] | None = field(
        default=None, metadata={"help": "Normalisation mean per channel (default: the processor's, MNIST's, or 0.5)."}
    )
    image_std: list[float] | None = field(default=None, metadata={"help": "Normalisation std per channel."})
    shift_kinds: list[str] | None = field(
        default=None, metadata={"help": "Also test on corrupted copies of the test images: gaussian_noise, blur, "
                                        "contrast, occlusion (textmix.robustness.corrupt_images)."}
    )
    shift_severities: list[int] | None = field(
        default=None, metadata={"help": "Severities (1-5) of --shift_kinds (default: 1 3 5)."}
    )
    label_noise: float = field(
        default=0.0, metadata={"help": "Share of training labels flipped to another class, in [0, 1)."}
    )
    corruption_seed: int = field(
        default=0, metadata={"help": "Seed of the corrupted test images and of --label_noise (the same for every "
                                     "method and seed)."}
    )
    compare: list[str] | None = field(
        default=None, metadata={"help": "Train one model per mixing method (e.g. none mixup cutmix patch_cutmix) "
                                        "into OUTPUT_DIR/METHOD and report them together; default: the single "
                                        "--mix_method into OUTPUT_DIR."},
    )
    skip_existing: bool = field(
        default=False,
        metadata={"help": "With --compare: read back methods that already have OUTPUT_DIR/METHOD/results.json "
                  "instead of training them again (resume a comparison, or run its methods one by one)."},
    )
    quick: bool = field(
        default=False, metadata={"help": "Defaults for the quick MNIST comparison (QUICK in "
                                         "textmix.harness.recipes.image)."}
    )

    def __post_init__(self) -> None:
        from .common import check_label_noise, check_shift

        check_shift(self.shift_kinds, self.shift_severities, "image")
        check_label_noise(self.label_noise)
        for name in ("validation_share", "test_share"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"--{name} must be > 0 (a share < 1 or a number of images), got {value}.")

    @property
    def has_data(self) -> bool:
        """Whether a data source is given."""
        return bool(self.npz_path or self.dataset_name or self.data_dir)

    def name(self) -> str:
        """The data's name in results.json: --task_name, else the .npz stem, dataset name or folder name."""
        if self.task_name:
            return self.task_name
        if self.npz_path:
            return Path(self.npz_path).stem
        if self.dataset_name and self.dataset_name != "imagefolder":
            return self.dataset_name + (f"/{self.dataset_config_name}" if self.dataset_config_name else "")
        return Path(self.data_dir).name if self.data_dir else "images"


NO_DATA = "give the data: --npz_path, --dataset_name or --data_dir (or --quick)."


class TensorImages(torch.utils.data.Dataset):
    """Images (N, C, H, W) float and labels (N,) as Trainer rows."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def with_quick_defaults(argv: list[str]) -> list[str]:
    """`--quick`: prepend its defaults, so the command line still overrides them (argparse keeps the last)."""
    if "--quick" not in argv and not any(a.startswith("--quick=") for a in argv):
        return argv
    given = {a.split("=")[0][2:] for a in argv if a.startswith("--")}
    defaults: list[str] = []
    for key, value in quick_defaults().items():
        if key in given:
            continue
        defaults.append(f"--{key}")
        defaults.extend(value if isinstance(value, list) else [value])
    return defaults + argv


def _normalise(x: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def load_npz(
    data: DataArguments, channels: int | None, size: int | None, seed: int
) -> tuple[tuple[TensorImages, TensorImages, TensorImages], list[str], int, int, dict[str, Any]]:
    """Train / validation / test `TensorImages` from an .npz of uint8 arrays, class names, the images'
    own number of channels and size, and `extra`: `shifted` (corrupted copies of the test images,
    {kind: {severity: TensorImages}}), `label_noise_flipped` and `test_set` (what the test set is)."""
    from textmix.robustness import corrupt_images

    from ..checks import InputError, notice
    from .common import shift_plan
    from .contracts import (
        MISSING_LABEL,
        carve_count,
        classes_notice,
        fix_classes,
        image_layout,
        images_nchw,
        no_test_split,
        npz_labels,
    )

    path = Path(data.npz_path)
    if not path.is_file():
        raise FileNotFoundError(f"npz_path {path} {'is a folder' if path.is_dir() else 'does not exist'}: give an "
                                ".npz with x_train, y_train, x_test, y_test.")
    with np.load(data.npz_path, allow_pickle=False) as npz:  # plain arrays: no pickle
        arrays = {key: npz[key] for key in npz.files}
    unlabelled = [k for k in ("x_test", "x_validation", "x_val", "x_valid") if k in arrays and "y" + k[1:] not in arrays]
    if unlabelled:
        raise ValueError(f"{path} has {unlabelled[0]} but no {'y' + unlabelled[0][1:]}: the test metrics (and "
                         "shift, on corrupted copies of the test set) need the test labels.")
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks {missing}: it holds {sorted(arrays)}; an .npz needs x_train, y_train and "
                         "x_test, y_test (and optionally x_validation, y_validation).")
    val_key = next((k for k in ("x_validation", "x_val", "x_valid") if k in arrays), None)
    if "x_test" not in arrays and data.test_share is None:
        raise no_test_split(f"{path} (arrays {sorted(arrays)})", "--test_share")
    keys = ["x_train"] + ([val_key] if val_key else []) + (["x_test"] if "x_test" in arrays else [])
    raw: dict[str, tuple[torch.Tensor, np.ndarray]] = {}
    scales, layouts = set(), {}
    for key in keys:  # uint8 (or float) until `prepare`: only the images used become floats
        x, scale = images_nchw(arrays[key], key, str(path))
        raw[key] = (x, npz_labels(arrays["y" + key[1:]], x.shape[0], "y" + key[1:], str(path)))
        scales.add(scale)
        layouts[key] = f"{image_layout(arrays[key].shape, key, str(path))} {arrays[key].dtype}"
    if len(scales) > 1:
        raise InputError(f"{path}: the arrays mix uint8 and float images ({layouts}); save them all in one dtype.")
    if len({tuple(x.shape[1:]) for x, _ in raw.values()}) > 1:
        raise InputError(f"{path}: the images differ in shape across arrays "
                         f"({ {k: tuple(x.shape[1:]) for k, (x, _) in raw.items()} }, as (C, H, W)).")
    scale = scales.pop()
    name = path.name
    made = {}
    dropped_unlabelled: dict[str, int] = {}
    for key, (x, y) in list(raw.items()):
        hidden = y == MISSING_LABEL
        if hidden.any():
            if not data.drop_unlabelled:
                raise InputError(f"{path}: {int(hidden.sum())} of the {len(y)} labels of y{key[1:]} are -1 (missing): "
                                 "give them, or pass --drop_unlabelled to leave those images out (counted).")
            raw[key] = (x[torch.from_numpy(~hidden)], y[~hidden])
            dropped_unlabelled[key[2:]] = int(hidden.sum())
    x_train, y_train = raw["x_train"]
    made["train"] = f"x_train/y_train of {name}"
    if "x_test" in raw:
        x_test, y_test = raw["x_test"]
        made["test"] = f"x_test/y_test of {name}"
    else:  # carved from train, never the validation images
        order = torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(data.corruption_seed))
        n_test = carve_count(x_train.shape[0], data.test_share, "test", str(path))
        held, kept = order[:n_test].sort().values, order[n_test:].sort().values
        x_test, y_test = x_train[held], y_train[held.numpy()]
        x_train, y_train = x_train[kept], y_train[kept.numpy()]
        made["test"] = (f"{n_test} images carved from x_train of {name} (--test_share {data.test_share}, "
                        f"--corruption_seed {data.corruption_seed}), disjoint from train and validation")
    if val_key is not None:
        x_val, y_val = raw[val_key]
        made["validation"] = f"{val_key}/y{val_key[1:]} of {name}"
    else:
        order = torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(seed))
        n_val = int(round(data.validation_share * len(order)))
        x_val, y_val = x_train[order[:n_val]], y_train[order[:n_val].numpy()]
        x_train, y_train = x_train[order[n_val:]], y_train[order[n_val:].numpy()]
        made["validation"] = (f"{n_val} images carved from x_train of {name} (--validation_share "
                              f"{data.validation_share}), disjoint from train")
    classes = fix_classes({"train": [str(v) for v in y_train.tolist()], "validation": [str(v) for v in y_val.tolist()],
                           "test": [str(v) for v in y_test.tolist()]},
                          {"train": f"y_train of {path}", "validation": f"y{(val_key or '_train')[1:]} of {path}",
                           "test": f"y_test of {path}" if "x_test" in raw else f"the test images carved from {path}"},
                          data.drop_unseen_labels)
    notice(classes_notice(classes, ["train", "validation", "test"]))
    if classes.dropped_unseen.get("validation"):
        keep = torch.tensor(classes.keep["validation"])
        x_val, y_val = x_val[keep], y_val[keep.numpy()]
    if classes.dropped_unseen.get("test"):
        keep = torch.tensor(classes.keep["test"])
        x_test, y_test = x_test[keep], y_test[keep.numpy()]
    ids = classes.ids

    def class_ids(y: np.ndarray) -> torch.Tensor:
        return torch.tensor([ids[str(v)] for v in y.tolist()], dtype=torch.long)

    y_train, y_val, y_test = class_ids(y_train), class_ids(y_val), class_ids(y_test)
    inputs = {"layouts": layouts, "scaled_by": scale}
    native_channels = x_train.shape[1]
    channels = channels or native_channels
    size = size or x_train.shape[-1]
    mnist_like = native_channels == 1  # grey digits: MNIST's statistics
    mean = data.image_mean or [0.1307 if mnist_like else 0.5] * channels
    std = data.image_std or [0.3081 if mnist_like else 0.5] * channels

    def prepare(x: torch.Tensor, limit: int | None) -> torch.Tensor:
        x = (x[:limit] if limit else x).float() / scale
        if x.shape[1] != channels:
            if x.shape[1] != 1:
                raise ValueError(f"the images have {x.shape[1]} channels, the model wants {channels}.")
            x = x.expand(-1, channels, -1, -1)
        if x.shape[-1] != size or x.shape[-2] != size:
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return _normalise(x, mean, std).contiguous()

    n_train, n_eval = data.max_train_samples, data.max_eval_samples
    num_classes = len(classes.names)
    y_train = y_train[:n_train] if n_train else y_train
    y_train, flipped = noisy_labels(y_train, data, num_classes)
    x_test, y_test = (x_test[:n_eval], y_test[:n_eval]) if n_eval else (x_test, y_test)
    splits = (
        TensorImages(prepare(x_train, n_train), y_train),
        TensorImages(prepare(x_val, n_eval), y_val[:n_eval] if n_eval else y_val),
        TensorImages(prepare(x_test, None), y_test),
    )
    shifted = {}
    for kind, severity in shift_plan(data.shift_kinds, data.shift_severities):
        corrupted = corrupt_images(x_test, kind, severity, seed=data.corruption_seed)
        shifted.setdefault(kind, {})[severity] = TensorImages(prepare(corrupted, None), y_test)
    extra = {"shifted": shifted, "label_noise_flipped": flipped,
             "test_set": f"{'x_test/y_test' if 'x_test' in arrays else 'images carved from x_train'} of "
                         f"{Path(data.npz_path).name} ({len(y_test)} images)",
             "splits_made": made, "inputs": inputs, "dropped_unlabelled": dropped_unlabelled,
             "dropped_unseen_labels": dict(classes.dropped_unseen)}
    return splits, list(classes.names), native_channels, x_train.shape[-1], extra


def noisy_labels(labels: torch.Tensor, data: DataArguments, num_classes: int) -> tuple[torch.Tensor, int]:
    """`labels` with `--label_noise` of them flipped to another class (seeded by `--corruption_seed`), and
    how many were flipped."""
    if not data.label_noise:
        return labels, 0
    from textmix.robustness import flip_labels

    noisy, mask = flip_labels(labels.numpy(), data.label_noise, num_classes, data.corruption_seed)
    return torch.from_numpy(np.asarray(noisy)).long(), int(mask.sum())


def load_hub_or_folder(
    data: DataArguments, model_args: ModelArguments, seed: int, channels: int | None, size: int | None
) -> tuple[tuple[Any, Any, Any], list[str], int, int, dict[str, Any]]:
    """Train / validation / test datasets (PIL images, transformed on the fly), class names, channels, size,
    and `extra` as `load_npz` gives it."""
    from datasets import load_dataset
    from PIL import Image

    from ..checks import InputError, notice
    from .common import shift_plan
    from .contracts import (
        carve_count,
        class_name,
        classes_notice,
        fix_classes,
        is_missing_label,
        no_test_split,
    )

    if data.data_dir:
        check_image_folder(data.data_dir)
    if data.data_dir and not data.dataset_name:
        data.dataset_name = "imagefolder"
    kwargs = {"data_dir": data.data_dir} if data.data_dir else {}
    ds = load_dataset(data.dataset_name, data.dataset_config_name, **kwargs)
    train = ds["train"]
    image_col = data.image_column or next(c for c in ("image", "img", "pixel_values") if c in train.column_names)
    label_col = data.label_column or next(c for c in ("label", "labels", "fine_label") if c in train.column_names)
    source = data.data_dir or data.dataset_name
    shown = Path(source).name if data.data_dir else source
    val_name = next((s for s in ("validation", "val", "valid") if s in ds), None)
    made = {"train": f"the train split of {shown}"}
    if "test" in ds:
        test = ds["test"]
        made["test"] = f"the test split of {shown}"
    elif data.test_share is None:
        raise no_test_split(f"{shown} (splits {list(ds)})", "--test_share")
    else:  # carved from train, never the validation images
        n_test = carve_count(len(train), data.test_share, "test", shown)
        parts = train.train_test_split(test_size=n_test, seed=data.corruption_seed)
        train, test = parts["train"], parts["test"]
        made["test"] = (f"{n_test} images carved from the train split of {shown} (--test_share {data.test_share}, "
                        f"--corruption_seed {data.corruption_seed}), disjoint from train and validation")
    if val_name is None:
        parts = train.train_test_split(test_size=data.validation_share, seed=seed)
        train, validation = parts["train"], parts["test"]
        made["validation"] = (f"{len(validation)} images carved from the train split of {shown} (--validation_share "
                              f"{data.validation_share}), disjoint from train")
    else:
        validation = ds[val_name]
        made["validation"] = f"the {val_name} split of {shown}"
    feature = train.features[label_col]
    feature_names = list(feature.names) if hasattr(feature, "names") else None
    parts_by_split = {"train": train, "validation": validation, "test": test}
    dropped_unlabelled: dict[str, int] = {}
    for split, part in parts_by_split.items():
        values = part[label_col]
        hidden = [i for i, v in enumerate(values) if is_missing_label(v)]
        if hidden and not data.drop_unlabelled:
            raise InputError(f"{made[split]}: {len(hidden)} image(s) without a label (-1 or empty): give them, or pass "
                             "--drop_unlabelled to leave them out (counted).")
        if hidden:
            gone = set(hidden)
            parts_by_split[split] = part.select([i for i in range(len(values)) if i not in gone])
            dropped_unlabelled[split] = len(hidden)

    def name_of(value: Any) -> str:
        return feature_names[int(value)] if feature_names else class_name(value)

    classes = fix_classes({split: [name_of(v) for v in part[label_col]] for split, part in parts_by_split.items()},
                          made, data.drop_unseen_labels)
    notice(classes_notice(classes, ["train", "validation", "test"]))
    ids = classes.ids
    for split, part in parts_by_split.items():
        if classes.dropped_unseen.get(split):
            part = part.select([i for i, kept in enumerate(classes.keep[split]) if kept])
        new_ids = [ids[name_of(v)] for v in part[label_col]]
        parts_by_split[split] = part.remove_columns(label_col).add_column(label_col, new_ids)
    train, validation, test = parts_by_split["train"], parts_by_split["validation"], parts_by_split["test"]
    names = list(classes.names)

    processor_mean = processor_std = None
    if model_args.model_name_or_path:
        try:
            from transformers import AutoImageProcessor

            proc = AutoImageProcessor.from_pretrained(model_args.model_name_or_path, use_fast=False)
            processor_mean, processor_std = proc.image_mean, proc.image_std
            proc_size = getattr(proc, "size", None) or {}
            size = size or proc_size.get("height") or proc_size.get("shortest_edge")
        except Exception:  # noqa: BLE001 - no processor: fall back to 0.5 / 0.5
            pass
    first = train[0][image_col]
    native_channels = 1 if getattr(first, "mode", "RGB") in ("L", "1") else 3
    native_size = getattr(first, "size", (224, 224))[0]
    channels = channels or native_channels
    size = size or native_size
    mean = data.image_mean or processor_mean or [0.5] * channels
    std = data.image_std or processor_std or [0.5] * channels

    def transform(rows: dict) -> dict:
        out = []
        for img in rows[image_col]:
            img = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img))
            img = img.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
            arr = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
            out.append(arr[None] if arr.dim() == 2 else arr.permute(2, 0, 1))
        x = _normalise(torch.stack(out), mean, std)
        return {"pixel_values": list(x), "labels": list(rows[label_col])}

    def limit(split, n):
        return split.select(range(min(n, len(split)))) if n else split

    train = limit(train, data.max_train_samples)
    flipped = 0
    if data.label_noise:
        noisy, flipped = noisy_labels(torch.tensor(train[label_col]), data, len(names))
        train = train.remove_columns(label_col).add_column(label_col, noisy.tolist())
    test = limit(test, data.max_eval_samples)
    splits = tuple(s.with_transform(transform) for s in (train, limit(validation, data.max_eval_samples), test))
    shifted: dict[str, dict[int, Any]] = {}
    for kind, severity in shift_plan(data.shift_kinds, data.shift_severities):
        shifted.setdefault(kind, {})[severity] = test.add_column("_row", list(range(len(test)))).with_transform(
            functools.partial(corrupted_transform, transform=transform, image_col=image_col, kind=kind,
                              severity=severity, seed=data.corruption_seed))
    extra = {"shifted": shifted, "label_noise_flipped": flipped,
             "test_set": f"the {'test' if 'test' in ds else 'carved test'} images of {shown} ({len(test)} images)",
             "splits_made": made, "inputs": {"image_column": image_col, "label_column": label_col},
             "dropped_unlabelled": dropped_unlabelled, "dropped_unseen_labels": dict(classes.dropped_unseen)}
    return splits, names, native_channels, native_size, extra


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def check_image_folder(data_dir: str) -> None:
    """Raise unless `data_dir` is a folder holding image files (`IMAGE_SUFFIXES`) in class folders."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"data_dir {folder} {'is a file' if folder.exists() else 'does not exist'}: give a "
                                "folder of DATA_DIR/{train,test}/<class>/<image> (or DATA_DIR/<class>/<image>).")
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.rglob("*") if p.is_file()):
        raise ValueError(f"data_dir {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}): put them in "
                         "DATA_DIR/{train,test}/<class>/<image>.")


def corrupted_transform(rows: dict, transform: Any, image_col: str, kind: str, severity: int, seed: int) -> dict:
    """`transform` of hub/folder rows with each image corrupted first (`corrupt_images`, seeded per row by
    `seed` and the row's index `_row`: the same copy every time)."""
    from PIL import Image

    from textmix.robustness import corrupt_images

    out = []
    for img, row in zip(rows[image_col], rows["_row"], strict=True):
        img = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img))
        x = torch.from_numpy(np.array(img.convert("RGB" if img.mode not in ("L", "1") else "L"), dtype=np.uint8))
        x = (x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None])
        y = corrupt_images(x, kind, severity, seed=seed * 1_000_003 + int(row))[0]
        array = y[0].numpy() if y.shape[0] == 1 else y.permute(1, 2, 0).numpy()
        out.append(Image.fromarray(array.astype(np.uint8)))
    return transform({**rows, image_col: out})


def load_data(
    model_args: ModelArguments, data_args: DataArguments, training_args: MixTrainingArguments
) -> tuple[dict[str, Any], list[str], int, int, dict[str, Any]]:
    """({"train", "validation", "test"} datasets, class names, channels, image size, extra), the images
    shaped for the model: a pretrained model's channels and size, else the data's own (or --image_size);
    `extra` has the corrupted test sets (`shifted`), `label_noise_flipped` and `test_set`."""
    from transformers import AutoConfig

    channels = size = None
    if model_args.model_name_or_path:
        pretrained = AutoConfig.from_pretrained(model_args.model_name_or_path)
        channels = getattr(pretrained, "num_channels", 3)
        image_size = getattr(pretrained, "image_size", None)
        size = model_args.image_size or (image_size[0] if isinstance(image_size, (list, tuple)) else image_size)
    size = size or model_args.image_size
    if data_args.npz_path:
        splits, names, native_channels, native_size, extra = load_npz(data_args, channels, size, training_args.seed)
    elif data_args.dataset_name or data_args.data_dir:
        splits, names, native_channels, native_size, extra = load_hub_or_folder(
            data_args, model_args, training_args.seed, channels, size)
        training_args.remove_unused_columns = False  # the transform needs the image column
    else:
        raise ValueError(NO_DATA)
    named = dict(zip(("train", "validation", "test"), splits, strict=True))
    return named, names, channels or native_channels, size or native_size, extra


def check_data(model_args: ModelArguments, data_args: DataArguments, training_args: MixTrainingArguments) -> None:
    """Raise what `load_data` would, without keeping anything: the data source, an .npz's arrays, an image
    folder's images (a hub dataset is left to the run: reading it means downloading it)."""
    if not data_args.has_data:
        raise ValueError(NO_DATA)
    if data_args.npz_path:
        load_data(model_args, data_args, training_args)
    elif data_args.data_dir:
        check_image_folder(data_args.data_dir)
        if not (Path(data_args.data_dir) / "test").is_dir() and data_args.test_share is None:
            from .contracts import no_test_split

            raise no_test_split(f"{data_args.data_dir} (no test/ folder)", "--test_share")


def build_model(model_args: ModelArguments, names: list[str], channels: int, size: int) -> PreTrainedModel:
    """The pretrained model with a new head for `names`, or a `model_type` model from the size fields."""
    from transformers import AutoConfig, AutoModelForImageClassification
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    id2label = dict(enumerate(names))
    label2id = {n: i for i, n in id2label.items()}
    if model_args.model_name_or_path:
        return AutoModelForImageClassification.from_pretrained(
            model_args.model_name_or_path, num_labels=len(names), id2label=id2label, label2id=label2id,
            ignore_mismatched_sizes=True,
        )
    classes = MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES.get(model_args.model_type)
    architectures = [classes[0] if isinstance(classes, tuple) else classes] if classes else None
    config = AutoConfig.for_model(
        model_args.model_type, image_size=model_args.image_size or size, patch_size=model_args.patch_size,
        num_channels=channels, hidden_size=model_args.hidden_size, num_hidden_layers=model_args.num_hidden_layers,
        num_attention_heads=model_args.num_attention_heads, intermediate_size=model_args.intermediate_size,
        hidden_dropout_prob=model_args.hidden_dropout_prob, attention_probs_dropout_prob=model_args.hidden_dropout_prob,
        num_labels=len(names), id2label=id2label, label2id=label2id, architectures=architectures,
    )
    return AutoModelForImageClassification.from_config(config)


@contextlib.contextmanager
def _denormals_flushed(training_args: MixTrainingArguments) -> Iterator[None]:
    """On CPU, flush denormals while training: small ViTs hit them in backward there (10-20x slower).
    The setting is process-wide, so it is put back to torch's default afterwards."""
    flush = training_args.use_cpu or not torch.cuda.is_available()
    if flush:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flush:
            torch.set_flush_denormal(False)


def run(model_args: ModelArguments, data_args: DataArguments, training_args: MixTrainingArguments,
        tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train one model with `training_args.mix_method` (resuming from the last complete checkpoint in
    `output_dir`), predict, calibrate and write `results.json`, `predictions.npz` and `reliability.png`
    (the schema of `textmix.harness.recipes.common`, as the GLUE recipe writes it).

    The output folder and the model folder are checked before anything is loaded. `tags`: extra
    entries of results.json (a `method` tag names the method instead of `method_name`).
    Returns the results dict.
    """
    from transformers import set_seed

    from textmix.calibration import classification_metrics
    from textmix.trainer import MixTrainer

    from ..checks import check_model, check_output_dir
    from .common import method_name, train_and_report

    if not data_args.has_data:
        raise ValueError(NO_DATA)
    check_output_dir(training_args.output_dir)
    check_model(model_args.model_name_or_path)
    with _denormals_flushed(training_args):
        splits, names, channels, size, extra = load_data(model_args, data_args, training_args)
        set_seed(training_args.seed)
        model = build_model(model_args, names, channels, size)
        trainer = MixTrainer(model=model, args=training_args, train_dataset=splits["train"],
                             eval_dataset=splits["validation"], compute_metrics=classification_metrics())
        tags = tags or {}
        header = {
            **tags,
            "task": tags.get("task") or data_args.name(),
            "method": tags.get("method", method_name(training_args)),
            "seed": training_args.seed,
            "model": model_args.model_name_or_path or f"{model_args.model_type} from scratch",
            "modality": "image",
            "test_set": extra["test_set"],
            "label_noise": float(data_args.label_noise),
            "label_noise_flipped": extra["label_noise_flipped"],
            "label_names": names,
            "inputs": extra["inputs"],
            "splits_made": extra["splits_made"],
            "dropped_unseen_labels": extra["dropped_unseen_labels"],
        }
        config = {"model": asdict(model_args), "data": asdict(data_args), "training": training_args.to_dict()}
        return train_and_report(trainer, splits, header, config, shifted=extra["shifted"],
                                dropped_unlabelled=extra["dropped_unlabelled"],
                                save_calibrated=model_args.save_calibrated)


def compare(parser: HfArgumentParser, argv: list[str], model_args: ModelArguments, data_args: DataArguments,
            training_args: MixTrainingArguments) -> list[dict[str, Any]]:
    """`--compare`: `run()` once per method into OUTPUT_DIR/METHOD (reading back finished ones with
    `--skip_existing`), then the report of `textmix.harness.report` in OUTPUT_DIR. Returns the results."""
    from ..report import write_report
    from .common import RESULTS_FILE, read_results

    out = Path(training_args.output_dir)
    methods = list(dict.fromkeys(data_args.compare))
    results, folders = [], []
    for method in methods:
        folder = out / method
        if data_args.skip_existing and (folder / RESULTS_FILE).exists():
            result = read_results(folder)
        else:
            # fresh TrainingArguments per method: the same command line with this method and folder
            run_args = parser.parse_args_into_dataclasses(
                args=[*argv, "--mix_method", method, "--output_dir", str(folder)])[2]
            result = run(model_args, data_args, run_args, tags={"method": method})
        results.append(result)
        folders.append(folder)
        if training_args.process_index == 0:
            _print_line(result)
    if training_args.process_index == 0:
        baseline = "none" if "none" in methods else methods[0]
        write_report([{**r, "_folder": str(f)} for r, f in zip(results, folders, strict=True)], out, baseline=baseline,
                     order={"methods": methods}, source="`textmix.harness.recipes.image --compare`",
                     test_set="the data's test split")
        print(f"\nreport: {out / 'report.md'} (and report.csv, report.json, reliability.png)", flush=True)
    return results


def _print_line(result: dict[str, Any]) -> None:
    test, scaled = result["test"], result.get("test_ts", {})
    print(f"\n{result['method']}: test accuracy {test['accuracy']:.4f}, ECE {test['ece']:.4f} "
          f"({scaled.get('ece', float('nan')):.4f} after temperature scaling), "
          f"{result['train_time_s'] / 60:.1f} min of training", flush=True)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Command-line entry point (see the module docstring): one run, or one per `--compare` method.

    Returns the results dict of each run, in the order of the methods.
    """
    from transformers import HfArgumentParser

    from textmix.trainer import MixTrainingArguments

    argv = with_quick_defaults(list(sys.argv[1:] if argv is None else argv))
    parser = HfArgumentParser((ModelArguments, DataArguments, MixTrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    if not data_args.has_data:
        parser.error(NO_DATA)
    if data_args.compare:
        results = compare(parser, argv, model_args, data_args, training_args)
    else:
        result = run(model_args, data_args, training_args)
        if training_args.process_index == 0:
            _print_line(result)
        results = [result]
    from .common import shutdown_distributed

    shutdown_distributed()  # frees the trainer, then destroys the process group
    return results


def cli(argv: list[str] | None = None) -> int:
    """`python recipes/run_image_classification.py ...` (see `textmix.harness.checks.recipe_cli`); returns the exit status."""
    from ..checks import recipe_cli

    return recipe_cli(main, argv, "run_image_classification")


register_recipe(Recipe(  # the `image` modality of `textmix compare` (textmix.harness.recipes.registry)
    "image", DataArguments, ModelArguments, run, check_data=check_data, noun="images", mixes="image", shift="image",
    short_keys={"train_file": "npz_path", "data_dir": "data_dir", "dataset": "dataset_name",
                "dataset_config": "dataset_config_name", "image_column": "image_column", "label_column": "label_column"},
    data_sources=("npz_path", "data_dir", "dataset_name"), data_hint="train_file (an .npz), data_dir or dataset",
    grid_model=False,
    test_set=lambda data: (f"x_test/y_test of {Path(data['npz_path']).name}" if data.get("npz_path") else
                           f"the test images of {Path(data['data_dir']).name}" if data.get("data_dir") else None)))


if __name__ == "__main__":
    sys.exit(cli())
