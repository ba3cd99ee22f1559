"""Robustness primitives: corrupted test sets and label noise, to measure the robustness claims made for mixing.

Mixup and CutMix are often credited with robustness to input corruptions and to noisy labels. This package
makes those claims measurable with seeded, reproducible building blocks (pure torch and numpy; it imports
neither `datasets`, `matplotlib` nor `transformers`):

* `corrupt_text` / `corrupt_words`: word-level typos, deletions, swaps and masking of text, or of pre-split
  token-classification sentences with their tags kept aligned (`textmix.robustness.text`).
* `corrupt_images`: ImageNet-C style Gaussian noise, blur, contrast and occlusion (`textmix.robustness.images`).
* `flip_labels`: symmetric label noise of an exact rate (`textmix.robustness.labels`).

Every corruption takes a severity in 1..5 and a seed; the same seed gives the same corrupted copy for every
model and mixing method, so they are compared on the same data.
"""

from __future__ import annotations

from .images import IMAGE_CORRUPTIONS, blur_sigma, corrupt_images, occlusion_boxes
from .labels import flip_labels
from .text import SEVERITIES, TEXT_CORRUPTIONS, corrupt_text, corrupt_words, word_share

SHIFT_FAMILIES: dict[str, tuple[str, ...]] = {"text": TEXT_CORRUPTIONS, "image": IMAGE_CORRUPTIONS}
"""The families of corruptions, each with its kinds: a recipe's test sets take one family (its `shift`)."""

__all__ = [
    "SHIFT_FAMILIES",
    "IMAGE_CORRUPTIONS",
    "SEVERITIES",
    "TEXT_CORRUPTIONS",
    "blur_sigma",
    "corrupt_images",
    "corrupt_text",
    "corrupt_words",
    "flip_labels",
    "occlusion_boxes",
    "word_share",
]
