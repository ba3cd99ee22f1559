"""Patch Mixup and patch CutMix for ViT-style models: the image methods on the patch-embedding output.

Mixed before [CLS] and position embeddings are added ([CLS] is never mixed); boxes are drawn on the
patch grid and the label weight is the exact share of patches a row keeps (docs/vision.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import image as image_ops
from ..hooks import Hook, HookSet, Step, first_tensor, replace_first
from .base import Applied, MixContext, register
from .pixels import ImageMix, attention_labels


@dataclass
class PatchStep(Step):
    """Patch methods: the patch grid and the weight of every row's own patch tokens (B, gh * gw)."""

    grid: tuple[int, int] = (0, 0)
    token_weight: torch.Tensor | None = None


class PatchMix(ImageMix):
    family = "patches"
    arch_fields = ("patch_embeddings",)
    blend_name, cut_name = "patch_mixup", "patch_cutmix"

    def grid(self, ctx: MixContext, height: int, width: int) -> tuple[int, int]:
        ph, pw = ctx.arch.patch_size
        if height < ph or width < pw:
            raise ValueError(f"images of {height} x {width} pixels are smaller than one {ph} x {pw} patch.")
        return height // ph, width // pw

    def hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        def mix_patches(module, args, output):
            tokens = first_tensor(output)
            step = hookset.active(self.name, tokens.shape[0])
            if step is None:
                return None
            gh, gw = step.grid
            if tokens.dim() != 3 or tokens.shape[1] != gh * gw:
                raise RuntimeError(
                    f"the patch embedding {type(module).__name__} returned shape {tuple(tokens.shape)}, but the "
                    f"images make a {gh} x {gw} grid of patches of size {ctx.arch.patch_size}: patch methods need "
                    "its output to be the patch tokens (batch, patches, hidden) in row-major grid order. Point "
                    "arch={'patch_embeddings': ...} at such a module."
                )
            return replace_first(output, image_ops.mix_tokens(tokens, step.perm, step.token_weight))

        return [Hook(ctx.arch.patch_embeddings, mix_patches), *self.attention_hooks(ctx, hookset)]

    def finish(self, ctx, inputs, x, perm, lam, blend_weight, boxes, size, may_blend, name) -> Applied:
        weights = image_ops.token_weights(boxes, size, blend_weight)
        labels = None
        if self.weighs_by_attention(ctx.config):
            labels = attention_labels(image_ops.box_mask(boxes, size).flatten(1).float(), lam)
        return Applied(inputs, perm, lam, boxes=boxes, name=name, attention=labels,
                       step=PatchStep(self.name, perm, lam, grid=size, token_weight=weights, attention=labels))


@register
class PatchMixup(PatchMix):
    name = "patch_mixup"
    summary = "a ViT's patch tokens blended (before [CLS] and position embeddings)"
    attention = "–"


@register
class PatchCutMix(PatchMix):
    name = "patch_cutmix"
    summary = ("a box of the partner's patch tokens pasted in; label weight = the exact patch share kept; with "
               "`label_weights=\"attention\"` (TransMix) the mean of that share and the share of the class "
               "token's last-layer attention outside the box")
    attention = "–"
    attention_labels = True
