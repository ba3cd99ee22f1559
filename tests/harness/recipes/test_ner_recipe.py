"""textmix.harness.recipes.ner: runs on the real WNUT-17 in ../shared with bert-tiny (a few steps each),
the label alignment against a hand-made example, the readers, the temperature, resuming, a one-task
`textmix compare` sweep, and the errors of bad inputs (before a model is loaded)."""

from __future__ import annotations

import json
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from textmix.harness.checks import InputError
from textmix.harness.compare.sweep import parse_sweep
from textmix.harness.data import tokens
from textmix.harness.data.tokens import read_conll, read_table
from textmix.harness.recipes import ner
from textmix.harness.recipes.arguments import parse
from textmix.harness.recipes.ner import align_labels
from textmix.harness.runfile import RESULT_KEYS  # the schema every recipe shares

main = ner.RECIPE.main

ROOT = Path(__file__).resolve().parents[3]
WNUT_TAGS = ["O", "B-corporation", "B-creative-work", "B-group", "B-location", "B-person", "B-product",
             "I-corporation", "I-creative-work", "I-group", "I-location", "I-person", "I-product"]
CALIBRATION_KEYS = {"accuracy", "ece", "adaptive_ece", "mce", "rmsce", "classwise_ece", "smece", "ece_sweep", "brier", "nll"}
ENTITY_KEYS = {"entity_f1", "entity_precision", "entity_recall"}
QUIET = ["--report_to", "none", "--use_cpu", "--dataloader_pin_memory", "false", "--disable_tqdm", "true"]
TINY = ["--max_train_samples", "64", "--max_eval_samples", "32", "--max_predict_samples", "32", "--max_steps", "3",
        "--per_device_train_batch_size", "8", "--max_seq_length", "64", "--learning_rate", "1e-3",
        "--save_strategy", "no", *QUIET]


def wnut(*extra: str) -> list[str]:
    folder = shared_path("data", "wnut17")
    return ["--train_file", str(folder / "train.conll"), "--validation_file", str(folder / "dev.conll"),
            "--test_file", str(folder / "test.conll"), "--model_name_or_path", str(shared_path("models", "bert-tiny")),
            *extra]


@pytest.fixture(scope="module")
def wnut_run(tmp_path_factory):
    """One hidden-Mixup run on WNUT-17 (64 training sentences, 3 steps), with its calibrated model: (results,
    output folder)."""
    out = tmp_path_factory.mktemp("wnut") / "hidden"
    results = main(wnut("--mix_method", "hidden", "--output_dir", str(out), "--save_calibrated", *TINY))
    return results, out


def test_a_wnut17_run_writes_the_shared_schema_for_tokens(wnut_run):
    results, out = wnut_run
    saved = json.loads((out / "results.json").read_text())
    assert set(saved) == RESULT_KEYS | {"label_names", "unscored_words", "calibrated"}
    assert saved["problem_type"] == "token" and not saved["regression"] and saved["method"] == "hidden"
    assert saved["task"] == "wnut17" and saved["label_names"] == WNUT_TAGS  # sorted, O first
    assert saved["sizes"] == {"train": 64, "validation": 32, "test": 32}
    for split in ("validation", "test"):
        assert CALIBRATION_KEYS | ENTITY_KEYS <= set(saved[split])
    assert set(saved["test_ts"]) == CALIBRATION_KEYS | {"smece_ci"} and saved["temperature"] > 0
    assert saved["test_ts"]["accuracy"] == pytest.approx(saved["test"]["accuracy"])  # scaling keeps the argmax
    with np.load(out / "predictions.npz", allow_pickle=False) as arrays:
        logits, labels = arrays["test_logits"], arrays["test_labels"]
        assert sorted(arrays.files) == ["test_labels", "test_logits", "validation_labels", "validation_logits"]
    assert logits.ndim == 3 and logits.shape[0] == 32 and logits.shape[2] == len(WNUT_TAGS)
    assert labels.shape == logits.shape[:2]
    from textmix.calibration import entity_scores, labelled_tokens, token_calibration_report

    # the figures are those of the saved predictions, over labelled tokens (one per word that got a token)
    assert saved["test"]["ece"] == pytest.approx(token_calibration_report(logits, labels)["ece"], rel=1e-6)
    assert saved["test"]["entity_f1"] == pytest.approx(
        entity_scores(logits, labels, dict(enumerate(WNUT_TAGS)))["entity_f1"])
    words = sum(len(w) for w, _ in read_conll(shared_path("data", "wnut17", "test.conll"))[:32])
    assert labelled_tokens(logits, labels)[1].size == words - saved["unscored_words"]["test"]
    majority = np.bincount(labelled_tokens(logits, labels)[1]).max() / labelled_tokens(logits, labels)[1].size
    assert saved["test_majority_accuracy"] == pytest.approx(majority)
    assert (out / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved["config"]["data"]["label_all_tokens"] is False and results["test"] == saved["test"]


def test_the_calibrated_tagger_gives_the_scaled_logits_of_the_labelled_tokens(wnut_run):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    _, out = wnut_run
    saved = json.loads((out / "results.json").read_text())
    folded = AutoModelForTokenClassification.from_pretrained(out / "calibrated").eval()
    tokenizer = AutoTokenizer.from_pretrained(out / "calibrated")
    assert folded.config.textmix_calibration["temperature"] == pytest.approx(saved["temperature"])
    tags = {tag for _, sentence_tags in read_conll(shared_path("data", "wnut17", "train.conll")) for tag in sentence_tags
            if tag is not None}
    assert saved["label_names"][0] == "O" and set(saved["label_names"]) == tags  # the oracle: the file's own tags
    for folder in (out, out / "calibrated"):  # the final and the calibrated tagger name their tags
        config = json.loads((folder / "config.json").read_text())
        assert config["id2label"] == {str(i): tag for i, tag in enumerate(saved["label_names"])}, folder
        assert config["label2id"] == {tag: i for i, tag in enumerate(saved["label_names"])}, folder
    with np.load(out / "predictions.npz", allow_pickle=False) as arrays:
        logits, labels = arrays["test_logits"], arrays["test_labels"]
    for i, (words, _) in enumerate(read_conll(shared_path("data", "wnut17", "test.conll"))[:4]):
        enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=64, return_tensors="pt")
        with torch.no_grad():
            got = folded(**enc).logits[0].numpy()
        scored = labels[i, : got.shape[0]] != -100
        np.testing.assert_allclose(got[scored], logits[i, : got.shape[0]][scored] / saved["temperature"], atol=1e-4)


def test_the_temperature_is_fitted_on_the_saved_validation_labelled_tokens(wnut_run):
    from textmix.calibration import fit_temperature, labelled_tokens

    results, out = wnut_run
    with np.load(out / "predictions.npz", allow_pickle=False) as arrays:
        fitted = fit_temperature(*labelled_tokens(arrays["validation_logits"], arrays["validation_labels"]))
        on_test = fit_temperature(*labelled_tokens(arrays["test_logits"], arrays["test_labels"]))
    assert results["temperature"] == pytest.approx(fitted, rel=1e-9)
    assert on_test != pytest.approx(fitted, rel=1e-3)  # the check can tell the two splits apart


def test_only_the_first_sub_token_of_a_word_gets_its_tag():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(shared_path("models", "bert-tiny"))
    label2id = {tag: i for i, tag in enumerate(WNUT_TAGS)}
    sentence = (["@paulwalk", "visits", "Kuala", "Lumpur"], ["B-person", "O", "B-location", "I-location"])
    data, unscored, cut = ner.tokenize([sentence], tokenizer, label2id, max_seq_length=32)
    tokens = tokenizer.convert_ids_to_tokens(data[0]["input_ids"])
    assert tokens == ["[CLS]", "@", "paul", "##walk", "visits", "kuala", "lumpur", "[SEP]"]
    person, location, inside = label2id["B-person"], label2id["B-location"], label2id["I-location"]
    assert data[0]["labels"] == [-100, person, -100, -100, 0, location, inside, -100]
    assert (unscored, cut) == (0, 0)
    every, _, _ = ner.tokenize([sentence], tokenizer, label2id, max_seq_length=32, label_all_tokens=True)
    assert every[0]["labels"] == [-100, person, label2id["I-person"], label2id["I-person"], 0, location, inside, -100]
    short, unscored, cut = ner.tokenize([sentence], tokenizer, label2id, max_seq_length=5)  # [CLS] 3 pieces [SEP]
    assert short[0]["labels"] == [-100, person, -100, -100, -100] and (unscored, cut) == (3, 1)
    # the pure rule, on word ids as a fast tokenizer gives them
    assert align_labels([None, 0, 0, 1, 2, 2, None], ["B-x", "O", "I-x"], {"O": 0, "B-x": 1, "I-x": 2}) == [
        -100, 1, -100, 0, 2, -100, -100]


def test_the_conll_reader_breaks_sentences_at_whitespace_only_lines(tmp_path):
    path = tmp_path / "quirky.conll"
    path.write_text("-DOCSTART-\tO\n\nPaul\tB-person\nwalks\tO\n\t\nin\tO\n   \nLondon NNP B-NP B-location\r\n"
                    "today NN B-NP O\n\n\n\t\nlast\tO", encoding="utf-8")  # tab-only, spaces, CRLF, 4 columns
    assert read_conll(path) == [(["Paul", "walks"], ["B-person", "O"]), (["in"], ["O"]),
                                (["London", "today"], ["B-location", "O"]), (["last"], ["O"])]
    train = read_conll(shared_path("data", "wnut17", "train.conll"))  # 2,394 of its separators are a lone tab
    assert len(train) == 3394 and sum(len(words) for words, _ in train) == 62730
    assert sorted({t for _, tags in train for t in tags}) == sorted(WNUT_TAGS)
    (tmp_path / "bad.conll").write_text("Paul\tB-person\nwalks\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.conll, line 2: expected `token<TAB>tag`"):
        read_conll(tmp_path / "bad.conll")


def test_csv_and_json_tables_with_token_and_tag_lists(tmp_path):
    rows = [{"tokens": ["Paul", "walks"], "tags": ["B-person", "O"]}, {"tokens": [], "tags": []},
            {"tokens": ["in", "London"], "tags": ["O", "B-location"]}]
    expected = [(["Paul", "walks"], ["B-person", "O"]), (["in", "London"], ["O", "B-location"])]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps(rows), encoding="utf-8")
    (tmp_path / "a.csv").write_text('tokens,labels\n"[""Paul"", ""walks""]",B-person O\n,\nin London,O B-location\n',
                                    encoding="utf-8")  # a JSON list or whitespace-separated words
    assert read_table(tmp_path / "a.jsonl") == expected and read_table(tmp_path / "a.json") == expected
    assert read_table(tmp_path / "a.csv", tags_column="labels") == expected
    with pytest.raises(InputError, match="no tags or ner_tags column.*--tags_column"):
        read_table(tmp_path / "a.csv")
    (tmp_path / "b.jsonl").write_text(json.dumps({"tokens": ["a", "b"], "tags": ["O"]}), encoding="utf-8")
    with pytest.raises(InputError, match="b.jsonl, line 1: 2 words but 1 tags"):
        read_table(tmp_path / "b.jsonl")


def test_a_dataset_folder_with_class_label_tags(tmp_path):
    """`--dataset_name` (here a local parquet dataset, as the hub serves them) with ner_tags ids of a ClassLabel."""
    from datasets import ClassLabel, Dataset, Features, List, Value

    features = Features({"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=["O", "B-loc", "I-loc"]))})
    (tmp_path / "data").mkdir()
    for split in ("train", "validation", "test"):
        Dataset.from_dict({"tokens": [["to", "New", "York"]], "ner_tags": [[0, 1, 2]]},
                          features=features).to_parquet(str(tmp_path / "data" / f"{split}-00000-of-00001.parquet"))
    data_args = ner.DataArguments(dataset_name=str(tmp_path))
    assert tokens.read_hub(data_args) == {split: [(["to", "New", "York"], ["O", "B-loc", "I-loc"])]
                                       for split in ("train", "validation", "test")}
    assert tokens.load_data(data_args).label_names == ["O", "B-loc", "I-loc"]


def test_validation_is_carved_from_train_the_same_for_every_seed(tmp_path):
    folder = shared_path("data", "wnut17")
    carved = [tokens.load_data(ner.DataArguments(train_file=str(folder / "train.conll"),
                                              test_file=str(folder / "test.conll"), validation_split=0.1))
              for _ in range(2)]
    assert len(carved[0].splits["validation"]) == 339 and len(carved[0].splits["train"]) == 3394 - 339
    assert carved[0].splits["validation"] == carved[1].splits["validation"]
    dev_as_test = tokens.load_data(ner.DataArguments(train_file=str(folder / "train.conll"),
                                                  validation_file=str(folder / "dev.conll"), validation_split=50))
    assert len(dev_as_test.splits["test"]) == 1009 and len(dev_as_test.splits["validation"]) == 50
    assert dev_as_test.splits_made["test"] == str(folder / "dev.conll")


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, capsys):
    args = wnut("--mix_method", "embedding", "--output_dir", str(tmp_path), *TINY, "--save_strategy", "steps",
                "--save_steps", "1")
    straight = main(args)
    reference = np.load(tmp_path / "predictions.npz")["test_logits"]
    for name in ("checkpoint-3", "results.json"):  # as if killed after step 2
        shutil.rmtree(tmp_path / name) if (tmp_path / name).is_dir() else (tmp_path / name).unlink()
    capsys.readouterr()
    resumed = main(args)
    assert Path(resumed["resumed_from"]).name == "checkpoint-2" and resumed["this_attempt"]["from_step"] == 2
    assert f"resuming from {resumed['resumed_from']} (step 2 of 3)" in capsys.readouterr().err
    np.testing.assert_allclose(np.load(tmp_path / "predictions.npz")["test_logits"], reference, rtol=1e-5, atol=1e-6)
    assert resumed["test"]["entity_f1"] == pytest.approx(straight["test"]["entity_f1"])
    assert resumed["train_loss"] == pytest.approx(straight["train_loss"], rel=1e-5)


def wnut_grid(*methods: str) -> dict:
    """A one-task `textmix compare` grid of WNUT-17 (TINY's settings): what the recipe's old --compare ran."""
    folder = shared_path("data", "wnut17")
    task = {"name": "wnut17", "modality": "tokens", "train_file": str(folder / "train.conll"),
            "validation_file": str(folder / "dev.conll"), "test_file": str(folder / "test.conll"),
            "data": {"max_train_samples": 64, "max_eval_samples": 32, "max_predict_samples": 32, "max_seq_length": 64},
            "training": {"max_steps": 3, "per_device_train_batch_size": 8, "learning_rate": 1e-3,
                         "save_strategy": "no", "report_to": "none", "use_cpu": True,
                         "dataloader_pin_memory": False, "disable_tqdm": True}}
    return {"tasks": [task], "methods": list(methods), "seeds": [42],
            "model_name_or_path": str(shared_path("models", "bert-tiny"))}


def test_a_one_task_sweep_reports_entity_f1_and_skips_finished_runs(tmp_path, monkeypatch):
    from textmix.harness.compare import compare, execute

    trained, run_one = [], execute.run_one  # the runs the sweep trains, counted where it trains each
    monkeypatch.setattr(execute, "run_one", lambda run: trained.append(run.name) or run_one(run))
    out = tmp_path / "cmp"
    compare(parse_sweep(wnut_grid("none", "span")), out, progress=False)
    assert trained == ["wnut17/none/seed42", "wnut17/span/seed42"]
    results = [json.loads((out / "runs" / "wnut17" / m / "seed42" / "results.json").read_text()) for m in ("none", "span")]
    for method, r in zip(("none", "span"), results, strict=True):
        assert r["method"] == method and r["config"]["training"]["mix_method"] == method
        assert r["grid_key"] and r["config"]["data"]["max_seq_length"] == 64
    report = json.loads((out / "report.json").read_text())
    task = report["tasks"]["wnut17"]
    assert task["metric"] == "entity_f1" and list(task["methods"]) == ["none", "span"]
    assert task["methods"]["span"]["task_metric"] == pytest.approx(results[1]["test"]["entity_f1"])
    assert task["methods"]["none"]["ece_ts"] == pytest.approx(results[0]["test_ts"]["ece"])
    md = (out / "report.md").read_text()
    assert "| method | entity_f1 | Δ entity_f1 | accuracy |" in md
    assert (out / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    compare(parse_sweep(wnut_grid("none", "span")), out, progress=False)
    assert trained == ["wnut17/none/seed42", "wnut17/span/seed42"]  # finished runs (same key) skipped


def test_a_sweep_checks_every_method_before_training(tmp_path):
    from textmix.harness.compare.execute import compare
    from textmix.harness.compare.sweep import GridError

    with pytest.raises(GridError, match="method mixup fits none of the tasks"):
        compare(parse_sweep(wnut_grid("none", "mixup")), tmp_path / "cmp", progress=False)
    assert not (tmp_path / "cmp" / "runs").exists()


@pytest.mark.parametrize("flag", ["--compare", "--quick"])
def test_compare_and_quick_are_errors_that_name_textmix_compare(tmp_path, flag, capsys):
    from textmix.harness import cli

    assert cli.main(["train", "ner", *wnut(flag, "none", "--output_dir", str(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert f"{flag} is not a recipe argument" in err and "textmix compare --preset quick --tasks" in err
    assert "Traceback" not in err and not (tmp_path / "results.json").exists()


def test_a_lora_adapter_on_the_tagger(tmp_path):
    pytest.importorskip("peft")
    results = main(wnut("--lora_r", "4", "--lora_target_modules", "query", "value", "--mix_method", "hidden",
                        "--output_dir", str(tmp_path), *TINY, "--max_steps", "1"))
    assert results["config"]["model"]["lora_r"] == 4 and np.isfinite(results["train_loss"])
    assert np.load(tmp_path / "predictions.npz")["test_logits"].shape[2] == len(WNUT_TAGS)


def one_tag_file(tmp_path) -> Path:
    path = tmp_path / "one_tag.conll"
    path.write_text("a\tO\nb\tO\n\nc\tO\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("case", ["missing file", "one tag", "max_seq_length 0", "pooled method", "unseen tag",
                                  "output_dir is a file", "no test data"])
def test_bad_inputs_are_errors_that_name_the_fix(tmp_path, case):
    folder = shared_path("data", "wnut17")
    argv = wnut("--output_dir", str(tmp_path / "out"), *TINY)
    if case == "missing file":
        argv += ["--train_file", str(tmp_path / "nope.conll")]
        error, match = FileNotFoundError, r"--train_file .*nope.conll does not exist"
    elif case == "one tag":
        argv += ["--train_file", str(one_tag_file(tmp_path))]
        error, match = InputError, r"has only one tag \('O'\) in its 2 sentences"
    elif case == "max_seq_length 0":
        argv += ["--max_seq_length", "0"]
        error, match = InputError, "--max_seq_length must be > 0"
    elif case == "pooled method":
        argv += ["--mix_method", "pooled"]
        error, match = InputError, r"pooled does not mix token labels; use one of \[.*'hidden'"
    elif case == "unseen tag":
        (tmp_path / "test.conll").write_text("Paul\tB-athlete\n", encoding="utf-8")
        argv += ["--test_file", str(tmp_path / "test.conll")]
        error, match = InputError, r"test.conll has label\(s\) the training data .* never shows: 'B-athlete' \(1 word\)"
    elif case == "output_dir is a file":
        (tmp_path / "out").write_text("", encoding="utf-8")
        error, match = InputError, "is a file, not a folder"
    else:
        argv = ["--train_file", str(folder / "train.conll"), "--output_dir", str(tmp_path), *QUIET]
        error, match = InputError, "no test data: give --test_file"
    with pytest.raises(error, match=match):
        main(argv)
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_slow_tokenizer_is_refused_before_the_model_loads(tmp_path):
    from transformers import BertTokenizerLegacy

    folder = tmp_path / "slow"  # config and a Python (slow) tokenizer, no weights: the error must come first
    folder.mkdir()
    shutil.copy(shared_path("models", "bert-tiny", "config.json"), folder / "config.json")
    BertTokenizerLegacy(str(shared_path("models", "minilm-l6", "vocab.txt"))).save_pretrained(folder)
    argv = wnut("--output_dir", str(tmp_path / "out"), *TINY, "--model_name_or_path", str(folder))
    with pytest.raises(InputError, match="is not a fast tokenizer: .*word_ids()"):
        main(argv)


def test_the_launcher_prints_one_line_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["run_ner.py", "--output_dir", str(tmp_path), "--train_file",
                                      str(tmp_path / "nope.conll"), "--test_file", str(tmp_path / "nope.conll"),
                                      "--model_name_or_path", str(shared_path("models", "bert-tiny")), *QUIET])
    monkeypatch.delenv("TEXTMIX_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ROOT / "recipes" / "run_ner.py"), run_name="__main__")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python {ROOT / 'recipes' / 'run_ner.py'}: error: --train_file")  # as typed: argv[0]
    assert "does not exist" in err and "Traceback" not in err


def test_a_config_file_gives_the_same_arguments_and_overrides_set_method_and_folder(tmp_path):
    folder = shared_path("data", "wnut17")
    config = tmp_path / "ner.yaml"
    config.write_text(f"train_file: {folder / 'train.conll'}\ntest_file: {folder / 'test.conll'}\n"
                      f"output_dir: {tmp_path / 'out'}\nmax_seq_length: 32\n"
                      "report_to: none\nuse_cpu: true\n", encoding="utf-8")
    model_args, data_args, training_args = ner.RECIPE.parse_args([str(config)])
    assert data_args.max_seq_length == 32
    run_args = parse(ner.RECIPE.make_parser(), [str(config)], mix_method="hidden",
                     output_dir=str(tmp_path / "out" / "hidden"))[2]
    assert run_args.mix_method == "hidden" and run_args.output_dir == str(tmp_path / "out" / "hidden")
    assert data_args.name() == "wnut17"


# ----------------------------------------------------------------------------------------------- the label contract


def conll(path: Path, sentences) -> str:
    """Write `sentences` ([(word, tag), ...] each; a tag of "" writes `word<TAB>`) as a CoNLL file."""
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")
    return str(path)


TAGGED = [("paul", "B-per"), ("lives", "O"), ("in", "O"), ("london", "B-loc")]


def test_empty_and_minus_one_tags_are_missing_in_every_reader(tmp_path):
    (tmp_path / "a.conll").write_text("paul\tB-per\nlives\t\nin\t-1\nlondon B-loc\n\nhere -1\n", encoding="utf-8")
    assert read_conll(tmp_path / "a.conll") == [(["paul", "lives", "in", "london"], ["B-per", None, None, "B-loc"]),
                                                (["here"], [None])]
    rows = [{"tokens": ["paul", "lives", "in", "york"], "tags": ["B-per", None, "", -1]},
            {"tokens": ["one", "two"], "tags": [1.0, " 2 "]}]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert read_table(tmp_path / "a.jsonl") == [(["paul", "lives", "in", "york"], ["B-per", None, None, None]),
                                                (["one", "two"], ["1", "2"])]  # class names, as for text labels
    (tmp_path / "a.csv").write_text("tokens,tags\npaul lives,B-per -1\n", encoding="utf-8")
    assert read_table(tmp_path / "a.csv") == [(["paul", "lives"], ["B-per", None])]
    from datasets import ClassLabel, Dataset, Features, List, Value

    features = Features({"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=["O", "B-loc", "I-loc"]))})
    (tmp_path / "hub").mkdir()
    for split, tags in (("train", [0, 1, 2]), ("test", [-1, -1, -1])):  # a hidden test split, as hub exports have
        Dataset.from_dict({"tokens": [["to", "new", "york"]], "ner_tags": [tags]},
                          features=features).to_parquet(str(tmp_path / "hub" / f"{split}-00000-of-00001.parquet"))
    hub = tokens.read_hub(ner.DataArguments(dataset_name=str(tmp_path / "hub")))
    assert hub["test"] == [(["to", "new", "york"], [None, None, None])]  # not the last name ('I-loc') for -1


def test_a_word_without_a_tag_is_neither_trained_on_nor_scored():
    from transformers import AutoTokenizer

    label2id = {"O": 0, "B-x": 1, "I-x": 2}
    for every in (False, True):
        assert align_labels([None, 0, 1, 1, 2, 2, None], ["B-x", None, "B-x"], label2id, every) == [
            -100, 1, -100, -100, 1, 2 if every else -100, -100]
    tokenizer = AutoTokenizer.from_pretrained(shared_path("models", "bert-tiny"))
    data, _, _ = ner.tokenize([(["paul", "lives", "in", "london"], ["B-x", None, "O", None])], tokenizer, label2id, 16)
    assert data[0]["labels"] == [-100, 1, -100, 0, -100, -100]  # [CLS] paul lives in london [SEP]


def test_the_tag_contract_missing_tags_unseen_tags_and_the_notice(tmp_path, capsys):
    train = conll(tmp_path / "train.conll", [TAGGED, [("paul", "B-per"), ("in", ""), ("york", "B-loc")],
                                             [("london", "B-loc"), ("today", "-1")]])
    dev = conll(tmp_path / "dev.conll", [TAGGED, [("york", "B-loc"), ("now", "")]])
    test = conll(tmp_path / "test.conll", [[("paul", "B-per"), ("in", "-1"), ("rome", "B-city")],
                                           [("in", "B-city"), ("paris", "O")]])
    args = {"train_file": train, "validation_file": dev, "test_file": test}
    with pytest.raises(InputError, match=r"test.conll has label\(s\) the training data \(.*train.conll\) never shows: "
                                         r"'B-city' \(2 words\).*--drop_unseen_labels to leave those words out"):
        tokens.load_data(ner.DataArguments(**args))
    data = tokens.load_data(ner.DataArguments(**args, drop_unseen_labels=True))
    assert data.label_names == ["O", "B-loc", "B-per"]  # no class '-1', O first
    assert data.splits["test"] == [(["paul", "in", "rome"], ["B-per", None, None]), (["in", "paris"], [None, "O"])]
    assert data.dropped_unseen == {"test": 2}
    assert data.dropped_unlabelled == {"train": 2, "validation": 1, "test": 3}
    err = capsys.readouterr().err
    # counted by hand: train O 2, B-loc 3, B-per 2; validation O 2, B-loc 2, B-per 1; test O 1, B-per 1
    assert "3 classes (words in train/validation/test): O 2/2/1, B-loc 3/2/0, B-per 2/1/1; test lacks ['B-loc']" in err
    assert "2 word(s) of the train split have no tag (empty or -1: missing): not trained on or scored" in err
    assert "2 word(s) of " in err and "have a tag the training data never shows: not scored" in err
    hidden = conll(tmp_path / "hidden.conll", [[("paul", "-1"), ("in", "")]])  # a test split with hidden tags only
    with pytest.raises(InputError, match=r"the test split \(.*hidden.conll, 1 sentences\) has no tagged word"):
        tokens.load_data(ner.DataArguments(train_file=train, validation_file=dev, test_file=hidden))
    untagged = conll(tmp_path / "untagged.conll", [[("paul", "")], [("in", "-1")]])
    with pytest.raises(InputError, match=r"untagged.conll has no tag \(every tag is missing: empty or -1\)"):
        tokens.load_data(ner.DataArguments(train_file=untagged, test_file=test))


def test_a_run_with_missing_tags_scores_only_the_tagged_words(tmp_path, capsys):
    sentences = [TAGGED, [("paul", "B-per"), ("in", ""), ("london", "B-loc")], [("in", "O"), ("york", "-1")]] * 4
    train = conll(tmp_path / "train.conll", sentences)
    test = conll(tmp_path / "test.conll", [[("paul", "-1"), ("lives", "O"), ("in", "O"), ("london", "")]] * 3)
    results = main(["--train_file", train, "--test_file", test, "--validation_split", "3", "--model_name_or_path",
                    str(shared_path("models", "bert-tiny")), "--output_dir", str(tmp_path / "out"), "--max_steps", "1",
                    "--per_device_train_batch_size", "4", "--max_seq_length", "16", "--save_strategy", "no", *QUIET])
    assert results["label_names"] == ["O", "B-loc", "B-per"]
    assert results["dropped_unlabelled"]["test"] == 6  # 2 missing tags in each of 3 sentences
    with np.load(tmp_path / "out" / "predictions.npz", allow_pickle=False) as arrays:
        assert arrays["test_logits"].shape[2] == 3
        assert ((arrays["test_labels"] != -100).sum(1) == 2).all()  # one token per word here; 2 tagged words each
    assert "3 classes (words in train/validation/test)" in capsys.readouterr().err
