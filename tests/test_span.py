"""Span CutMix: property tests over hundreds of random ragged batches, against per-row loops."""

from __future__ import annotations

import pytest
import torch
from conftest import SPECIAL, ragged_batch, tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from textmix import MixConfig, Mixer
from textmix import span as span_ops

PAD, CLS, SEP = SPECIAL["pad"], SPECIAL["cls"], SPECIAL["sep"]
SPECIAL_IDS = torch.tensor([PAD, CLS, SEP])


@st.composite
def batches(draw):
    """Right-padded single sentences or pairs, every content token id unique in the batch."""
    b = draw(st.integers(1, 7))
    length = draw(st.integers(2, 18))
    pairs = draw(st.booleans())
    ids = torch.full((b, length), PAD)
    mask = torch.zeros((b, length), dtype=torch.long)
    next_id = 10
    for i in range(b):
        n = draw(st.integers(0, length))
        row = []
        if n:
            row = [CLS] + list(range(next_id, next_id + n)) + [SEP]
            next_id += n
            if pairs and n >= 3:
                cut = draw(st.integers(2, n))
                row.insert(cut, SEP)
            row = row[: draw(st.integers(1, length))]  # truncation may cut the final [SEP]
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    perm = torch.tensor(draw(st.permutations(list(range(b)))), dtype=torch.long)
    lam = torch.tensor(draw(st.lists(st.floats(0, 1), min_size=b, max_size=b)), dtype=torch.float32)
    lam = torch.where(perm == torch.arange(b), torch.ones_like(lam), lam)
    return ids, mask, perm, lam


def segments_loop(ids_row, mask_row):
    """Content segments of one row as lists of absolute positions (a plain loop)."""
    segs, current = [], []
    for t, (tok, m) in enumerate(zip(ids_row.tolist(), mask_row.tolist(), strict=True)):
        if m and tok not in (PAD, CLS, SEP):
            current.append(t)
        elif current:
            segs.append(current)
            current = []
    if current:
        segs.append(current)
    return segs


def check_span_cutmix(ids, mask, perm, lam, new_ids, kept):
    assert new_ids.shape == ids.shape
    content = mask.bool() & ~torch.isin(ids, SPECIAL_IDS)
    assert torch.equal(new_ids[~content], ids[~content]), "special tokens or padding changed"
    for i in range(ids.shape[0]):
        j = int(perm[i])
        own, partner = segments_loop(ids[i], mask[i]), segments_loop(ids[j], mask[j])
        replaced_total = 0
        for s, positions in enumerate(own):
            n_own = len(positions)
            n_partner = len(partner[s]) if s < len(partner) else 0
            want = min(round((1 - float(lam[i])) * n_own), n_own, n_partner)
            changed = [t for t in positions if new_ids[i, t] != ids[i, t]]
            assert len(changed) == want, (i, s, changed, want)
            if want:
                assert changed == list(range(changed[0], changed[0] + want)), "span not contiguous"
                source = [int(new_ids[i, t]) for t in changed]
                partner_tokens = [int(ids[j, t]) for t in partner[s]]
                k = partner_tokens.index(source[0])
                assert partner_tokens[k : k + want] == source, "tokens not from one partner span"
            replaced_total += want
        total = sum(len(p) for p in own)
        expected = 1.0 if total == 0 else 1 - replaced_total / total
        assert abs(float(kept[i]) - expected) < 1e-6


@settings(max_examples=300, deadline=None)
@given(batches(), st.integers(0, 2**31 - 1))
def test_random_span_cutmix_properties(data, seed):
    ids, mask, perm, lam = data
    seg = span_ops.find_segments(span_ops.content_mask(ids, mask, SPECIAL_IDS))
    lengths = span_ops.span_lengths(seg, perm, lam)
    starts = span_ops.random_starts(seg, perm, lengths, torch.Generator().manual_seed(seed))
    new_ids, _ = span_ops.paste_spans(ids, seg, perm, lengths, *starts)
    check_span_cutmix(ids, mask, perm, lam, new_ids, span_ops.kept_share(seg, lengths))


@settings(max_examples=200, deadline=None)
@given(batches(), st.integers(0, 2**31 - 1))
def test_salient_windows_match_a_brute_force_search(data, seed):
    ids, mask, perm, lam = data
    saliency = torch.rand(ids.shape, generator=torch.Generator().manual_seed(seed))
    seg = span_ops.find_segments(span_ops.content_mask(ids, mask, SPECIAL_IDS))
    lengths = span_ops.span_lengths(seg, perm, lam)
    start_own, start_partner = span_ops.salient_starts(saliency, seg, perm, lengths)
    new_ids, _ = span_ops.paste_spans(ids, seg, perm, lengths, start_own, start_partner)
    check_span_cutmix(ids, mask, perm, lam, new_ids, span_ops.kept_share(seg, lengths))
    for i in range(ids.shape[0]):
        j = int(perm[i])
        own, partner = segments_loop(ids[i], mask[i]), segments_loop(ids[j], mask[j])
        for s, positions in enumerate(own):
            w = int(lengths[i, s])
            if not w:
                continue
            own_sums = [sum(float(saliency[i, t]) for t in positions[a : a + w]) for a in range(len(positions) - w + 1)]
            par_sums = [sum(float(saliency[j, t]) for t in partner[s][a : a + w])
                        for a in range(len(partner[s]) - w + 1)]
            assert int(start_own[i, s]) == min(range(len(own_sums)), key=own_sums.__getitem__)
            assert int(start_partner[i, s]) == max(range(len(par_sums)), key=par_sums.__getitem__)


def test_sentence_pairs_keep_token_types_and_mix_each_segment():
    batch = ragged_batch(b=8, length=16, pairs=True, seed=3, min_len=8)
    model = tiny_model("bert")
    mixer = Mixer(model, MixConfig(method="span", alpha=1.0, seed=3), special_token_ids=list(SPECIAL.values()))
    mb = mixer.mix(batch)
    assert torch.equal(mb.inputs["token_type_ids"], batch["token_type_ids"])
    assert torch.equal(mb.inputs["attention_mask"], batch["attention_mask"])
    changed = mb.inputs["input_ids"] != batch["input_ids"]
    assert (changed & (batch["token_type_ids"] == 0)).any() and (changed & (batch["token_type_ids"] == 1)).any()
    assert torch.allclose(mb.targets.sum(-1), torch.ones(8))
    onehot = torch.nn.functional.one_hot(batch["labels"], 3).float()
    expected = mb.lam[:, None] * onehot + (1 - mb.lam[:, None]) * onehot[mb.perm]
    torch.testing.assert_close(mb.targets, expected)


def test_special_tokens_mask_in_the_batch_is_used_and_not_passed_on():
    batch = ragged_batch(b=6, length=12, seed=5)
    batch["special_tokens_mask"] = torch.isin(batch["input_ids"], torch.tensor([CLS, SEP])).long()
    mixer = Mixer(tiny_model("bert"), MixConfig(method="span", alpha=1.0, seed=1))  # BERT config: no cls/sep ids
    mb = mixer.mix(batch)
    assert "special_tokens_mask" not in mb.inputs
    special = batch["special_tokens_mask"].bool() | (batch["attention_mask"] == 0)
    assert torch.equal(mb.inputs["input_ids"][special], batch["input_ids"][special])


def test_span_needs_input_ids_and_special_tokens():
    model = tiny_model("bert")
    batch = ragged_batch(b=4, seed=1)
    with pytest.raises(ValueError, match="tokenizer=tok"):
        Mixer(model, MixConfig(method="span", prob=1.0)).mix(batch)
    embeds = {"inputs_embeds": torch.zeros(4, 12, 32), "attention_mask": batch["attention_mask"],
              "labels": batch["labels"]}
    with pytest.raises(ValueError, match="needs `input_ids`"):
        Mixer(model, MixConfig(method="span"), special_token_ids=[0, 1, 2]).mix(embeds)
