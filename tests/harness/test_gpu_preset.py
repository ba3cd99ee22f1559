"""The `gpu` preset plans what its description says, its dry-run grid (benchmarks/gpu_tiny.yaml) plans the same
cells at toy sizes, and benchmarks/prepare_gpu_carry.py carries GLUE rows that give the recipe the same splits."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.presets import PRESETS
from textmix.harness.compare.sweep import parse_sweep

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_preset_plans_the_runs_and_steps_its_description_says(tmp_path):
    description = PRESETS["gpu"]["description"]
    said = re.search(r"(\d+) runs of (\d+) steps", description)
    assert said, description
    runs = parse_sweep(load_grid("gpu")).plan(tmp_path, fingerprints=False)
    assert len(runs) == int(said.group(1))
    # steps a run: epochs x ceil(training rows / batch); each task has at least 1,990 rows left after validation
    training = runs[0].training
    rows = runs[0].data["max_train_samples"]
    steps = training["num_train_epochs"] * -(-rows // training["per_device_train_batch_size"])
    assert steps == int(said.group(2))
    assert {r.training["bf16"] for r in runs} == {True}
    assert {r.training["per_device_eval_batch_size"] for r in runs} == {512}
    assert "not yet measured" in description and "ESTIMATE" not in description
    shards = int(re.search(r"as (\d+) processes", description).group(1))
    script = (ROOT / "benchmarks" / "gpu_run.sh").read_text(encoding="utf-8")
    assert f"SHARDS=${{SHARDS:-{shards}}}" in script  # the script runs what the description says


def test_the_dry_run_grid_plans_the_same_cells_at_toy_sizes(tmp_path):
    gpu = parse_sweep(load_grid("gpu")).plan(tmp_path, fingerprints=False)
    tiny = parse_sweep(load_grid("gpu", config=str(ROOT / "benchmarks" / "gpu_tiny.yaml"))).plan(tmp_path, fingerprints=False)
    assert {(r.task, r.method) for r in tiny} == {(r.task, r.method) for r in gpu}
    assert {r.seed for r in tiny} == {0} and len(tiny) == len(gpu) // 3
    assert {r.training["bf16"] for r in tiny} == {False} and {r.training["max_steps"] for r in tiny} == {2}


def test_gpu_run_script_parses():
    subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_run.sh")], check=True)


def test_carried_glue_rows_give_the_recipe_the_same_splits(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from prepare_gpu_carry import glue_subset

    from textmix.harness.data.text import load_data
    from textmix.harness.recipes.glue import DataArguments

    src = tmp_path / "full" / "RTE"
    src.mkdir(parents=True)
    rows = [f"{i}\tpremise number {i} .\thypothesis {i * 7 % 13} .\t{'entailment' if i % 3 else 'not_entailment'}\n"
            for i in range(60)]
    (src / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n" + "".join(rows), encoding="utf-8")
    (src / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n" + "".join(rows[:9]), encoding="utf-8")
    data = {"max_train_samples": 20, "validation_split": 8}
    used, total = glue_subset("rte", tmp_path / "full", tmp_path / "carry", data)
    assert (used, total) == (28, 60)
    small = load_data(DataArguments(task_name="rte", glue_dir=str(tmp_path / "carry"), **data)).splits
    full = load_data(DataArguments(task_name="rte", glue_dir=str(tmp_path / "full"), **data)).splits
    for split in ("train", "validation", "test"):  # the oracle: the recipe on the full file
        assert small[split].to_dict() == full[split].to_dict()
    lines = (tmp_path / "carry" / "RTE" / "train.tsv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + 28


def test_carried_rows_in_plain_order_would_not_give_the_same_splits(tmp_path):
    """The arrangement matters: the same rows in their file order give the recipe other splits (so the
    check in glue_subset can fail)."""
    from textmix.harness.data.text import load_data
    from textmix.harness.recipes.glue import DataArguments

    src = tmp_path / "full" / "RTE"
    src.mkdir(parents=True)
    rows = [f"{i}\tpremise {i} .\thypothesis {i} .\t{'entailment' if i % 2 else 'not_entailment'}\n" for i in range(60)]
    (src / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n" + "".join(rows), encoding="utf-8")
    (src / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n" + "".join(rows[:9]), encoding="utf-8")
    data = {"max_train_samples": 20, "validation_split": 8}
    full = load_data(DataArguments(task_name="rte", glue_dir=str(tmp_path / "full"), **data)).splits
    used = {int(x.split()[1]) for x in [*full["validation"]["text_a"], *full["train"]["text_a"]]}
    plain = tmp_path / "plain" / "RTE"
    plain.mkdir(parents=True)
    (plain / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n" + "".join(rows[i] for i in sorted(used)),
                                     encoding="utf-8")
    (plain / "dev.tsv").write_text((src / "dev.tsv").read_text(encoding="utf-8"), encoding="utf-8")
    small = load_data(DataArguments(task_name="rte", glue_dir=str(tmp_path / "plain"), **data)).splits
    assert small["train"].to_dict() != full["train"].to_dict()
