"""Span CutMix on token ids (SSMix-style): in each segment of a row, one span is replaced by an
equally long span of the partner's same segment; saliency span picks the spans by saliency.

The math (segments, span lengths, starts, pasting) is in `textmix.span`; this module draws and
applies it. Lengths never change, so special tokens, padding and `token_type_ids` stay valid.
"""

from __future__ import annotations

import torch

from .. import span as span_ops
from ..attention import AttentionLabels
from ..hooks import Hook, HookSet, SaliencyCapture, Step
from ..pooling import last_token_positions
from ..targets import IGNORE_INDEX
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
               "partner's same segment (SSMix without saliency); token classification: spans of whole words, "
               "the partner's labels moving with its tokens; with `label_weights=\"attention\"` the label weight "
               "is the mean of the kept token share and the share of the pooled token's last-layer attention "
               "outside the pasted spans")
    attention = "unchanged (lengths never change)"
    needs_special_tokens = True
    token_labels = True  # token classification: spans of whole words, labels moving with them
    attention_labels = True

    def check_model(self, ctx: MixContext) -> None:
        if self.weighs_by_attention(ctx.config) and ctx.task_kind == "token":
            raise ValueError(
                f"label_weights='attention' weighs a sequence's label, but token classification moves the "
                f"partner's labels with its tokens: use label_weights='area' with method {self.name!r}."
            )
        super().check_model(ctx)

    def hooks(self, ctx: MixContext, hookset: HookSet) -> list[Hook]:
        return self.attention_hooks(ctx, hookset)

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
        if ctx.task_kind == "token":
            return self.apply_to_words(ctx, batch, ids)
        perm, lam = ctx.draws.rows(batch.valid, batch.gen)
        seg = span_ops.find_segments(content_of(ctx, batch, ids))
        lengths = span_ops.span_lengths(seg, perm, lam)
        start_own, start_partner = self.starts(ctx, batch, seg, perm, lengths, ids)
        new_ids, pasted = span_ops.paste_spans(ids, seg, perm, lengths, start_own, start_partner)
        lam = span_ops.kept_share(seg, lengths)
        if not self.weighs_by_attention(ctx.config):
            return Applied(dict(batch.inputs, input_ids=new_ids), perm, lam)
        # the pooled query: [CLS] (position 0) for encoders, the last token for decoder-only models
        query = (last_token_positions(batch.inputs, getattr(ctx.model.config, "pad_token_id", None))
                 if ctx.arch.spec.pooling == "last" else torch.zeros_like(perm))
        labels = AttentionLabels(region=pasted.float(), support=(seg.seg_id >= 0).float(), area=lam, query=query)
        return Applied(dict(batch.inputs, input_ids=new_ids), perm, lam, step=Step(self.name, perm, lam, attention=labels),
                       attention=labels)


    def apply_to_words(self, ctx: MixContext, batch: BatchContext, ids: torch.Tensor) -> Applied:
        """Token classification: a span of whole words of the row is replaced by an equally long span of
        whole words of the partner, and the partner's labels move with its tokens (words are the labelled
        tokens and the unlabelled ones after them). The label weight `lam` is the share of the row's
        labelled tokens, after the swap, that are its own. Rows whose partner has no window of whole
        words of the same length stay unmixed."""
        labels = batch.labels
        perm, lam = ctx.draws.rows(batch.valid, batch.gen)
        content = content_of(ctx, batch, ids)
        word_start = content & (labels != IGNORE_INDEX)
        u = ctx.draws.word_span_uniforms(ids.shape[0], ids.shape[1], batch.gen)
        begin, end = span_ops.word_spans(content, word_start, lam, u[:, 0])
        boundary = span_ops.word_boundaries(content, word_start)
        source, found = span_ops.partner_word_starts(word_start, boundary, perm, end - begin, u[:, 1:])
        end = torch.where(found, end, begin)  # no window of the same length in the partner: nothing moves
        new_ids = span_ops.paste_word_span(ids, perm, begin, end, source)
        new_labels = span_ops.paste_word_span(labels, perm, begin, end, source)
        index = torch.arange(ids.shape[1], device=ids.device)
        kept = ((labels != IGNORE_INDEX) & ~((index >= begin[:, None]) & (index < end[:, None]))).sum(dim=1)
        total = (new_labels != IGNORE_INDEX).sum(dim=1)
        share = torch.where(total > 0, kept.double() / total.clamp_min(1).double(), 1.0).float()
        return Applied(dict(batch.inputs, input_ids=new_ids), perm, share, labels=new_labels)


@register
class SaliencySpanCutMix(SpanCutMix):
    name = "saliency_span"
    summary = ("as `span` (`label_weights=\"attention\"` too), but the row's least salient window receives the partner's most salient window; "
               "saliency = norm of the gradient of the clean loss w.r.t. the word embeddings")
    arch_fields = ("word_embeddings",)
    needs_saliency = True
    token_labels = False

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

        return [Hook(ctx.arch.word_embeddings, capture_gradient), *self.attention_hooks(ctx, hookset)]

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
