"""Span CutMix reaches every window of a segment, the last one included (an off-by-one in the start range
would never cut a row's final tokens)."""

from __future__ import annotations

import torch

from textmix import span as span_ops

SPECIAL = torch.tensor([101, 102, 0])


def test_every_start_from_the_first_to_the_last_window_is_drawn():
    # rows of 3, 5 and 6 content tokens between [CLS] and [SEP], right-padded
    ids = torch.tensor([[101, 7, 8, 9, 102, 0, 0, 0], [101, 7, 8, 9, 10, 11, 102, 0], [101, 7, 8, 9, 10, 11, 12, 102]])
    seg = span_ops.find_segments(span_ops.content_mask(ids, (ids != 0).long(), SPECIAL))
    perm = torch.tensor([1, 2, 0])
    n = seg.length[:, 0]
    assert n.tolist() == [3, 5, 6]
    for span_len in (1, 2, 3):
        span = torch.full((3, 1), span_len)
        reached_own, reached_partner = [set() for _ in range(3)], [set() for _ in range(3)]
        for u in torch.linspace(0, 1 - 1e-9, 400, dtype=torch.float64):
            start_own, start_partner = span_ops.starts_from_uniforms(seg, perm, span, torch.full((2, 3, 1), float(u)))
            for i in range(3):
                reached_own[i].add(int(start_own[i, 0]))
                reached_partner[i].add(int(start_partner[i, 0]))
        for i in range(3):  # the oracle: every window that fits, 0 .. n - span
            assert reached_own[i] == set(range(int(n[i]) - span_len + 1)), (span_len, i)
            assert reached_partner[i] == set(range(int(n[perm[i]]) - span_len + 1)), (span_len, i)
