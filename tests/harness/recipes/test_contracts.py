"""The data contracts where data enters (textmix.harness.recipes.contracts): labels, inputs, splits.

Each case is one that trained or tested the wrong thing without an error before the contracts (issue 20).
"""

from __future__ import annotations

import numpy as np
import pytest

from textmix.harness.checks import InputError
from textmix.harness.recipes import contracts
from textmix.harness.recipes.glue import DataArguments, load_data


def write_csv(path, header, rows):
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(path)


def text_data(tmp_path, train_labels, test_labels, validation_labels=None, header="text,label", **kwargs):
    train = write_csv(tmp_path / "train.csv", header, [f"train sentence {i},{v}" for i, v in enumerate(train_labels)])
    test = write_csv(tmp_path / "test.csv", header, [f"test sentence {i},{v}" for i, v in enumerate(test_labels)])
    files = {"train_file": train, "test_file": test}
    if validation_labels is not None:
        files["validation_file"] = write_csv(tmp_path / "dev.csv", header,
                                             [f"dev sentence {i},{v}" for i, v in enumerate(validation_labels)])
    else:
        files = {"train_file": train, "validation_file": test}  # validation_file alone is the test set
    return load_data(DataArguments(**files, **{"validation_split": 2, **kwargs}))


def test_a_hidden_test_label_of_minus_one_is_missing_not_a_class(tmp_path):
    with pytest.raises(ValueError, match=r"test.csv: 4 row\(s\) without a label .*-1") as err:
        text_data(tmp_path, [0, 1] * 5, [-1] * 4)
    assert "--drop_unlabelled" in str(err.value)
    data = text_data(tmp_path, [0, 1] * 5, [-1, -1, 0, 1], drop_unlabelled=True)
    assert data.num_labels == 2 and data.label_names == ["0", "1"]
    assert data.dropped_unlabelled == {"test": 2} and len(data.splits["test"]) == 2


def test_test_labels_never_seen_in_training_are_an_error_naming_them(tmp_path):
    with pytest.raises(InputError, match=r"test.csv has label\(s\) the training data .* never shows: 'neg' \(2 rows\), "
                                         r"'pos' \(1 row\)"):
        text_data(tmp_path, [1, 2, 10, 1, 2, 10], ["pos", "neg", "neg"])
    with pytest.raises(InputError, match=r"'Pos' is 'pos' in training"):  # a case variant is pointed out
        text_data(tmp_path, ["pos", "neg"] * 3, ["Pos", "neg"])
    with pytest.raises(InputError, match=r"dev.csv has label\(s\) .*'maybe'"):  # a class only validation has
        text_data(tmp_path, ["pos", "neg"] * 3, ["pos", "neg"], validation_labels=["pos", "maybe"])
    data = text_data(tmp_path, ["pos", "neg"] * 3, ["pos ", " neg", "Pos"], drop_unseen_labels=True)
    assert data.label_names == ["neg", "pos"] and data.num_labels == 2  # spaces are not part of a name
    assert data.dropped_unseen == {"test": 1} and sorted(data.splits["test"]["label"]) == [0, 1]


def test_whole_number_labels_are_never_truncated_and_number_spellings_agree(tmp_path):
    data = text_data(tmp_path, ["1", "2.0", " 10", "1.0", "2", "10"], ["10.0", "1"])
    assert data.label_names == ["1", "2", "10"]
    assert data.splits["test"]["label"] == [2, 0]
    with pytest.raises(InputError, match=r"'1.5'"):  # 1.5 is not class 1
        text_data(tmp_path, ["1", "2", "1", "2"], ["1.5"], problem_type="classification")


def test_the_columns_read_as_text_are_said_and_an_id_column_is_not_text(tmp_path, capsys):
    rows = [f"row-{i},sentence number {i},{'pos' if i % 2 else 'neg'}" for i in range(10)]
    train = write_csv(tmp_path / "train.csv", "id,text,label", rows)
    test = write_csv(tmp_path / "test.csv", "id,text,label", rows[:4])
    data = load_data(DataArguments(train_file=train, validation_file=test, validation_split=2))
    assert data.inputs["text_columns"] == ["text"] and "text_b" not in data.splits["train"].column_names
    err = capsys.readouterr().err
    assert "text read from column(s) ['text']" in err and "skipped ['id']" in err
    assert "2 classes (rows in train/test): neg 5/2, pos 5/2" in err
    data = load_data(DataArguments(train_file=train, validation_file=test, validation_split=2,
                                   text_columns=["id", "text"]))
    assert data.inputs == {"text_columns": ["id", "text"], "how": "given (--text_columns)"}


def test_how_each_split_was_made_is_recorded(tmp_path):
    data = text_data(tmp_path, [0, 1] * 5, [0, 1])
    made = data.splits_made
    assert set(made) == {"train", "validation", "test"} and made["test"].endswith("test.csv")
    assert "carved from" in made["validation"] and "disjoint" in made["validation"]


def test_a_validation_split_carved_from_training_rows_is_disjoint_from_them(tmp_path):
    labels = [i % 3 for i in range(40)]
    data = text_data(tmp_path, labels, [0, 1, 2], validation_split=0.25)
    train, validation = data.splits["train"]["text_a"], data.splits["validation"]["text_a"]
    assert len(validation) == 10 and len(train) == 30
    assert not set(train) & set(validation)  # a temperature fitted on rows the model trained on is wrong
    assert set(train) | set(validation) == {f"train sentence {i}" for i in range(40)}
