"""Token classification (NER, POS): embedding and hidden Mixup with per-token soft targets.

Oracles: a hand-mixed `inputs_embeds` pass and a two-pass replay at every layer, per-token logits,
on BERT and on a decoder (Llama layout, which must not pool); the target rule for positions that
one row labels and the other does not, against a per-token loop; the loss against a loop."""

from __future__ import annotations

import pytest
import torch
from conftest import SPECIAL, VOCAB
from oracles import embedding_oracle, hand_mix, hand_union, mixed_forward, replace_oracle
from transformers import AutoConfig, AutoModelForTokenClassification

from textmix import MixConfig, Mixer
from textmix.architectures import ARCHITECTURES, resolve

NUM_TAGS = 5


def tiny_tagger(model_type: str = "bert"):
    if model_type == "bert":
        config = AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                      intermediate_size=37, vocab_size=VOCAB, max_position_embeddings=64,
                                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                      classifier_dropout=0.0, num_labels=NUM_TAGS)
    else:
        config = AutoConfig.for_model(model_type, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                                      vocab_size=VOCAB, num_labels=NUM_TAGS, pad_token_id=0, head_dim=16,
                                      classifier_dropout=0.0)
    torch.manual_seed(0)
    return AutoModelForTokenClassification.from_config(config).train()


def tagged_batch(b: int = 6, length: int = 12, seed: int = 0) -> dict:
    """[CLS] words [SEP] rows, right-padded; tags per token, -100 on specials, padding and every third
    token (as sub-word continuations are)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros((b, length), dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full((b, length), -100)
    for i in range(b):
        n = int(torch.randint(4, length + 1, (1,), generator=g))
        ids[i, :n] = torch.randint(3, VOCAB, (n,), generator=g)
        ids[i, 0], ids[i, n - 1] = SPECIAL["cls"], SPECIAL["sep"]
        mask[i, :n] = 1
        tags = torch.randint(0, NUM_TAGS, (n,), generator=g)
        for t in range(1, n - 1):
            if t % 3:
                labels[i, t] = tags[t]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def test_targets_follow_the_documented_rule_per_token():
    model = tiny_tagger()
    batch = tagged_batch(seed=1)
    mb, _ = mixed_forward(model, MixConfig(method="embedding", alpha=1.0, lam_mode="row", seed=2), batch)
    labels = batch["labels"]
    assert mb.targets.shape == (6, 12, NUM_TAGS) and mb.valid.shape == (6, 12)
    assert torch.equal(mb.valid, labels != -100)  # the loss is over each row's own labelled tokens
    for i in range(6):
        j, lam = int(mb.perm[i]), float(mb.lam[i])
        for t in range(12):
            want = torch.zeros(NUM_TAGS)
            if labels[i, t] != -100:
                want[labels[i, t]] += 1.0
                if labels[j, t] != -100 and lam < 1:  # both label it: mixed; else the row's own
                    want = lam * want
                    want[labels[j, t]] += 1 - lam
            torch.testing.assert_close(mb.targets[i, t], want, msg=f"row {i} token {t}")
    assert ((mb.targets.sum(-1) - 1).abs() < 1e-6)[mb.valid].all()


def test_the_loss_is_the_mean_over_labelled_tokens():
    model = tiny_tagger()
    batch = tagged_batch(seed=2)
    mb, logits = mixed_forward(model, MixConfig(method="hidden", layers=[2], alpha=1.0, seed=0), batch)
    terms = [-(mb.targets[i, t] * logits[i, t].log_softmax(-1)).sum()
             for i in range(6) for t in range(12) if mb.valid[i, t]]
    torch.testing.assert_close(mb.loss(logits), torch.stack(terms).mean())
    torch.testing.assert_close(mb.loss(logits, reduction="sum"), torch.stack(terms).sum())


def test_embedding_mixup_matches_the_oracle_per_token():
    model = tiny_tagger()
    batch = tagged_batch(seed=3)
    mb, logits = mixed_forward(model, MixConfig(method="embedding", alpha=1.0, lam_mode="row", seed=4), batch)
    assert logits.shape == (6, 12, NUM_TAGS) and (mb.lam < 1).sum() >= 3
    torch.testing.assert_close(logits, embedding_oracle(model, batch, mb.perm, mb.lam), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", [0, 1, 2, 3])
def test_hidden_mixup_matches_a_two_pass_replay(layer):
    model = tiny_tagger()
    batch = tagged_batch(seed=4)
    mb, logits = mixed_forward(model, MixConfig(method="hidden", layers=[layer], alpha=1.0, seed=5), batch)
    modules = resolve(model, ARCHITECTURES["bert"])
    module = modules.embeddings if layer == 0 else modules.layers[layer - 1]
    torch.testing.assert_close(logits, replace_oracle(model, batch, module, mb.perm, mb.lam), rtol=1e-5, atol=1e-5)


def test_a_decoder_tagger_mixes_per_token_without_pooling():
    model = tiny_tagger("llama")
    batch = tagged_batch(seed=5)
    mb, logits = mixed_forward(model, MixConfig(method="embedding", alpha=1.0, lam_mode="row", seed=6), batch)
    with torch.no_grad():
        embeds = model.get_input_embeddings()(batch["input_ids"])
        expected = model(inputs_embeds=hand_mix(embeds, mb.perm, mb.lam),
                         attention_mask=hand_union(batch["attention_mask"], mb.perm, mb.lam)).logits
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["pooled", "saliency_span"])
def test_methods_that_do_not_fit_token_labels_are_refused(method):
    with pytest.raises(ValueError, match="do not mix token classification batches"):
        Mixer(tiny_tagger(), MixConfig(method=method), special_token_ids=list(SPECIAL.values()))


def test_token_labels_of_the_wrong_shape_are_refused():
    batch = tagged_batch(seed=6)
    batch["labels"] = batch["labels"][:, :5]
    mixer = Mixer(tiny_tagger(), MixConfig(method="embedding"))
    with mixer, pytest.raises(ValueError, match="one label per token"):
        mixer.mix(batch)


def test_gradient_accumulation_is_exact_over_labelled_tokens(tmp_path):
    from transformers import TrainingArguments

    from textmix import MixTrainer

    rows = [tagged_batch(b=8, seed=s) for s in range(2)]
    data = [{k: r[k][i] for k in r} for r in rows for i in range(8)]

    def collate(features):
        return {k: torch.stack([f[k] for f in features]) for k in features[0]}

    def run(name, **kw):
        args = TrainingArguments(output_dir=str(tmp_path / name), max_steps=1, report_to=[], use_cpu=True,
                                 save_strategy="no", logging_steps=1, learning_rate=1e-3, seed=0, data_seed=0,
                                 disable_tqdm=True, remove_unused_columns=False, **kw)
        trainer = MixTrainer(model=tiny_tagger(), args=args, train_dataset=data, data_collator=collate)
        trainer.train()
        return [h["loss"] for h in trainer.state.log_history if "loss" in h], trainer.model

    l16, m16 = run("b16", per_device_train_batch_size=16)
    l8, m8 = run("b8", per_device_train_batch_size=8, gradient_accumulation_steps=2)
    assert l8 == pytest.approx(l16, rel=1e-5)
    for a, b in zip(m8.parameters(), m16.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- span CutMix on whole words


def words_of(labels_row, content_row) -> list[tuple[int, int]]:
    """(start, end) of every word of a row: a labelled token and the unlabelled content tokens after it."""
    words, t, n = [], 0, len(labels_row)
    while t < n:
        if content_row[t] and labels_row[t] != -100:
            end = t + 1
            while end < n and content_row[end] and labels_row[end] == -100:
                end += 1
            words.append((t, end))
            t = end
        else:
            t += 1
    return words


@pytest.mark.parametrize("seed", range(12))
def test_span_moves_whole_words_with_their_labels(seed):
    batch = tagged_batch(b=8, length=16, seed=seed)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    width = (VOCAB - 3) // 8  # each row's words from its own id range: a moved token is always a changed one
    plain = ~torch.isin(ids, torch.tensor(list(SPECIAL.values())))
    ids = torch.where(plain, 3 + torch.arange(8)[:, None] * width + ids % width, ids)
    batch["input_ids"] = ids
    model = tiny_tagger()
    mixer = Mixer(model, MixConfig(method="span", alpha=1.0, lam_mode="row", seed=seed),
                  special_token_ids=list(SPECIAL.values()))
    mb = mixer.mix(batch)
    new_ids = mb.inputs["input_ids"]
    new_labels = torch.where(mb.valid, mb.targets.argmax(-1), -100)
    content = mask.bool() & ~torch.isin(ids, torch.tensor(list(SPECIAL.values())))
    special = ~content
    assert torch.equal(new_ids[special], ids[special])  # special tokens and padding stay
    moved = 0
    for i in range(8):
        j = int(mb.perm[i])
        changed = [t for t in range(16) if (new_ids[i, t] != ids[i, t]) or (new_labels[i, t] != labels[i, t])]
        if not changed:
            assert mb.lam[i] == 1 or not mb.targets[i][mb.valid[i]].sum()
            continue
        moved += 1
        begin, end = changed[0], changed[-1] + 1
        own_words = words_of(labels[i].tolist(), content[i].tolist())
        assert begin in [w[0] for w in own_words] and end in [w[1] for w in own_words], "whole words of the row"
        span = end - begin
        partner_words = words_of(labels[j].tolist(), content[j].tolist())
        sources = [s for s, _ in partner_words if s + span in [e for _, e in partner_words]
                   and torch.equal(new_ids[i, begin:end], ids[j, s:s + span])
                   and torch.equal(new_labels[i, begin:end], labels[j, s:s + span])]
        assert sources, "the span is whole words of the partner, with their labels"
        own_kept = sum(1 for t in range(16) if labels[i, t] != -100 and not begin <= t < end)
        total = int((new_labels[i] != -100).sum())
        assert float(mb.lam[i]) == pytest.approx(own_kept / total)
    assert moved >= 2
    assert ((mb.targets.sum(-1) - 1).abs() < 1e-6)[mb.valid].all()  # one-hot targets: labels moved, not blended


def test_saliency_span_is_still_refused_for_token_labels():
    with pytest.raises(ValueError, match="do not mix token classification batches"):
        Mixer(tiny_tagger(), MixConfig(method="saliency_span"), special_token_ids=list(SPECIAL.values()))
