"""Span CutMix on token ids (SSMix-style), vectorised over the batch.

A *segment* is a maximal run of content tokens: attended tokens that are not special tokens
([CLS], [SEP], <s>, </s>, padding). A single sentence has one segment, a sentence pair two. In
every segment of a row, one contiguous span is replaced by an equally long span of the partner's
segment with the same index, so special tokens, padding, lengths and `token_type_ids` never
change. A row's label weight is the share of its content tokens it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Segments:
    """Segment layout of a batch of token sequences."""

    seg_id: torch.Tensor  # (B, L) long: segment index of each content token, -1 elsewhere
    pos: torch.Tensor  # (B, L) long: position of each content token within its segment, -1 elsewhere
    length: torch.Tensor  # (B, S) long: content tokens per segment (0 where a row has fewer segments)
    offset: torch.Tensor  # (B, S) long: absolute index of each segment's first token


def content_mask(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None, special_ids: torch.Tensor
) -> torch.Tensor:
    """Boolean (B, L): attended tokens that are not special tokens."""
    content = ~torch.isin(input_ids, special_ids)
    if attention_mask is not None:
        content &= attention_mask.bool()
    return content


def find_segments(content: torch.Tensor) -> Segments:
    """Split every row's content tokens into maximal contiguous segments."""
    b, length = content.shape
    device = content.device
    prev = torch.zeros_like(content)
    prev[:, 1:] = content[:, :-1]
    starts = content & ~prev
    seg_id = torch.cumsum(starts.long(), dim=1) - 1
    seg_id = torch.where(content, seg_id, torch.full_like(seg_id, -1))
    count = torch.cumsum(content.long(), dim=1)  # content tokens up to and including t
    before_start = torch.where(starts, count - 1, torch.zeros_like(count))
    pos = count - 1 - torch.cummax(before_start, dim=1).values
    pos = torch.where(content, pos, torch.full_like(pos, -1))
    n_seg = max((length + 1) // 2, 1)  # the most runs L tokens can hold: no need to count them on the host
    safe_id = seg_id.clamp_min(0)
    seg_len = torch.zeros((b, n_seg), dtype=torch.long, device=device)
    seg_len.scatter_add_(1, safe_id, content.long())
    index = torch.arange(length, device=device).expand(b, length)
    offset = torch.zeros((b, n_seg), dtype=torch.long, device=device)
    offset.scatter_add_(1, safe_id, torch.where(starts, index, torch.zeros_like(index)))
    return Segments(seg_id=seg_id, pos=pos, length=seg_len, offset=offset)


def span_lengths(seg: Segments, perm: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Span length per row and segment: round((1 - lam) * n), clipped to what both rows have."""
    n_own = seg.length
    n_partner = seg.length[perm]
    want = torch.round((1.0 - lam.double())[:, None] * n_own.double()).long()
    return torch.minimum(want, torch.minimum(n_own, n_partner)).clamp_min(0)


def starts_from_uniforms(
    seg: Segments, perm: torch.Tensor, span: torch.Tensor, u: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Start of the span in each row's segment and in its partner's, from uniforms `u` (2, B, S) in [0, 1)."""
    room_own = (seg.length - span + 1).clamp_min(1)
    room_partner = (seg.length[perm] - span + 1).clamp_min(1)
    start_own = torch.floor(u[0] * room_own).long().clamp_max(room_own - 1)
    start_partner = torch.floor(u[1] * room_partner).long().clamp_max(room_partner - 1)
    return start_own, start_partner


def random_starts(
    seg: Segments, perm: torch.Tensor, span: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform start of the span in each row's segment and in its partner's segment."""
    u = torch.rand((2, *span.shape), generator=generator, device=span.device, dtype=torch.float64)
    return starts_from_uniforms(seg, perm, span, u)


def window_sums(values: torch.Tensor, seg: Segments, span: torch.Tensor) -> torch.Tensor:
    """Sum of `values` (B, L) over every window of length `span` (B, S) inside every segment.

    Returns (B, S, L); windows that do not fit in their segment are NaN.
    """
    b, n_seg = seg.length.shape
    width = max(values.shape[1], 1)  # no segment is longer than the row
    content = seg.seg_id >= 0
    where = seg.seg_id.clamp_min(0) * width + seg.pos.clamp_min(0)
    per_pos = torch.zeros((b, n_seg * width), dtype=torch.float64, device=values.device)
    per_pos.scatter_add_(1, where, torch.where(content, values.double(), 0.0))
    per_pos = per_pos.view(b, n_seg, width)
    csum = torch.zeros((b, n_seg, width + 1), dtype=torch.float64, device=values.device)
    csum[..., 1:] = torch.cumsum(per_pos, dim=-1)
    starts = torch.arange(width, device=values.device)
    ends = (starts + span[..., None]).clamp_max(width)
    sums = csum.gather(-1, ends) - csum[..., :width]
    fits = starts + span[..., None] <= seg.length[..., None]
    return torch.where(fits, sums, torch.full_like(sums, float("nan")))


def salient_starts(
    saliency: torch.Tensor, seg: Segments, perm: torch.Tensor, span: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Start of each row's least salient window and of its partner's most salient window."""
    own = window_sums(saliency, seg, span)
    partner_span = span  # the partner window has the same length, measured on the partner's row
    partner = window_sums(saliency[perm], _permute(seg, perm), partner_span)
    start_own = torch.nan_to_num(own, nan=float("inf")).argmin(dim=-1)
    start_partner = torch.nan_to_num(partner, nan=float("-inf")).argmax(dim=-1)
    return start_own, start_partner


def _permute(seg: Segments, perm: torch.Tensor) -> Segments:
    return Segments(seg.seg_id[perm], seg.pos[perm], seg.length[perm], seg.offset[perm])


def paste_spans(
    input_ids: torch.Tensor,
    seg: Segments,
    perm: torch.Tensor,
    span: torch.Tensor,
    start_own: torch.Tensor,
    start_partner: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace each row's spans by the partner's; return new ids and replaced-token mask (B, L)."""
    b, length = input_ids.shape
    safe_id = seg.seg_id.clamp_min(0)
    tok_span = span.gather(1, safe_id)
    tok_start = start_own.gather(1, safe_id)
    inside = (seg.seg_id >= 0) & (seg.pos >= tok_start) & (seg.pos < tok_start + tok_span)
    source = seg.offset[perm].gather(1, safe_id) + start_partner.gather(1, safe_id) + (seg.pos - tok_start)
    source = torch.where(inside, source, torch.arange(length, device=input_ids.device).expand(b, length))
    partner_ids = input_ids[perm].gather(1, source.clamp(0, length - 1))
    return torch.where(inside, partner_ids, input_ids), inside


def kept_share(seg: Segments, span: torch.Tensor) -> torch.Tensor:
    """Label weight of each row: kept content tokens / content tokens (1 for rows without content)."""
    total = seg.length.sum(dim=1)
    replaced = span.sum(dim=1)
    return torch.where(total > 0, 1.0 - replaced.double() / total.clamp_min(1).double(), 1.0).float()


# ---------------------------------------------------------------- whole words (token classification)


def word_spans(content: torch.Tensor, word_start: torch.Tensor, lam: torch.Tensor, u_word: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Span of whole words in every row: start and end positions (B,), end exclusive.

    A word is a `word_start` token and the content tokens after it up to the next start. A row with
    n words replaces k = round((1 - lam) * n) of them, from word w = floor(u_word * (n - k + 1)) on;
    k = 0 gives an empty span.
    """
    b, length = content.shape
    device = content.device
    n_words = word_start.sum(dim=1)
    k = torch.round((1.0 - lam.double()) * n_words.double()).long().clamp(min=0)
    k = torch.minimum(k, n_words)
    w = torch.floor(u_word * (n_words - k + 1).double()).long()
    w = torch.minimum(w, n_words - k)
    index = torch.arange(length, device=device).expand(b, length)
    word_of = torch.cumsum(word_start.long(), dim=1) - 1  # word index of each token (-1 before the first)
    # the first position of each word, and the end of the last one (one past the last content token)
    starts = torch.full((b, length + 1), length, dtype=torch.long, device=device)
    starts.scatter_(1, torch.where(word_start, word_of, length), torch.where(word_start, index, length))
    last = torch.where(content, index + 1, 0).amax(dim=1)
    starts.scatter_(1, n_words[:, None], last[:, None])  # "word n" starts where the content ends
    begin = starts.gather(1, w[:, None]).squeeze(1)
    end = starts.gather(1, (w + k)[:, None]).squeeze(1)
    return torch.where(k > 0, begin, 0), torch.where(k > 0, end, 0)


def word_boundaries(content: torch.Tensor, word_start: torch.Tensor) -> torch.Tensor:
    """(B, L + 1) bool: positions where a word ends (the next word starts, or the content ends)."""
    b, length = content.shape
    after = torch.zeros((b, length + 1), dtype=torch.bool, device=content.device)
    after[:, :length] = word_start
    ended = torch.zeros_like(after)
    ended[:, 1:] = content & ~torch.cat([content[:, 1:] & ~word_start[:, 1:],
                                         torch.zeros((b, 1), dtype=torch.bool, device=content.device)], dim=1)
    return after | ended


def partner_word_starts(word_start: torch.Tensor, boundary: torch.Tensor, perm: torch.Tensor, span: torch.Tensor,
                        u_start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each row's span comes from in its partner: a word start s with a word boundary at s + span,
    chosen uniformly (by the largest of `u_start` (B, L) among the candidates). Also whether one exists."""
    b, length = word_start.shape
    index = torch.arange(length, device=word_start.device).expand(b, length)
    ends = (index + span[:, None]).clamp(max=length)
    fits = word_start[perm] & boundary[perm].gather(1, ends) & (index + span[:, None] <= length)
    keys = torch.where(fits, u_start, -1.0)
    return keys.argmax(dim=1), fits.any(dim=1)


def paste_word_span(values: torch.Tensor, perm: torch.Tensor, begin: torch.Tensor, end: torch.Tensor,
                    source: torch.Tensor) -> torch.Tensor:
    """`values` (B, L) with positions [begin, end) of row i taken from its partner from `source` on."""
    b, length = values.shape
    index = torch.arange(length, device=values.device).expand(b, length)
    inside = (index >= begin[:, None]) & (index < end[:, None])
    where = torch.where(inside, source[:, None] + index - begin[:, None], index).clamp(0, length - 1)
    return torch.where(inside, values[perm].gather(1, where), values)
