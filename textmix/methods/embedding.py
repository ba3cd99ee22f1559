"""Embedding Mixup (wordMixup): mix the word-embedding output, or the whole embedding module's output."""

from __future__ import annotations

import torch

from .. import pooling
from ..hooks import Hook, HookSet, Step, blend_output, blend_rows, first_tensor
from ..masks import union_attention_mask
from .base import Applied, BatchContext, MixContext, MixMethod, register


def last_token_hooks(method: MixMethod, ctx: MixContext, hookset: HookSet) -> list[Hook]:
    """Decoder-only models: before the head, move each mixed row's state at the end of its mixed
    content to the position the model pools (see `textmix.pooling`)."""
    if ctx.arch.spec.pooling != "last" or ctx.task_kind == "token":
        return []

    def pool_at_mixed_end(module, args):
        step = hookset.active(method.name, args[0].shape[0])
        if step is None or step.pool is None:
            return None
        return (pooling.move_to_pool(args[0], step.pool, step.pool_from), *args[1:])

    return [Hook(ctx.arch.head, pool_at_mixed_end, pre=True)]


def pool_positions(ctx: MixContext, inputs: dict, perm: torch.Tensor, lam: torch.Tensor
                   ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Decoder-only models: the pooled position of every row and where its mixed content ends."""
    if ctx.arch.spec.pooling != "last" or ctx.task_kind == "token":  # token classifiers do not pool
        return None, None
    pool = pooling.last_token_positions(inputs, getattr(ctx.model.config, "pad_token_id", None))
    return pool, pooling.mixed_end(pool, perm, lam < 1)


def union_inputs(ctx: MixContext, inputs: dict, perm: torch.Tensor, mixed_rows: torch.Tensor,
                 position_ids: bool) -> dict:
    """`inputs` with the union attention mask of every mixed row and its partner.

    With `position_ids` and a model that numbers positions from the padding (RoBERTa), mixed rows
    also get position ids from the union mask, as if all their tokens were present.
    """
    own_mask = inputs.get("attention_mask")
    if own_mask is None:
        return inputs
    union = union_attention_mask(own_mask, perm, mixed_rows)
    inputs = dict(inputs, attention_mask=union)
    if position_ids and ctx.arch.spec.padded_positions and "position_ids" not in inputs and "input_ids" in inputs:
        pad = getattr(ctx.model.config, "pad_token_id", 1)
        inputs["position_ids"] = (torch.cumsum(union, dim=1) * union + pad).long()
    return inputs


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
