"""Natural shift (`ood_test_files`): further test sets read like the test set (headerless files by `header: false`),
under the test set's label contract, checked before the first run, predicted and reported as `test_<name>`; the
MiniLM SST-2 grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import shared_path

from textmix.harness.checks import InputError
from textmix.harness.cli import main
from textmix.harness.compare.execute import compare
from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.sweep import GridError, parse_sweep
from textmix.harness.data.glue import glue_task, read_glue_extra
from textmix.harness.data.tables import extra_test_sets, read_files
from textmix.harness.fingerprints import data_fingerprint
from textmix.harness.recipes.glue import DataArguments
from textmix.harness.tasks import parse_task

SHIFT = {"imdb": "imdb_labelled.txt", "yelp": "yelp_labelled.txt", "amazon": "amazon_cells_labelled.txt"}
ROOT = Path(__file__).resolve().parents[2]


def _ood(folder: Path) -> dict:
    return {name: {"path": str(folder / file), "header": False} for name, file in SHIFT.items()}


def test_a_grid_with_the_sentiment_shift_sets_reports_each_as_a_test_split(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTMIX_SHARED", str(shared_path()))
    folder, cap = shared_path("data", "sentiment-shift"), 40
    grid = {"model_name_or_path": "{shared}/models/bert-tiny", "glue_dir": "{shared}/data/glue",
            "tasks": [{"name": "sst2", "ood_test_files": _ood(Path("{shared}/data/sentiment-shift"))}],
            "methods": ["none", "hidden"], "seeds": [0],
            "data": {"max_train_samples": 64, "max_predict_samples": cap, "validation_split": 32, "max_seq_length": 32},
            "training": {"max_steps": 2, "save_strategy": "no", "per_device_train_batch_size": 16}}
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(grid))
    assert main(["compare", "--config", str(config), "--output_dir", str(tmp_path / "out")]) == 0
    runs = sorted((tmp_path / "out").glob("runs/sst2/*/seed0"))
    assert len(runs) == 2
    for run in runs:
        results = json.loads((run / "results.json").read_text())
        arrays = np.load(run / "predictions.npz")
        assert results["natural_shift"] == {name: f"{file} ({cap} rows)" for name, file in SHIFT.items()}
        for name, file in SHIFT.items():
            lines = (folder / file).read_text(encoding="utf-8").splitlines()[:cap]
            labels = np.array([int(line.rsplit("\t", 1)[1]) for line in lines])  # the file's own labels, by hand
            assert np.array_equal(arrays[f"test_{name}_labels"], labels)
            logits = arrays[f"test_{name}_logits"]
            assert logits.shape == (cap, 2)
            assert results[f"test_{name}"]["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == labels))
            assert {"ece", "nll", "brier"} <= set(results[f"test_{name}_ts"])
            assert results[f"test_{name}_majority_accuracy"] == pytest.approx(max(np.mean(labels), 1 - np.mean(labels)))
        assert not np.array_equal(arrays["test_imdb_logits"], arrays["test_yelp_logits"])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    row = next(r for r in report["verdict"]["rows"] if r["claim"] == "calibration under natural shift")
    hidden = next(e for e in row["helps"] + row["hurts"] + row["no_change"] + row["at_chance"] if e["method"] == "hidden")
    by_method = {r["method"]: r for r in (json.loads((run / "results.json").read_text()) for run in runs)}
    mean_nll = {m: np.mean([by_method[m][f"test_{name}"]["nll"] for name in SHIFT]) for m in ("none", "hidden")}
    assert hidden["metrics"]["nll"]["delta"] == pytest.approx(mean_nll["hidden"] - mean_nll["none"])  # one seed
    text = (tmp_path / "out" / "report.md").read_text()
    assert "### calibration under natural shift" in text and "## sst2: natural shift" in text
    imdb = by_method["none"]["test_imdb"]
    assert f"| none | imdb | {imdb['accuracy']:.4f} | {imdb['smece']:.4f} | {imdb['nll']:.4f} | {imdb['brier']:.4f} |" in text


def test_header_false_reads_a_hand_written_file_by_the_task_columns(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("review,stars\ngood film,pos\nbad film,neg\nfine,pos\n")
    test.write_text("review,stars\nnice,pos\nawful,neg\n")
    (tmp_path / "extra.csv").write_text('"long, with a comma",neg\nlovely,pos\n')
    (tmp_path / "extra.txt").write_text("a \"quoted\" tab line\tpos\n")
    (tmp_path / "headed.tsv").write_text("stars\treview\nneg\tdull\n")
    extra = {"commas": {"path": str(tmp_path / "extra.csv"), "header": False},
             "tabs": {"path": str(tmp_path / "extra.txt"), "header": False}, "headed": str(tmp_path / "headed.tsv")}
    loaded = read_files(str(train), str(test), label_column="stars", extra_tests=extra)
    neg, pos = loaded.names.index("neg"), loaded.names.index("pos")
    assert loaded.data["test_commas"]["text_a"] == ["long, with a comma", "lovely"]
    assert loaded.data["test_commas"]["label"] == [neg, pos]
    assert loaded.data["test_tabs"]["text_a"] == ['a "quoted" tab line'] and loaded.data["test_tabs"]["label"] == [pos]
    assert loaded.data["test_headed"]["text_a"] == ["dull"] and loaded.data["test_headed"]["label"] == [neg]
    (tmp_path / "sst.txt").write_text("great\t1\nawful\tnegative\n")  # ids or names, as in the task's files
    (tmp_path / "sst.tsv").write_text("label\tsentence\n1\tgreat\n")
    sst2 = glue_task("sst2")
    data, dropped = read_glue_extra(sst2, tmp_path / "sst.txt", header=False)
    assert data["text_a"] == ["great", "awful"] and data["label"] == [1, 0] and dropped == 0
    assert read_glue_extra(sst2, tmp_path / "sst.tsv", header=True)[0]["label"] == [1]
    (tmp_path / "three.txt").write_text("great\t1\textra\n")
    with pytest.raises(InputError, match=r"three.txt: 1 line\(s\) \(line 1\) do not have 2 tab-separated fields"):
        read_glue_extra(sst2, tmp_path / "three.txt", header=False)
    with pytest.raises(InputError, match=r"lacks column\(s\) \['sentence', 'label'\] of GLUE task sst2.*header: false"):
        read_glue_extra(sst2, tmp_path / "headed.tsv", header=True)


def test_a_label_the_training_data_never_shows_is_an_error_naming_the_file_or_dropped(tmp_path):
    (tmp_path / "three.txt").write_text("great\t1\nmeh\t2\nawful\t0\n")
    sst2 = glue_task("sst2")
    with pytest.raises(InputError, match=r"three.txt has label\(s\) the training data .* never shows: '2' \(1 row\)"
                                         r".*--drop_unseen_labels"):
        read_glue_extra(sst2, tmp_path / "three.txt", header=False)
    data, dropped = read_glue_extra(sst2, tmp_path / "three.txt", header=False, drop_unseen=True)
    assert data["text_a"] == ["great", "awful"] and data["label"] == [1, 0] and dropped == 1
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("text,label\ngood,pos\nbad,neg\n")
    test.write_text("text,label\nnice,pos\n")
    (tmp_path / "odd.csv").write_text("so-so,neutral\n")
    with pytest.raises(InputError, match=r"odd.csv has label\(s\) .* 'neutral'.*--drop_unseen_labels"):
        read_files(str(train), str(test), extra_tests={"odd": {"path": str(tmp_path / "odd.csv"), "header": False}})


@pytest.mark.parametrize(("value", "message"), [
    ({"IMDb": "x.tsv"}, "name 'IMDb' must be a lowercase identifier"),
    ({"mismatched": "x.tsv"}, "clashes with an entry of results.json"),
    ({"imdb_ts": "x.tsv"}, "clashes with an entry of results.json"),
    ({"imdb": {"path": "x.tsv", "header": "no"}}, "must be a path or {path: FILE, header: false}"),
    ({"imdb": {"file": "x.tsv"}}, "must be a path or {path: FILE, header: false}"),
    ({"imdb": "missing.tsv"}, "imdb: missing.tsv does not exist"),
    (["x.tsv"], "must map names to files"),
])
def test_bad_further_test_sets_are_refused_by_name(tmp_path, monkeypatch, value, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.tsv").write_text("sentence\tlabel\nok\t1\n")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("{", r"\{")):
        extra_test_sets(value, taken=["test_mismatched"])


def test_a_missing_file_is_refused_before_the_first_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTMIX_SHARED", str(shared_path()))
    grid = load_grid("smoke", tasks=[{"name": "sst2", "ood_test_files": {"imdb": str(tmp_path / "gone.txt")}}])
    with pytest.raises(GridError, match=r"task sst2: ood_test_files: imdb: .*gone.txt does not exist"):
        compare(parse_sweep(grid), tmp_path / "out", dry_run=True)
    assert not (tmp_path / "out" / "runs").exists()


def test_only_text_tasks_take_further_test_sets():
    for entry in ({"name": "digits", "modality": "image", "train_file": "m.npz", "ood_test_files": {"a": "b"}},
                  {"name": "ner", "modality": "tokens", "train_file": "t.conll", "ood_test_files": {"a": "b"}}):
        spec, problems = parse_task(entry)
        assert spec is None and any("ood_test_files" in p and "modality: text" in p for p in problems), problems


def test_the_further_test_files_content_and_header_are_in_the_data_fingerprint(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b" / "a.txt"
    b.parent.mkdir()
    a.write_text("good\t1\n")
    b.write_text("good\t1\n")
    data = {"task_name": "sst2", "glue_dir": None}
    same = [data_fingerprint({**data, "ood_test_files": {"x": {"path": str(p), "header": False}}}) for p in (a, b)]
    assert same[0] == same[1] != data_fingerprint(data)  # the content, not the path
    assert data_fingerprint({**data, "ood_test_files": {"x": str(a)}}) != same[0]  # read with a header: another set
    b.write_text("good\t0\n")
    assert data_fingerprint({**data, "ood_test_files": {"x": {"path": str(b), "header": False}}}) != same[0]


def test_the_minilm_grid_plans_15_runs_on_sst2_with_three_natural_shifts(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTMIX_SHARED", str(shared_path()))
    sweep = parse_sweep(load_grid(config=str(ROOT / "examples" / "grids" / "sst2-minilm.yaml")))
    runs = sweep.plan(tmp_path, fingerprints=False)
    assert len(runs) == 15 and {r.seed for r in runs} == {0, 1, 2}
    assert {r.method for r in runs} == {"none", "label_smoothing", "hidden", "regmixup_hidden", "span"}
    assert "minilm-l6" in runs[0].model["model_name_or_path"] and runs[0].data["task_name"] == "sst2"
    args = DataArguments(**runs[0].data)  # checks the files exist
    assert set(extra_test_sets(args.ood_test_files)) == set(SHIFT) and args.max_train_samples == 2000


def test_a_dataset_task_names_further_test_sets_by_split(tmp_path):
    from textmix.harness.data.text import load_data

    folder = tmp_path / "news"
    folder.mkdir()
    for split, n in (("train", 24), ("test", 6), ("validation", 5)):
        (folder / f"{split}.csv").write_text("text,label\n" + "".join(f"{split} story {i},{i % 2}\n" for i in range(n)))
    data = load_data(DataArguments(dataset_name=str(folder), validation_split=4, ood_test_splits={"dev": "validation"}))
    assert data.splits["test_dev"]["text_a"] == [f"validation story {i}" for i in range(5)]
    assert data.splits["test_dev"]["label"] == [i % 2 for i in range(5)] and data.natural_shift == {
        "dev": "news[validation] (5 rows)"}
    with pytest.raises(ValueError, match=r"has no split 'dev' \(ood_test_splits: x\)"):
        load_data(DataArguments(dataset_name=str(folder), ood_test_splits={"x": "dev"}))
    with pytest.raises(InputError, match="--ood_test_splits names splits of --dataset_name"):
        DataArguments(task_name="sst2", ood_test_splits={"x": "dev"})


def test_the_command_line_takes_further_test_sets_as_json(tmp_path):
    from textmix.harness.recipes.arguments import parse
    from textmix.harness.recipes.glue import RECIPE

    (tmp_path / "x.txt").write_text("good\t1\n")
    given = {"x": {"path": str(tmp_path / "x.txt"), "header": False}}
    argv = ["--task_name", "sst2", "--output_dir", str(tmp_path / "out"), "--ood_test_files"]
    assert parse(RECIPE.make_parser(), [*argv, json.dumps(given)])[1].ood_test_files == given
    with pytest.raises(InputError, match="--ood_test_files takes a JSON object"):
        parse(RECIPE.make_parser(), [*argv, "x.txt"])
