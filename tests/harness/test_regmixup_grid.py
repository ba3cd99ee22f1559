"""RegMixup and attention label weights in grids: the `quick` preset plans the variants where they fit, with
their training arguments reaching MixConfig; a slice of the preset leaves its unused variants out; bad values
are grid problems."""

from __future__ import annotations

import pytest
from transformers import HfArgumentParser

from textmix import MixTrainingArguments
from textmix.harness.compare.check import check_grid
from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.sweep import GridError, parse_sweep
from textmix.harness.tasks import fits


def test_the_quick_preset_plans_the_variants_where_they_fit(tmp_path):
    grid = load_grid("quick", None, seeds=[0])
    runs = parse_sweep(grid).plan(tmp_path, fingerprints=False)
    cells = {(r.task, r.method): r for r in runs}
    for task in ("sst2", "rte", "reviews"):
        assert {(task, m) for m in ("regmixup_hidden", "regmixup_span", "span_attention")} <= set(cells)
        assert (task, "transmix_cutmix") not in cells and (task, "regmixup_mixup") not in cells
    assert {("digits", "regmixup_mixup"), ("digits", "transmix_cutmix")} <= set(cells)
    assert ("digits", "regmixup_hidden") not in cells
    expected = {"regmixup_hidden": ("hidden", 1.0, "area", 20.0), "regmixup_span": ("span", 1.0, "area", 20.0),
                "span_attention": ("span", 0.0, "attention", 0.4),
                "regmixup_mixup": ("mixup", 1.0, "area", 20.0), "transmix_cutmix": ("cutmix", 0.0, "attention", None)}
    for (task, method), run in cells.items():
        if method not in expected:
            continue
        training = {k: v for k, v in run.training.items() if k != "output_dir"}
        cfg = MixTrainingArguments(output_dir=str(tmp_path / "x"), **training).mix_config()
        name, eta, weights, alpha = expected[method]
        assert (cfg.method, cfg.clean_weight, cfg.label_weights) == (name, eta, weights), (task, method)
        if alpha is not None:
            assert cfg.alpha == alpha


def test_the_options_are_command_line_arguments():
    (a,) = HfArgumentParser(MixTrainingArguments).parse_args_into_dataclasses(
        ["--output_dir", "x", "--mix_method", "span", "--mix_clean_weight", "1", "--mix_alpha", "20",
         "--mix_label_weights", "attention"])
    cfg = a.mix_config()
    assert (cfg.clean_weight, cfg.alpha, cfg.label_weights) == (1.0, 20.0, "attention")


def test_attention_labels_do_not_fit_token_tasks():
    assert fits("span_attention", {"mix_method": "span", "mix_label_weights": "attention"}, "tokens")
    assert fits("span_attention", {"mix_method": "span", "mix_label_weights": "attention"}, "text") is None
    assert fits("span", {"mix_method": "span"}, "tokens") is None


def test_bad_values_in_method_args_are_grid_problems(tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text("methods: [none, reg, att]\nmethod_args:\n"
                      "  reg: {mix_method: hidden, mix_clean_weight: -1}\n"
                      "  att: {mix_method: hidden, mix_label_weights: attention}\n", encoding="utf-8")
    sweep = parse_sweep(load_grid("smoke", str(config)))
    problems = "\n".join(check_grid(sweep, sweep.plan(tmp_path / "sweep"), tmp_path / "sweep"))
    assert "training of method reg: clean_weight must be a number >= 0" in problems
    assert "training of method att: label_weights='attention'" in problems and "paste no region" in problems


def test_a_slice_of_the_quick_preset_leaves_its_unused_variants_out(tmp_path):
    grid = load_grid("quick", None, methods=["none", "regmixup_hidden"], seeds=[0])
    assert set(grid["method_args"]) == {"regmixup_hidden"}
    assert "method_args" not in load_grid("quick", None, methods=["none"])
    config = tmp_path / "slice.yaml"
    config.write_text("methods: [none, mine]\nmethod_args:\n  mine: {mix_method: hidden}\n  typo: {mix_method: span}\n",
                      encoding="utf-8")
    with pytest.raises(GridError, match="unknown method 'typo'"):  # a config's own unused variant is still an error
        load_grid("quick", str(config))


def test_tasks_override_selects_the_presets_own_tasks_by_name():
    grid = load_grid("quick", None, tasks=["digits", "mrpc"], methods=["none"])
    assert grid["tasks"][0]["name"] == "digits" and grid["tasks"][0]["modality"] == "image"
    assert grid["tasks"][1] == "mrpc"


def test_a_one_modality_slice_keeps_the_grids_other_settings_out_of_its_way(tmp_path):
    grid = load_grid("quick", None, tasks=["digits"], methods=["none", "cutmix"], seeds=[0])  # no GridError
    runs = parse_sweep(grid).plan(tmp_path, fingerprints=False)
    assert {r.task for r in runs} == {"digits"} and not {"max_seq_length", "validation_split"} & set(runs[0].data)
