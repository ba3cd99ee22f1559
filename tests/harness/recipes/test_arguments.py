"""The recipes' shared arguments: one naming, renamed flags kept for a release, run keys unchanged."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from textmix.harness.recipes import glue, image, ner
from textmix.harness.recipes.arguments import DataArgumentsBase, ModelArguments, as_config, renamed_fields

SHARED = ("dataset_name", "dataset_config_name", "task_name", "max_train_samples", "max_eval_samples",
          "max_predict_samples", "validation_split", "split_seed", "shift_kinds", "shift_severities", "label_noise",
          "drop_unseen_labels")

DATA = {  # the least each recipe needs to parse
    glue: ["--task_name", "rte"],
    ner: ["--train_file", "train.conll", "--test_file", "test.conll"],
    image: ["--npz_path", "digits.npz"],
}

RENAMED = [(glue, "max_test_samples", "max_predict_samples", "7"),
           (glue, "max_validation_samples", "max_eval_samples", "9"),
           (ner, "max_test_samples", "max_predict_samples", "7"),
           (image, "validation_share", "validation_split", "0.25"),
           (image, "corruption_seed", "split_seed", "3")]


def _parse(module, argv):
    return module.parse_args([*DATA[module], "--output_dir", "out", "--report_to", "none", *argv])


def test_every_recipe_shares_the_base_fields_and_one_model_class():
    for module in (glue, ner, image):
        assert issubclass(module.DataArguments, DataArgumentsBase)
        assert issubclass(module.ModelArguments, ModelArguments)
        names = {f.name for f in dataclasses.fields(module.DataArguments)}
        assert set(SHARED) <= names, module.__name__
    # the list: the renamed names are exactly these, each an old name of a shared field
    assert {(m, o, n) for m, o, n, _ in RENAMED} == {(m, o, n) for m in (glue, ner, image)
                                                      for o, n in renamed_fields(m.DataArguments).items()}


@pytest.mark.parametrize(("module", "old", "new", "value"), RENAMED,
                         ids=[f"{m.__name__.rsplit('.', 1)[1]}-{o}" for m, o, _, _ in RENAMED])
def test_an_old_flag_sets_its_new_name_with_a_warning(module, old, new, value):
    with pytest.warns(FutureWarning, match=f"--{old} is deprecated .* use --{new}"):
        data_args = _parse(module, [f"--{old}", value])[1]
    expected = type(getattr(data_args, new))(value)
    assert getattr(data_args, new) == expected and getattr(data_args, old) is None
    assert old not in as_config(data_args) and as_config(data_args)[new] == expected  # results.json: new names


@pytest.mark.parametrize(("module", "old", "new", "value"), RENAMED,
                         ids=[f"{m.__name__.rsplit('.', 1)[1]}-{o}" for m, o, _, _ in RENAMED])
def test_an_old_and_a_new_flag_that_disagree_are_an_error_naming_the_new(module, old, new, value):
    other = "5" if new != "validation_split" else "0.5"
    with pytest.raises(ValueError, match=f"--{old} is the old name of --{new}; give only --{new}"):
        _parse(module, [f"--{old}", value, f"--{new}", other])


def test_an_old_key_in_a_config_file_works(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("task_name: rte\noutput_dir: out\nmax_test_samples: 11\nreport_to: none\n", encoding="utf-8")
    with pytest.warns(FutureWarning, match="use --max_predict_samples"):
        data_args = glue.parse_args([str(config)])[1]
    assert data_args.max_predict_samples == 11


def test_the_image_recipe_keeps_max_eval_samples_capping_the_test_set_for_a_release():
    with pytest.warns(FutureWarning, match="give --max_predict_samples"):
        data_args = image.DataArguments(npz_path="d.npz", max_eval_samples=64)
    assert (data_args.max_eval_samples, data_args.max_predict_samples) == (64, 64)
    data_args = image.DataArguments(npz_path="d.npz", max_eval_samples=64, max_predict_samples=10)
    assert (data_args.max_eval_samples, data_args.max_predict_samples) == (64, 10)


def test_glue_keeps_its_validation_cap_default():
    assert _parse(glue, [])[1].max_eval_samples == 2000 and _parse(ner, [])[1].max_eval_samples is None


def test_lora_is_refused_by_the_image_recipe():
    with pytest.raises(ValueError, match="LoRA is for the GLUE and NER recipes"):
        image.ModelArguments(lora_r=4)


# Run keys of the built-in grids at the commit before the shared names (9be7d3f), per preset: the number of
# runs and a hash of their keys in order (`Sweep.plan(..., fingerprints=False)`: the files' fingerprints are
# read from disk and do not depend on the argument names). gpu: the base's 105 runs less its 3 STS-B
# label-smoothing runs (label smoothing no longer fits a regression task), hashed at the base commit.
# quick: its runs of the methods it had then (it has RegMixup and attention-label variants since: 162 runs).
BASE_METHODS = {"none", "label_smoothing", "embedding", "hidden", "pooled", "span", "saliency_span", "mixup",
                "cutmix", "patch_mixup", "patch_cutmix"}
BASE_KEYS = {"smoke": (6, "ea784b00d46e1212"), "smoke_tasks": (16, "9a80ecee04d59188"),
             "quick": (96, "d160cdc656f05bcc"), "gpu": (102, "b6fb05c6a6c4522c")}


@pytest.mark.parametrize("preset", sorted(BASE_KEYS))
def test_run_keys_of_the_presets_did_not_change(preset):
    from textmix.harness.compare.grid import load_grid
    from textmix.harness.compare.sweep import parse_sweep

    runs = [r for r in parse_sweep(load_grid(preset, None, validate=False)).plan(Path("sweep"), fingerprints=False)
            if r.method in BASE_METHODS]
    keys = hashlib.sha256("".join(r.key for r in runs).encode()).hexdigest()[:16]
    assert (len(runs), keys) == BASE_KEYS[preset]
    for run in runs:  # a grid's top-level data does not give the image recipe the names new to it
        if run.modality == "image":
            assert not {"validation_split", "split_seed"} & set(run.data)
            assert run.data["max_predict_samples"] == run.data["max_eval_samples"]  # the task's own: as before


def test_docs_recipes_lists_every_argument_and_every_rename():
    text = (Path(__file__).resolve().parents[3] / "docs" / "recipes.md").read_text(encoding="utf-8")
    for module in (glue, ner, image):
        for cls in (module.ModelArguments, module.DataArguments):
            old = renamed_fields(cls)
            for f in dataclasses.fields(cls):
                if f.name not in old:
                    assert f"| `--{f.name}` |" in text, (module.__name__, f.name)
            for name, new in old.items():
                assert f"| `--{name}` | `--{new}`" in text, (module.__name__, name)


@pytest.mark.parametrize("module", [glue, ner, image])
def test_an_unknown_argument_is_named_with_the_closest_one(module):
    from textmix.harness.checks import InputError

    with pytest.raises(InputError, match=r"unknown argument '--mix_metod' \(did you mean '--mix_method'\?\)"):
        _parse(module, ["--mix_metod", "hidden"])
    with pytest.raises(InputError, match=r"^unknown argument '--zzz' \(--help"):  # nothing close: no suggestion
        _parse(module, ["--zzz", "1"])


def test_an_unknown_config_key_is_named_with_the_closest_one(tmp_path):
    from textmix.harness.checks import InputError

    config = tmp_path / "run.yaml"
    config.write_text("task_name: rte\noutput_dir: out\nmix_metod: hidden\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"run.yaml: unknown key 'mix_metod' \(did you mean 'mix_method'\?\)"):
        glue.parse_args([str(config)])


@pytest.mark.parametrize("argv,prog", [
    (["train", "glue"], "textmix train glue"),
    (["train", "ner"], "textmix train ner"),
    (["train", "image"], "textmix train image"),
])
def test_a_typo_errors_as_the_command_typed_with_a_suggestion(argv, prog, capsys):
    from textmix.harness import cli

    module = {"glue": glue, "ner": ner, "image": image}[argv[1]]
    assert cli.main([*argv, *DATA[module], "--output_dir", "out", "--mix_metod", "hidden"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{prog}: error: unknown argument '--mix_metod' (did you mean '--mix_method'?)"), err


def test_the_launcher_script_errors_under_its_own_name():
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "recipes/run_glue.py", "--task_name", "rte", "--output_dir", "out",
                           "--mix_metod", "hidden"], capture_output=True, text=True, cwd=root, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 2
    assert done.stderr.startswith("python recipes/run_glue.py: error: unknown argument '--mix_metod' (did you mean "
                                  "'--mix_method'?)"), done.stderr


def test_save_calibrated_at_bound_needs_save_calibrated():
    with pytest.raises(ValueError, match="--save_calibrated_at_bound is for --save_calibrated"):
        _parse(glue, ["--save_calibrated_at_bound"])
    assert _parse(glue, ["--save_calibrated", "--save_calibrated_at_bound"])[0].save_calibrated_at_bound
