"""textmix: Mixup and CutMix for Hugging Face models, through forward hooks on unmodified models."""

from .architectures import ARCHITECTURES, ArchSpec
from .config import METHODS, MixConfig
from .mixer import MixedBatch, Mixer
from .trainer import MixTrainer, MixTrainingArguments

__version__ = "0.1.0"

__all__ = ["ARCHITECTURES", "METHODS", "ArchSpec", "MixConfig", "MixTrainer", "MixTrainingArguments", "MixedBatch", "Mixer", "__version__"]
