"""textmix: Mixup and CutMix for Hugging Face models, through forward hooks on unmodified models.

The core a training loop needs — `MixConfig`, `Mixer`, the method registry (`textmix.methods`),
`MixTrainer` — imports neither `datasets`, `matplotlib` nor the experiment harness
(`textmix.harness`: recipes, `textmix compare`, reports).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .architectures import ARCHITECTURES, ArchSpec
from .config import MixConfig
from .methods import MixMethod, get_method, method_names, register
from .mixer import MixedBatch, Mixer

if TYPE_CHECKING:
    from .trainer import MixTrainer, MixTrainingArguments

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "METHODS",
    "ArchSpec",
    "MixConfig",
    "MixMethod",
    "MixTrainer",
    "MixTrainingArguments",
    "MixedBatch",
    "Mixer",
    "PATCH_METHODS",
    "PIXEL_METHODS",
    "__version__",
    "get_method",
    "method_names",
    "register",
]


def __getattr__(name: str) -> Any:
    # The Trainer pulls in most of transformers; load it only when asked for.
    if name in ("MixTrainer", "MixTrainingArguments"):
        from . import trainer

        return getattr(trainer, name)
    if name == "calibration":
        import importlib

        return importlib.import_module(".calibration", __name__)
    # Method lists are read from the registry when asked for, so they include methods registered later.
    if name == "METHODS":
        return tuple(method_names())
    if name == "PIXEL_METHODS":
        return tuple(method_names(family="pixels"))
    if name == "PATCH_METHODS":
        return tuple(method_names(family="patches"))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
