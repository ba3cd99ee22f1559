"""Decoder-only sequence classifiers (Llama layout, the SmolLM2 tokenizer from ../shared): span CutMix works
on token ids and keeps every special token and each row's pooled (last non-padding) position, with right
and left padding; activation methods are refused until decoders are supported (see test_config.py)."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_path
from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

from textmix import MixConfig, Mixer

TEXTS = ["a film that is both funny and wise", "dull", "the plot goes nowhere , slowly and loudly",
         "an unexpected gem", "i have seen worse , but not often", "great acting ; weak script"]


def tiny_llama(tokenizer, pad_token_id):
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64, num_labels=2,
                         pad_token_id=pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    return LlamaForSequenceClassification(config).train()


def last_token(ids: torch.Tensor, pad: int) -> torch.Tensor:
    """Where the model pools: the rightmost token that is not padding (a loop, on purpose)."""
    return torch.tensor([max(t for t in range(ids.shape[1]) if ids[i, t] != pad) for i in range(ids.shape[0])])


@pytest.mark.parametrize("side", ["right", "left"])
def test_span_keeps_special_tokens_and_the_pooled_position(side):
    tokenizer = AutoTokenizer.from_pretrained(shared_path("models", "smollm2-135m"))
    tokenizer.padding_side = side
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # the common decoder set-up
    enc = tokenizer([f"{tokenizer.bos_token}{t}{tokenizer.eos_token}" for t in TEXTS], padding=True,
                    return_tensors="pt", add_special_tokens=False)
    batch = {**enc, "labels": torch.tensor([1, 0, 0, 1, 0, 1])}
    model = tiny_llama(tokenizer, tokenizer.pad_token_id)
    mixer = Mixer(model, MixConfig(method="span", alpha=1.0, lam_mode="row", seed=0), tokenizer=tokenizer)
    mb = mixer.mix(batch)
    ids, new = batch["input_ids"], mb.inputs["input_ids"]
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    assert torch.equal(new[special], ids[special]) and torch.equal(new != ids, (new != ids) & ~special)
    assert not torch.equal(new, ids) and (mb.lam < 1).any()
    pad = tokenizer.pad_token_id
    assert torch.equal(last_token(new, pad), last_token(ids, pad))
    content = enc["attention_mask"].bool() & ~special
    changed = (new != ids) & content
    assert (mb.lam.double() <= 1 - changed.sum(1).double() / content.sum(1).double() + 1e-6).all()
    logits = model(**mb.inputs).logits
    assert logits.shape == (6, 2) and torch.isfinite(mb.loss(logits))


def test_a_decoder_without_pad_token_id_names_the_fix():
    tokenizer = AutoTokenizer.from_pretrained(shared_path("models", "smollm2-135m"))
    with pytest.raises(ValueError, match=r"model.config.pad_token_id = tokenizer.pad_token_id"):
        Mixer(tiny_llama(tokenizer, None), MixConfig(method="span"), tokenizer=tokenizer)
