"""GLUE loading from the download-script layout, the hub-free way, and csv/tsv/json files."""

from __future__ import annotations

import json

import pytest
from conftest import shared_path

from textmix.harness.data.glue import glue_task, load_glue
from textmix.harness.data.tables import read_files

OFFICIAL = {"cola": (8551, 1043), "sst2": (67349, 872), "mrpc": (3668, 408), "rte": (2490, 277),
            "stsb": (5749, 1500), "wnli": (635, 71)}


@pytest.mark.parametrize("task", sorted(OFFICIAL))
def test_local_glue_tasks_have_the_official_sizes_and_labels(task):
    data = load_glue(task, shared_path("data", "glue"))
    assert (len(data["train"]), len(data["test"])) == OFFICIAL[task]
    spec = glue_task(task)
    labels = data["train"]["label"]
    if spec.is_regression:
        assert 0.0 <= min(labels) and max(labels) <= 5.0
    else:
        assert set(labels) == set(range(spec.num_labels))
    assert ("text_b" in data["train"].column_names) == (spec.text_b is not None)
    assert all(isinstance(t, str) and t for t in data["test"]["text_a"][:50])


def test_quirks_cola_without_header_mrpc_bom_rte_strings():
    glue = shared_path("data", "glue")
    cola = load_glue("CoLA", glue)
    assert cola["train"][0]["text_a"].startswith("Our friends won't buy this analysis")
    mrpc = load_glue("mrpc", glue)
    assert mrpc["train"][0]["label"] == 1 and mrpc["train"][0]["text_a"].startswith("Amrozi accused")
    rte = load_glue("rte", glue)
    assert rte["train"].features["label"].names == ["entailment", "not_entailment"]
    assert rte["train"][0]["label"] == 1  # the first row is not_entailment


def write(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(["\t".join(header)] + ["\t".join(r) for r in rows]) + "\n", encoding="utf-8")


def test_tasks_not_in_shared_parse_from_their_layout(tmp_path):
    write(tmp_path / "QNLI/train.tsv", ["index", "question", "sentence", "label"],
          [["0", 'What "is" it?', "It is.", "entailment"], ["1", "Why?", "No.", "not_entailment"]])
    write(tmp_path / "QNLI/dev.tsv", ["index", "question", "sentence", "label"], [["0", "Q", "S", "entailment"]])
    qnli = load_glue("qnli", tmp_path)
    assert qnli["train"]["label"] == [0, 1] and qnli["train"][0]["text_a"] == 'What "is" it?'
    header = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
    write(tmp_path / "QQP/train.tsv", header, [["0", "1", "2", "a?", "b?", "1"], ["1", "3", "4", "c?"]])
    write(tmp_path / "QQP/dev.tsv", header, [["0", "1", "2", "a?", "b?", "0"]])
    with pytest.warns(UserWarning, match="skipped 1 malformed"):
        qqp = load_glue("qqp", tmp_path)
    assert len(qqp["train"]) == 1
    mnli_header = ["index", "promptID", "pairID", "genre", "sentence1", "sentence2", "label1", "gold_label"]
    for name in ("train", "dev_matched", "dev_mismatched"):
        write(tmp_path / f"MNLI/{name}.tsv", mnli_header,
              [["0", "1", "2", "g", "p", "h", "neutral", "contradiction"], ["1", "1", "2", "g", "p", "h", "x", "neutral"]])
    mnli = load_glue("mnli", tmp_path)
    assert set(mnli) == {"train", "test", "test_mismatched"} and mnli["test"]["label"] == [2, 1]
    write(tmp_path / "RTE/train.tsv", ["index", "sentence1", "sentence2", "label"], [["0", "a", "b", "maybe"]])
    write(tmp_path / "RTE/dev.tsv", ["index", "sentence1", "sentence2", "label"], [["0", "a", "b", "entailment"]])
    with pytest.raises(ValueError, match="label 'maybe' is not one of"):
        load_glue("rte", tmp_path)
    with pytest.raises(FileNotFoundError, match="task folders"):
        load_glue("cola", tmp_path)
    with pytest.raises(ValueError, match="unknown GLUE task"):
        glue_task("squad")


def test_csv_tsv_json_files(tmp_path):
    (tmp_path / "train.csv").write_text('text,label\n"good, very",pos\nbad,neg\nfine,pos\n', encoding="utf-8")
    (tmp_path / "dev.csv").write_text("text,label\nok,pos\n", encoding="utf-8")
    data = read_files(str(tmp_path / "train.csv"), str(tmp_path / "dev.csv")).data
    assert data["train"].features["label"].names == ["neg", "pos"]
    assert data["train"]["label"] == [1, 0, 1] and data["train"][0]["text_a"] == "good, very"
    rows = [{"q": f"q{i}", "a": f"a{i}", "score": i / 7} for i in range(12)]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (tmp_path / "d.json").write_text(json.dumps(rows[:3]), encoding="utf-8")
    reg = read_files(str(tmp_path / "t.jsonl"), str(tmp_path / "d.json"), label_column="score").data
    assert "text_b" in reg["train"].column_names and reg["train"].features["label"].dtype == "float32"
    (tmp_path / "t.tsv").write_text("sentence\ty\nx\t1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="label column 'label' not in"):
        read_files(str(tmp_path / "t.tsv"), str(tmp_path / "t.tsv"))



def test_the_problem_type_is_inferred_from_the_labels_or_given(tmp_path):
    def files(values, name="t"):
        lines = "\n".join(json.dumps({"text": f"t{i}", "label": v}) for i, v in enumerate(values))
        (tmp_path / f"{name}.jsonl").write_text(lines, encoding="utf-8")
        return str(tmp_path / f"{name}.jsonl")

    probabilities = files([0.1, 0.25, 0.4, 0.55, 0.7, 0.9] * 3)  # 6 values: once a 6-class model
    loaded = read_files(probabilities, probabilities)
    assert loaded.problem_type == "regression" and "not all whole" in loaded.reason
    assert loaded.data["train"].features["label"].dtype == "float32"
    loaded = read_files(probabilities, probabilities, problem_type="classification")
    assert loaded.reason == "given" and loaded.data["train"].features["label"].names == [
        "0.1", "0.25", "0.4", "0.55", "0.7", "0.9"]
    whole = files([0, 1, 2, 1.0, 0, 2], "w")
    loaded = read_files(whole, whole)
    assert loaded.problem_type == "classification" and loaded.data["train"].features["label"].names == ["0", "1", "2"]
    assert read_files(whole, whole, problem_type="regression").data["train"]["label"][:3] == [0.0, 1.0, 2.0]
    tags = files([["a"], ["b", "a"], [], ["c"]], "m")
    loaded = read_files(tags, tags)
    assert loaded.problem_type == "multi_label" and loaded.data["train"]["label"][1] == [1.0, 1.0, 0.0]
    assert loaded.names == ["a", "b", "c"]
    split = tmp_path / "s.csv"
    split.write_text('text,label\nx,"a,b"\ny,c\nz,a\n', encoding="utf-8")
    loaded = read_files(str(split), str(split), problem_type="multi_label")
    assert loaded.names == ["a", "b", "c"] and loaded.data["train"]["label"][0] == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="--problem_type multi_label"):
        read_files(tags, tags, problem_type="classification")
    with pytest.raises(ValueError, match="problem_type must be one of"):
        read_files(tags, tags, problem_type="ordinal")


def test_a_dataset_folder_is_read_like_files_with_class_names_and_hidden_labels(tmp_path):
    from datasets import ClassLabel, Dataset

    from textmix.harness.data.tables import read_dataset

    folder = tmp_path / "ds"
    folder.mkdir()
    feature = ClassLabel(names=["neg", "pos"])
    train = Dataset.from_dict({"text": [f"row {i}" for i in range(8)], "label": [i % 2 for i in range(8)]})
    train.cast_column("label", feature).to_parquet(str(folder / "train.parquet"))
    test = Dataset.from_dict({"text": ["a", "b", "c"], "label": [1, 0, 1]}).cast_column("label", feature)
    test.to_parquet(str(folder / "test.parquet"))
    loaded = read_dataset(str(folder))
    assert loaded.names == ["neg", "pos"] and loaded.sources == {"train": f"{folder}[train]", "test": f"{folder}[test]"}
    assert loaded.data["test"]["label"] == [1, 0, 1] and loaded.data["test"]["text_a"] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"has no split 'dev' \(test_split\); its splits are \['train', 'test'\]"):
        read_dataset(str(folder), test_split="dev")
    hidden = Dataset.from_dict({"text": ["a", "b"], "label": [-1, -1]}).cast_column("label", feature)
    hidden.to_parquet(str(folder / "test.parquet"))
    with pytest.raises(ValueError, match=r"2 row\(s\) without a label"):
        read_dataset(str(folder))
    with pytest.raises(ValueError, match="does not load"):
        read_dataset(str(tmp_path / "nothing-here"))


def test_glue_defaults_to_the_shared_folder_and_offline_names_glue_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.setenv("TEXTMIX_SHARED", str(shared_path()))
    rte = load_glue("rte")  # no --glue_dir, no $GLUE_DIR: shared_dir()/data/glue
    assert len(rte["test"]) == 277 and len(rte["train"]) == 2490
    monkeypatch.setenv("TEXTMIX_SHARED", str(tmp_path))  # no GLUE here: the hub, which is offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="--glue_dir"):
        load_glue("rte")
