"""The recipes' arguments (named as in transformers' example scripts): one data-arguments base (each recipe's
`DataArguments` only adds fields), one model-arguments class, and the parsing of a command line or one
.json/.yaml file.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from transformers import HfArgumentParser

DEFAULT_MODEL = "google/bert_uncased_L-2_H-128_A-2"  # BERT-tiny on the hub


def arg(default: Any, help_text: str) -> Any:
    """A dataclass field of an argument: its default and its `--help` text."""
    return field(default=default, metadata={"help": help_text})


@dataclass
class DataArgumentsBase:
    """Data arguments every recipe has. A subclass adds its own fields and sets `SHIFT_FAMILY` (whose kinds
    `--shift_kinds` takes), `UNIT` (what a row is, in messages) and `OWN`: {shared field: (default, help)}."""

    _argument_group_name: ClassVar[str] = "data arguments"  # HfArgumentParser's --help group
    SHIFT_FAMILY: ClassVar[str] = "text"
    UNIT: ClassVar[str] = "example"
    OWN: ClassVar[dict[str, tuple[Any, str]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        shared = {f.name: f for f in dataclasses.fields(DataArgumentsBase)}
        annotations = cls.__dict__.get("__annotations__", {})
        for name, (default, help_text) in cls.__dict__.get("OWN", {}).items():
            annotations[name] = shared[name].type
            setattr(cls, name, arg(default, help_text))
        cls.__annotations__ = annotations

    dataset_name: str | None = arg(None, "A hub dataset (or a local folder of data files) instead of files.")
    dataset_config_name: str | None = arg(None, "The dataset's configuration.")
    task_name: str | None = arg(None, "The data's name in results.json and reports.")
    max_train_samples: int | None = arg(None, "Train on at most this many rows (after carving validation).")
    max_eval_samples: int | None = arg(None, "Validate on at most this many rows.")
    max_predict_samples: int | None = arg(None, "Test on at most this many rows.")
    validation_split: float = arg(0.1, "Without validation data: share of the training data (< 1) or number "
        "of rows (>= 1) held out for validation.")
    split_seed: int = arg(0, "Seed of the data's splits, label noise and corrupted copies (the same for "
        "every method and seed).")
    shift_kinds: list[str] | None = arg(None, "Also test on corrupted copies of the test set "
        "(textmix.robustness).")
    shift_severities: list[int] | None = arg(None, "Severities (1-5) of --shift_kinds (default: 1 3 5).")
    label_noise: float = arg(0.0, "Share of training labels flipped to another class, in [0, 1) (seeded by "
        "--split_seed: the same flips for every method and seed).")
    drop_unseen_labels: bool = arg(False, "Leave out validation/test rows whose label the training data "
        "never shows (counted in the log and in results.json) instead of stopping with an error that names "
        "the labels.")

    def __post_init__(self) -> None:
        from ..checks import InputError
        from ..data.contracts import check_label_noise, check_shift

        for name in ("max_train_samples", "max_eval_samples", "max_predict_samples"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InputError(f"--{name} must be > 0 (got {value}); leave it out to use every {self.UNIT}.")
        if not self.validation_split > 0:
            raise InputError("--validation_split must be > 0: temperature scaling needs a validation split.")
        check_shift(self.shift_kinds, self.shift_severities, self.SHIFT_FAMILY)
        check_label_noise(self.label_noise)


@dataclass
class ModelArguments:
    """Which model to fine-tune; `--lora_*` train a LoRA adapter (and the head) instead of the whole model."""

    _argument_group_name: ClassVar[str] = "model arguments"  # HfArgumentParser's --help group

    model_name_or_path: str = arg(DEFAULT_MODEL, "Hub id or local folder of a pretrained model.")
    trust_remote_code: bool = arg(False, "Allow model code from the hub (only for models you trust).")
    cache_dir: str | None = arg(None, "Where hub downloads are cached.")
    lora_r: int | None = arg(None, "Train a LoRA adapter of this rank instead of the whole model (needs "
        "peft: pip install textmix[peft]); the classification head trains fully.")
    lora_alpha: float = arg(16.0, "LoRA scaling alpha (used with --lora_r).")
    lora_dropout: float = arg(0.05, "Dropout on the LoRA path (used with --lora_r).")
    lora_target_modules: list[str] | None = arg(None, "Module names LoRA adapts, e.g. q_proj v_proj "
        "(default: peft's choice for the architecture; 'all-linear' for every linear layer).")
    save_calibrated: bool = arg(False, "Also write <output_dir>/calibrated: the model with the validation "
        "temperature folded into its classification head (save_pretrained; LoRA merged), so it gives "
        "temperature-scaled probabilities without textmix. Not written when the fitted temperature sits at "
        "an end of its search interval (the run says why), unless --save_calibrated_at_bound.")
    save_calibrated_at_bound: bool = arg(False, "With --save_calibrated: write the calibrated model even "
        "when its temperature sits at an end of its search interval (a model that learned nothing, or a "
        "validation split it gets all right: the temperature is no fit).")

    def __post_init__(self) -> None:
        if self.save_calibrated_at_bound and not self.save_calibrated:
            raise ValueError("--save_calibrated_at_bound is for --save_calibrated: give both, or neither.")
        if self.lora_r is not None and self.lora_r <= 0:
            raise ValueError(f"--lora_r must be a positive rank, got {self.lora_r}.")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"--lora_dropout must be a probability in [0, 1), got {self.lora_dropout}.")
        if not self.lora_alpha > 0:
            raise ValueError(f"--lora_alpha must be > 0 (the adapter's update is scaled by lora_alpha / lora_r; 0 "
                             f"trains an adapter that changes nothing), got {self.lora_alpha}.")


def with_lora(model: Any, model_args: ModelArguments, task_type: str = "SEQ_CLS") -> Any:
    """`model` wrapped in a LoRA adapter as `--lora_*` say, or as it is; `task_type` (peft's: `SEQ_CLS`,
    `TOKEN_CLS`) decides which head trains fully beside the adapter."""
    if model_args.lora_r is None:
        return model
    try:
        import peft
    except ImportError:
        raise ImportError("--lora_r needs peft: pip install 'textmix[peft]'.") from None
    targets = "all-linear" if model_args.lora_target_modules == ["all-linear"] else model_args.lora_target_modules
    config = peft.LoraConfig(task_type=task_type, r=model_args.lora_r, lora_alpha=model_args.lora_alpha,
                             lora_dropout=model_args.lora_dropout, target_modules=targets)
    return peft.get_peft_model(model, config)


# ----------------------------------------------------------------------------------------------- parsing


def config_file(argv: Sequence[str]) -> Path | None:
    """The config file when the command line is one .json/.yaml path, else None."""
    return Path(argv[0]) if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")) else None


def read_config(path: Path) -> dict[str, Any]:
    """The mapping of argument names to values in a .json or .yaml file (`yaml.safe_load`)."""
    import yaml

    from ..checks import InputError

    if not path.is_file():
        raise InputError(f"config file {path} does not exist.")
    text = path.read_text(encoding="utf-8")
    values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(values, dict):
        raise InputError(f"{path} must hold a mapping of argument names to values.")
    return values


def parse(parser: HfArgumentParser, argv: Sequence[str] | None = None, **override: Any) -> tuple[Any, ...]:
    """The dataclasses of `argv` (default: the command line): flags, or one .json/.yaml config file; `override`
    (e.g. a method and an output folder) replaces the given values."""
    argv = list(sys.argv[1:] if argv is None else argv)
    path = config_file(argv)
    if path is not None:
        values = {**read_config(path), **override}
        known = {action.dest for action in parser._actions}
        _refuse_unknown([k for k in values if k not in known], known, f"{path}: unknown key")
        return parser.parse_dict(values)
    extra = [item for key, value in override.items() for item in (f"--{key}", str(value))]
    *parsed, rest = parser.parse_args_into_dataclasses(args=[*argv, *extra], return_remaining_strings=True)
    flags = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    _refuse_unknown([r for r in rest if r.startswith("-")] or rest, flags, "unknown argument")  # flags, not values
    return tuple(parsed)


def _refuse_unknown(unknown: Sequence[str], known: Any, what: str) -> None:
    """An `InputError` naming each of `unknown` (arguments or config keys) with the closest known one."""
    from ..checks import InputError, did_you_mean

    if unknown:
        named = "; ".join(f"{what} {item!r}{did_you_mean(item.split('=')[0], known)}" for item in unknown)
        raise InputError(f"{named} (--help lists the arguments).")
