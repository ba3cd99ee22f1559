"""The math of image mixing: CutMix boxes, kept fractions, mixing pixels and patch tokens.

Pure functions on tensors; `Mixer` draws the random numbers and calls them. Boxes are (B, 4) long
tensors of half-open ranges ``[y0, y1, x0, x1]`` on a grid of `size` = (H, W): pixels for `cutmix`,
patches for `patch_cutmix`. A row with an empty box (``y0 == y1`` or ``x0 == x1``) has nothing
pasted. The draws and the arithmetic on them work on all rows at once; only moving pixels on CPU
goes row by row (`mix_images`, `paste_boxes`: one kernel per row straight into the output, which is
the fastest way there, since the work is bound by memory).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import sampling

Size = tuple[int, int]


def cut_sides(lam: torch.Tensor, size: Size) -> tuple[torch.Tensor, torch.Tensor]:
    """Box height and width (long) for lambdas `lam` (B,): ``round(side * sqrt(1 - lam))``, so the
    box covers about ``1 - lam`` of the image before clipping (CutMix)."""
    h, w = size
    ratio = torch.sqrt((1.0 - lam.double()).clamp(0.0, 1.0))
    return torch.round(h * ratio).long(), torch.round(w * ratio).long()


BOX_UNIFORMS = 4
"""Uniforms `boxes_from_uniforms` takes per row (two for the centre, two for the sides under minmax)."""


def boxes_from_uniforms(
    lam: torch.Tensor, u: torch.Tensor, size: Size, minmax: Sequence[float] | None = None
) -> torch.Tensor:
    """CutMix boxes (B, 4) from lambdas (B,) and uniforms `u` (B, 4) in [0, 1).

    Without `minmax` (CutMix): sides from `cut_sides`, centre ``(floor(u0 * H), floor(u1 * W))``,
    the box ``[cy - h // 2, cy - h // 2 + h)`` clipped at the border (so it may shrink).
    With `minmax = (lo, hi)` (timm's ``cutmix_minmax``): sides ``floor(H * (lo + u2 * (hi - lo)))``
    (width likewise with u3), `lam` unused, and the box placed wholly inside the image,
    ``y0 = floor(u0 * (H - h + 1))``.
    """
    H, W = size
    u = u.double()
    if minmax is None:
        h, w = cut_sides(lam, size)
        cy = torch.floor(u[:, 0] * H).long().clamp(0, H - 1)
        cx = torch.floor(u[:, 1] * W).long().clamp(0, W - 1)
        y0, x0 = cy - h // 2, cx - w // 2
        y1, x1 = y0 + h, x0 + w
        return torch.stack([y0.clamp(0, H), y1.clamp(0, H), x0.clamp(0, W), x1.clamp(0, W)], dim=1)
    lo, hi = float(minmax[0]), float(minmax[1])
    h = torch.floor(H * (lo + u[:, 2] * (hi - lo))).long().clamp(0, H)
    w = torch.floor(W * (lo + u[:, 3] * (hi - lo))).long().clamp(0, W)
    y0 = torch.minimum(torch.floor(u[:, 0] * (H - h + 1)).long(), H - h)
    x0 = torch.minimum(torch.floor(u[:, 1] * (W - w + 1)).long(), W - w)
    return torch.stack([y0, y0 + h, x0, x0 + w], dim=1)


def sample_boxes(
    lam: torch.Tensor, size: Size, generator: torch.Generator, minmax: Sequence[float] | None = None
) -> torch.Tensor:
    """CutMix boxes (B, 4) for lambdas `lam` (B,), drawing `BOX_UNIFORMS` uniforms per row from `generator`."""
    u = torch.rand((lam.shape[0], BOX_UNIFORMS), generator=generator, device=lam.device, dtype=torch.float64)
    return boxes_from_uniforms(lam, u, size, minmax)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Cells inside each box (B,), long."""
    return (boxes[:, 1] - boxes[:, 0]).clamp_min(0) * (boxes[:, 3] - boxes[:, 2]).clamp_min(0)


def kept_fraction(boxes: torch.Tensor, size: Size) -> torch.Tensor:
    """Share of each row's own cells left outside its box (B,), float32: the exact CutMix label weight."""
    return (1.0 - box_area(boxes).double() / (size[0] * size[1])).float()


def box_mask(boxes: torch.Tensor, size: Size) -> torch.Tensor:
    """(B, H, W) bool: True inside each row's box."""
    H, W = size
    ys = torch.arange(H, device=boxes.device)
    xs = torch.arange(W, device=boxes.device)
    in_y = (ys >= boxes[:, 0:1]) & (ys < boxes[:, 1:2])
    in_x = (xs >= boxes[:, 2:3]) & (xs < boxes[:, 3:4])
    return in_y[:, :, None] & in_x[:, None, :]


def token_weights(boxes: torch.Tensor, grid: Size, weight: torch.Tensor) -> torch.Tensor:
    """Weight of each row's own patch token (B, gh * gw), row-major over the grid: 0 inside the row's
    box (the partner's token replaces it), `weight` (the Mixup lambda, 1 for CutMix rows) elsewhere."""
    inside = box_mask(boxes, grid).flatten(1)
    return torch.where(inside, torch.zeros((), dtype=weight.dtype, device=weight.device), weight[:, None])


def mix_tokens(tokens: torch.Tensor, perm: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``w * own + (1 - w) * partner`` per token, for tokens (B, N, D) and weights (B, N).

    Computed as ``lerp(partner, own, w)``, exact at w = 0 and w = 1, so cut tokens are the partner's
    bit for bit and kept tokens the row's own.
    """
    return torch.lerp(tokens[perm], tokens, weights.to(tokens.dtype)[..., None])


def paste_boxes(
    out: torch.Tensor, source: torch.Tensor, perm: torch.Tensor, boxes: torch.Tensor, *, masked: bool | None = None
) -> torch.Tensor:
    """Write ``source[perm[i]]`` into ``out[i]`` inside box i, for images (B, C, H, W); returns `out`.

    `out` may be `source` itself (in place): then the partners' boxes are read before anything is
    written. On CPU each distinct box costs one strided copy (rows that share it, as in batch mode, are
    copied together; never a copy of the whole batch); on accelerators (or with `masked=True`) one masked select over the batch,
    without host synchronisation.
    """
    if boxes.shape[0] == 0:
        return out
    if masked if masked is not None else not sampling.reads_are_free(out.device):
        mask = box_mask(boxes, (out.shape[-2], out.shape[-1]))[:, None]
        return out.copy_(torch.where(mask, source.index_select(0, perm), out))
    groups: dict[tuple[int, int, int, int], list[tuple[int, int]]] = {}
    for i, (j, box) in enumerate(zip(perm.tolist(), boxes.tolist(), strict=True)):
        if box[1] > box[0] and box[3] > box[2]:
            groups.setdefault(tuple(box), []).append((i, j))
    writes = []
    for (y0, y1, x0, x1), pairs in groups.items():  # rows sharing a box (all of them in batch mode): one copy
        if len(pairs) == 1:
            (i, j), = pairs
            writes.append((i, (y0, y1, x0, x1), source[j, :, y0:y1, x0:x1]))
        else:
            rows = torch.tensor([i for i, _ in pairs], device=out.device)
            partners = torch.tensor([j for _, j in pairs], device=out.device)
            writes.append((rows, (y0, y1, x0, x1), source[partners, :, y0:y1, x0:x1]))  # a copy of the boxes
    if out is source or out.untyped_storage().data_ptr() == source.untyped_storage().data_ptr():
        writes = [(i, box, crop.clone() if isinstance(i, int) else crop) for i, box, crop in writes]
    for i, (y0, y1, x0, x1), crop in writes:
        if isinstance(i, int):
            out[i, :, y0:y1, x0:x1].copy_(crop)
        else:
            out[i, :, y0:y1, x0:x1] = crop
    return out


def mix_images(
    x: torch.Tensor,
    perm: torch.Tensor,
    weight: torch.Tensor,
    boxes: torch.Tensor,
    *,
    inplace: bool = False,
    masked: bool | None = None,
    blend: bool | None = None,
) -> torch.Tensor:
    """Mixup and CutMix of images x (B, C, H, W), row by row, in one pass over the batch.

    Row i becomes ``lerp(x[perm[i]], x[i], weight[i])``, i.e. ``weight[i] * x[i] + (1 - weight[i]) *
    x[perm[i]]`` (Mixup rows have weight < 1; CutMix and unmixed rows weight 1, which leaves the row
    bit-identical), then the partner's pixels inside ``boxes[i]`` are pasted (empty box: nothing). On
    CPU the blend runs one kernel per row into the output (no gathered copy of the batch; the run is
    bound by memory traffic), elsewhere one batched kernel. Without `inplace`, `x` is never written to
    and a new tensor comes back; with it, the result is written into `x` and `x` is returned.
    Mixup needs floating-point images; CutMix copies any dtype. `masked`: see `paste_boxes`. `blend`
    says whether any row may have weight < 1 (None: look, which synchronises with an accelerator);
    False skips the blending pass.
    """
    if x.dim() != 4:
        raise ValueError(f"pixel_values must have shape (batch, channels, height, width), got {tuple(x.shape)}.")
    perm = perm.to(x.device)
    if blend is None:
        blend = bool((weight < 1).any())
    if blend:
        if not x.is_floating_point():
            raise TypeError(
                f"Mixup blends pixels and needs floating-point pixel_values, got {x.dtype}; convert them "
                "first (e.g. x.float() / 255), or use method='cutmix', which copies pixels of any dtype."
            )
        w = weight.to(device=x.device, dtype=x.dtype)
        if sampling.reads_are_free(x.device) and not x.requires_grad:
            # one kernel per row writing the output directly: no gathered copy of the batch (memory-bound here)
            out = torch.empty_like(x)
            for i, j in enumerate(perm.tolist()):
                torch.lerp(x[j], x[i], w[i], out=out[i])
        else:
            out = x.index_select(0, perm).lerp_(x, w.view(-1, 1, 1, 1))
    else:
        out = x if inplace else x.clone()
    paste_boxes(out, x, perm, boxes.to(x.device), masked=masked)
    if inplace and out is not x:
        x.copy_(out)
        return x
    return out
