"""Hooks never outlive the mixer, and a model used with textmix saves exactly as without it."""

from __future__ import annotations

import hashlib

import pytest
import torch
from conftest import SPECIAL, ragged_batch, tiny_model

from textmix import MixConfig, Mixer

ALL = "embedding:1,hidden:1,pooled:1,span:1,saliency_span:1"


def hook_count(model):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(getattr(m, "_forward_hooks_with_kwargs", {}))
        for m in model.modules()
    )


def test_hooks_are_removed_on_exit_and_on_error():
    model = tiny_model("albert")
    before = hook_count(model)
    mixer = Mixer(model, MixConfig(method=ALL, layers=(1, 2)), special_token_ids=list(SPECIAL.values()))
    with mixer:
        assert hook_count(model) > before
        mixer.mix(ragged_batch(b=4, seed=1))
    assert hook_count(model) == before and not mixer.attached
    with pytest.raises(ZeroDivisionError), mixer:
        mixer.mix(ragged_batch(b=4, seed=1))
        raise ZeroDivisionError
    assert hook_count(model) == before


def test_hook_methods_outside_the_with_block_are_an_error():
    mixer = Mixer(tiny_model("bert"), MixConfig(method="hidden", layers=(1,)))
    with pytest.raises(RuntimeError, match="inside `with mixer:`"):
        mixer.mix(ragged_batch(b=4, seed=1))


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_save_pretrained_writes_the_same_files(tmp_path):
    model = tiny_model("bert")
    model.save_pretrained(tmp_path / "plain")
    batch = ragged_batch(b=4, seed=2)
    mixer = Mixer(model, MixConfig(method=ALL, layers=(1,)), special_token_ids=list(SPECIAL.values()))
    with mixer:
        for _ in range(3):
            if mixer.next_needs_saliency:
                clean = mixer.clean(batch)
                clean.loss(model(**clean.inputs).logits)
            mb = mixer.mix(batch)
            mb.loss(model(**mb.inputs).logits)
        model.save_pretrained(tmp_path / "inside")
    model.save_pretrained(tmp_path / "after")
    assert digest(tmp_path / "plain") == digest(tmp_path / "inside") == digest(tmp_path / "after")
    assert model.config.problem_type is None
    with torch.no_grad():
        reloaded = type(model).from_pretrained(tmp_path / "after").train()
        assert hook_count(reloaded) == hook_count(tiny_model("bert"))
