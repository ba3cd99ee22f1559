"""On the real pretrained BERT-tiny from ../shared with real SST-2 sentences."""

from __future__ import annotations

import csv

import torch
from conftest import shared_path
from oracles import embedding_oracle, modules_of, replace_oracle
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from textmix import MixConfig, Mixer


def sst2_batch(tokenizer, n=16):
    path = shared_path("data", "glue", "SST-2", "dev.tsv")
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:n]
    batch = tokenizer([r["sentence"] for r in rows], padding=True, truncation=True, max_length=48,
                      return_tensors="pt")
    batch["labels"] = torch.tensor([int(r["label"]) for r in rows])
    return dict(batch)


def load():
    path = shared_path("models", "bert-tiny")
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    model.config.hidden_dropout_prob = 0.0
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return tokenizer, model.train()


def test_hidden_and_embedding_mixup_on_pretrained_bert_tiny():
    tokenizer, model = load()
    batch = sst2_batch(tokenizer)
    for layer in (1, 2):
        mixer = Mixer(model, MixConfig(method="hidden", alpha=1.0, layers=(layer,), seed=layer))
        with mixer:
            mb = mixer.mix(batch)
            with torch.no_grad():
                logits = model(**mb.inputs).logits
        expected = replace_oracle(model, batch, modules_of(model).layers[layer - 1], mb.perm, mb.lam)
        torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    mixer = Mixer(model, MixConfig(method="embedding", alpha=1.0, seed=0))
    with mixer:
        mb = mixer.mix(batch)
        with torch.no_grad():
            logits = model(**mb.inputs).logits
    torch.testing.assert_close(logits, embedding_oracle(model, batch, mb.perm, mb.lam), rtol=1e-5, atol=1e-5)


def test_span_cutmix_with_the_real_tokenizer_keeps_special_tokens():
    tokenizer, model = load()
    batch = sst2_batch(tokenizer, n=32)
    mixer = Mixer(model, MixConfig(method="span", alpha=1.0, seed=0), tokenizer=tokenizer)
    mb = mixer.mix(batch)
    ids, new = batch["input_ids"], mb.inputs["input_ids"]
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    assert torch.equal(ids[special], new[special]) and (new != ids).any()
    assert (new[:, 0] == tokenizer.cls_token_id).all()
    content = (~special & batch["attention_mask"].bool()).sum(1)
    changed = (new != ids).sum(1)
    assert (mb.lam <= 1 - changed / content + 1e-6).all()  # equal unless a pasted token happens to match
    loss = mb.loss(model(**mb.inputs).logits)
    loss.backward()
    assert torch.isfinite(loss)
