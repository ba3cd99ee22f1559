"""textmix.robustness.labels: symmetric label noise of an exact rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textmix.robustness import flip_labels


def sequence_labels(n: int = 1000, num_classes: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, num_classes, size=n)


def token_labels(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 9, size=(40, 30))
    y[rng.random(y.shape) < 0.3] = -100  # sub-words, specials and padding
    return y


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_exactly_round_rate_times_n_entries_flip_and_all_change_class(rate):
    y = sequence_labels()
    noisy, flipped = flip_labels(y, rate, num_classes=5, seed=1)
    assert flipped.dtype == bool and flipped.shape == y.shape and noisy.shape == y.shape
    assert int(flipped.sum()) == round(rate * 1000)
    assert np.array_equal(noisy != y, flipped)  # every flipped entry changed class, no other entry did
    assert noisy.dtype == y.dtype
    assert noisy.min() >= 0 and noisy.max() < 5


def test_count_rounds_half_up():
    _, flipped = flip_labels([0, 1, 0, 1], 0.125, num_classes=2, seed=0)  # 0.5 -> 1
    assert int(flipped.sum()) == 1
    _, flipped = flip_labels([0, 1, 0, 1, 1, 0], 0.25, num_classes=2, seed=0)  # 1.5 -> 2
    assert int(flipped.sum()) == 2


def test_binary_flips_to_the_other_class():
    y = np.array([0, 1] * 50)
    noisy, flipped = flip_labels(y, 0.3, num_classes=2, seed=4)
    assert np.array_equal(noisy[flipped], 1 - y[flipped])


def test_new_classes_are_uniform_over_the_other_classes():
    y = np.zeros(20000, dtype=np.int64)
    noisy, flipped = flip_labels(y, 0.6, num_classes=4, seed=0)
    counts = np.bincount(noisy[flipped], minlength=4)
    assert counts[0] == 0
    np.testing.assert_allclose(counts[1:] / flipped.sum(), 1 / 3, atol=0.02)


def test_flipped_positions_are_spread_uniformly():
    y = sequence_labels(n=10000)
    _, flipped = flip_labels(y, 0.2, num_classes=5, seed=2)
    halves = flipped.reshape(2, -1).sum(1)
    assert abs(int(halves[0]) - int(halves[1])) < 150


def test_token_labels_keep_shape_and_ignored_entries():
    y = token_labels()
    valid = y != -100
    noisy, flipped = flip_labels(y, 0.2, num_classes=9, seed=3)
    assert noisy.shape == y.shape == flipped.shape
    assert np.array_equal(noisy[~valid], y[~valid])
    assert not flipped[~valid].any()
    assert int(flipped.sum()) == round(0.2 * valid.sum())
    assert (noisy[flipped] != y[flipped]).all()


def test_custom_ignore_index():
    y = np.array([0, 1, 2, 255, 255, 1, 0, 2])
    noisy, flipped = flip_labels(y, 0.5, num_classes=3, seed=0, ignore_index=255)
    assert (noisy[y == 255] == 255).all() and not flipped[y == 255].any()
    assert int(flipped.sum()) == 3


def test_reproducible_and_seed_dependent():
    y = token_labels()
    a = flip_labels(y, 0.3, num_classes=9, seed=7)
    b = flip_labels(y, 0.3, num_classes=9, seed=7)
    c = flip_labels(y, 0.3, num_classes=9, seed=8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_inputs_are_not_modified_and_other_containers_work():
    y = sequence_labels(n=50)
    before = y.copy()
    flip_labels(y, 0.5, num_classes=5, seed=0)
    assert np.array_equal(y, before)
    from_list = flip_labels(y.tolist(), 0.5, num_classes=5, seed=0)
    from_tensor = flip_labels(torch.from_numpy(y), 0.5, num_classes=5, seed=0)
    from_array = flip_labels(y, 0.5, num_classes=5, seed=0)
    assert np.array_equal(from_list[0], from_array[0]) and np.array_equal(from_tensor[0], from_array[0])


def test_small_dtypes_do_not_overflow():
    y = np.full(100, 255, dtype=np.uint8)
    noisy, flipped = flip_labels(y, 0.5, num_classes=256, seed=0, ignore_index=-100)
    assert noisy.dtype == np.uint8 and (noisy[flipped] != 255).all() and int(flipped.sum()) == 50


def test_nothing_to_flip():
    noisy, flipped = flip_labels(np.full((3, 4), -100), 0.5, num_classes=3, seed=0)
    assert (noisy == -100).all() and not flipped.any()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rate": 1.0}, r"rate must be a number in \[0, 1\), got 1.0"),
    ({"rate": -0.1}, r"rate must be a number in \[0, 1\)"),
    ({"rate": "0.1"}, r"rate must be a number in \[0, 1\)"),
    ({"num_classes": 1}, r"num_classes must be an int >= 2, got 1"),
    ({"num_classes": 2.5}, r"num_classes must be an int >= 2"),
    ({"seed": -1}, r"seed must be a non-negative int"),
    ({"labels": [0, 3]}, r"labels must be in \[0, 3\) or equal to ignore_index=-100; got values in \[0, 3\]"),
    ({"labels": [0, -1]}, r"labels must be in \[0, 3\)"),
    ({"labels": [0.5, 1.0]}, r"labels must be integer class ids, got dtype float64"),
])
def test_bad_arguments_raise_a_helpful_value_error(kwargs, message):
    args = {"labels": [0, 1, 2], "rate": 0.5, "num_classes": 3, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        flip_labels(**args)


def test_the_readme_example_of_the_robustness_package_runs():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "textmix.robustness" in b)
    scope: dict = {"__name__": "readme"}
    exec(compile(block, "README.md", "exec"), scope)
    assert len(scope["typos"]) == 2 and scope["images"].shape == (4, 1, 28, 28)
    (words, tags), = scope["words"]
    kept = {"Paris": "B-loc", "is": "O", "nice": "O"}
    assert len(words) == 2 and tags == [kept[w] for w in words]  # one word of three deleted, with its tag
