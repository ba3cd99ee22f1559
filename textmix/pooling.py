"""Where a decoder-only classifier reads each row, and keeping that right when rows are mixed.

Decoder-only classifiers (`ArchSpec.pooling == "last"`) run their head on every token and keep, per
row, the last token that is not `pad_token_id` (found from `input_ids`, so right and left padding
both work; with `inputs_embeds` the last position). Under a causal mask only that token has seen
the whole row.

- Embedding and hidden Mixup mix the two rows position by position, so the mixed row's content
  ends where the later of the two rows ends: the head's input at that position is moved to the
  position the model pools (with right padding the two rows end at different positions; pooling
  at the row's own end would drop the partner's tail). Position ids are the model's own
  (0..L-1, as for the plain model).
- Pooled Mixup blends the two rows' pooled vectors (each at its own last token) and puts the blend
  where the model pools the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def last_token_positions(inputs: Mapping[str, Any], pad_token_id: int | None) -> torch.Tensor:
    """(B,) the position the model pools in each row: the rightmost token that is not padding."""
    ids = inputs.get("input_ids")
    if ids is None or pad_token_id is None:
        x = ids if ids is not None else inputs["inputs_embeds"]
        return torch.full((x.shape[0],), x.shape[1] - 1, dtype=torch.long, device=x.device)
    positions = torch.arange(ids.shape[1], device=ids.device)
    return (positions * (ids != pad_token_id)).argmax(-1)


def mixed_end(pool: torch.Tensor, perm: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    """(B,) where each mixed row's content ends: the later of its own and its partner's last token."""
    return torch.where(mixed, torch.maximum(pool, pool[perm]), pool)


def move_to_pool(x: torch.Tensor, pool: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Token states (B, L, H) with row i's state at `source[i]` copied to `pool[i]` (out of place)."""
    rows = torch.arange(x.shape[0], device=x.device)
    return x.index_put((rows, pool), x[rows, source])


def put_at_pool(x: torch.Tensor, pool: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Token states (B, L, H) with row i's state at `pool[i]` replaced by `values[i]` (out of place)."""
    rows = torch.arange(x.shape[0], device=x.device)
    return x.index_put((rows, pool), values.to(x.dtype))
