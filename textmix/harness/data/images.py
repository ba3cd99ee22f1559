"""Image data: an .npz of arrays, a hub dataset or an image folder read into train / validation / test splits
shaped for the model, with corrupted test copies and label noise (`load_npz`, `load_hub_or_folder`)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checks import InputError, notice
from .contracts import (
    MISSING_LABEL,
    carve_count,
    class_name,
    classes_notice,
    fix_classes,
    image_layout,
    images_nchw,
    is_missing_label,
    no_test_split,
    npz_labels,
    shift_plan,
)

Images = tuple[torch.Tensor, np.ndarray]
"""Images (N, C, H, W) and their labels (as read, before they become class ids)."""


class TensorImages(torch.utils.data.Dataset):
    """Images (N, C, H, W) float and labels (N,) as Trainer rows."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def _normalise(x: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def load_npz(
    data: Any, channels: int | None, size: int | None, seed: int
) -> tuple[tuple[TensorImages, TensorImages, TensorImages], list[str], int, int, dict[str, Any]]:
    """Train / validation / test `TensorImages` from an .npz of uint8 arrays, class names, the images'
    own number of channels and size, and `extra`: `shifted` (corrupted copies of the test images,
    {kind: {severity: TensorImages}}), `label_noise_flipped` and `test_set` (what the test set is)."""
    from textmix.robustness import corrupt_images

    path = Path(data.npz_path)
    arrays, val_key = _read_npz(path, data)
    raw, scale, layouts = _npz_images(arrays, val_key, path)
    dropped_unlabelled = _drop_hidden_images(raw, path, data.drop_unlabelled)
    made: dict[str, str] = {}
    parts = _npz_splits(raw, val_key, data, seed, path, made)
    classes = fix_classes({split: [str(v) for v in y.tolist()] for split, (_, y) in parts.items()},
                          {"train": f"y_train of {path}", "validation": f"y{(val_key or '_train')[1:]} of {path}",
                           "test": f"y_test of {path}" if "x_test" in raw else f"the test images carved from {path}"},
                          data.drop_unseen_labels)
    notice(classes_notice(classes, ["train", "validation", "test"]))
    for split, (x, y) in parts.items():
        if classes.dropped_unseen.get(split):
            keep = torch.tensor(classes.keep[split])
            x, y = x[keep], y[keep.numpy()]
        parts[split] = (x, torch.tensor([classes.ids[str(v)] for v in y.tolist()], dtype=torch.long))
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = parts.values()
    native_channels = x_train.shape[1]
    channels = channels or native_channels
    mnist_like = native_channels == 1  # grey digits: MNIST's statistics
    scaling = {"image_size": size or x_train.shape[-1],
               "image_mean": list(data.image_mean or [0.1307 if mnist_like else 0.5] * channels),
               "image_std": list(data.image_std or [0.3081 if mnist_like else 0.5] * channels)}
    prepare = functools.partial(_prepare_images, scale=scale, channels=channels, size=scaling["image_size"],
                                mean=scaling["image_mean"], std=scaling["image_std"])
    n_train, n_eval, n_test = data.max_train_samples, data.max_eval_samples, data.max_predict_samples
    y_train = y_train[:n_train] if n_train else y_train
    y_train, flipped = noisy_labels(y_train, data, len(classes.names))
    x_test, y_test = (x_test[:n_test], y_test[:n_test]) if n_test else (x_test, y_test)
    splits = (
        TensorImages(prepare(x_train, n_train), y_train),
        TensorImages(prepare(x_val, n_eval), y_val[:n_eval] if n_eval else y_val),
        TensorImages(prepare(x_test, None), y_test),
    )
    shifted = {}
    for kind, severity in shift_plan(data.shift_kinds, data.shift_severities):
        corrupted = corrupt_images(x_test, kind, severity, seed=data.split_seed)
        shifted.setdefault(kind, {})[severity] = TensorImages(prepare(corrupted, None), y_test)
    extra = {"shifted": shifted, "label_noise_flipped": flipped,
             "test_set": f"{'x_test/y_test' if 'x_test' in arrays else 'images carved from x_train'} of "
                         f"{Path(data.npz_path).name} ({len(y_test)} images)",
             "splits_made": made, "inputs": {"layouts": layouts, "scaled_by": scale, **scaling},
             "dropped_unlabelled": dropped_unlabelled, "dropped_unseen_labels": dict(classes.dropped_unseen)}
    return splits, list(classes.names), native_channels, x_train.shape[-1], extra


def _read_npz(path: Path, data: Any) -> tuple[dict[str, np.ndarray], str | None]:
    """The arrays of the .npz at `path` (no pickle) and the key of its validation images (None: none),
    once it has training images, labels for every image array, and test images or `--test_share`."""
    if not path.is_file():
        raise FileNotFoundError(f"npz_path {path} {'is a folder' if path.is_dir() else 'does not exist'}: give an "
                                ".npz with x_train, y_train, x_test, y_test.")
    with np.load(path, allow_pickle=False) as npz:  # plain arrays: no pickle
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
    return arrays, val_key


def _npz_images(
    arrays: dict[str, np.ndarray], val_key: str | None, path: Path
) -> tuple[dict[str, Images], float, dict[str, str]]:
    """{images key: (images (N, C, H, W), labels)} of the train, validation and test arrays there are, the
    scale of their pixels, and each array's layout; arrays of mixed dtypes or shapes are an `InputError`."""
    keys = ["x_train"] + ([val_key] if val_key else []) + (["x_test"] if "x_test" in arrays else [])
    raw: dict[str, Images] = {}
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
    return raw, scales.pop(), layouts


def _drop_hidden_images(raw: dict[str, Images], path: Path, drop: bool) -> dict[str, int]:
    """The images whose label is -1 (missing) per split, taken out of `raw` when `drop` (else an `InputError`)."""
    dropped_unlabelled: dict[str, int] = {}
    for key, (x, y) in list(raw.items()):
        hidden = y == MISSING_LABEL
        if hidden.any():
            if not drop:
                raise InputError(f"{path}: {int(hidden.sum())} of the {len(y)} labels of y{key[1:]} are -1 (missing): "
                                 "give them, or pass --drop_unlabelled to leave those images out (counted).")
            raw[key] = (x[torch.from_numpy(~hidden)], y[~hidden])
            dropped_unlabelled[key[2:]] = int(hidden.sum())
    return dropped_unlabelled


def _npz_splits(raw: dict[str, Images], val_key: str | None, data: Any, seed: int, path: Path,
                made: dict[str, str]) -> dict[str, Images]:
    """{train, validation, test} images: the arrays given, else the test images carved from x_train by
    `--split_seed` (never from the validation images), then the validation images by `seed`; how each was
    made goes into `made`."""
    name = path.name
    x_train, y_train = raw["x_train"]
    made["train"] = f"x_train/y_train of {name}"
    if "x_test" in raw:
        test = raw["x_test"]
        made["test"] = f"x_test/y_test of {name}"
    else:  # carved from train, never the validation images
        order = torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(data.split_seed))
        n_test = carve_count(x_train.shape[0], data.test_share, "test", str(path))
        held, kept = order[:n_test].sort().values, order[n_test:].sort().values
        test = x_train[held], y_train[held.numpy()]
        x_train, y_train = x_train[kept], y_train[kept.numpy()]
        made["test"] = (f"{n_test} images carved from x_train of {name} (--test_share {data.test_share}, "
                        f"--split_seed {data.split_seed}), disjoint from train and validation")
    if val_key is not None:
        validation = raw[val_key]
        made["validation"] = f"{val_key}/y{val_key[1:]} of {name}"
    else:
        order = torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(seed))
        share = data.validation_split
        n_val = int(round(share * len(order))) if share < 1 else min(int(share), len(order) - 1)
        validation = x_train[order[:n_val]], y_train[order[:n_val].numpy()]
        x_train, y_train = x_train[order[n_val:]], y_train[order[n_val:].numpy()]
        made["validation"] = (f"{n_val} images carved from x_train of {name} (--validation_split "
                              f"{data.validation_split}), disjoint from train")
    return {"train": (x_train, y_train), "validation": validation, "test": test}


def _prepare_images(x: torch.Tensor, limit: int | None, scale: float, channels: int, size: int, mean: list[float],
                    std: list[float]) -> torch.Tensor:
    """The first `limit` images (all: None) as normalised floats of `channels` channels and `size` x `size` pixels
    (grey images repeated to three channels; other channel counts that differ are a `ValueError`)."""
    x = (x[:limit] if limit else x).float() / scale
    if x.shape[1] != channels:
        if x.shape[1] != 1:
            raise ValueError(f"the images have {x.shape[1]} channels, the model wants {channels}.")
        x = x.expand(-1, channels, -1, -1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return _normalise(x, mean, std).contiguous()


def noisy_labels(labels: torch.Tensor, data: Any, num_classes: int) -> tuple[torch.Tensor, int]:
    """`labels` with `--label_noise` of them flipped to another class (seeded by `--split_seed`), and
    how many were flipped."""
    if not data.label_noise:
        return labels, 0
    from textmix.robustness import flip_labels

    noisy, mask = flip_labels(labels.numpy(), data.label_noise, num_classes, data.split_seed)
    return torch.from_numpy(np.asarray(noisy)).long(), int(mask.sum())


def load_hub_or_folder(
    data: Any, model_args: Any, seed: int, channels: int | None, size: int | None
) -> tuple[tuple[Any, Any, Any], list[str], int, int, dict[str, Any]]:
    """Train / validation / test datasets (PIL images, transformed on the fly), class names, channels, size,
    and `extra` as `load_npz` gives it."""
    ds, image_col, label_col, shown = _load_images_dataset(data)
    made: dict[str, str] = {}
    parts = _hub_splits(ds, data, seed, shown, made)
    dropped_unlabelled = _drop_unlabelled_rows(parts, label_col, made, data.drop_unlabelled)
    classes = _relabel(parts, label_col, made, data.drop_unseen_labels)
    train, validation, test = parts["train"], parts["validation"], parts["test"]
    names = list(classes.names)
    processor_mean, processor_std, size = _processor_stats(model_args, size)
    first = train[0][image_col]
    native_channels = 1 if getattr(first, "mode", "RGB") in ("L", "1") else 3
    native_size = getattr(first, "size", (224, 224))[0]
    channels = channels or native_channels
    scaling = {"image_size": size or native_size,
               "image_mean": list(data.image_mean or processor_mean or [0.5] * channels),
               "image_std": list(data.image_std or processor_std or [0.5] * channels)}
    transform = functools.partial(_image_transform, image_col=image_col, label_col=label_col, channels=channels,
                                  size=scaling["image_size"], mean=scaling["image_mean"], std=scaling["image_std"])

    def limit(split, n):
        return split.select(range(min(n, len(split)))) if n else split

    train = limit(train, data.max_train_samples)
    flipped = 0
    if data.label_noise:
        noisy, flipped = noisy_labels(torch.tensor(train[label_col]), data, len(names))
        train = train.remove_columns(label_col).add_column(label_col, noisy.tolist())
    test = limit(test, data.max_predict_samples)
    splits = tuple(s.with_transform(transform) for s in (train, limit(validation, data.max_eval_samples), test))
    shifted: dict[str, dict[int, Any]] = {}
    for kind, severity in shift_plan(data.shift_kinds, data.shift_severities):
        shifted.setdefault(kind, {})[severity] = test.add_column("_row", list(range(len(test)))).with_transform(
            functools.partial(corrupted_transform, transform=transform, image_col=image_col, kind=kind,
                              severity=severity, seed=data.split_seed))
    extra = {"shifted": shifted, "label_noise_flipped": flipped,
             "test_set": f"the {'test' if 'test' in ds else 'carved test'} images of {shown} ({len(test)} images)",
             "splits_made": made, "inputs": {"image_column": image_col, "label_column": label_col, **scaling},
             "dropped_unlabelled": dropped_unlabelled, "dropped_unseen_labels": dict(classes.dropped_unseen)}
    return splits, names, native_channels, native_size, extra


def _load_images_dataset(data: Any) -> tuple[Any, str, str, str]:
    """The `DatasetDict` of `--dataset_name` or `--data_dir` (checked first: a folder of images), its image and
    label columns (given, or the first usual name), and the data's name as messages show it."""
    from datasets import load_dataset

    if data.data_dir:
        check_image_folder(data.data_dir)
        data.dataset_name = data.dataset_name or "imagefolder"
    kwargs = {"data_dir": data.data_dir} if data.data_dir else {}
    ds = load_dataset(data.dataset_name, data.dataset_config_name, **kwargs)
    train = ds["train"]
    image_col = data.image_column or next(c for c in ("image", "img", "pixel_values") if c in train.column_names)
    label_col = data.label_column or next(c for c in ("label", "labels", "fine_label") if c in train.column_names)
    source = data.data_dir or data.dataset_name
    return ds, image_col, label_col, Path(source).name if data.data_dir else source


def _hub_splits(ds: Any, data: Any, seed: int, shown: str, made: dict[str, str]) -> dict[str, Any]:
    """{train, validation, test}: the splits given, else the test split carved from train by `--split_seed`
    (never from the validation images), then the validation split by `seed`; how each was made goes into `made`."""
    train = ds["train"]
    val_name = next((s for s in ("validation", "val", "valid") if s in ds), None)
    made["train"] = f"the train split of {shown}"
    if "test" in ds:
        test = ds["test"]
        made["test"] = f"the test split of {shown}"
    elif data.test_share is None:
        raise no_test_split(f"{shown} (splits {list(ds)})", "--test_share")
    else:  # carved from train, never the validation images
        n_test = carve_count(len(train), data.test_share, "test", shown)
        parts = train.train_test_split(test_size=n_test, seed=data.split_seed)
        train, test = parts["train"], parts["test"]
        made["test"] = (f"{n_test} images carved from the train split of {shown} (--test_share {data.test_share}, "
                        f"--split_seed {data.split_seed}), disjoint from train and validation")
    if val_name is None:
        share = data.validation_split  # a share (< 1), or a number of images (`datasets`' test_size: an int)
        parts = train.train_test_split(test_size=share if share < 1 else int(share), seed=seed)
        train, validation = parts["train"], parts["test"]
        made["validation"] = (f"{len(validation)} images carved from the train split of {shown} (--validation_split "
                              f"{data.validation_split}), disjoint from train")
    else:
        validation = ds[val_name]
        made["validation"] = f"the {val_name} split of {shown}"
    return {"train": train, "validation": validation, "test": test}


def _drop_unlabelled_rows(parts: dict[str, Any], label_col: str, made: dict[str, str], drop: bool) -> dict[str, int]:
    """The images without a label (-1 or empty) per split, taken out of `parts` when `drop` (else an `InputError`)."""
    dropped_unlabelled: dict[str, int] = {}
    for split, part in parts.items():
        kept = [i for i, v in enumerate(part[label_col]) if not is_missing_label(v)]
        if len(kept) < len(part):
            if not drop:
                raise InputError(f"{made[split]}: {len(part) - len(kept)} image(s) without a label (-1 or empty): give "
                                 "them, or pass --drop_unlabelled to leave them out (counted).")
            parts[split] = part.select(kept)
            dropped_unlabelled[split] = len(part) - len(kept)
    return dropped_unlabelled


def _relabel(parts: dict[str, Any], label_col: str, made: dict[str, str], drop_unseen: bool) -> Any:
    """The classes of the training split (`contracts.fix_classes`, with its notice; a `ClassLabel`'s ids read as
    its names), the labels of `parts` made their class ids (rows of a class training never shows taken out with
    `drop_unseen`)."""
    feature_names = getattr(parts["train"].features[label_col], "names", None)
    def name_of(value: Any) -> str:
        return feature_names[int(value)] if feature_names else class_name(value)

    classes = fix_classes({split: [name_of(v) for v in part[label_col]] for split, part in parts.items()},
                          made, drop_unseen)
    notice(classes_notice(classes, ["train", "validation", "test"]))
    ids = classes.ids
    for split, part in parts.items():
        if classes.dropped_unseen.get(split):
            part = part.select([i for i, kept in enumerate(classes.keep[split]) if kept])
        new_ids = [ids[name_of(v)] for v in part[label_col]]
        parts[split] = part.remove_columns(label_col).add_column(label_col, new_ids)
    return classes


def _processor_stats(model_args: Any, size: int | None) -> tuple[Any, Any, int | None]:
    """(mean, std, size) from the image processor of `--model_name_or_path` (None where there is none);
    `size` given wins."""
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
    return processor_mean, processor_std, size


def _image_transform(rows: dict, image_col: str, label_col: str, channels: int, size: int, mean: list[float],
                    std: list[float]) -> dict:
    """Hub/folder rows as model inputs: each image converted to `channels` channels, resized to `size` x `size`,
    scaled to [0, 1] and normalised by `mean` / `std`, as `pixel_values`, with its `labels`."""
    from PIL import Image

    out = []
    for img in rows[image_col]:
        img = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img))
        img = img.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
        arr = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
        out.append(arr[None] if arr.dim() == 2 else arr.permute(2, 0, 1))
    x = _normalise(torch.stack(out), mean, std)
    return {"pixel_values": list(x), "labels": list(rows[label_col])}


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
