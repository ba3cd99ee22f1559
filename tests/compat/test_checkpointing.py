"""Gradient checkpointing — Hugging Face's (reentrant and not) and torch's `checkpoint_wrapper` applied before
or after the Mixer is built, by hand and through MixTrainer: the step equals the same step without
checkpointing (same draws) to 1e-5. The re-run forward of a checkpointed layer must see the same partners,
lambdas and masks as the first one."""

from __future__ import annotations

import functools

from conftest import ragged_batch, tiny_model

from compat.matrix import compat_cells
from compat.steps import IMAGE, TEXT, assert_same_step, images, mixer_for, tiny_vit, train_step

RTOL, ATOL = 1e-5, 1e-6


def hf(reentrant: bool):
    def apply(model):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
    return apply


def wrapper(model):
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
        CheckpointImpl,
        apply_activation_checkpointing,
        checkpoint_wrapper,
    )

    layer = type(model.base_model.encoder.layer[0])
    apply_activation_checkpointing(
        model, check_fn=lambda m: isinstance(m, layer),
        checkpoint_wrapper_fn=functools.partial(checkpoint_wrapper, checkpoint_impl=CheckpointImpl.NO_REENTRANT))


def compare(make_model, batch, method, apply, before: bool):
    plain = make_model()
    with mixer_for(plain, method, seed=3) as reference:
        want = train_step(plain, reference, batch)
    model = make_model()
    if before:
        apply(model)
    mixer = mixer_for(model, method, seed=3)
    if not before:
        apply(model)
    with mixer:
        got = train_step(model, mixer, batch)
    assert_same_step(got, want, RTOL, ATOL)


EXACT = "The step (loss, label weights, every gradient) equals the step without it to 1e-5, same draws."


@compat_cells("gradient checkpointing (HF, reentrant)", TEXT + IMAGE,
              note="`model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={\"use_reentrant\": True})` "
                   "on BERT and ViT, enabled before and (a second check) after the Mixer is built. " + EXACT)
def test_hf_reentrant_checkpointing_equals_the_plain_step(method):
    make = tiny_vit if method in IMAGE else tiny_model
    batch = images() if method in IMAGE else ragged_batch(b=6, seed=1)
    compare(make, batch, method, hf(True), before=True)
    compare(make, batch, method, hf(True), before=False)


@compat_cells("gradient checkpointing (HF, non-reentrant)", TEXT + IMAGE,
              note="The same with `\"use_reentrant\": False`. " + EXACT)
def test_hf_non_reentrant_checkpointing_equals_the_plain_step(method):
    make = tiny_vit if method in IMAGE else tiny_model
    batch = images() if method in IMAGE else ragged_batch(b=6, seed=1)
    compare(make, batch, method, hf(False), before=True)
    compare(make, batch, method, hf(False), before=False)


@compat_cells("checkpoint_wrapper, before the Mixer", TEXT,
              note="torch's `apply_activation_checkpointing` with `checkpoint_wrapper` (non-reentrant) around "
                   "every BERT layer, before the Mixer is built (its hooks go on the wrappers). " + EXACT)
def test_checkpoint_wrapper_before_the_mixer_equals_the_plain_step(method):
    compare(tiny_model, ragged_batch(b=6, seed=1), method, wrapper, before=True)


@compat_cells("checkpoint_wrapper, after the Mixer", TEXT,
              note="The same, applied after the Mixer is built (its hooks sit inside the wrappers). " + EXACT)
def test_checkpoint_wrapper_after_the_mixer_equals_the_plain_step(method):
    compare(tiny_model, ragged_batch(b=6, seed=1), method, wrapper, before=False)
