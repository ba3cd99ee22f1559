"""textmix: Mixup and CutMix for Hugging Face models, through forward hooks on unmodified models."""

from .architectures import ARCHITECTURES, ArchSpec
from .config import METHODS, MixConfig
from .mixer import MixedBatch, Mixer

__version__ = "0.1.0"

__all__ = ["ARCHITECTURES", "METHODS", "ArchSpec", "MixConfig", "MixedBatch", "Mixer", "__version__"]
