"""The data contracts where data enters (textmix.harness.data.contracts): labels, inputs, splits.

Each case is one that trained or tested the wrong thing without an error before the contracts (issue 20).
"""

from __future__ import annotations

import numpy as np
import pytest

from textmix.harness.checks import InputError
from textmix.harness.data import contracts, tokens
from textmix.harness.data.text import load_data
from textmix.harness.recipes.glue import DataArguments


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
    with pytest.raises(ValueError, match=r"test.csv: 4 row\(s\) without a label .*-1 \(a hidden label\)") as err:
        text_data(tmp_path, [0, 1] * 5, [-1] * 4)
    assert "--drop_unlabelled" in str(err.value)
    data = text_data(tmp_path, [0, 1] * 5, [-1, -1, 0, 1], drop_unlabelled=True)
    assert data.num_labels == 2 and data.label_names == ["0", "1"]
    assert data.dropped_unlabelled == {"test": 2} and len(data.splits["test"]) == 2


@pytest.mark.parametrize("spelling", ["nan", "NaN", "", "-1.0", " -1 "])
def test_a_nan_empty_or_float_minus_one_label_is_missing_never_a_class(tmp_path, spelling):
    # pandas writes a missing label of a float column as "" (or "nan" via str()), a hidden one as "-1.0"
    train = ["pos", "neg", spelling] + ["pos", "neg"] * 3
    with pytest.raises(ValueError, match=r"train.csv: 1 row\(s\) without a label .*line 4"):
        text_data(tmp_path, train, ["pos", "neg"], problem_type="classification")
    data = text_data(tmp_path, train, ["pos", spelling, "neg"], problem_type="classification", drop_unlabelled=True)
    assert data.label_names == ["neg", "pos"] and data.dropped_unlabelled == {"train": 1, "test": 1}
    assert contracts.is_missing_label(spelling) and contracts.label_name(spelling) is None


def test_a_nan_label_is_missing_in_regression_too_but_minus_one_is_a_value(tmp_path):
    data = text_data(tmp_path, ["0.5", "nan", "-1.0", "2.5", "3.5", "4.5"], ["1.0", "NaN"], problem_type="regression",
                     drop_unlabelled=True, validation_split=1)
    assert data.dropped_unlabelled == {"train": 1, "test": 1}
    kept = list(data.splits["train"]["label"]) + list(data.splits["validation"]["label"])
    assert sorted(kept) == [-1.0, 0.5, 2.5, 3.5, 4.5]  # a number, not a hidden label here


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl"])
def test_a_duplicated_column_is_an_error_naming_it(tmp_path, suffix):
    from textmix.harness.data.tables import read_files

    rows = [("a good film", "1", "0"), ("a bad film", "0", "1")] * 3
    for name in ("train", "test"):
        path = tmp_path / f"{name}{suffix}"
        if suffix in (".csv", ".tsv"):
            sep = "," if suffix == ".csv" else "\t"
            path.write_text("\n".join([sep.join(["text", "label", "label"]), *(sep.join(r) for r in rows)]) + "\n")
        else:
            objects = [f'{{"text": "{t}", "label": "{a}", "label": "{b}"}}' for t, a, b in rows]
            path.write_text("[" + ",".join(objects) + "]" if suffix == ".json" else "\n".join(objects))
    with pytest.raises(ValueError, match=rf"train{suffix}: .*\['label'\] more than once"):
        read_files(str(tmp_path / f"train{suffix}"), str(tmp_path / f"test{suffix}"))


def test_a_duplicated_column_of_a_glue_tsv_or_ner_table_is_an_error_naming_it(tmp_path):
    from textmix.harness.data.glue import GlueTask, read_glue_tsv

    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\tlabel\ngood\t1\t0\n")
    task = GlueTask("sst2", "SST-2", "sentence", None, "label", ("0", "1"))
    with pytest.raises(InputError, match=r"train.tsv: .*\['label'\] more than once"):
        read_glue_tsv(task, path)
    path = tmp_path / "ner.csv"
    path.write_text("tokens,tags,tags\nEU rejects,B-ORG O,O O\n")
    with pytest.raises(InputError, match=r"ner.csv: .*\['tags'\] more than once"):
        tokens.read_table(path)
    path = tmp_path / "ner.jsonl"
    path.write_text('{"tokens": ["EU"], "tags": ["B-ORG"], "tags": ["O"]}\n')
    with pytest.raises(InputError, match=r"\['tags'\] more than once"):
        tokens.read_table(path)


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


# ----------------------------------------------------------------------------------------------- images

from textmix.harness.data import images  # noqa: E402
from textmix.harness.recipes import image as image_recipe  # noqa: E402


def npz(tmp_path, name="data.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def digits(n, shape=(6, 6), dtype=np.uint8, classes=(0, 1, 2), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, *shape)).astype(np.uint8)
    if dtype != np.uint8:
        x = (x / 255.0).astype(dtype)
    return x, rng.choice(np.asarray(classes), n).astype(np.int64)


def load(path, seed=0, **kwargs):
    data = image_recipe.DataArguments(npz_path=str(path), image_mean=[0.0], image_std=[1.0], **kwargs)
    return images.load_npz(data, None, None, seed)


def test_float_images_in_zero_one_are_not_divided_again_and_channels_first_is_read_as_such(tmp_path):
    (xt, yt), (xv, yv), (xs, ys) = digits(40, dtype=np.float32), digits(10, dtype=np.float32, seed=1), digits(10, seed=2)
    path = npz(tmp_path, x_train=xt, y_train=yt, x_validation=xv, y_validation=yv, x_test=(xs / 255.0).astype(np.float32),
               y_test=ys)
    (train, _, test), _, channels, size, extra = load(path)
    assert channels == 1 and size == 6
    assert np.allclose(train.x[:, 0].numpy(), xt) and np.allclose(test.x[:, 0].numpy(), xs / 255.0)
    assert extra["inputs"]["scaled_by"] == 1.0 and extra["inputs"]["layouts"]["x_train"] == "NHW float32"
    first = npz(tmp_path, "cf.npz", x_train=xt[:, None], y_train=yt, x_test=xs[:, None] / 255.0, y_test=ys)
    (train, _, _), _, channels, _, extra = load(first)  # (N, 1, H, W): one channel, not six
    assert channels == 1 and train.x.shape[1:] == (1, 6, 6)
    last = npz(tmp_path, "cl.npz", x_train=np.stack([xt] * 3, -1), y_train=yt, x_test=np.stack([xs / 255.0] * 3, -1),
               y_test=ys)
    assert load(last)[2] == 3


@pytest.mark.parametrize("change,match", [
    ({"x_train": lambda x: x.astype(np.float32)}, r"float32 with values in \[0, 255\]"),
    ({"x_train": lambda x: x.astype(np.int32)}, r"int32; images must be uint8"),
    ({"x_train": lambda x: np.zeros((len(x), 3, 5, 3), np.uint8)}, "layout cannot be told"),
    ({"y_train": lambda y: y[:-1]}, r"y_train has 39 labels for 40 images"),
    ({"y_train": lambda y: np.eye(3)[y]}, r"one-hot\?.*y_train.argmax\(1\)"),
    ({"y_train": lambda y: y + 0.5}, "not whole numbers"),
    ({"y_train": lambda y: np.where(np.arange(len(y)) < 3, -1, y)}, r"3 of the 40 labels of y_train are -1 \(missing\)"),
])
def test_bad_npz_arrays_are_errors_naming_the_fix(tmp_path, change, match):
    (xt, yt), (xs, ys) = digits(40), digits(10, seed=2)
    arrays = {"x_train": xt, "y_train": yt, "x_test": xs, "y_test": ys}
    for key, fn in change.items():
        arrays[key] = fn(arrays[key])
    if arrays["x_train"].ndim == 4:
        arrays["x_test"] = np.zeros((10, 3, 5, 3), np.uint8)
    with pytest.raises(InputError, match=match):
        load(npz(tmp_path, **arrays))


def test_npz_labels_are_the_training_classes_and_missing_ones_are_dropped_on_request(tmp_path):
    (xt, yt), (xs, ys) = digits(40, classes=(3, 7)), digits(10, classes=(3, 7), seed=2)
    (train, val, test), names, _, _, extra = load(npz(tmp_path, x_train=xt, y_train=yt, x_test=xs, y_test=ys))
    assert names == ["3", "7"]  # two outputs, not eight
    assert set(train.y.tolist()) | set(test.y.tolist()) == {0, 1}
    assert (test.y.numpy() == (ys == 7)).all()
    ys[:2] = -1
    (_, _, test), _, _, _, extra = load(npz(tmp_path, x_train=xt, y_train=yt, x_test=xs, y_test=ys),
                                        drop_unlabelled=True)
    assert len(test) == 8 and extra["dropped_unlabelled"] == {"test": 2}
    ys[:2] = 5  # a class the training images never show
    with pytest.raises(InputError, match=r"y_test of .* has label\(s\) .* never shows: '5' \(2 rows\)"):
        load(npz(tmp_path, x_train=xt, y_train=yt, x_test=xs, y_test=ys))


def test_without_test_images_the_test_set_is_carved_on_request_never_the_validation_set(tmp_path):
    (xt, yt), (xv, yv) = digits(40), digits(10, seed=1)
    xt[:, 0, 0], xt[:, 0, 1] = np.arange(40), 0  # each training image marked by its index
    path = npz(tmp_path, x_train=xt, y_train=yt, x_validation=xv, y_validation=yv)
    with pytest.raises(InputError, match=r"has no test split: .*--test_share"):
        load(path)
    (train, val, test), _, _, _, extra = load(path, test_share=0.25)
    marks = lambda split: {round(float(v) * 255) for v in split.x[:, 0, 0, 0]}  # noqa: E731
    assert len(test) == 10 and len(train) == 30 and not marks(train) & marks(test)
    assert marks(train) | marks(test) == set(range(40)) and not np.allclose(val.x.numpy()[:10], test.x.numpy()[:10])
    assert "carved from x_train" in extra["splits_made"]["test"] and extra["test_set"].startswith("images carved")
    (train, val, test), _, _, _, _ = load(npz(tmp_path, "nv.npz", x_train=xt, y_train=yt), test_share=8,
                                          validation_split=0.25)
    assert not marks(train) & marks(test) and not marks(val) & marks(test) and not marks(train) & marks(val)
    assert len(test) == 8 and len(val) == 8 and len(train) == 24


def test_an_image_folder_without_split_folders_needs_a_carved_test_set(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    for label in ("cat", "dog"):
        folder = tmp_path / "images" / label
        folder.mkdir(parents=True)
        for k in range(8):
            Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).save(folder / f"{k}.png")
    data = image_recipe.DataArguments(data_dir=str(tmp_path / "images"))
    with pytest.raises(InputError, match="has no test split.*--test_share"):
        images.load_hub_or_folder(data, image_recipe.ModelArguments(), 0, None, 6)
    data = image_recipe.DataArguments(data_dir=str(tmp_path / "images"), test_share=0.25, validation_split=0.25)
    (train, val, test), names, _, _, extra = images.load_hub_or_folder(data, image_recipe.ModelArguments(), 0,
                                                                             None, 6)
    assert names == ["cat", "dog"] and (len(train), len(val), len(test)) == (9, 3, 4)
    assert set(extra["splits_made"]) == {"train", "validation", "test"}


def test_shifted_images_are_seeded_by_the_split_seed_not_the_training_seed(tmp_path):
    (xt, yt), (xs, ys) = digits(20), digits(10, seed=2)
    path = npz(tmp_path, x_train=xt, y_train=yt, x_test=xs, y_test=ys)
    kinds = {"shift_kinds": ["gaussian_noise", "occlusion"], "shift_severities": [3]}
    copies = [load(path, seed=s, split_seed=c, **kinds)[4]["shifted"] for s, c in ((0, 0), (1, 0), (0, 1))]
    for kind in kinds["shift_kinds"]:
        first, other_seed, other_corruption = (c[kind][3].x for c in copies)
        assert torch_equal(first, other_seed)  # every method and seed sees the same corrupted copies
        assert not torch_equal(first, other_corruption)


def torch_equal(a, b):
    import torch

    return torch.equal(a, b)


# ----------------------------------------------------------------------------------------------- the weak ones


def test_a_tokenizer_without_pad_and_eos_fails_before_the_weights_load_with_a_hint_that_applies(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, PreTrainedTokenizerFast

    from textmix.harness.recipes import glue

    raw = Tokenizer(models.WordLevel({"[UNK]": 0, "good": 1, "bad": 2}, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    folder = tmp_path / "model"
    PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]").save_pretrained(folder)
    BertConfig(vocab_size=3, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=8).save_pretrained(folder)  # no weights: loading them would fail otherwise
    train = write_csv(tmp_path / "train.csv", "text,label", [f"good {i},pos" if i % 2 else f"bad {i},neg"
                                                             for i in range(8)])
    model_args, data_args, training_args = glue.RECIPE.parse_args([
        "--train_file", train, "--validation_file", train, "--model_name_or_path", str(folder),
        "--output_dir", str(tmp_path / "out"), "--report_to", "none", "--use_cpu", "--validation_split", "2"])
    with pytest.raises(InputError, match=r"neither a padding token nor an end-of-sequence token.*add_special_tokens"):
        glue.RECIPE.run(model_args, data_args, training_args)


@pytest.mark.parametrize("option,value", [("lora_dropout", 1.5), ("lora_dropout", -0.1), ("lora_alpha", 0.0),
                                          ("lora_alpha", -4.0)])
def test_lora_options_out_of_range_are_errors_naming_the_option(option, value):
    from textmix.harness.recipes import glue, ner

    for recipe in (glue, ner):
        with pytest.raises(ValueError, match=f"--{option} must"):
            recipe.RECIPE.model_arguments(lora_r=4, **{option: value})


def conll(path, sentences):
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")
    return str(path)


def test_without_seqeval_entity_tags_fail_before_training_naming_the_install(tmp_path, monkeypatch):
    import sys

    from textmix.harness.recipes import ner

    sentence = [("Paris", "B-loc"), ("is", "O"), ("big", "O")]
    files = {"train_file": conll(tmp_path / "train.conll", [sentence] * 4),
             "test_file": conll(tmp_path / "test.conll", [sentence])}
    assert tokens.load_data(ner.DataArguments(**files)).task_metric is None  # entity tags: entity F1
    monkeypatch.setitem(sys.modules, "seqeval", None)  # as if it were not installed
    with pytest.raises(InputError, match=r"needs seqeval for entity F1: pip install 'textmix\[ner\]'"):
        tokens.load_data(ner.DataArguments(**files))


def test_tags_that_are_not_entities_are_scored_by_token_accuracy_and_said(tmp_path, capsys):
    from textmix.harness.recipes import ner
    from textmix.harness.report.views import task_metric

    sentence = [("dogs", "NNS"), ("bark", "VBP"), ("loudly", "RB")]
    files = {"train_file": conll(tmp_path / "train.conll", [sentence] * 4),
             "test_file": conll(tmp_path / "test.conll", [sentence])}
    data = tokens.load_data(ner.DataArguments(**files))
    assert data.task_metric == "accuracy"  # not entity tags
    assert "are not entity tags" in capsys.readouterr().err
    assert task_metric({"problem_type": "token", "task_metric": "accuracy"}) == "accuracy"
    assert task_metric({"problem_type": "token"}) == "entity_f1"


def test_entity_tag_schemes():
    assert contracts.entity_tags(["O", "B-PER", "I-PER"]) and contracts.entity_tags(["O", "S-LOC", "E-LOC"])
    assert not contracts.entity_tags(["NN", "VB", "O"]) and not contracts.entity_tags(["O"])
    assert not contracts.entity_tags(["O", "B-"])


def test_one_word_texts_under_swap_or_deletion_get_a_notice():
    said = contracts.one_word_notice(["hello", "two words", " ", "three more words"], ["swap", "typo"])
    assert said.startswith("2 of the 4 test texts have fewer than two words: the ['swap'] shift")
    assert contracts.one_word_notice(["hello"], ["typo", "mask"]) is None
    assert contracts.one_word_notice(["two words"], ["deletion"]) is None


def test_one_word_test_texts_get_the_notice_in_a_real_recipe_run(tmp_path, capsys):
    """Through the GLUE recipe (bert-tiny, one step): the notice is printed, and what it says holds: the
    `swap` copies of one-word test texts are the test set itself (same figures)."""
    from conftest import shared_path

    from textmix.harness.recipes.glue import RECIPE

    words = ["good", "bad", "great", "awful", "fine", "poor"]
    train = write_csv(tmp_path / "train.csv", "text,label",
                      [f"this is sentence {i} about {w},{i % 2}" for i, w in enumerate(words * 4)])
    test = write_csv(tmp_path / "test.csv", "text,label", [f"{w},{i % 2}" for i, w in enumerate(words)])
    results = RECIPE.main(["--train_file", train, "--validation_file", test, "--shift_kinds", "swap", "typo",
                    "--shift_severities", "5", "--model_name_or_path", str(shared_path("models", "bert-tiny")),
                    "--output_dir", str(tmp_path / "out"), "--max_steps", "1", "--validation_split", "6",
                    "--per_device_train_batch_size", "8", "--max_seq_length", "16", "--report_to", "none",
                    "--save_strategy", "no", "--use_cpu", "--dataloader_pin_memory", "false"])
    err = capsys.readouterr().err
    assert "6 of the 6 test texts have fewer than two words: the ['swap'] shift leaves them unchanged" in err
    swapped = results["shift"]["swap"]["5"]
    assert swapped["accuracy"] == results["test"]["accuracy"] and swapped["nll"] == pytest.approx(results["test"]["nll"])


def test_the_mask_shift_without_a_mask_token_is_said_or_refused(capsys):
    from types import SimpleNamespace

    with_unk = SimpleNamespace(mask_token=None, unk_token="<unk>")
    assert contracts.mask_token(with_unk, ["mask"], "gpt") == "<unk>"
    assert "has no mask token: the `mask` shift replaces words with its unknown token '<unk>'" in capsys.readouterr().err
    with pytest.raises(InputError, match="neither a mask token nor an unknown token"):
        contracts.mask_token(SimpleNamespace(mask_token=None, unk_token=None), ["typo", "mask"], "gpt")
    assert contracts.mask_token(SimpleNamespace(mask_token="[MASK]", unk_token=None), ["mask"], "bert") == "[MASK]"


def test_a_class_missing_from_validation_or_test_is_said(tmp_path, capsys):
    text_data(tmp_path, ["pos", "neg", "mid"] * 4, ["pos", "neg"])
    assert "test lacks ['mid'] (its figures cover fewer classes than the model predicts)" in capsys.readouterr().err


def test_a_string_probability_in_mixconfig_is_a_clear_error():
    from textmix import MixConfig

    with pytest.raises(ValueError, match=r"prob must be a number, got '1' \(str\)"):
        MixConfig(method="hidden", prob="1")
    with pytest.raises(ValueError, match="label_smoothing must be a number"):
        MixConfig(method="hidden", label_smoothing="0.1")


def test_probabilities_passed_as_logits_warn():
    import warnings

    from textmix.calibration import calibration_report, fit_temperature

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 3)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 3, 50)
    with pytest.warns(UserWarning, match="look like probabilities"):
        calibration_report(probs, labels)
    with pytest.warns(UserWarning, match="look like probabilities"):
        fit_temperature(probs, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calibration_report(logits, labels)
        calibration_report(probs, labels, from_logits=False)
        fit_temperature(logits, labels)


def test_a_temperature_at_its_search_bound_is_flagged(capsys):
    from types import SimpleNamespace

    from textmix.calibration.temperature import at_search_bound
    from textmix.harness.recipes.common import predict_and_calibrate

    assert at_search_bound(0.01) and at_search_bound(100.0) and not at_search_bound(1.3)
    labels = np.arange(40) % 2
    right = np.stack([np.where(labels == 0, 0.01, -0.01), np.where(labels == 1, 0.01, -0.01)], 1)  # all right, barely
    rng = np.random.default_rng(0)
    noisy = right * 400 + rng.normal(size=right.shape) * 6

    class Trainer:
        compute_metrics = None  # the Trainer's attribute, set aside while predicting

        def __init__(self, logits):
            self.logits = logits

        def predict(self, split, metric_key_prefix):
            return SimpleNamespace(predictions=self.logits[split], label_ids=labels, metrics={})

    results, _ = predict_and_calibrate(Trainer({"validation": right, "test": right}), {"validation": "validation",
                                                                                       "test": "test"})
    assert results["temperature_at_bound"] is True
    assert "lies at an end of its search interval" in capsys.readouterr().err
    results, _ = predict_and_calibrate(Trainer({"validation": noisy, "test": noisy}), {"validation": "validation",
                                                                                       "test": "test"})
    assert results["temperature_at_bound"] is False


def test_a_temperature_in_the_flat_nll_of_an_all_right_validation_split_is_flagged(capsys):
    """Every validation prediction right with margin 10 (NLL <= log(1 + e^-10 / T)): the bounded search stops
    inside the interval (where the NLL is ~0), yet the fit is no fit: the NLL at the lower bound is as low."""
    import math
    from types import SimpleNamespace

    from textmix.calibration import fit_temperature
    from textmix.calibration.temperature import TEMPERATURE_BOUNDS, at_search_bound
    from textmix.harness.recipes.common import predict_and_calibrate

    labels = np.arange(40) % 2
    sign = np.where(labels == 1, 1.0, -1.0)
    confident = np.stack([-5 * sign, 5 * sign], 1)  # right, margin 10
    t = fit_temperature(confident, labels)
    lo = TEMPERATURE_BOUNDS[0]
    assert lo * 1.01 < t < 1  # inside: the bound test alone misses it
    assert not at_search_bound(t)
    hand = math.log1p(math.exp(-10 / t))  # the mean NLL at t (every row alike), by hand
    assert hand < 1e-4 and math.log1p(math.exp(-10 / lo)) < hand  # flat: the lower bound is as low
    assert at_search_bound(t, logits=confident, labels=labels)

    class Trainer:
        compute_metrics = None  # the Trainer's attribute, set aside while predicting

        def predict(self, split, metric_key_prefix):
            return SimpleNamespace(predictions=confident, label_ids=labels, metrics={})

    results, _ = predict_and_calibrate(Trainer(), {"validation": "validation", "test": "test"})
    assert results["temperature"] == pytest.approx(t) and results["temperature_at_bound"] is True
    assert "lies at an end of its search interval" in capsys.readouterr().err
    # a genuine optimum inside: a quarter of the predictions wrong (margin 2) holds T away from both ends
    mixed = np.where(np.arange(40)[:, None] % 4 == 0, -0.2 * confident, confident)
    t = fit_temperature(mixed, labels)
    assert lo * 1.01 < t < TEMPERATURE_BOUNDS[1] * 0.99
    assert not at_search_bound(t, logits=mixed, labels=labels)
    constant = np.zeros((40, 2))  # a constant model: the NLL is log 2 at every T, so T is undetermined
    assert at_search_bound(fit_temperature(constant, labels), logits=constant, labels=labels)


# ----------------------------------------------------------------------------------------------- property


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

LABEL_VALUES = st.one_of(
    st.sampled_from(["pos", "neg", "Pos", " neg", "neg ", "mid", "", "  ", "-1", "-1.0", "1", "1.0", " 2", "10",
                     "1.5", "n/a"]),
    st.integers(-1, 12), st.sampled_from([-1.0, 2.0, 3.5]),
)


@settings(max_examples=60, deadline=None)
@given(train=st.lists(LABEL_VALUES, min_size=1, max_size=12), test=st.lists(LABEL_VALUES, min_size=1, max_size=8),
       drop_unseen=st.booleans())
def test_the_label_contract_over_random_label_sets(train, test, drop_unseen):
    """Oracle: a loop over the rows with the contract's rules written out (missing = None, blank, NaN or -1;
    a class is the label's text, whole numbers as integers; the classes are the training split's)."""
    from textmix.harness.data.tables import read_tables

    def missing(v):
        return v is None or (isinstance(v, str) and not v.strip()) or (not isinstance(v, str) and float(v) == -1) or (
            isinstance(v, str) and v.strip() in ("-1", "-1.0"))

    def name(v):
        text = str(v).strip()
        try:
            number = float(text)
        except ValueError:
            return text
        return str(int(number)) if number.is_integer() else text

    raw = {split: [(f"line {i + 2}", {"text": f"t{i}", "label": v}) for i, v in enumerate(values)]
           for split, values in (("train", train), ("test", test))}
    files = {"train": "train.csv", "test": "test.csv"}
    kept = {split: [v for v in values if not missing(v)] for split, values in (("train", train), ("test", test))}
    classes = sorted({name(v) for v in kept["train"]}, key=lambda n: (not n.lstrip("-").isdigit(),
                                                                      int(n) if n.lstrip("-").isdigit() else 0, n))
    unseen = [name(v) for v in kept["test"] if name(v) not in classes]
    expect_error = (not kept["train"] or not kept["test"] or len(classes) < 2
                    or (unseen and not drop_unseen) or (drop_unseen and len(unseen) == len(kept["test"])))
    try:
        loaded = read_tables(raw, files, ["text"], "label", "classification", drop_unlabelled=True,
                             drop_unseen=drop_unseen)
    except ValueError as err:
        assert expect_error, f"unexpected error: {err}"
        if unseen and not drop_unseen and len(classes) >= 2 and kept["test"]:
            assert "never shows" in str(err) and all(repr(u) in str(err) for u in sorted(set(unseen))[:10])
        return
    assert not expect_error
    assert loaded.names == classes
    assert loaded.data["train"]["label"] == [classes.index(name(v)) for v in kept["train"]]
    assert loaded.data["test"]["label"] == [classes.index(name(v)) for v in kept["test"] if name(v) in classes]
    assert loaded.dropped_unseen == ({"test": len(unseen)} if unseen else {})
    assert loaded.dropped_counts == {s: len(v) - len(kept[s]) for s, v in (("train", train), ("test", test))
                                     if len(v) > len(kept[s])}


@pytest.mark.parametrize("n,count", [(10, 0.2), (7, 3), (2, 0.5), (50, 0.1)])
def test_the_ner_validation_carve_is_disjoint_from_the_sentences_trained_on(n, count):
    from textmix.harness.data.tokens import carve

    held, kept = carve(n, count, seed=3)
    assert len(held) == max(1, min(int(round(count * n)) if count < 1 else int(count), n - 1))
    assert not set(held) & set(kept) and sorted(held + kept) == list(range(n))
