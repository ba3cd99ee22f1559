"""The GLUE recipe end to end on every task in ../shared, a csv task, a config file and torchrun."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from textmix.harness.recipes.glue import RECIPE
from textmix.harness.runfile import RESULT_KEYS, RUN_KEYS, unknown_keys  # the schema every recipe shares

ROOT = Path(__file__).resolve().parents[3]
TINY = ["--max_train_samples", "32", "--max_predict_samples", "24", "--validation_split", "16", "--max_steps", "2",
        "--per_device_train_batch_size", "8", "--max_seq_length", "48", "--report_to", "none",
        "--save_strategy", "no", "--use_cpu", "--dataloader_pin_memory", "false"]


def common(tmp_path, task, method="hidden"):
    return ["--task_name", task, "--glue_dir", str(shared_path("data", "glue")), "--model_name_or_path",
            str(shared_path("models", "bert-tiny")), "--mix_method", method, "--output_dir", str(tmp_path / task),
            *TINY]


@pytest.mark.parametrize("task,method", [("cola", "span"), ("sst2", "hidden"), ("mrpc", "saliency_span"),
                                         ("rte", "embedding"), ("stsb", "hidden"), ("wnli", "pooled")])
def test_every_local_glue_task_runs(tmp_path, task, method):
    results = RECIPE.main(common(tmp_path, task, method))
    out = tmp_path / task
    saved = json.loads((out / "results.json").read_text())
    assert saved["task"] == task and saved["method"] == method and saved["sizes"]["test"] == 24
    assert saved["sizes"]["validation"] == 16 and saved["sizes"]["train"] == 32
    arrays = np.load(out / "predictions.npz")
    assert arrays["test_logits"].shape[0] == 24 and arrays["validation_labels"].shape == (16,)
    assert saved["config"]["training"]["mix_method"] == method and saved["versions"]["transformers"]
    assert RUN_KEYS <= set(saved) and not unknown_keys(saved)  # every run, regression included, within the schema
    if task == "stsb":
        assert "pearson" in results["test"] and "ece" not in results["test"]
        assert not (out / "reliability.png").exists()
    else:
        assert {"accuracy", "ece", "mce", "adaptive_ece", "brier", "nll"} <= set(results["test"])
        assert {"ece", "nll"} <= set(results["test_ts"]) and results["temperature"] > 0
        assert 0 < results["test_majority_accuracy"] <= 1
        assert set(saved) == RESULT_KEYS
        assert (out / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_carry_smooth_ece_with_intervals_before_and_after_temperature_scaling(tmp_path):
    pytest.importorskip("relplot")
    import relplot

    from textmix.calibration import apply_temperature, bootstrap_indices
    from textmix.harness.recipes.common import BOOTSTRAP_SEED, RUN_BOOTSTRAP

    RECIPE.main(common(tmp_path, "rte", "none"))
    saved = json.loads((tmp_path / "rte" / "results.json").read_text())
    arrays = np.load(tmp_path / "rte" / "predictions.npz")
    labels = arrays["test_labels"]
    for split, logits in (("test", arrays["test_logits"]),
                          ("test_ts", apply_temperature(arrays["test_logits"].astype(np.float64), saved["temperature"]))):
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        f, y = p.max(1), (p.argmax(1) == labels).astype(float)
        assert saved[split]["smece"] == pytest.approx(relplot.smECE(f, y), abs=1e-6), split
        assert "ece_sweep" in saved[split]
        low, high = saved[split]["smece_ci"]
        assert low <= saved[split]["smece"] + 1e-9 and high >= saved[split]["smece"] - 1e-9
        if split == "test_ts":
            continue  # the interval's oracle once: relplot on each of the run's resamples
        values = [relplot.smECE(f[i], y[i]) for i in bootstrap_indices(len(f), RUN_BOOTSTRAP, BOOTSTRAP_SEED)]
        assert saved[split]["smece_ci"] == pytest.approx(list(np.quantile(values, [0.025, 0.975])), abs=1e-6)


def test_save_calibrated_writes_a_model_a_plain_pipeline_loads_with_the_ts_probabilities(tmp_path, capsys):
    import csv

    from transformers import pipeline

    from textmix.calibration import apply_temperature, fit_temperature
    from textmix.calibration.temperature import at_search_bound

    # what `python recipes/run_glue.py ... --save_calibrated` runs; two steps leave the temperature at its bound
    assert RECIPE.cli([*common(tmp_path, "sst2", "hidden"), "--save_calibrated"]) == 0
    out = tmp_path / "sst2"
    saved = json.loads((out / "results.json").read_text())
    with np.load(out / "predictions.npz") as arrays:  # the oracle: the bound, from the saved validation logits
        assert at_search_bound(fit_temperature(arrays["validation_logits"], arrays["validation_labels"]),
                               logits=arrays["validation_logits"], labels=arrays["validation_labels"])
    assert "calibrated" not in saved and not (out / "calibrated").exists()
    assert "sits at an end of its search interval" in saved["calibrated_not_written"]
    assert "no calibrated model: the temperature" in capsys.readouterr().out.strip().splitlines()[-1]

    assert RECIPE.cli([*common(tmp_path, "sst2", "hidden"), "--save_calibrated", "--save_calibrated_at_bound"]) == 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["calibrated"] == "calibrated" and "calibrated_not_written" not in saved
    config = json.loads((out / "calibrated" / "config.json").read_text())
    assert config["textmix_calibration"]["temperature"] == pytest.approx(saved["temperature"])
    for folder in (out, out / "calibrated"):  # the final and the calibrated model name SST-2's classes
        named = json.loads((folder / "config.json").read_text())
        assert named["id2label"] == {"0": "negative", "1": "positive"}, folder
        assert named["label2id"] == {"negative": 0, "positive": 1}, folder

    with open(shared_path("data", "glue", "SST-2", "dev.tsv"), encoding="utf-8") as f:
        sentences = [row["sentence"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)][:24]
    arrays = np.load(out / "predictions.npz")
    scaled = apply_temperature(arrays["test_logits"].astype(np.float64), saved["temperature"])
    expected = np.exp(scaled - scaled.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    classify = pipeline("text-classification", model=str(out / "calibrated"), device="cpu")
    got = classify(sentences, top_k=None, truncation=True, max_length=48)
    probs = np.array([[next(d["score"] for d in row if d["label"] == name) for name in ("negative", "positive")]
                      for row in got])
    assert saved["temperature"] != pytest.approx(1.0, abs=1e-3)  # the test means something: T changes the figures
    np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_csv_task_and_yaml_config(tmp_path, capsys):
    rows = ["text,label"] + [f"sentence number {i} is {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}"
                             for i in range(60)]
    (tmp_path / "train.csv").write_text("\n".join(rows), encoding="utf-8")
    (tmp_path / "dev.csv").write_text("\n".join(rows[:21]), encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(
        f"train_file: {tmp_path / 'train.csv'}\nvalidation_file: {tmp_path / 'dev.csv'}\n"
        f"model_name_or_path: {shared_path('models', 'bert-tiny')}\noutput_dir: {tmp_path / 'out'}\n"
        "mix_method: span\nmax_steps: 2\nvalidation_split: 10\nreport_to: none\nsave_strategy: 'no'\nuse_cpu: true\n",
        encoding="utf-8")
    results = RECIPE.main([str(config)])
    assert results["sizes"] == {"validation": 10, "train": 50, "test": 20}
    assert results["task"] == tmp_path.name and "ece" in results["test"]  # train.csv: named after its folder
    assert results["final_model"] == str(tmp_path / "out")
    from transformers import AutoModelForSequenceClassification

    saved = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out")  # the final model, as trained
    assert saved.config.num_labels == 2 and (tmp_path / "out" / "tokenizer.json").is_file()
    line = capsys.readouterr().out.strip().splitlines()[-1]  # the final metrics, as the other recipes print them
    assert line.startswith("span: test accuracy ") and f"{results['test']['accuracy']:.4f}" in line
    assert f"in {tmp_path / 'out'}" in line


def test_missing_data_arguments_are_named():
    with pytest.raises(ValueError, match="--task_name"):
        RECIPE.main(["--output_dir", "x", "--report_to", "none"])


def test_recipe_under_torchrun_with_two_cpu_processes(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), str(ROOT / "recipes" / "run_glue.py"), *common(tmp_path, "sst2", "embedding"),
           "--ddp_backend", "gloo"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads((tmp_path / "sst2" / "results.json").read_text())
    assert saved["world_size"] == 2 and saved["sizes"]["test"] == 24
    assert np.load(tmp_path / "sst2" / "predictions.npz")["test_logits"].shape[0] == 24


def test_the_temperature_is_fitted_on_the_validation_predictions_the_run_saved(tmp_path):
    from textmix.calibration import fit_temperature

    argv = common(tmp_path, "sst2", "none")
    argv += ["--max_train_samples", "256", "--max_predict_samples", "64", "--validation_split", "64", "--max_steps", "16",
             "--per_device_train_batch_size", "16", "--learning_rate", "1e-3"]  # enough to learn a little
    results = RECIPE.main(argv)
    with np.load(tmp_path / "sst2" / "predictions.npz", allow_pickle=False) as arrays:
        fitted = fit_temperature(arrays["validation_logits"], arrays["validation_labels"])
        on_test = fit_temperature(arrays["test_logits"], arrays["test_labels"])
    assert results["temperature"] == pytest.approx(fitted, rel=1e-9)
    assert on_test != pytest.approx(fitted, rel=1e-3)  # the check can tell the two splits apart


@pytest.mark.parametrize("argv,name", [
    ([], "none"),
    (["--label_smoothing_factor", "0.1"], "label_smoothing"),
    (["--mix_method", "hidden"], "hidden"),
    (["--mix_method", "hidden", "--label_smoothing_factor", "0.1"], "hidden+label_smoothing"),
])
def test_the_recorded_method_says_what_was_run(argv, name):
    from textmix.harness.runfile import method_name

    training_args = RECIPE.parse_args(["--task_name", "sst2", "--output_dir", "x", "--report_to", "none", *argv])[2]
    assert method_name(training_args) == name


def write_csv(path, header, rows):
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def tiny_files(tmp_path):
    return ["--model_name_or_path", str(shared_path("models", "bert-tiny")), "--output_dir", str(tmp_path / "out"),
            "--max_steps", "2", "--validation_split", "8", "--report_to", "none", "--save_strategy", "no",
            "--use_cpu", "--per_device_train_batch_size", "8", "--max_seq_length", "32"]


def test_unlabelled_rows_are_dropped_on_request_and_counted(tmp_path, capsys):
    rows = [f"sentence {i},{'pos' if i % 2 else 'neg'}" for i in range(30)]
    write_csv(tmp_path / "train.csv", "text,label", rows[:10] + ["no label here,", "missing field"] + rows[10:])
    write_csv(tmp_path / "dev.csv", "text,label", rows[:12] + ["also none,"])
    results = RECIPE.main(["--train_file", str(tmp_path / "train.csv"), "--validation_file", str(tmp_path / "dev.csv"),
                    "--drop_unlabelled", *tiny_files(tmp_path)])
    assert results["dropped_unlabelled"] == {"train": 2, "test": 1}
    assert json.loads((tmp_path / "out" / "results.json").read_text())["dropped_unlabelled"] == {"train": 2, "test": 1}
    assert results["sizes"] == {"validation": 8, "train": 22, "test": 12}
    assert results["test"]  # a binary model: only pos and neg are classes
    assert np.load(tmp_path / "out" / "predictions.npz")["test_logits"].shape == (12, 2)
    err = capsys.readouterr().err
    assert "dropped 2 unlabelled row(s) of" in err and "lines 12, 13" in err


def test_probability_like_labels_are_regression_and_the_choice_is_logged(tmp_path, capsys):
    values = [0.1, 0.25, 0.4, 0.55, 0.7, 0.9]
    write_csv(tmp_path / "train.csv", "text,score", [f"sentence {i},{values[i % 6]}" for i in range(30)])
    write_csv(tmp_path / "dev.csv", "text,score", [f"sentence {i},{values[i % 6]}" for i in range(12)])
    files = ["--train_file", str(tmp_path / "train.csv"), "--validation_file", str(tmp_path / "dev.csv"),
             "--label_column", "score", *tiny_files(tmp_path)]
    results = RECIPE.main(files)
    assert results["problem_type"] == "regression" and "pearson" in results["test"]
    assert np.load(tmp_path / "out" / "predictions.npz")["test_logits"].shape in ((12,), (12, 1))
    assert "problem type: regression (inferred:" in capsys.readouterr().err
    results = RECIPE.main([*files, "--problem_type", "classification", "--output_dir", str(tmp_path / "classes")])
    assert results["problem_type"] == "classification"
    assert np.load(tmp_path / "classes" / "predictions.npz")["test_logits"].shape == (12, 6)
    assert "problem type: classification (given)" in capsys.readouterr().err


def test_multi_label_data(tmp_path):
    topics = [["sport"], ["politics"], ["sport", "politics"], [], ["music"], ["music", "sport"]]
    lines = [json.dumps({"text": f"text number {i}", "topics": topics[i % 6]}) for i in range(36)]
    (tmp_path / "train.jsonl").write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "dev.jsonl").write_text("\n".join(lines[:12]), encoding="utf-8")
    results = RECIPE.main(["--train_file", str(tmp_path / "train.jsonl"), "--validation_file", str(tmp_path / "dev.jsonl"),
                    "--label_column", "topics", "--mix_method", "hidden", *tiny_files(tmp_path)])
    assert results["problem_type"] == "multi_label" and not results["regression"]
    assert {"accuracy", "f1_micro", "brier", "nll", "ece"} <= set(results["test"])
    arrays = np.load(tmp_path / "out" / "predictions.npz")
    assert arrays["test_logits"].shape == (12, 3) and arrays["test_labels"].shape == (12, 3)
    assert "temperature" not in results


def test_a_decoder_with_a_lora_adapter(tmp_path, capsys):
    """Any decoder model (here a tiny Llama with SmolLM2's tokenizer, saved without a pad token) and
    `--lora_*`: the recipe pads with EOS, sets the model's pad id, trains only the adapter and the head."""
    pytest.importorskip("peft")
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(shared_path("models", "smollm2-135m"))
    tokenizer.pad_token = None
    folder = tmp_path / "llama"
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    argv = ["--task_name", "rte", "--glue_dir", str(shared_path("data", "glue")), "--model_name_or_path",
            str(folder), "--mix_method", "hidden", "--output_dir", str(tmp_path / "out"), "--lora_r", "4",
            "--lora_target_modules", "q_proj", "v_proj", *TINY]
    results = RECIPE.main(argv)
    assert results["method"] == "hidden" and np.isfinite(results["train_loss"])
    assert results["config"]["model"]["lora_r"] == 4
    captured = capsys.readouterr()
    assert "padding with its end-of-sequence token" in captured.out + captured.err
    with pytest.raises(ValueError, match="--lora_r must be a positive rank"):
        RECIPE.main([*argv, "--lora_r", "0"])


def test_a_validation_file_beside_a_test_file_is_the_validation_split_and_label_noise_is_exact(tmp_path):
    from textmix.harness.data.text import load_data
    from textmix.harness.recipes.glue import DataArguments

    rows = [f"sentence number {i},{'pos' if i % 2 else 'neg'}" for i in range(40)]
    write_csv(tmp_path / "train.csv", "text,label", rows)
    write_csv(tmp_path / "val.csv", "text,label", rows[:6])
    write_csv(tmp_path / "test.csv", "text,label", rows[:10])
    data = load_data(DataArguments(train_file=str(tmp_path / "train.csv"), validation_file=str(tmp_path / "val.csv"),
                                   test_file=str(tmp_path / "test.csv")))
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 40, "validation": 6, "test": 10}
    assert data.test_set == "test.csv (10 rows)" and data.label_noise_flipped == 0
    clean = load_data(DataArguments(train_file=str(tmp_path / "train.csv"), test_file=str(tmp_path / "test.csv"),
                                    validation_split=8))
    assert len(clean.splits["validation"]) == 8 and len(clean.splits["train"]) == 32  # carved
    noisy = load_data(DataArguments(train_file=str(tmp_path / "train.csv"), test_file=str(tmp_path / "test.csv"),
                                    validation_split=8, label_noise=0.25))
    before, after = np.asarray(clean.splits["train"]["label"]), np.asarray(noisy.splits["train"]["label"])
    assert noisy.label_noise_flipped == 8 == int((before != after).sum())  # 25 % of 32, each to the other class
    assert clean.splits["train"]["text_a"] == noisy.splits["train"]["text_a"]
    assert noisy.splits["validation"]["label"] == clean.splits["validation"]["label"]  # only training labels
    assert noisy.splits["test"]["label"] == clean.splits["test"]["label"]
    with pytest.raises(ValueError, match=r"label noise 1\.0 must be a share in \[0, 1\)"):
        DataArguments(task_name="rte", label_noise=1.0)
    with pytest.raises(ValueError, match="shift kind 'blur' does not exist for text data"):
        DataArguments(task_name="rte", shift_kinds=["blur"])
    with pytest.raises(ValueError, match="this task is regression"):
        load_data(DataArguments(task_name="stsb", glue_dir=str(shared_path("data", "glue")), shift_kinds=["typo"]))


def test_shifted_test_sets_are_corrupted_copies_with_the_same_labels(tmp_path):
    from datasets import Dataset

    from textmix.harness.data.text import shifted_tests
    from textmix.harness.recipes.glue import DataArguments
    from textmix.robustness import corrupt_text

    test = Dataset.from_dict({"text_a": ["a b c d e f g h", "one two three four"], "text_b": ["x y z w", "p q r s"],
                              "label": [1, 0]})
    args = DataArguments(task_name="rte", shift_kinds=["mask", "typo"], shift_severities=[5], split_seed=3)
    shifted = shifted_tests(test, args, "<mask>")
    assert set(shifted) == {"mask", "typo"} and set(shifted["mask"]) == {5}
    masked = shifted["mask"][5]
    assert masked["label"] == [1, 0]
    assert masked["text_a"] == corrupt_text(test["text_a"], "mask", 5, seed=3000, mask_token="<mask>")
    assert masked["text_b"] == corrupt_text(test["text_b"], "mask", 5, seed=3001, mask_token="<mask>")
    assert all("<mask>" in t for t in masked["text_a"]) and shifted_tests(test, args, "<mask>")["typo"][5][
        "text_a"] == shifted["typo"][5]["text_a"]  # the same copy every time


def test_tokenizing_under_the_same_tag_never_reads_back_a_stale_cache(tmp_path):
    from datasets import Dataset, load_dataset

    from textmix.harness.recipes.common import tokenized

    Dataset.from_dict({"text": ["a", "b"]}).to_parquet(str(tmp_path / "train.parquet"))
    data = load_dataset("parquet", data_files=str(tmp_path / "train.parquet"), cache_dir=str(tmp_path / "cache"))
    first = tokenized(data["train"], lambda b: {"n": [1] * len(b["text"])}, "same-model|32")
    second = tokenized(data["train"], lambda b: {"n": [2] * len(b["text"])}, "same-model|32")  # changed tokenizer
    assert first["n"] == [1, 1] and second["n"] == [2, 2]


def test_a_bf16_checkpoint_trains_in_float32(tmp_path):
    """transformers 5 loads a checkpoint in its own dtype; the recipe trains float32 weights (bf16 on CPU is
    slow and an AdamW step on bf16 weights loses small updates): the final model is saved in float32."""
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    bf16 = tmp_path / "bert-tiny-bf16"
    AutoModelForSequenceClassification.from_pretrained(shared_path("models", "bert-tiny"), num_labels=2).to(
        "cpu").bfloat16().save_pretrained(bf16)
    AutoTokenizer.from_pretrained(shared_path("models", "bert-tiny")).save_pretrained(bf16)
    argv = common(tmp_path, "rte")
    argv[argv.index("--model_name_or_path") + 1] = str(bf16)
    RECIPE.main(argv)
    with safe_open(str(tmp_path / "rte" / "model.safetensors"), "pt") as saved:
        dtypes = {saved.get_tensor(k).dtype for k in saved.keys()}
    assert dtypes == {torch.float32}


def _documented_launch_lines() -> list[str]:
    """The accelerate lines of docs/recipes.md's 'Several processes' block."""
    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    section = text[text.index("### Several processes"):]
    code = section[section.index("```bash\n") + 8:section.index("```", section.index("```bash\n") + 8)]
    return [line.split("#")[0].strip() for line in code.splitlines() if line.startswith("accelerate launch")]


@pytest.mark.slow
def test_accelerate_launches_two_cpu_processes_with_the_documented_line(tmp_path):
    """The documented CPU line starts two processes (`world_size` 2); `--cpu` in its place starts one, and the
    run says so (accelerate sets MASTER_ADDR for N > 1 but runs the script once)."""
    pytest.importorskip("accelerate")
    line = next(v for v in _documented_launch_lines() if "--use_cpu" in v)
    assert line.replace("...", "").split() == ["accelerate", "launch", "--multi_gpu", "--num_processes", "2",
                                               "recipes/run_glue.py", "--use_cpu"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`{line}`" in " ".join(readme.split())  # the README's recipes section gives the same line
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    tiny = [a for a in common(tmp_path, "sst2", "embedding") if a != "--use_cpu"]
    for flag, expected in (("--multi_gpu", 2), ("--cpu", 1)):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        argv = line.replace("...", " ".join(tiny)).split()
        argv = [sys.executable, "-m", "accelerate.commands.launch", "--main_process_port", str(port),
                *(flag if a == "--multi_gpu" else a for a in argv[2:])]
        argv = [str(ROOT / a) if a == "recipes/run_glue.py" else a for a in argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=400, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        saved = json.loads((tmp_path / "sst2" / "results.json").read_text())
        assert saved["world_size"] == expected, flag
        said = "accelerate launch was asked for several processes but one started" in done.stderr
        assert said == (expected == 1), done.stderr[-3000:]
        (tmp_path / "sst2" / "results.json").unlink()


def test_compare_in_a_config_file_is_the_same_error(tmp_path):
    from textmix.harness.checks import InputError

    config = tmp_path / "run.yaml"
    config.write_text("task_name: rte\noutput_dir: out\ncompare: [none, hidden]\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"--compare is not a recipe argument .*textmix compare --preset quick"):
        RECIPE.parse_args([str(config)])
