"""Pooled Mixup (senMixup): mix the input of the classification head."""

from __future__ import annotations

from ..hooks import Hook, HookSet, Step, blend_rows
from .base import Applied, BatchContext, MixContext, MixMethod, register


@register
class PooledMixup(MixMethod):
    name = "pooled"
    family = "activations"
    summary = "the input of the classification head (senMixup)"
    arch_fields = ("head",)

    def hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        def mix_head_input(module, args):
            step = hookset.active(self.name, args[0].shape[0])
            return None if step is None else (blend_rows(args[0], step.perm, step.lam), *args[1:])

        return [Hook(ctx.arch.head, mix_head_input, pre=True)]

    def apply(self, ctx: MixContext, batch: BatchContext) -> Applied:
        perm, lam = ctx.draws.rows(batch.valid, batch.gen)
        return Applied(batch.inputs, perm, lam, step=Step(self.name, perm, lam))
