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
`predictions.npz` and `reliability.png`. The model is saved with an image processor that prepares an
image as the data was prepared (`image_processor`), so `transformers.pipeline` loads the folder (a grey
model's `calibrated/` copy takes RGB: `textmix.calibration.export.rgb_input`).

`--compare none mixup cutmix` trains one model per method, with otherwise equal settings, as a
one-task sweep of `textmix compare` (`textmix.harness.compare.recipe`): each run in
OUTPUT_DIR/runs/<task>/<method>/seed<N>/ (the task: --task_name or the data's name; N: --seed), the
report (report.md, report.csv, report.json, reliability.png) in OUTPUT_DIR. Finished runs (same run
key) are skipped, so the same command again trains nothing; a changed setting is a new run key and
trains again. `--quick` only changes defaults (`QUICK` below, and the MNIST file in `shared_dir()`);
anything given on the command line wins.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..paths import shared_dir
from .arguments import SKIP_EXISTING, DataArgumentsBase, as_config, no_effect, renamed
from .arguments import ModelArguments as _SharedModelArguments
from .contracts import RecipeData
from .image_data import (  # noqa: F401 - the recipe's data, re-exported
    TensorImages,
    check_image_folder,
    corrupted_transform,
    load_hub_or_folder,
    load_npz,
    noisy_labels,
)
from .registry import Recipe, register_recipe

if TYPE_CHECKING:
    from transformers import PreTrainedModel

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
class ModelArguments(_SharedModelArguments):
    """The model: a pretrained checkpoint, or a ViT-style config trained from scratch (the shared fields:
    `textmix.harness.recipes.arguments.ModelArguments`; LoRA is for the text and token recipes)."""

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

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lora_r is not None:
            raise ValueError("--lora_r: the image recipe trains the whole model (LoRA is for the GLUE and NER "
                             "recipes); leave --lora_* out.")


@dataclass
class DataArguments(DataArgumentsBase):
    """The data: a hub dataset, an image folder, or an .npz file of arrays (the shared fields:
    `DataArgumentsBase`).

    For one release, `--max_eval_samples` without `--max_predict_samples` also caps the test images, as it
    did before the names were shared (a `FutureWarning` says so): give `--max_predict_samples` to cap the
    test set on its own."""

    SHIFT_FAMILY = "image"
    UNIT = "image"
    RENAMED = {"validation_share": "validation_split", "corruption_seed": "split_seed"}
    NO_EFFECT = {"skip_existing": SKIP_EXISTING}
    TASK_DATA_ONLY = frozenset({"validation_split", "max_predict_samples", "split_seed"})
    """Shared names the image recipe did not have before: a grid's top-level `data` (written for text
    tasks) does not set them for image tasks; a task's own `data` does."""

    @classmethod
    def key_names(cls, data: dict[str, Any]) -> dict[str, Any]:
        """As the base's, and `max_predict_samples` equal to `max_eval_samples` hashed as the old
        `max_eval_samples` alone (which capped validation and test)."""
        data = super().key_names(data)
        if "max_predict_samples" in data and data.get("max_predict_samples") == data.get("max_eval_samples"):
            data = {k: v for k, v in data.items() if k != "max_predict_samples"}
        return data

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
    validation_split: float = field(
        default=0.1, metadata={"help": "Share of train (< 1) or number of images (>= 1) held out for validation "
                                       "when the data has no validation split (drawn with the training --seed)."}
    )
    test_share: float | None = field(
        default=None, metadata={"help": "Share of train (< 1) or number of images (>= 1) held out as the test set "
                                        "when the data has no test split, drawn with --split_seed (the same for "
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
        default=None, metadata={"help": "Use only this many validation images (and, for one release, test images "
                                        "when --max_predict_samples is not given)."}
    )
    max_predict_samples: int | None = field(default=None, metadata={"help": "Use only this many test images."})
    image_mean: list[float] | None = field(
        default=None, metadata={"help": "Normalisation mean per channel (default: the processor's, MNIST's, or 0.5)."}
    )
    image_std: list[float] | None = field(default=None, metadata={"help": "Normalisation std per channel."})
    shift_kinds: list[str] | None = field(
        default=None, metadata={"help": "Also test on corrupted copies of the test images: gaussian_noise, blur, "
                                        "contrast, occlusion (textmix.robustness.corrupt_images)."}
    )
    label_noise: float = field(
        default=0.0, metadata={"help": "Share of training labels flipped to another class, in [0, 1) (seeded by "
                                       "--split_seed)."}
    )
    split_seed: int = field(
        default=0, metadata={"help": "Seed of the test split carved by --test_share, the corrupted test images and "
                                     "--label_noise (the same for every method and seed)."}
    )
    validation_share: float | None = renamed("validation_split")
    corruption_seed: int | None = renamed("split_seed")
    compare: list[str] | None = field(
        default=None, metadata={"help": "Train one model per mixing method (e.g. none mixup cutmix patch_cutmix) "
                                        "as a one-task sweep: runs in OUTPUT_DIR/runs/<task>/<method>/seed<N>, "
                                        "finished ones skipped, the report in OUTPUT_DIR; default: the single "
                                        "--mix_method into OUTPUT_DIR."},
    )
    skip_existing: bool = no_effect(SKIP_EXISTING)
    quick: bool = field(
        default=False, metadata={"help": "Defaults for the quick MNIST comparison (QUICK in "
                                         "textmix.harness.recipes.image)."}
    )

    def __post_init__(self) -> None:
        import warnings

        super().__post_init__()  # renamed arguments, caps, validation split, shift, label noise
        if self.test_share is not None and not self.test_share > 0:
            raise ValueError(f"--test_share must be > 0 (a share < 1 or a number of images), got {self.test_share}.")
        if self.max_eval_samples is not None and self.max_predict_samples is None:
            warnings.warn("--max_eval_samples caps the validation images; for one release it also caps the test "
                          "images when --max_predict_samples is not given, as before: give --max_predict_samples "
                          "to cap the test set.", FutureWarning, stacklevel=3)
            self.max_predict_samples = self.max_eval_samples

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


def load_data(model_args: ModelArguments, data_args: DataArguments, training_args: MixTrainingArguments) -> RecipeData:
    """The splits (train, validation, test `TensorImages` or datasets), class names, corrupted test copies
    (`shifted`) and how each split was made, the images shaped for the model (`image_shape`): a pretrained
    model's channels and size, else the data's own (or --image_size)."""
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
    return RecipeData(
        dict(zip(("train", "validation", "test"), splits, strict=True)), None, len(names), "classification", "given",
        extra["dropped_unlabelled"], extra["test_set"], extra["label_noise_flipped"], list(names), extra["inputs"],
        extra["splits_made"], extra["dropped_unseen_labels"], extra["shifted"],
        (channels or native_channels, size or native_size))


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


def image_processor(inputs: dict[str, Any], channels: int) -> Any:
    """The image processor that prepares an image as the recipe prepared the data (`inputs`: its `image_size`,
    `image_mean`, `image_std`): resized to `image_size` (bilinear), scaled to [0, 1] and normalised; saved
    beside the model so that `transformers.pipeline` (or `AutoImageProcessor`) loads it with the model."""
    from PIL import Image

    try:
        from transformers import ViTImageProcessorPil as Processor  # transformers 5 without torchvision
    except ImportError:
        from transformers import ViTImageProcessor as Processor
    size = int(inputs["image_size"])
    return Processor(do_resize=True, size={"height": size, "width": size}, resample=Image.BILINEAR, do_rescale=True,
                     rescale_factor=1 / 255, do_normalize=True, image_mean=list(inputs["image_mean"]),
                     image_std=list(inputs["image_std"]), do_convert_rgb=channels == 3)


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
        data = load_data(model_args, data_args, training_args)
        splits, names = data.splits, data.label_names
        set_seed(training_args.seed)
        model = build_model(model_args, names, *data.image_shape)
        trainer = MixTrainer(model=model, args=training_args, train_dataset=splits["train"],
                             eval_dataset=splits["validation"], compute_metrics=classification_metrics(),
                             processing_class=image_processor(data.inputs, data.image_shape[0]))
        tags = tags or {}
        header = {
            **tags,
            "task": tags.get("task") or data_args.name(),
            "method": tags.get("method", method_name(training_args)),
            "seed": training_args.seed,
            "model": model_args.model_name_or_path or f"{model_args.model_type} from scratch",
            "modality": "image",
            "test_set": data.test_set,
            "label_noise": float(data_args.label_noise),
            "label_noise_flipped": data.label_noise_flipped,
            "label_names": names,
            "inputs": data.inputs,
            "splits_made": data.splits_made,
            "dropped_unseen_labels": data.dropped_unseen,
        }
        config = {"model": as_config(model_args), "data": as_config(data_args), "training": training_args.to_dict()}
        return train_and_report(trainer, splits, header, config, shifted=data.shifted,
                                dropped_unlabelled=data.dropped_unlabelled,
                                save_calibrated=model_args.save_calibrated,
                                save_calibrated_at_bound=model_args.save_calibrated_at_bound)


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, MixTrainingArguments]:
    """(ModelArguments, DataArguments, MixTrainingArguments) from the command line (with `--quick`'s defaults)
    or one .json/.yaml file."""
    from .arguments import argument_parser, parse

    argv = with_quick_defaults(list(sys.argv[1:] if argv is None else argv))
    return parse(argument_parser(ModelArguments, DataArguments), argv)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Command-line entry point (see the module docstring): one run, or with `--compare` a one-task sweep
    (`textmix.harness.compare.recipe.compare_recipe`).

    Returns the results dict of each run, in the order of the methods.
    """
    from .arguments import argument_parser, parse

    argv = with_quick_defaults(list(sys.argv[1:] if argv is None else argv))
    parser = argument_parser(ModelArguments, DataArguments)
    model_args, data_args, training_args = parse(parser, argv)
    if not data_args.has_data:
        parser.error(NO_DATA)
    if data_args.compare:
        from ..compare.recipe import compare_recipe

        results = compare_recipe("image", model_args, data_args, training_args)
    else:
        results = [run(model_args, data_args, training_args)]
    from .common import shutdown_distributed, summary_line

    if not data_args.compare and training_args.process_index == 0:
        print("\n" + summary_line(results[0]), flush=True)
    shutdown_distributed()  # frees the trainer, then destroys the process group
    return results


def cli(argv: list[str] | None = None, prog: str | None = None) -> int:
    """`python recipes/run_image_classification.py ...` (see `textmix.harness.checks.recipe_cli`; `prog`: the command as typed, in
    errors); returns the exit status."""
    from ..checks import recipe_cli, typed_command

    return recipe_cli(main, argv, prog or typed_command("recipes/run_image_classification.py", "textmix.harness.recipes.image"))


register_recipe(Recipe(  # the `image` modality of `textmix compare` (textmix.harness.recipes.registry)
    "image", DataArguments, ModelArguments, run, check_data=check_data, noun="images", mixes="image",
    short_keys={"train_file": "npz_path", "data_dir": "data_dir", "dataset": "dataset_name",
                "dataset_config": "dataset_config_name", "image_column": "image_column", "label_column": "label_column"},
    data_sources=("npz_path", "data_dir", "dataset_name"), data_hint="train_file (an .npz), data_dir or dataset",
    grid_model=False,
    test_set=lambda data: (f"x_test/y_test of {Path(data['npz_path']).name}" if data.get("npz_path") else
                           f"the test images of {Path(data['data_dir']).name}" if data.get("data_dir") else None)))


if __name__ == "__main__":
    sys.exit(cli())
