"""Pooled Mixup (senMixup): mix the input of the classification head."""

from __future__ import annotations

import torch

from .. import pooling
from ..hooks import Hook, HookSet, Step, blend_rows
from .base import Applied, BatchContext, MixContext, MixMethod, register


@register
class PooledMixup(MixMethod):
    name = "pooled"
    family = "activations"
    summary = "the input of the classification head (senMixup; decoder-only models: the last tokens' states)"
    arch_fields = ("head",)

    def hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        def mix_head_input(module, args):
            step = hookset.active(self.name, args[0].shape[0])
            if step is None:
                return None
            x = args[0]
            if step.pool is not None:  # decoder-only: blend the pooled tokens, put the blend where the row is pooled
                rows = torch.arange(x.shape[0], device=x.device)
                x = pooling.put_at_pool(x, step.pool, blend_rows(x[rows, step.pool], step.perm, step.lam))
            else:
                x = blend_rows(x, step.perm, step.lam)
            return (x, *args[1:])

        return [Hook(ctx.arch.head, mix_head_input, pre=True)]

    def apply(self, ctx: MixContext, batch: BatchContext) -> Applied:
        perm, lam = ctx.draws.rows(batch.valid, batch.gen)
        pool = None
        if ctx.arch.spec.pooling == "last":
            pool = pooling.last_token_positions(batch.inputs, getattr(ctx.model.config, "pad_token_id", None))
        return Applied(batch.inputs, perm, lam, step=Step(self.name, perm, lam, pool=pool))
