"""Seeded image corruptions in the style of ImageNet-C (Hendrycks & Dietterich 2019), in pure torch.

Inputs are batches ``(N, C, H, W)``: floating point with values in [0, 1] (returned in the same dtype), or
``uint8`` in [0, 255] (corrupted as ``x / 255`` and returned as ``uint8``, rounded to the nearest integer).
Outputs are clipped to [0, 1] (or [0, 255]); the input is never modified. The work is done in float32 (float64
for float64 input) and cast back to the input dtype.

Severity parameters ``c`` (``IMAGE_CORRUPTIONS``):

================  ===============================  ==========================================================
kind              c for severity 1..5              corruption
================  ===============================  ==========================================================
gaussian_noise    0.08, 0.12, 0.18, 0.26, 0.38     ``x + c * N(0, 1)`` per value (ImageNet-C's table)
contrast          0.4, 0.3, 0.2, 0.1, 0.05         ``(x - m) * c + m``, m the mean of each (image, channel)
                                                   (ImageNet-C's table and formula)
blur              1, 2, 3, 4, 6                    Gaussian blur, ``sigma = c * max(max(H, W) / 224, 0.4)``
occlusion         0.05, 0.1, 0.2, 0.3, 0.4         one box of that share of the image area, filled with 0
================  ===============================  ==========================================================

* blur: ImageNet-C's sigmas at 224 px, scaled with the image side; below about 90 px the scale is floored at
  0.4 so that small images still blur visibly (28x28 and 32x32 get sigma 0.4, 0.8, 1.2, 1.6, 2.4, whose first
  value is CIFAR-10-C's first severity). Separable kernel of radius ``ceil(3 * sigma)`` (at most the side
  minus one), reflect padding.
* occlusion: the box has the image's aspect ratio (a square on square images), sides
  ``max(1, round(sqrt(c) * H))`` by ``max(1, round(sqrt(c) * W))``, and is placed uniformly at random fully
  inside the image (`occlusion_boxes`); all channels are set to 0 (black) inside it, as Cutout does.

Seeding: the noise and the boxes come from ``torch.Generator().manual_seed(seed)`` on the CPU, so the same
``(x, kind, severity, seed)`` gives the same output on every device; blur and contrast use no randomness.
"""

from __future__ import annotations

import math
import operator

import torch

from .text import check_seed, check_severity

IMAGE_CORRUPTIONS = ("gaussian_noise", "blur", "contrast", "occlusion")

_NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)
_CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
_BLUR_SIGMA = (1.0, 2.0, 3.0, 4.0, 6.0)
_OCCLUSION_AREA = (0.05, 0.1, 0.2, 0.3, 0.4)
_BLUR_MIN_SCALE = 0.4
_RANGE_ATOL = 1e-6

__all__ = ["IMAGE_CORRUPTIONS", "blur_sigma", "corrupt_images", "occlusion_boxes"]


def blur_sigma(height: int, width: int, severity: int) -> float:
    """Gaussian blur sigma for an image of that size: ``c * max(max(H, W) / 224, 0.4)``."""
    c = _BLUR_SIGMA[check_severity(severity) - 1]
    return c * max(max(height, width) / 224, _BLUR_MIN_SCALE)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(check_seed(seed))


def occlusion_boxes(n: int, height: int, width: int, severity: int, seed: int) -> torch.Tensor:
    """Occlusion boxes ``(n, 4)`` int64 as ``(top, left, bottom, right)``, ends exclusive, inside the image."""
    n, height, width = _count(n, "n", 0), _count(height, "height", 1), _count(width, "width", 1)
    side = math.sqrt(_OCCLUSION_AREA[check_severity(severity) - 1])
    box_h = min(height, max(1, round(side * height)))
    box_w = min(width, max(1, round(side * width)))
    gen = _generator(seed)
    top = torch.randint(0, height - box_h + 1, (n,), generator=gen)
    left = torch.randint(0, width - box_w + 1, (n,), generator=gen)
    return torch.stack([top, left, top + box_h, left + box_w], dim=1)


def _count(value: object, name: str, minimum: int) -> int:
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = None
    if isinstance(value, bool) or number is None or number < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return number


def _gaussian_kernel(sigma: float, side: int, dtype: torch.dtype) -> torch.Tensor:
    radius = min(math.ceil(3 * sigma), side - 1)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (kernel / kernel.sum()).to(dtype)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    _, channels, height, width = x.shape
    for dim, side in ((2, height), (3, width)):
        kernel = _gaussian_kernel(sigma, side, x.dtype).to(x.device)
        radius = (kernel.numel() - 1) // 2
        if radius == 0:
            continue
        shape = (1, 1, kernel.numel(), 1) if dim == 2 else (1, 1, 1, kernel.numel())
        pad = (0, 0, radius, radius) if dim == 2 else (radius, radius, 0, 0)
        x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, pad, mode="reflect"), kernel.view(shape).expand(channels, 1, *shape[2:]),
                                       groups=channels)
    return x


def _occlude(x: torch.Tensor, severity: int, seed: int) -> torch.Tensor:
    n, _, height, width = x.shape
    out = x.clone()
    for i, (top, left, bottom, right) in enumerate(occlusion_boxes(n, height, width, severity, seed).tolist()):
        out[i, :, top:bottom, left:right] = 0.0
    return out


def _check_images(x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4 or x.numel() == 0:
        raise ValueError(f"x must be a non-empty batch of shape (N, C, H, W), got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ValueError(f"x must be floating point in [0, 1] or uint8, got dtype {x.dtype}")
    if x.is_floating_point():
        lo, hi = float(x.min()), float(x.max())
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < -_RANGE_ATOL or hi > 1 + _RANGE_ATOL:
            raise ValueError(f"floating point images must lie in [0, 1] (undo any normalisation first); got "
                             f"values in [{lo:.4g}, {hi:.4g}]")
    return x


def corrupt_images(x: torch.Tensor, kind: str, severity: int, seed: int) -> torch.Tensor:
    """A corrupted copy of the batch `x` (see the module docstring for kinds, severities, dtypes and seeding)."""
    x = _check_images(x)
    if kind not in IMAGE_CORRUPTIONS:
        raise ValueError(f"unknown image corruption {kind!r}; choose one of {IMAGE_CORRUPTIONS}")
    severity, seed = check_severity(severity), check_seed(seed)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    images = x.to(work) / 255.0 if x.dtype == torch.uint8 else x.to(work).clamp(0.0, 1.0)
    if kind == "gaussian_noise":
        noise = torch.randn(images.shape, generator=_generator(seed), dtype=images.dtype)
        out = images + _NOISE_STD[severity - 1] * noise.to(images.device)
    elif kind == "contrast":
        mean = images.mean(dim=(2, 3), keepdim=True)
        out = (images - mean) * _CONTRAST[severity - 1] + mean
    elif kind == "blur":
        out = _blur(images, blur_sigma(x.shape[2], x.shape[3], severity))
    else:
        out = _occlude(images, severity, seed)
    out = out.clamp(0.0, 1.0)
    if x.dtype == torch.uint8:
        return (out * 255.0).round().to(torch.uint8)
    return out.to(x.dtype)
