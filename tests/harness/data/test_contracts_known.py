"""The label contract on its boundaries (`textmix.harness.data.contracts`): every spelling of a missing
label, class names of numbers, class order, the classes and counts of `fix_classes`, and shares turned into counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from textmix.harness.checks import InputError
from textmix.harness.data.contracts import (
    carve_count,
    class_name,
    class_order,
    fix_classes,
    is_missing_label,
    label_name,
)

MISSING = [None, "", "  ", "-1", " -1 ", "-1.0", "-1.00", "-1e0", -1, -1.0, np.int64(-1), np.float32(-1.0),
           float("nan"), np.float64("nan")]  # the strings "nan" / "NaN": issue 26 part 3 (another branch)
PRESENT = [0, 1, "0", "1", "1.0", "-2", -2, "-0.5", "neg", "None", False, True, [], "-1x", "1-", 0.0, "-0"]


@pytest.mark.parametrize("value", MISSING, ids=repr)
def test_every_spelling_of_a_missing_label_is_missing(value):
    assert is_missing_label(value) and label_name(value) is None


@pytest.mark.parametrize("value", PRESENT, ids=repr)
def test_a_label_that_is_a_value_is_not_missing(value):
    assert not is_missing_label(value) and label_name(value) is not None


@pytest.mark.parametrize(("value", "name"), [(1, "1"), (1.0, "1"), ("1.0", "1"), (" 2 ", "2"), ("-2.0", "-2"),
                                              (np.int64(3), "3"), (np.float32(4.0), "4"), (1.5, "1.5"), ("1.50", "1.50"),
                                              (" pos ", "pos"), (True, "True"), ("1e3", "1000"), ("inf", "inf")])
def test_class_names_of_whole_numbers_are_integers_and_others_their_text(value, name):
    assert class_name(value) == name


def test_class_order_puts_whole_numbers_first_in_numeric_order():
    names = ["b", "10", "-3", "2", "A", "1.5", "0"]
    assert sorted(names, key=class_order) == ["-3", "0", "2", "10", "1.5", "A", "b"]


def test_fix_classes_counts_and_keeps_by_hand():
    labels = {"train": ["2", "10", "2", "1"], "validation": ["1", "10"], "test": ["2", "7", "7"]}
    with pytest.raises(InputError, match=r"'7' \(2 rows\)"):
        fix_classes(labels, {"test": "t.csv"})
    classes = fix_classes(labels, {}, drop_unseen=True)
    assert classes.names == ["1", "2", "10"] and classes.ids == {"1": 0, "2": 1, "10": 2}
    assert classes.keep == {"train": [True] * 4, "validation": [True, True], "test": [True, False, False]}
    assert classes.counts == {"train": {"2": 2, "10": 1, "1": 1}, "validation": {"1": 1, "10": 1}, "test": {"2": 1}}
    assert classes.dropped_unseen == {"test": 2}
    assert classes.absent("test") == ["1", "10"] and classes.absent("train") == []


def test_fix_classes_needs_two_training_classes():
    with pytest.raises(InputError, match="only one class"):
        fix_classes({"train": ["a", "a"]}, {})
    assert fix_classes({"train": ["a", "b"]}, {}).names == ["a", "b"]


@pytest.mark.parametrize(("n", "share", "count"), [
    (10, 0.2, 2), (10, 0.249, 2), (10, 0.251, 3), (10, 0.35, 4), (4, 0.375, 2),  # x.5: see the xfail below
    (100, 0.1, 10), (3, 0.01, 1), (3, 0.99, 2), (2, 0.5, 1), (10, 5, 5), (10, 50, 9), (10, 1, 1), (10, 1.0, 1),
])
def test_carve_count_turns_a_share_or_a_count_into_rows(n, share, count):
    assert carve_count(n, share, "test", "x.csv") == count


def test_carve_count_rounds_half_up():
    assert [carve_count(n, share, "test", "x.csv") for n, share in ((10, 0.25), (5, 0.5), (7, 0.5))] == [
        math.floor(n * share + 0.5) for n, share in ((10, 0.25), (5, 0.5), (7, 0.5))]


def test_carve_count_needs_two_rows():
    with pytest.raises(InputError, match="1 row"):
        carve_count(1, 0.5, "test", "x.csv")
