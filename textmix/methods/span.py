"""Span CutMix on token ids (SSMix-style): in each segment of a row, one span is replaced by an
equally long span of the partner's same segment; saliency span picks the spans by saliency.

The math (segments, span lengths, starts, pasting) is in `textmix.span`; this module draws and
applies it. Lengths never change, so special tokens, padding and `token_type_ids` stay valid.
"""

from __future__ import annotations

import torch

from .. import span as span_ops
from ..hooks import Hook, HookSet, SaliencyCapture
from .base import Applied, BatchContext, MixContext, MixMethod, register


def content_of(ctx: MixContext, batch: BatchContext, ids: torch.Tensor) -> torch.Tensor:
    """(B, L) bool: the tokens a span may cover (attended, not special)."""
    if batch.special_tokens_mask is not None:
        content = ~torch.as_tensor(batch.special_tokens_mask, device=ids.device).bool()
        if batch.inputs.get("attention_mask") is not None:
            content &= batch.inputs["attention_mask"].bool()
        return content
    if ctx.special_ids is None:
        raise ValueError(
            "span methods must know the special tokens ([CLS], [SEP], padding): pass "
            "Mixer(..., tokenizer=tok) or special_token_ids=[...], or put `special_tokens_mask` in the batch."
        )
    return span_ops.content_mask(ids, batch.inputs.get("attention_mask"), ctx.special_ids.to(ids.device))


@register
class SpanCutMix(MixMethod):
    name = "span"
    family = "tokens"
    summary = ("token ids: in each segment of a row, one span is replaced by an equally long span of the "
               "partner's same segment (SSMix without saliency)")
    attention = "unchanged (lengths never change)"
    needs_special_tokens = True

    def starts(self, ctx: MixContext, batch: BatchContext, seg: span_ops.Segments, perm: torch.Tensor,
               lengths: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Where the span starts in each row's segment and in its partner's."""
        return span_ops.starts_from_uniforms(seg, perm, lengths, ctx.draws.span_uniforms(lengths.shape, batch.gen))

    def apply(self, ctx: MixContext, batch: BatchContext) -> Applied:
        ids = batch.inputs.get("input_ids")
        if ids is None:
            raise ValueError(
                f"method {self.name!r} cuts token spans and needs `input_ids` in the batch; "
                "with `inputs_embeds` use method='embedding' or 'hidden'."
            )
        perm, lam = ctx.draws.rows(batch.valid, batch.gen)
        seg = span_ops.find_segments(content_of(ctx, batch, ids))
        lengths = span_ops.span_lengths(seg, perm, lam)
        start_own, start_partner = self.starts(ctx, batch, seg, perm, lengths, ids)
        new_ids, _ = span_ops.paste_spans(ids, seg, perm, lengths, start_own, start_partner)
        return Applied(dict(batch.inputs, input_ids=new_ids), perm, span_ops.kept_share(seg, lengths))


@register
class SaliencySpanCutMix(SpanCutMix):
    name = "saliency_span"
    summary = ("as `span`, but the row's least salient window receives the partner's most salient window; "
               "saliency = norm of the gradient of the clean loss w.r.t. the word embeddings")
    arch_fields = ("word_embeddings",)
    needs_saliency = True

    def hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        def capture_gradient(module, args, output):
            step = hookset.active(self.name)
            if not isinstance(step, SaliencyCapture):
                return None

            def keep(grad: torch.Tensor) -> None:
                step.grad = grad.detach()

            if output.requires_grad:
                output.register_hook(keep)
                return None
            output = output.detach().requires_grad_(True)  # frozen embeddings: a leaf to take the gradient of
            output.register_hook(keep)
            return output

        return [Hook(ctx.arch.word_embeddings, capture_gradient)]

    def starts(self, ctx: MixContext, batch: BatchContext, seg: span_ops.Segments, perm: torch.Tensor,
               lengths: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if batch.embedding_grad is None:
            raise RuntimeError(
                "saliency_span needs the clean pass first: mb0 = mixer.clean(batch); "
                "mb0.loss(model(**mb0.inputs).logits).backward(); then mixer.mix(batch)."
            )
        if batch.embedding_grad.shape[:2] != ids.shape:
            raise RuntimeError("the clean pass ran on a different batch than mix(); pass the same batch.")
        return span_ops.salient_starts(batch.embedding_grad.float().norm(dim=-1), seg, perm, lengths)
