"""Hidden Mixup (TMix / Manifold Mixup): mix the output of layer k, one pass, k drawn per batch.

The partner is another row of the same batch, so one forward suffices: the base model gets each
row's own attention mask (layers up to k see their own tokens), the layers after k get the union
of the two rows' masks, and the output of layer k (k = 0: the embedding module) is blended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..architectures import check_layer_mask
from ..hooks import Hook, HookSet, Step, blend_output, first_tensor
from ..masks import union_layer_mask
from .activations import last_token_hooks, pool_positions, union_inputs
from .base import Applied, BatchContext, MixContext, MixMethod, register


@dataclass
class HiddenStep(Step):
    layer: int = 0
    own_mask: torch.Tensor | None = None
    mixed_rows: torch.Tensor | None = None
    layer_calls: int = 0


def _own_mask(own: torch.Tensor, given: torch.Tensor | None) -> torch.Tensor:
    """The rows' own (B, L) mask in place of the union mask the model got. A longer mask (B, P + L) has P
    virtual tokens in front (PEFT prompt tuning / p-tuning): their columns are kept as given."""
    if given is None or given.dim() != 2 or given.shape[1] <= own.shape[1]:
        return own
    return torch.cat((given[:, : given.shape[1] - own.shape[1]], own.to(given.dtype)), dim=1)


def _checkpointing(model: nn.Module) -> bool:
    flag = getattr(type(model), "is_activation_checkpointing", None)
    if flag is not None:
        return bool(model.is_activation_checkpointing)
    return bool(getattr(model, "is_gradient_checkpointing", False))


@register
class HiddenMixup(MixMethod):
    name = "hidden"
    family = "activations"
    summary = ("the output of layer k (TMix / Manifold Mixup), k drawn per batch from `layers` "
               "(0 = embedding output, N = last layer; default the upper half)")
    attention = "each row's own mask up to layer k, the union after it"
    arch_fields = ("embeddings", "layers")
    token_labels = True

    def fields_for(self, spec) -> tuple[str, ...]:
        return self.arch_fields + (("head",) if spec.pooling == "last" else ())

    def layer_choices(self, ctx: MixContext) -> list[int]:
        depth = ctx.arch.num_layers
        return list(ctx.config.layers or range((depth + 1) // 2, depth + 1))

    def check_model(self, ctx: MixContext) -> None:
        depth = ctx.arch.num_layers
        too_deep = [k for k in self.layer_choices(ctx) if k > depth]
        if too_deep:
            raise ValueError(
                f"layers {too_deep} are out of range: this model has {depth} layers, so hidden Mixup layers "
                f"must be within 0..{depth} (0 = embedding output); e.g. layers=({depth},)."
            )

    def hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        arch = ctx.arch
        layout = arch.spec.mask_layout
        mask_arg = arch.spec.layer_mask_arg

        def union_mask(mask, step: HiddenStep):  # per layer: no cache keyed by object identity (torch.compile)
            return union_layer_mask(mask, step.perm, step.mixed_rows, layout)

        def mix_embeddings(module, args, output):  # layer 0
            step = hookset.active(self.name, first_tensor(output).shape[0])
            return blend_output(output, step) if step is not None and step.layer == 0 else None

        def own_masks_below(module, args, kwargs):
            step = hookset.active(self.name)
            if step is None:
                return None
            step.layer_calls = 0
            if step.own_mask is None:
                return None
            if "attention_mask" in kwargs:
                kwargs["attention_mask"] = _own_mask(step.own_mask, kwargs["attention_mask"])
                return args, kwargs
            if len(args) > 1:
                return (args[0], _own_mask(step.own_mask, args[1]), *args[2:]), kwargs
            raise RuntimeError(f"{type(module).__name__} was called without an attention mask argument textmix can find.")

        def union_above(static_index: int | None) -> Callable:
            def pre_hook(module, args, kwargs):
                hidden = args[0] if args else kwargs.get("hidden_states")
                step = hookset.active(self.name, hidden.shape[0])
                if step is None:
                    return None
                index = static_index if static_index is not None else step.layer_calls
                if index < step.layer:  # layers up to the mixing point keep each row's own mask
                    return None
                if "attention_mask" in kwargs:
                    kwargs["attention_mask"] = union_mask(kwargs["attention_mask"], step)
                    return args, kwargs
                k = mask_arg
                if len(args) > k:
                    check_layer_mask(module, args, k, hidden, step.own_mask)
                    return (*args[:k], union_mask(args[k], step), *args[k + 1:]), kwargs
                return None

            return pre_hook

        def mix_after(static_index: int | None) -> Callable:
            def hook(module, args, output):
                step = hookset.active(self.name, first_tensor(output).shape[0])
                if step is None:
                    return None
                index = static_index if static_index is not None else step.layer_calls
                step.layer_calls += 1
                return blend_output(output, step) if index + 1 == step.layer else None

            return hook

        base = getattr(ctx.model, "base_model", ctx.model)
        hooks = [Hook(arch.embeddings, mix_embeddings), Hook(base, own_masks_below, pre=True, with_kwargs=True),
                 *last_token_hooks(self, ctx, hookset)]
        index_of = {id(m): i for i, m in enumerate(arch.layers)}
        static = len(arch.layers) == arch.num_layers  # else shared layers (ALBERT): count the calls
        for module in dict.fromkeys(arch.layers):  # each distinct module once
            i = index_of[id(module)] if static else None
            hooks += [Hook(module, union_above(i), pre=True, with_kwargs=True), Hook(module, mix_after(i))]
        return hooks

    def apply(self, ctx: MixContext, batch: BatchContext) -> Applied:
        perm, lam = ctx.draws.rows(batch.valid, batch.gen)
        mixed_rows = lam < 1
        own_mask = batch.inputs.get("attention_mask")
        inputs = union_inputs(ctx, batch.inputs, perm, mixed_rows, position_ids=False)
        if _checkpointing(ctx.model) and len(set(map(id, ctx.arch.layers))) != ctx.arch.num_layers:
            raise RuntimeError(
                "hidden Mixup on a model with shared layers (ALBERT) cannot run with gradient checkpointing; "
                "disable one of the two."
            )
        pool, pool_from = pool_positions(ctx, batch.inputs, perm, lam)
        step = HiddenStep(self.name, perm, lam, pool=pool, pool_from=pool_from, layer=batch.layer, own_mask=own_mask,
                          mixed_rows=mixed_rows)
        return Applied(inputs, perm, lam, step=step)
