"""A run's identity and how a stored one differs (`textmix.harness.recipes.resume`), on its boundaries:
an argument only one side sets, nested sections, the run key, and what never counts."""

from __future__ import annotations

from textmix.harness.recipes.resume import identity_changes, run_identity

CONFIG = {"training": {"learning_rate": 1e-4, "max_steps": 10, "output_dir": "out", "report_to": "none",
                       "local_rank": 0}, "data": {"train_file": "a.csv", "max_seq_length": 64}}


def test_an_argument_only_the_new_configuration_sets_is_a_change():
    old = run_identity({}, CONFIG)
    new = run_identity({}, {**CONFIG, "training": {**CONFIG["training"], "mix_clean_weight": 0.5}})
    assert identity_changes(old, new) == ["training.mix_clean_weight: '(not set)' -> 0.5"]


def test_an_argument_only_the_stored_configuration_sets_is_a_change():
    old = run_identity({}, {**CONFIG, "data": {**CONFIG["data"], "label_noise": 0.2}})
    new = run_identity({}, CONFIG)
    assert identity_changes(old, new) == ["data.label_noise: 0.2 -> '(not set)'"]


def test_a_new_section_and_a_value_set_to_none_are_changes():
    old = run_identity({}, CONFIG)
    assert identity_changes(old, run_identity({}, {**CONFIG, "model": {"name": "bert"}})) == [
        "model.name: '(not set)' -> 'bert'"]
    assert identity_changes(run_identity({}, {**CONFIG, "model": {"lora": None}}), old) == [
        "model.lora: None -> '(not set)'"]


def test_every_changed_argument_is_named_in_order():
    old = run_identity({}, CONFIG)
    new = run_identity({}, {"training": {**CONFIG["training"], "learning_rate": 3e-4, "max_steps": 20},
                            "data": {**CONFIG["data"], "max_seq_length": 32}})
    assert identity_changes(old, new) == ["data.max_seq_length: 64 -> 32", "training.learning_rate: 0.0001 -> 0.0003",
                                          "training.max_steps: 10 -> 20"]


def test_paths_reporting_and_the_process_never_count():
    old = run_identity({}, CONFIG)
    new = run_identity({}, {**CONFIG, "training": {**CONFIG["training"], "output_dir": "elsewhere",
                                                   "report_to": "wandb", "local_rank": 3, "logging_dir": "x"}})
    assert identity_changes(old, new) == []
    assert "output_dir" not in old["training"] and old["data"] == {"max_seq_length": 64}  # paths: by content


def test_the_run_key_decides_when_both_have_it():
    a = run_identity({"grid_key": "k1"}, CONFIG)
    moved = run_identity({"grid_key": "k1"}, {**CONFIG, "data": {**CONFIG["data"], "train_file": "b/a.csv"}})
    assert identity_changes(a, moved) == []
    other = run_identity({"grid_key": "k2"}, CONFIG)
    assert identity_changes(a, other) == ["the model's or the data's files (run key k1 -> k2)"]
    # one side without a run key: the arguments decide, then the keys
    assert identity_changes(run_identity({}, CONFIG), a) == ["the model's or the data's files (run key None -> k1)"]
    changed = run_identity({"grid_key": "k1"}, {**CONFIG, "data": {**CONFIG["data"], "max_seq_length": 8}})
    assert identity_changes(run_identity({}, CONFIG), changed) == ["data.max_seq_length: 64 -> 8"]
