"""Decoder-only classifiers (a tiny random Llama) with left padding, the usual decoder set-up: the mixed step
equals a hand-mixed reference (embedding, hidden and RegMixup: hand-mixed `inputs_embeds` or a two-pass
replay of layer 2, pooled where each mixed row's content ends) or the same step on the right-padded batch
(the rows shifted; pooled and the span methods, whose draws are relative to each row's content)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from oracles import hand_mix, hand_union
from test_decoders import PAD, base_of, decoder_batch, layer_replay, pooled_logits, tiny_decoder, union_end

from compat.matrix import compat_cells
from compat.steps import assert_same_step, mixer_for, train_step

RTOL, ATOL = 1e-5, 1e-6


def to_right(batch: dict) -> dict:
    """The same rows padded on the right (a loop over the rows, on purpose)."""
    out = {k: v.clone() for k, v in batch.items()}
    for i in range(batch["input_ids"].shape[0]):
        keep = batch["attention_mask"][i].bool()
        n = int(keep.sum())
        out["input_ids"][i], out["attention_mask"][i] = PAD, 0
        out["input_ids"][i, :n], out["attention_mask"][i, :n] = batch["input_ids"][i][keep], 1
    return out


def soft_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits.float(), -1)).sum(-1).mean()


@compat_cells("decoder, left padding", ["embedding", "hidden", "regmixup_hidden"],
              note="A tiny random Llama (3 layers, SDPA), rows padded on the left. Embedding, hidden and RegMixup: "
                   "the step's loss equals the soft cross-entropy of a hand-mixed forward (hand-mixed "
                   "`inputs_embeds`, or layer 2's output replayed hand-mixed in a second pass; the union mask; "
                   "pooled where the mixed content ends), plus RegMixup's clean cross-entropy, to 1e-5.")
def test_left_padding_equals_the_hand_mixed_forward(method):
    batch = decoder_batch("left", seed=3)
    model = tiny_decoder("llama")
    with mixer_for(model, method, seed=3) as mixer:
        step = train_step(model, mixer, batch)
    assert (step.lam < 1).sum() >= 2
    with torch.no_grad():
        if method == "embedding":
            embeds = model.get_input_embeddings()(batch["input_ids"])
            h = base_of(model)(inputs_embeds=hand_mix(embeds, step.perm, step.lam),
                               attention_mask=hand_union(batch["attention_mask"], step.perm, step.lam))
            logits = pooled_logits(model, h.last_hidden_state, union_end(batch, step.perm, step.lam))
        else:
            logits = layer_replay(model, batch, 2, step.perm, step.lam)
        want = soft_ce(logits, step.targets)
        if method == "regmixup_hidden":
            plain = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            want = want + F.cross_entropy(plain, batch["labels"])
    torch.testing.assert_close(step.loss, want, rtol=RTOL, atol=ATOL)


@compat_cells("decoder, left padding", ["pooled", "span", "saliency_span", "span_attention"],
              note="Pooled and the span methods (`span_attention` with eager attention): the step on the "
                   "left-padded batch equals the step on the same rows padded on the right, same draws: mixed "
                   "inputs (shifted), label weights, loss and every gradient to 1e-5.")
def test_left_padding_equals_the_right_padded_step(method):
    left = decoder_batch("left", seed=3)
    steps = []
    for batch in (left, to_right(left)):
        model = tiny_decoder("llama", attn="eager" if method == "span_attention" else "sdpa")
        with mixer_for(model, method, seed=3) as mixer:
            steps.append(train_step(model, mixer, batch))
    got, want = steps
    got.inputs = {k: v for k, v in to_right({**got.inputs, "labels": left["labels"]}).items() if k in got.inputs}
    assert not torch.equal(left["attention_mask"], want.inputs["attention_mask"])
    assert_same_step(got, want, RTOL, ATOL)
