"""Embedding Mixup (wordMixup): mix the word-embedding output, or the whole embedding module's output."""

from __future__ import annotations

import torch

from ..hooks import Hook, HookSet, Step, blend_output, blend_rows, first_tensor
from .activations import last_token_hooks, pool_positions, union_inputs
from .base import Applied, BatchContext, MixContext, MixMethod, register


@register
class EmbeddingMixup(MixMethod):
    name = "embedding"
    family = "activations"
    summary = ("the word-embedding output (wordMixup; or the `inputs_embeds` given), or with "
               "`embedding_target=\"module\"` the whole embedding module's output")
    attention = "union (OR) of the two rows' masks, for every layer"
    arch_fields = ("word_embeddings", "embeddings")
    token_labels = True

    def hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        word = ctx.config.embedding_target == "word"
        module = ctx.arch.word_embeddings if word else ctx.arch.embeddings

        def mix_output(module, args, output):
            step = hookset.active(self.name, first_tensor(output).shape[0])
            return None if step is None else blend_output(output, step)

        return [Hook(module, mix_output), *last_token_hooks(self, ctx, hookset)]

    def fields_for(self, spec) -> tuple[str, ...]:
        return self.arch_fields + (("head",) if spec.pooling == "last" else ())

    def apply(self, ctx: MixContext, batch: BatchContext) -> Applied:
        perm, lam = ctx.draws.rows(batch.valid, batch.gen)
        pool, pool_from = pool_positions(ctx, batch.inputs, perm, lam)
        inputs = union_inputs(ctx, batch.inputs, perm, lam < 1, position_ids=True)
        embeds = inputs.get("inputs_embeds")
        step = Step(self.name, perm, lam, pool=pool, pool_from=pool_from)
        if ctx.config.embedding_target == "word" and "input_ids" not in inputs and isinstance(embeds, torch.Tensor):
            # the model skips its word embeddings: mix the embeddings it was given, here
            inputs = dict(inputs, inputs_embeds=blend_rows(embeds, perm, lam))
            return Applied(inputs, perm, lam, step=step if pool is not None else None)
        return Applied(inputs, perm, lam, step=step)
