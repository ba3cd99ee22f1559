"""The method registry is the one source of the method lists: a method registered here, in the test,
is accepted by MixConfig, the Mixer, MixTrainingArguments / HfArgumentParser and `textmix compare`,
and the README's method table is the registry's."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
from conftest import ragged_batch, tiny_model
from transformers import HfArgumentParser

import textmix
from textmix import MixConfig, Mixer
from textmix.methods import MixMethod, get_method, method_names, methods_table, register, unregister

ROOT = Path(__file__).resolve().parents[1]


def test_a_registered_method_is_accepted_everywhere(throwaway, tmp_path):
    cfg = MixConfig(method=f"{throwaway}:1,span:1")
    assert set(cfg.method_weights) == {throwaway, "span"}
    assert throwaway in textmix.METHODS
    # the Mixer runs it
    model = tiny_model("bert")
    mixer = Mixer(model, MixConfig(method=throwaway, alpha=1.0, seed=0))
    batch = ragged_batch(b=6, seed=0)
    with mixer:
        mb = mixer.mix(batch)
    assert mb.method == throwaway and (mb.lam < 1).any()
    assert torch.equal(mb.inputs["input_ids"], batch["input_ids"])
    # the command line of the Trainer takes it
    from textmix import MixTrainingArguments

    (args,) = HfArgumentParser(MixTrainingArguments).parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--mix_method", throwaway, "--use_cpu", "true"])
    assert args.mix_config().method == throwaway
    # `textmix compare` plans runs of it
    from textmix.harness.compare.grid import load_grid
    from textmix.harness.compare.sweep import parse_sweep

    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(f"tasks: [rte]\nmethods: [none, {throwaway}]\nseeds: [0]\n", encoding="utf-8")
    grid = load_grid(config=str(grid_file), glue_dir=str(tmp_path), model_name_or_path="m")
    assert [r.method for r in parse_sweep(grid).plan(tmp_path / "sweep")] == ["none", throwaway]
    # and once unregistered, it is unknown again
    unregister(throwaway)
    with pytest.raises(ValueError, match="unknown mixing method"):
        MixConfig(method=throwaway)


def test_registration_checks_the_declaration():
    with pytest.raises(ValueError, match="family must be one of"):
        register(type("Bad", (MixMethod,), {"name": "bad_family", "family": "audio", "summary": "-"}))
    with pytest.raises(ValueError, match="already registered"):
        register(type("Span2", (MixMethod,), {"name": "span", "family": "tokens", "summary": "-"}))
    with pytest.raises(ValueError, match="reserved"):
        register(type("NoneMethod", (MixMethod,), {"name": "none", "family": "tokens", "summary": "-"}))
    assert get_method("span").name == "span"
    with pytest.raises(ValueError, match="unknown mixing method 'cutout'"):
        get_method("cutout")


def _markdown_table_after(text: str, heading: str) -> str:
    section = text[text.index(heading):]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| `method`"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return "\n".join(lines[start:end])


def test_readme_method_table_is_the_registry():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _markdown_table_after(readme, "### Methods") == methods_table(), (
        "README.md's method table differs from the registry: paste textmix.methods.methods_table() there"
    )


def test_readme_architecture_table_is_the_table():
    from textmix.architectures import architectures_table

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert architectures_table() in readme, (
        "README.md's architecture table differs from textmix.ARCHITECTURES: paste "
        "textmix.architectures.architectures_table() there"
    )


def test_docs_name_every_method():
    adding = (ROOT / "docs" / "adding-a-method.md").read_text(encoding="utf-8")
    vision = (ROOT / "docs" / "vision.md").read_text(encoding="utf-8")
    for name in method_names(modality="image"):
        assert f"`{name}`" in vision, name
    assert "@register" in adding and "methods_table" in adding


def test_every_mixconfig_field_is_a_mix_argument_with_the_same_help():
    from textmix import MixTrainingArguments

    train_fields = {f.name: f for f in dataclasses.fields(MixTrainingArguments)}
    for f in dataclasses.fields(MixConfig):
        mirror = train_fields.get(f"mix_{f.name}")
        assert mirror is not None, f"MixConfig.{f.name} has no --mix_{f.name}"
        assert mirror.metadata["help"].startswith(f.metadata["help"]), f.name
        assert {k: v for k, v in mirror.metadata.items() if k != "help"} == {
            k: v for k, v in f.metadata.items() if k != "help"}, f.name
    parser = HfArgumentParser(MixTrainingArguments)
    choices = {a.dest: a.choices for a in parser._actions}
    assert list(choices["mix_lam_mode"]) == ["batch", "row", "pair"]


def test_method_help_names_every_method():
    help_text = dataclasses.fields(MixConfig)[0].metadata["help"]
    for name in method_names():
        assert re.search(rf"\b{name}\b", help_text), name
