"""Embedding Mixup (wordMixup): mix the word-embedding output, or the whole embedding module's output."""

from __future__ import annotations

import torch

from ..hooks import Hook, HookSet, Step, blend_output, blend_rows, first_tensor
from ..masks import union_attention_mask
from .base import Applied, BatchContext, MixContext, MixMethod, register


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

    def hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        word = ctx.config.embedding_target == "word"
        module = ctx.arch.word_embeddings if word else ctx.arch.embeddings

        def mix_output(module, args, output):
            step = hookset.active(self.name, first_tensor(output).shape[0])
            return None if step is None else blend_output(output, step)

        return [Hook(module, mix_output)]

    def apply(self, ctx: MixContext, batch: BatchContext) -> Applied:
        perm, lam = ctx.draws.rows(batch.valid, batch.gen)
        inputs = union_inputs(ctx, batch.inputs, perm, lam < 1, position_ids=True)
        embeds = inputs.get("inputs_embeds")
        if ctx.config.embedding_target == "word" and "input_ids" not in inputs and isinstance(embeds, torch.Tensor):
            # the model skips its word embeddings: mix the embeddings it was given, here
            return Applied(dict(inputs, inputs_embeds=blend_rows(embeds, perm, lam)), perm, lam)
        return Applied(inputs, perm, lam, step=Step(self.name, perm, lam))
