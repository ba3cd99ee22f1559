"""Train an image classifier with Mixup / CutMix (pixels or ViT patch tokens) and report accuracy and calibration.

    python recipes/run_image_classification.py --output_dir out/run --npz_path ../shared/data/mnist/mnist.npz \\
        --mix_method cutmix --mix_alpha 1.0 --num_train_epochs 5 --per_device_train_batch_size 128
    textmix train image ...  |  torchrun --nproc_per_node 2 recipes/run_image_classification.py ...

Data: `textmix.harness.data.images`. Without `--model_name_or_path` a ViT-style model is built from the size
fields and trained from scratch. The model is saved with an image processor that prepares an image as the
data was (`image_processor`), so `transformers.pipeline` loads the folder.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .arguments import DataArgumentsBase, arg
from .arguments import ModelArguments as SharedModelArguments
from .base import Prepared, Recipe
from .registry import register_recipe


@dataclass
class ModelArguments(SharedModelArguments):
    """The model: a pretrained checkpoint, or a ViT-style config trained from scratch (no LoRA)."""

    model_name_or_path: str | None = arg(None, "Pretrained model id or folder (its head is replaced for the "
        "data's classes). Default: a model of --model_type built from the size fields below, trained from "
        "scratch.")
    model_type: str = arg("vit", "Model type to build from scratch: vit or deit (any image classifier works "
        "with the pixel methods).")
    image_size: int | None = arg(None, "Input size; default: the pretrained model's, else the data's own.")
    patch_size: int = arg(7, "From scratch: patch side in pixels.")
    hidden_size: int = arg(64, "From scratch: token width.")
    num_hidden_layers: int = arg(4, "From scratch: transformer layers.")
    num_attention_heads: int = arg(4, "From scratch: attention heads.")
    intermediate_size: int = arg(128, "From scratch: MLP width.")
    hidden_dropout_prob: float = arg(0.0, "From scratch: dropout.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lora_r is not None:
            raise ValueError("--lora_r: the image recipe trains the whole model (LoRA is for the GLUE and NER "
                             "recipes); leave --lora_* out.")


@dataclass
class DataArguments(DataArgumentsBase):
    """The data: a hub dataset, an image folder, or an .npz file of arrays."""

    SHIFT_FAMILY = "image"
    UNIT = "image"
    # shared names only a task's own `data` sets (a grid's top-level `data` is written for text tasks)
    TASK_DATA_ONLY = frozenset({"validation_split", "max_predict_samples", "split_seed"})
    OWN = {
        "dataset_name": (None, "Hub dataset id (e.g. cifar10), or 'imagefolder' with --data_dir."),
        "task_name": (None, "The data's name in results.json and reports (default: the .npz file's stem, the "
                            "dataset name, or the image folder's name)."),
    }

    data_dir: str | None = arg(None, "Image folder: DATA_DIR/{train,validation,test}/<class>/<image> "
        "(implies imagefolder).")
    npz_path: str | None = arg(None, "An .npz with x_train, y_train, x_test, y_test and optionally "
        "x_validation, y_validation: images (N, H, W), (N, H, W, C) or (N, C, H, W), uint8 (0-255) or float "
        "(0-1); labels whole numbers, -1 = missing; e.g. ../shared/data/mnist/mnist.npz.")
    image_column: str | None = arg(None, "Image column (default: image or img).")
    label_column: str | None = arg(None, "Label column (default: label or labels).")
    test_share: float | None = arg(None, "Share of train (< 1) or number of images (>= 1) held out as the "
        "test set when the data has no test split, drawn with --split_seed (the same for every seed); "
        "without it such data is an error: the test set is never the validation set.")
    drop_unlabelled: bool = arg(False, "Leave out images whose label is missing (-1) instead of stopping "
        "with an error (counted in the log and in results.json).")
    image_mean: list[float] | None = arg(None, "Normalisation mean per channel (default: the processor's, "
        "MNIST's, or 0.5).")
    image_std: list[float] | None = arg(None, "Normalisation std per channel.")

    def __post_init__(self) -> None:
        if not (self.npz_path or self.dataset_name or self.data_dir):
            raise ValueError("give the data: --npz_path, --dataset_name or --data_dir.")
        super().__post_init__()  # caps, validation split, shift, label noise
        if self.test_share is not None and not self.test_share > 0:
            raise ValueError(f"--test_share must be > 0 (a share < 1 or a number of images), got {self.test_share}.")

    def name(self) -> str:
        """The data's name in results.json: --task_name, else the .npz stem, dataset name or folder name."""
        if self.task_name:
            return self.task_name
        if self.npz_path:
            return Path(self.npz_path).stem
        if self.dataset_name and self.dataset_name != "imagefolder":
            return self.dataset_name + (f"/{self.dataset_config_name}" if self.dataset_config_name else "")
        return Path(self.data_dir).name if self.data_dir else "images"


def build_model(model_args: ModelArguments, names: list[str], channels: int, size: int) -> Any:
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


def image_processor(inputs: dict[str, Any], channels: int) -> Any:
    """The image processor that prepares an image as the recipe prepared the data (`inputs`: its `image_size`,
    `image_mean`, `image_std`), saved beside the model so that `transformers.pipeline` loads it."""
    from PIL import Image

    try:
        from transformers import ViTImageProcessorPil as Processor  # transformers 5 without torchvision
    except ImportError:
        from transformers import ViTImageProcessor as Processor
    size = int(inputs["image_size"])
    return Processor(do_resize=True, size={"height": size, "width": size}, resample=Image.BILINEAR, do_rescale=True,
                     rescale_factor=1 / 255, do_normalize=True, image_mean=list(inputs["image_mean"]),
                     image_std=list(inputs["image_std"]), do_convert_rgb=channels == 3)


class ImageRecipe(Recipe):
    """Image classification: .npz arrays, image folders and hub datasets."""

    name, modality, launcher = "image", "image", "recipes/run_image_classification.py"
    data_arguments = DataArguments
    model_arguments = ModelArguments
    short_keys = {"train_file": "npz_path", "data_dir": "data_dir", "dataset": "dataset_name",
                  "dataset_config": "dataset_config_name", "image_column": "image_column",
                  "label_column": "label_column"}
    data_sources = ("npz_path", "data_dir", "dataset_name")
    data_hint = "train_file (an .npz), data_dir or dataset"
    noun = "images"
    mixes = "image"
    grid_model = False

    def test_set(self, data: Any) -> str | None:
        if data.get("npz_path"):
            return f"x_test/y_test of {Path(data['npz_path']).name}"
        return f"the test images of {Path(data['data_dir']).name}" if data.get("data_dir") else None

    def check_data(self, model_args: ModelArguments, data_args: DataArguments, training_args: Any) -> None:
        """Raise what `load_data` would for an .npz or an image folder (a hub dataset is left to the run)."""
        from ..data.images import check_image_folder

        if data_args.npz_path:
            self.load_data(model_args, data_args, training_args)
        elif data_args.data_dir:
            check_image_folder(data_args.data_dir)
            if not (Path(data_args.data_dir) / "test").is_dir() and data_args.test_share is None:
                from ..data.contracts import no_test_split

                raise no_test_split(f"{data_args.data_dir} (no test/ folder)", "--test_share")

    def load_data(self, model_args: ModelArguments, data_args: DataArguments, training_args: Any) -> Any:
        """The data, its images shaped for the model (`image_shape`): a pretrained model's channels and size, else
        the data's own (or --image_size)."""
        from transformers import AutoConfig

        from ..data.contracts import RecipeData
        from ..data.images import load_hub_or_folder, load_npz

        channels = size = None
        if model_args.model_name_or_path:
            pretrained = AutoConfig.from_pretrained(model_args.model_name_or_path)
            channels = getattr(pretrained, "num_channels", 3)
            image_size = getattr(pretrained, "image_size", None)
            size = model_args.image_size or (image_size[0] if isinstance(image_size, (list, tuple)) else image_size)
        size = size or model_args.image_size
        if not data_args.npz_path:
            training_args.remove_unused_columns = False  # the transform needs the image column
        splits, names, native_channels, native_size, extra = (
            load_npz(data_args, channels, size, training_args.seed) if data_args.npz_path
            else load_hub_or_folder(data_args, model_args, training_args.seed, channels, size))
        return RecipeData(
            dict(zip(("train", "validation", "test"), splits, strict=True)), None, len(names), "classification",
            "given", extra["dropped_unlabelled"], extra["test_set"], extra["label_noise_flipped"], list(names),
            extra["inputs"], extra["splits_made"], extra["dropped_unseen_labels"], extra["shifted"],
            (channels or native_channels, size or native_size))

    def preprocess(self, data: Any, model_args: Any, data_args: Any, training_args: Any) -> Prepared:
        return Prepared(data.splits, data.shifted, image_processor(data.inputs, data.image_shape[0]))

    def build_model(self, data: Any, model_args: ModelArguments, processor: Any) -> Any:
        return build_model(model_args, data.label_names, *data.image_shape)

    def model_name(self, model_args: ModelArguments) -> str:
        return model_args.model_name_or_path or f"{model_args.model_type} from scratch"

    @contextlib.contextmanager
    def running(self, training_args: Any) -> Iterator[None]:
        """On CPU, flush denormals (small ViTs hit them in backward there: 10-20x slower), then put it back."""
        flush = training_args.use_cpu or not torch.cuda.is_available()
        if flush:
            torch.set_flush_denormal(True)
        try:
            yield
        finally:
            if flush:
                torch.set_flush_denormal(False)


RECIPE = register_recipe(ImageRecipe())

if __name__ == "__main__":
    sys.exit(RECIPE.cli())
