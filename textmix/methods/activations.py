"""What the activation methods (embedding, hidden; forward hooks on text activations) share: the union attention
mask of mixed rows, and where a decoder-only model pools a mixed row."""

from __future__ import annotations

import torch

from .. import pooling
from ..hooks import Hook, HookSet
from ..masks import union_attention_mask
from .base import MixContext, MixMethod


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
