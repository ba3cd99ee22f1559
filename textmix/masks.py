"""Attention masks of mixed rows: a mixed row attends to the union of its own and its partner's tokens."""

from __future__ import annotations

import torch


def union_attention_mask(mask: torch.Tensor, perm: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    """(B, L) 0/1 mask: own tokens, plus the partner's where the row is mixed (`mixed` (B,) bool)."""
    union = mask.bool() | (mask[perm].bool() & mixed[:, None])
    return union.to(mask.dtype)


def union_layer_mask(
    mask: torch.Tensor | None, perm: torch.Tensor, mixed: torch.Tensor, layout: str = "key"
) -> torch.Tensor | None:
    """The mask a layer would get for the union of the two rows' tokens, from the mask it got for its own.

    Handles what Hugging Face layers receive: ``None`` (no padding anywhere), boolean masks
    (True = attend), additive float masks (0 = attend, very negative = blocked), and DeBERTa's 0/1
    query-key outer products (`layout="pairwise"`). Rows that are not mixed keep their mask.
    """
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"textmix cannot combine attention masks of type {type(mask).__name__} (e.g. flex-attention "
            "block masks); load the model with attn_implementation='sdpa' or 'eager'."
        )
    b = perm.shape[0]
    if mask.shape[0] == 1 and b > 1:  # one mask broadcast over the batch: identical for every row
        return mask
    if mask.shape[0] != b:
        raise RuntimeError(f"layer mask has batch size {mask.shape[0]}, the mixed batch {b}.")
    gate = mixed.view(b, *([1] * (mask.dim() - 1)))
    if layout == "pairwise":
        if mask.dim() < 3:
            raise RuntimeError(f"expected a (B, 1, L, L) pairwise mask, got shape {tuple(mask.shape)}.")
        attend = mask.bool() if mask.dtype == torch.bool else mask != 0
        keys = attend.any(dim=-2, keepdim=True)  # (B, 1, 1, L): tokens present in the row
        keys = keys | keys[perm]
        union = (keys.transpose(-1, -2) & keys).to(mask.dtype)
        return torch.where(gate, union, mask)
    if layout != "key":
        raise ValueError(f"unknown mask layout {layout!r}; expected 'key' or 'pairwise'.")
    if mask.dtype == torch.bool:
        return torch.where(gate, mask | mask[perm], mask)
    if mask.is_floating_point():
        return torch.where(gate, torch.maximum(mask, mask[perm]), mask)
    return torch.where(gate, torch.maximum(mask, mask[perm]), mask)  # integer 0/1 masks
