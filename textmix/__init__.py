"""textmix: Mixup and CutMix for Hugging Face models, through forward hooks on unmodified models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .architectures import ARCHITECTURES, ArchSpec
from .config import METHODS, PATCH_METHODS, PIXEL_METHODS, MixConfig
from .mixer import MixedBatch, Mixer

if TYPE_CHECKING:
    from .trainer import MixTrainer, MixTrainingArguments

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "METHODS",
    "ArchSpec",
    "MixConfig",
    "MixTrainer",
    "MixTrainingArguments",
    "MixedBatch",
    "Mixer",
    "PATCH_METHODS",
    "PIXEL_METHODS",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The Trainer pulls in most of transformers; load it only when asked for.
    if name in ("MixTrainer", "MixTrainingArguments"):
        from . import trainer

        return getattr(trainer, name)
    if name == "calibration":
        import importlib

        return importlib.import_module(".calibration", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
