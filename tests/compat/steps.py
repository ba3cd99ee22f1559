"""The oracle of most compatibility cells: one training step by hand, run twice — on the model as loaded and
on the model with the set-up (checkpointing, autocast, an adapter, a process group) — with the same draws.

`train_step` is the loop the README teaches (a clean pass first for RegMixup and saliency_span, then
`mix()`), `assert_same_step` compares two of them: the same partners and lambdas, the same mixed inputs,
the loss and every gradient within a stated tolerance.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from compat.matrix import VARIANTS
from textmix import MixConfig, Mixer
from textmix.methods import get_method

TEXT = ["embedding", "hidden", "pooled", "span", "saliency_span", "regmixup_hidden", "span_attention"]
"""Every text method and the variants that are cells of their own (matrix.VARIANTS)."""
IMAGE = ["mixup", "cutmix", "patch_mixup", "patch_cutmix", "transmix_cutmix"]
"""Every image method and TransMix."""
SPECIAL_IDS = [0, 1, 2]  # pad, cls/bos, sep/eos of the tiny configs (tests/conftest.py, test_decoders.py)


def config(method: str, seed: int = 0, **overrides) -> MixConfig:
    """The MixConfig of a matrix method (a registry name or a VARIANTS name), every row mixed."""
    kwargs = dict(alpha=1.0, lam_mode="row", seed=seed)
    kwargs.update(VARIANTS[method][0] if method in VARIANTS else {"method": method})
    if get_method(kwargs["method"]).family == "activations":
        kwargs["layers"] = [2]
    kwargs.update(overrides)
    return MixConfig(**kwargs)


def mixer_for(model, method: str, seed: int = 0, overrides: dict | None = None, **kwargs) -> Mixer:
    """A Mixer of a matrix method on `model` (`overrides`: MixConfig fields; `kwargs`: Mixer's)."""
    kwargs.setdefault("special_token_ids", SPECIAL_IDS)
    return Mixer(model, config(method, seed, **(overrides or {})), **kwargs)


@dataclass
class Step:
    loss: torch.Tensor          # the step's total loss (detached)
    perm: torch.Tensor
    lam: torch.Tensor
    inputs: dict                # the mixed batch's inputs
    targets: torch.Tensor
    grads: dict                 # parameter name (wrapper prefixes removed) -> gradient
    logits_dtype: torch.dtype
    method: str                 # what was drawn for the mixed pass
    layer: int | None


def train_step(model, mixer: Mixer, batch: dict, forward=None, autocast: torch.dtype | None = None,
               backward=None) -> Step:
    """One step as the README's loop: RegMixup's clean pass (CE(clean) + clean_weight x mixed), or the clean
    pass saliency_span needs (the mean of both losses, as MixTrainer), then the mixed pass; gradients are
    accumulated in `model` (zeroed first). `forward` runs the model (a DDP wrapper; default `model`),
    `autocast` is the dtype of autocast on the model's device, `backward(loss)` replaces `loss.backward()`
    (e.g. a GradScaler's scaled backward)."""
    forward = model if forward is None else forward
    backward = (lambda loss: loss.backward()) if backward is None else backward
    model.zero_grad(set_to_none=True)
    device = next(model.parameters()).device.type
    amp = torch.autocast(device, dtype=autocast) if autocast else contextlib.nullcontext()
    eta = mixer.config.clean_weight
    total = torch.zeros((), device=next(model.parameters()).device)
    if eta > 0 or mixer.next_needs_saliency:
        cb = mixer.clean(batch)
        with amp:
            clean = cb.loss(forward(**cb.inputs).logits)
        weight = 1.0 if eta > 0 else 0.5
        backward(weight * clean)
        total = total + weight * clean.detach()
        mixed_weight = eta if eta > 0 else 0.5
    else:
        mixed_weight = 1.0
    mb = mixer.mix(batch)
    with amp:
        logits = forward(**mb.inputs).logits
        mixed = mb.loss(logits)
    backward(mixed_weight * mixed)
    total = total + mixed_weight * mixed.detach()
    assert mb.targets.dtype == torch.float32 and mixed.dtype == torch.float32, "targets and loss must stay fp32"
    grads = {_plain_name(n): p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return Step(total, mb.perm, mb.lam, {k: v.detach().clone() for k, v in mb.inputs.items()
                                         if isinstance(v, torch.Tensor)}, mb.targets.detach(), grads, logits.dtype,
                mb.method, mb.layer)


def _plain_name(name: str) -> str:
    name = name.replace("_checkpoint_wrapped_module.", "").replace("_orig_mod.", "")
    return name.removeprefix("module.")


def assert_same_step(got: Step, want: Step, rtol: float, atol: float, grads: bool = True,
                     grad_norm_rtol: float | None = None) -> None:
    """The same draws and mixed inputs; loss, targets, label weights and (with `grads`) every gradient within
    rtol/atol — or, with `grad_norm_rtol`, all gradients as one vector within that relative distance."""
    assert torch.equal(got.perm, want.perm), "the partners differ"
    torch.testing.assert_close(got.lam, want.lam, rtol=rtol, atol=atol, msg=lambda m: f"label weights: {m}")
    assert (want.lam < 1).any(), "no row was mixed: the cell would test nothing"
    for key, value in want.inputs.items():
        if value.is_floating_point():
            torch.testing.assert_close(got.inputs[key], value, rtol=rtol, atol=atol, msg=f"mixed {key}")
        else:
            assert torch.equal(got.inputs[key], value), f"mixed {key} differ"
    torch.testing.assert_close(got.targets, want.targets, rtol=rtol, atol=atol)
    torch.testing.assert_close(got.loss, want.loss, rtol=rtol, atol=atol)
    if grads:
        assert got.grads.keys() == want.grads.keys()
        if grad_norm_rtol is not None:
            a, b = (torch.cat([s.grads[n].float().flatten() for n in sorted(want.grads)]) for s in (got, want))
            assert (a - b).norm() <= grad_norm_rtol * b.norm(), f"gradients {(a - b).norm() / b.norm():.2e} apart"
            return
        for name, g in want.grads.items():
            torch.testing.assert_close(got.grads[name], g, rtol=rtol, atol=atol, msg=lambda m, n=name: f"{n}: {m}")


def tiny_vit(impl: str = "sdpa", seed: int = 0):
    """A 2-layer, hidden-16 ViT on 8x8 images (patch 2), 3 labels, in train mode."""
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(seed)
    return ViTForImageClassification(ViTConfig(
        image_size=8, patch_size=2, num_channels=3, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=16, num_labels=3, initializer_range=0.5, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, attn_implementation=impl)).train()


def images(b: int = 6, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"pixel_values": torch.rand((b, 3, 8, 8), generator=g), "labels": torch.randint(0, 3, (b,), generator=g)}
