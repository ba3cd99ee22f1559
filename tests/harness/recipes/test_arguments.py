"""The recipes' shared arguments: declared once, one naming (an old name is an unknown argument)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from textmix.harness.recipes import glue, image, ner
from textmix.harness.recipes.arguments import DataArgumentsBase, ModelArguments

SHARED = ("dataset_name", "dataset_config_name", "task_name", "max_train_samples", "max_eval_samples",
          "max_predict_samples", "validation_split", "split_seed", "shift_kinds", "shift_severities", "label_noise",
          "drop_unseen_labels")

DATA = {  # the least each recipe needs to parse
    glue: ["--task_name", "rte"],
    ner: ["--train_file", "train.conll", "--test_file", "test.conll"],
    image: ["--npz_path", "digits.npz"],
}

OLD_NAMES = [(glue, "max_test_samples", "max_predict_samples"), (glue, "max_validation_samples", "max_eval_samples"),
             (ner, "max_test_samples", "max_predict_samples"), (image, "validation_share", "validation_split"),
             (image, "corruption_seed", "split_seed"), (ner, "skip_existing", None)]


def _parse(module, argv):
    return module.RECIPE.parse_args([*DATA[module], "--output_dir", "out", "--report_to", "none", *argv])


def test_every_recipe_shares_the_base_fields_and_declares_only_its_own():
    base = {f.name: f for f in dataclasses.fields(DataArgumentsBase)}
    for module in (glue, ner, image):
        assert issubclass(module.DataArguments, DataArgumentsBase)
        assert issubclass(module.RECIPE.model_arguments, ModelArguments)
        fields = {f.name: f for f in dataclasses.fields(module.DataArguments)}
        assert set(SHARED) <= set(fields), module.__name__
        own = set(vars(module.DataArguments).get("__annotations__", {}))
        assert own & set(base) <= set(module.DataArguments.OWN), module.__name__  # a shared field only through OWN
        for name, (default, help_text) in module.DataArguments.OWN.items():
            assert (fields[name].default, fields[name].metadata["help"]) == (default, help_text)


@pytest.mark.parametrize(("module", "old", "new"), OLD_NAMES,
                         ids=[f"{m.__name__.rsplit('.', 1)[1]}-{o}" for m, o, _ in OLD_NAMES])
def test_an_old_name_is_an_unknown_argument(module, old, new):
    from textmix.harness.checks import InputError

    with pytest.raises(InputError, match=f"unknown argument '--{old}'"):
        _parse(module, [f"--{old}", "1"])
    assert old not in {f.name for f in dataclasses.fields(module.DataArguments)}


def test_an_old_key_in_a_config_file_is_an_unknown_key(tmp_path):
    from textmix.harness.checks import InputError

    config = tmp_path / "run.yaml"
    config.write_text("task_name: rte\noutput_dir: out\nmax_test_samples: 11\nreport_to: none\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown key 'max_test_samples'"):
        glue.RECIPE.parse_args([str(config)])


def test_max_eval_samples_caps_only_the_validation_images():
    data_args = image.DataArguments(npz_path="d.npz", max_eval_samples=64)
    assert (data_args.max_eval_samples, data_args.max_predict_samples) == (64, None)


def test_glue_keeps_its_validation_cap_default():
    assert _parse(glue, [])[1].max_eval_samples == 2000 and _parse(ner, [])[1].max_eval_samples is None


def test_lora_is_refused_by_the_image_recipe():
    with pytest.raises(ValueError, match="LoRA is for the GLUE and NER recipes"):
        image.ModelArguments(lora_r=4)


def test_a_grid_s_top_level_data_does_not_give_image_tasks_the_task_only_names():
    from textmix.harness.compare.grid import load_grid
    from textmix.harness.compare.sweep import parse_sweep

    runs = parse_sweep(load_grid("smoke_tasks", None, validate=False)).plan(Path("sweep"), fingerprints=False)
    for run in (r for r in runs if r.modality == "image"):
        assert not {"validation_split", "split_seed"} & set(run.data)
        assert run.data["max_predict_samples"] == run.data["max_eval_samples"]  # the task's own


def test_docs_recipes_lists_every_argument():
    text = (Path(__file__).resolve().parents[3] / "docs" / "recipes.md").read_text(encoding="utf-8")
    for module in (glue, ner, image):
        for cls in (module.RECIPE.model_arguments, module.DataArguments):
            for f in dataclasses.fields(cls):
                assert f"| `--{f.name}` |" in text, (module.__name__, f.name)
    for _, old, _ in OLD_NAMES:
        assert f"`--{old}`" not in text


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
        glue.RECIPE.parse_args([str(config)])


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
