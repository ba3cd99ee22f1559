"""textmix.robustness.images: ImageNet-C style corruptions, checked against independent formulas and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from textmix.robustness import IMAGE_CORRUPTIONS, SEVERITIES, blur_sigma, corrupt_images, occlusion_boxes

NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)
CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
AREA = (0.05, 0.1, 0.2, 0.3, 0.4)


def images(n: int = 6, c: int = 3, h: int = 28, w: int = 22, seed: int = 0) -> torch.Tensor:
    """Non-square by default: a corruption that mixes up height and width is seen."""
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", IMAGE_CORRUPTIONS)
def test_same_seed_same_output(kind):
    x = images()
    assert torch.equal(corrupt_images(x, kind, 3, seed=5), corrupt_images(x, kind, 3, seed=5))
    assert not torch.equal(corrupt_images(x, kind, 3, seed=5), x)


@pytest.mark.parametrize("kind", ["gaussian_noise", "occlusion"])
def test_other_seed_other_output(kind):
    x = images()
    assert not torch.equal(corrupt_images(x, kind, 3, seed=5), corrupt_images(x, kind, 3, seed=6))


@pytest.mark.parametrize("kind", ["blur", "contrast"])
def test_deterministic_kinds_ignore_the_seed(kind):
    x = images()
    assert torch.equal(corrupt_images(x, kind, 3, seed=5), corrupt_images(x, kind, 3, seed=6))


@pytest.mark.parametrize("kind", IMAGE_CORRUPTIONS)
def test_severity_is_monotone_in_the_pixels_changed(kind):
    x = images(n=8)
    mean_change, share_changed = [], []
    for severity in SEVERITIES:
        delta = (corrupt_images(x, kind, severity, seed=1) - x).abs()
        mean_change.append(float(delta.mean()))
        share_changed.append(float((delta > (0 if kind == "occlusion" else 0.1)).float().mean()))
    for values in (mean_change, share_changed):
        assert all(lo <= hi for lo, hi in zip(values, values[1:], strict=False)), values
        assert values[-1] > values[0] + 0.05, values
    assert all(lo < hi for lo, hi in zip(mean_change, mean_change[1:], strict=False)), mean_change


@pytest.mark.parametrize("kind", IMAGE_CORRUPTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_output_keeps_dtype_and_range_and_leaves_input_alone(kind, dtype):
    x = images(c=1, h=32, w=17).to(dtype)
    x[0] = 0.0  # extremes, where clipping matters
    x[1] = 1.0
    before = x.clone()
    out = corrupt_images(x, kind, 5, seed=0)
    assert out.dtype == dtype and out.shape == x.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(x, before)


@pytest.mark.parametrize("kind", IMAGE_CORRUPTIONS)
def test_uint8_in_uint8_out(kind):
    x = (images(n=3) * 255).round().to(torch.uint8)
    out = corrupt_images(x, kind, 4, seed=2)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    expected = (corrupt_images(x.float() / 255, kind, 4, seed=2) * 255).round().to(torch.uint8)
    assert torch.equal(out, expected)


def test_gaussian_noise_matches_the_imagenet_c_formula():
    x = images(n=2)
    for severity, std in zip(SEVERITIES, NOISE_STD, strict=True):
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
        expected = (x + std * noise).clamp(0, 1)
        torch.testing.assert_close(corrupt_images(x, "gaussian_noise", severity, seed=3), expected)
    # The noise actually has the table's spread where nothing is clipped.
    flat = torch.full((4, 3, 64, 64), 0.5)
    assert float((corrupt_images(flat, "gaussian_noise", 1, seed=0) - 0.5).std()) == pytest.approx(0.08, rel=0.03)


def test_contrast_matches_the_imagenet_c_formula():
    x = images(n=2, h=9, w=7).numpy().astype(np.float64)
    for severity, c in zip(SEVERITIES, CONTRAST, strict=True):
        expected = np.empty_like(x)
        for i in range(x.shape[0]):
            for ch in range(x.shape[1]):
                m = x[i, ch].mean()
                expected[i, ch] = np.clip((x[i, ch] - m) * c + m, 0, 1)
        out = corrupt_images(torch.from_numpy(x), "contrast", severity, seed=0).numpy()
        np.testing.assert_allclose(out, expected, atol=1e-12)


def test_blur_sigma_table():
    assert [blur_sigma(224, 224, s) for s in SEVERITIES] == [1.0, 2.0, 3.0, 4.0, 6.0]
    assert [blur_sigma(28, 28, s) for s in SEVERITIES] == pytest.approx([0.4, 0.8, 1.2, 1.6, 2.4])
    assert blur_sigma(448, 100, 1) == pytest.approx(2.0)


@pytest.mark.parametrize(("h", "w"), [(28, 28), (32, 17), (64, 64)])
@pytest.mark.parametrize("severity", SEVERITIES)
def test_blur_matches_scipy_gaussian_filter(h, w, severity):
    x = images(n=2, c=2, h=h, w=w, seed=severity).double()
    sigma = blur_sigma(h, w, severity)
    out = corrupt_images(x, "blur", severity, seed=0).numpy()
    radius = math.ceil(3 * sigma)
    assert radius < min(h, w)  # no clamping of the kernel for these sizes
    expected = np.stack([np.stack([gaussian_filter(img, sigma, mode="mirror", truncate=radius / sigma)
                                   for img in sample]) for sample in x.numpy()])
    np.testing.assert_allclose(out, expected, atol=1e-10)


def test_blur_keeps_a_constant_image_and_handles_tiny_images():
    flat = torch.full((1, 3, 5, 4), 0.3)
    torch.testing.assert_close(corrupt_images(flat, "blur", 5, seed=0), flat)
    line = torch.zeros(1, 1, 1, 5)
    line[..., 2] = 1.0
    out = corrupt_images(line, "blur", 5, seed=0)
    assert out.shape == line.shape and 0 < float(out[..., 2]) < 1 and float(out[..., 0]) > 0


@pytest.mark.parametrize(("h", "w"), [(28, 28), (32, 17), (17, 32), (5, 3), (1, 1), (2, 9)])
@pytest.mark.parametrize("severity", SEVERITIES)
def test_occlusion_boxes_lie_inside_the_image(h, w, severity):
    for seed in range(20):
        boxes = occlusion_boxes(16, h, w, severity, seed)
        assert boxes.shape == (16, 4) and boxes.dtype == torch.int64
        top, left, bottom, right = boxes.unbind(1)
        assert bool((top >= 0).all() and (left >= 0).all() and (bottom <= h).all() and (right <= w).all())
        assert bool((bottom > top).all() and (right > left).all())


def test_occlusion_box_size_follows_the_area_table_and_placement_varies():
    for severity, share in zip(SEVERITIES, AREA, strict=True):
        boxes = occlusion_boxes(200, 28, 28, severity, seed=0)
        sides = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
        assert bool((sides == round(math.sqrt(share) * 28)).all())
        assert float(sides[0].prod()) / 28 ** 2 == pytest.approx(share, abs=0.03)
        # Uniform placement over all offsets: with 200 boxes both extreme positions come up.
        assert int(boxes[:, 0].min()) == 0 and int(boxes[:, 2].max()) == 28
    assert torch.equal(occlusion_boxes(4, 32, 17, 3, 1), occlusion_boxes(4, 32, 17, 3, 1))
    assert not torch.equal(occlusion_boxes(4, 32, 17, 3, 1), occlusion_boxes(4, 32, 17, 3, 2))


def test_occlusion_zeroes_exactly_its_boxes():
    x = images(n=5, h=32, w=17) * 0.9 + 0.05  # no zero pixel to begin with
    out = corrupt_images(x, "occlusion", 4, seed=8)
    inside = torch.zeros_like(x, dtype=torch.bool)
    for i, (top, left, bottom, right) in enumerate(occlusion_boxes(5, 32, 17, 4, 8).tolist()):
        inside[i, :, top:bottom, left:right] = True
    assert bool((out[inside] == 0).all())
    assert torch.equal(out[~inside], x[~inside])


@pytest.mark.parametrize(("x", "kwargs", "message"), [
    (torch.rand(3, 8, 8), {}, r"shape \(N, C, H, W\), got shape \(3, 8, 8\)"),
    (torch.rand(0, 1, 8, 8), {}, r"non-empty batch"),
    (torch.rand(2, 1, 8, 8) * 2 - 0.5, {}, r"must lie in \[0, 1\] \(undo any normalisation first\)"),
    (torch.full((1, 1, 2, 2), float("nan")), {}, r"must lie in \[0, 1\]"),
    (torch.ones(1, 1, 4, 4, dtype=torch.int32), {}, r"floating point in \[0, 1\] or uint8, got dtype torch.int32"),
    (np.zeros((1, 1, 4, 4)), {}, r"x must be a torch.Tensor"),
    (torch.rand(1, 1, 4, 4), {"kind": "fog"},
     r"unknown image corruption 'fog'; choose one of \('gaussian_noise', 'blur', 'contrast', 'occlusion'\)"),
    (torch.rand(1, 1, 4, 4), {"severity": 0}, r"severity must be an int in \(1, 2, 3, 4, 5\), got 0"),
    (torch.rand(1, 1, 4, 4), {"severity": 3.0}, r"severity must be an int"),
    (torch.rand(1, 1, 4, 4), {"seed": -3}, r"seed must be a non-negative int"),
])
def test_bad_input_raises_a_helpful_value_error(x, kwargs, message):
    args = {"kind": "gaussian_noise", "severity": 1, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        corrupt_images(x, **args)


def test_bad_box_arguments_raise():
    with pytest.raises(ValueError, match="height must be an int >= 1, got 0"):
        occlusion_boxes(2, 0, 5, 1, 0)
    with pytest.raises(ValueError, match="n must be an int >= 0"):
        occlusion_boxes(-1, 5, 5, 1, 0)
    with pytest.raises(ValueError, match="severity"):
        occlusion_boxes(1, 5, 5, 9, 0)
