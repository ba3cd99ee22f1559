"""Image Mixup and CutMix on `pixel_values` (no model needed), with every option of timm's `Mixup`.

The box and blend arithmetic are pure functions in `textmix.image`; the draws come from `Draws.images`.
Patch-token mixing for ViTs (`textmix.methods.patches`) reuses all of this on the patch grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import image as image_ops
from ..attention import AttentionLabels
from ..hooks import Hook, HookSet, Step
from .base import Applied, BatchContext, MixContext, MixMethod, register


class ImageMix(MixMethod):
    """Mixup (`blend`) or CutMix (`cut`) of a family; rows draw one of the two themselves in row/pair
    mode when both are configured."""

    blend_name: str
    cut_name: str

    def grid(self, ctx: MixContext, height: int, width: int) -> tuple[int, int]:
        """The grid boxes are drawn on: pixels here, patches for patch methods."""
        return height, width

    def finish(self, ctx: MixContext, inputs: dict, x: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor,
               blend_weight: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], may_blend: bool,
               name: str) -> Applied:
        """Mix the pixels now (or, for patch methods, prepare the hook's step)."""
        mixed = image_ops.mix_images(x, perm, blend_weight, boxes, inplace=ctx.config.inplace, blend=may_blend)
        if not self.weighs_by_attention(ctx.config):
            return Applied(dict(inputs, pixel_values=mixed), perm, lam, boxes=boxes, name=name)
        labels = attention_labels(pixel_region(boxes, size, ctx.arch.patch_size), lam)
        return Applied(dict(inputs, pixel_values=mixed), perm, lam, boxes=boxes, name=name,
                       step=Step(self.name, perm, lam, attention=labels), attention=labels)

    def apply(self, ctx: MixContext, batch: BatchContext) -> Applied:
        cfg = ctx.config
        x = batch.inputs.get("pixel_values")
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            got = "no `pixel_values`" if x is None else f"pixel_values of shape {tuple(getattr(x, 'shape', ()))}"
            raise ValueError(
                f"method {self.name!r} mixes images and needs `pixel_values` of shape (batch, channels, height, "
                f"width) in the batch; got {got}. Text batches use the text methods (embedding, hidden, ...)."
            )
        valid = batch.valid
        b, device = valid.shape[0], valid.device
        if x.shape[0] != b:
            raise ValueError(f"the batch has {x.shape[0]} images but {b} labels.")
        size = self.grid(ctx, *x.shape[-2:])
        weights = {m: w for m, w in ctx.methods.items() if m in (self.blend_name, self.cut_name)}
        per_row_switch = cfg.lam_mode != "batch" and len(weights) == 2
        if per_row_switch:  # each row (pair) draws mixup or cutmix itself, as timm's elem/pair modes
            p_cut, may_blend, may_cut, name = weights[self.cut_name] / sum(weights.values()), True, True, "+".join(weights)
        else:
            p_cut, may_blend, may_cut, name = None, self.name == self.blend_name, self.name == self.cut_name, self.name
        d = ctx.draws.images(valid, batch.gen, p_cut, may_blend, may_cut)
        n = d.cut.shape[0]
        boxes = torch.zeros((n, 4), dtype=torch.long, device=device)
        if d.box_uniforms is not None:
            boxes = image_ops.boxes_from_uniforms(d.lam_cut, d.box_uniforms, size, cfg.cutmix_minmax)
        perm, source = d.perm, d.source
        mixed = valid & (perm != torch.arange(b, device=device))
        if d.gate is not None:
            mixed &= d.gate[source]
        cut, lam_blend, lam_cut, boxes = d.cut[source], d.lam_blend[source], d.lam_cut[source], boxes[source]
        boxes = torch.where((mixed & cut)[:, None], boxes, torch.zeros_like(boxes))
        exact = self.family == "patches" or cfg.correct_lam or cfg.cutmix_minmax is not None
        label_cut = image_ops.kept_fraction(boxes, size) if exact else lam_cut
        one = torch.ones((), device=device)
        lam = torch.where(mixed, torch.where(cut, label_cut, lam_blend), one)
        blend_weight = torch.where(mixed & ~cut, lam_blend, one)
        return self.finish(ctx, batch.inputs, x, perm, lam, blend_weight, boxes, size, may_blend, name)


def pixel_region(boxes: torch.Tensor, size: tuple[int, int], patch_size: tuple[int, int]) -> torch.Tensor:
    """(B, gh * gw) float: 1 for the patches whose pixel the nearest-neighbour downsampling of the pasted box
    picks (TransMix's `nn.Upsample(size=grid)` of the box mask), row-major over the patch grid."""
    grid = (size[0] // patch_size[0], size[1] // patch_size[1])
    mask = image_ops.box_mask(boxes, size).float()[:, None]
    return F.interpolate(mask, size=grid, mode="nearest").flatten(1)


def attention_labels(region: torch.Tensor, lam: torch.Tensor) -> AttentionLabels:
    """`AttentionLabels` of an image batch: every patch counts, the class token (position 0) asks."""
    return AttentionLabels(region=region, support=torch.ones_like(region), area=lam,
                           query=torch.zeros(region.shape[0], dtype=torch.long, device=region.device))


@register
class Mixup(ImageMix):
    name = "mixup"
    family = "pixels"
    summary = "whole images blended pixel by pixel (`pixel_values`)"
    attention = "–"
    blend_name, cut_name = "mixup", "cutmix"


@register
class CutMix(ImageMix):
    name = "cutmix"
    family = "pixels"
    summary = ("a box of the partner's pixels pasted in; label weight = the exact pixel share kept; with "
               "`label_weights=\"attention\"` (TransMix, ViT) the mean of that share and the share of the class "
               "token's last-layer attention outside the box")
    attention = "–"
    blend_name, cut_name = "mixup", "cutmix"
    attention_labels = True
    attention_fields = ("patch_embeddings", "layers")  # the patch grid and the last block

    def hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        return self.attention_hooks(ctx, hookset)
