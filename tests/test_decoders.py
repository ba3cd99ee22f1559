"""Decoder-only sequence classifiers (Llama layout, the SmolLM2 tokenizer from ../shared): span CutMix works
on token ids and keeps every special token and each row's pooled (last non-padding) position, with right
and left padding; activation methods are refused until decoders are supported (see test_config.py)."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_path
from oracles import bf16_mixed_step, mixed_forward
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


# ---------------------------------------------------------------- oracles on every decoder family

FAMILIES = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo2", "gpt2"]
PAD, BOS, EOS, VOCAB = 0, 1, 2, 60


def tiny_decoder(model_type: str, attn: str = "sdpa"):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if model_type == "gemma2":
        attn = "eager"  # Gemma 2 has no sdpa path (soft-capped attention)
    if model_type == "gpt2":
        kwargs = dict(n_layer=3, n_embd=32, n_head=2, n_positions=64, resid_pdrop=0.0, embd_pdrop=0.0,
                      attn_pdrop=0.0, summary_first_dropout=0.0)
    else:
        kwargs = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=2,
                      num_key_value_heads=1, max_position_embeddings=64, head_dim=16)
        if model_type in ("gemma2", "gemma3_text"):
            kwargs.update(sliding_window=4, query_pre_attn_scalar=16)
    config = AutoConfig.for_model(model_type, vocab_size=VOCAB, num_labels=3, pad_token_id=PAD, bos_token_id=BOS,
                                  eos_token_id=EOS, attn_implementation=attn, **kwargs)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(config).train()


def decoder_batch(side: str, b: int = 6, length: int = 10, seed: int = 0) -> dict:
    """BOS content EOS rows of ragged lengths, padded with PAD on the right or the left."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((b, length), PAD)
    mask = torch.zeros((b, length), dtype=torch.long)
    for i in range(b):
        n = int(torch.randint(3, length + 1, (1,), generator=g))
        row = torch.cat([torch.tensor([BOS]), torch.randint(3, VOCAB, (n - 2,), generator=g), torch.tensor([EOS])])
        where = slice(0, n) if side == "right" else slice(length - n, length)
        ids[i, where], mask[i, where] = row, 1
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.randint(0, 3, (b,), generator=g)}


def base_of(model):
    return getattr(model, model.base_model_prefix)


def union_end(batch, perm, lam) -> torch.Tensor:
    """Where each mixed row's content ends (a loop over the rows' own last tokens, on purpose)."""
    own = last_token(batch["input_ids"], PAD)
    return torch.tensor([max(int(own[i]), int(own[int(perm[i])])) if lam[i] < 1 else int(own[i])
                         for i in range(len(own))])


def pooled_logits(model, hidden_states, positions) -> torch.Tensor:
    return model.score(hidden_states)[torch.arange(hidden_states.shape[0]), positions]


def layer_replay(model, batch, layer: int, perm, lam) -> torch.Tensor:
    """Two passes: the clean one records the output of layer `layer` (0: the token embeddings) with each
    row's own mask; the second, with the union mask, has it replaced by its hand-mixed version; the
    logits are read where each mixed row's content ends."""
    from oracles import hand_mix, hand_union

    base = base_of(model)
    module = model.get_input_embeddings() if layer == 0 else list(dict.fromkeys(
        m for n, m in base.named_children() if n in ("layers", "h")))[0][layer - 1]
    seen = {}
    handle = module.register_forward_hook(lambda m, a, out: seen.setdefault("x", out))
    with torch.no_grad():
        base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    handle.remove()
    x = seen["x"] if isinstance(seen["x"], torch.Tensor) else seen["x"][0]
    mixed = hand_mix(x, perm, lam)
    handle = module.register_forward_hook(
        lambda m, a, out: mixed if isinstance(out, torch.Tensor) else (mixed, *out[1:]))
    with torch.no_grad():
        h = base(input_ids=batch["input_ids"], attention_mask=hand_union(batch["attention_mask"], perm, lam))
    handle.remove()
    return pooled_logits(model, h.last_hidden_state, union_end(batch, perm, lam))


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("family", FAMILIES)
def test_embedding_mixup_matches_hand_mixed_inputs_embeds(family, side):
    from oracles import hand_mix, hand_union

    model = tiny_decoder(family)
    batch = decoder_batch(side, seed=1)
    mb, logits = mixed_forward(model, MixConfig(method="embedding", alpha=1.0, lam_mode="row", seed=2), batch)
    assert (mb.lam < 1).sum() >= 3
    with torch.no_grad():
        embeds = model.get_input_embeddings()(batch["input_ids"])
        h = base_of(model)(inputs_embeds=hand_mix(embeds, mb.perm, mb.lam),
                           attention_mask=hand_union(batch["attention_mask"], mb.perm, mb.lam)).last_hidden_state
    torch.testing.assert_close(logits, pooled_logits(model, h, union_end(batch, mb.perm, mb.lam)),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("family", FAMILIES)
def test_hidden_mixup_matches_a_two_pass_replay_at_every_layer(family, side):
    model = tiny_decoder(family)
    batch = decoder_batch(side, seed=3)
    for layer in range(0, 4):
        mb, logits = mixed_forward(model, MixConfig(method="hidden", layers=[layer], alpha=1.0, lam_mode="row",
                                                seed=layer), batch)
        expected = layer_replay(model, batch, layer, mb.perm, mb.lam)
        torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5, msg=f"{family} layer {layer}")


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("family", FAMILIES)
def test_pooled_mixup_blends_the_pooled_tokens(family, side):
    model = tiny_decoder(family)
    batch = decoder_batch(side, seed=4)
    mb, logits = mixed_forward(model, MixConfig(method="pooled", alpha=1.0, lam_mode="row", seed=5), batch)
    with torch.no_grad():
        h = base_of(model)(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    pool = last_token(batch["input_ids"], PAD)
    vectors = h[torch.arange(6), pool]
    expected = torch.stack([model.score(float(mb.lam[i]) * vectors[i] + (1 - float(mb.lam[i])) * vectors[int(mb.perm[i])])
                            for i in range(6)])
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)


def test_right_padding_pools_where_the_mixed_content_ends():
    """The reason for the move: pooled at the row's own last token, a short row mixed with a long one would
    lose the partner's tail (the plain model's pooling), which the oracle above would not see."""
    model = tiny_decoder("llama")
    batch = decoder_batch("right", seed=1)
    mb, logits = mixed_forward(model, MixConfig(method="embedding", alpha=1.0, lam_mode="row", seed=2), batch)
    ends, own = union_end(batch, mb.perm, mb.lam), last_token(batch["input_ids"], PAD)
    assert (ends > own).any()
    with torch.no_grad():
        from oracles import hand_mix, hand_union

        embeds = model.get_input_embeddings()(batch["input_ids"])
        h = base_of(model)(inputs_embeds=hand_mix(embeds, mb.perm, mb.lam),
                           attention_mask=hand_union(batch["attention_mask"], mb.perm, mb.lam)).last_hidden_state
    at_own = pooled_logits(model, h, own)
    longer = ends > own
    assert not torch.allclose(logits[longer], at_own[longer])


@pytest.mark.parametrize("method", ["embedding", "hidden", "pooled", "span"])
def test_bf16_autocast_trains_a_decoder(method):
    model = tiny_decoder("qwen2")
    batch = decoder_batch("right", seed=6)
    bf16_mixed_step(model, MixConfig(method=method, alpha=1.0, layers=[2], seed=0), batch, [PAD, BOS, EOS])


def test_eager_attention_matches_the_oracle_too():
    model = tiny_decoder("llama", attn="eager")
    batch = decoder_batch("left", seed=7)
    mb, logits = mixed_forward(model, MixConfig(method="hidden", layers=[2], alpha=1.0, lam_mode="row", seed=1), batch)
    torch.testing.assert_close(logits, layer_replay(model, batch, 2, mb.perm, mb.lam), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- the real pretrained decoder


@pytest.fixture(scope="module")
def smollm2():
    """SmolLM2-135M-Instruct's weights, built by ../shared/models/smollm2-135m/build.sh (about a minute,
    cached in ~/.cache/textmix/smollm2-135m)."""
    import os
    import subprocess
    import sys

    script = shared_path("models", "smollm2-135m", "build.sh")
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable})
    if done.returncode != 0:
        pytest.fail(f"building the SmolLM2 weights failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.parametrize("side", ["right", "left"])
def test_hidden_mixup_on_pretrained_smollm2_matches_the_replay(smollm2, side):
    from transformers.utils import logging

    logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    tokenizer.padding_side = side
    model = LlamaForSequenceClassification.from_pretrained(smollm2, num_labels=2, dtype=torch.float32).train()
    model.config.pad_token_id = tokenizer.pad_token_id
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    batch = {**enc, "labels": torch.tensor([1, 0, 0, 1, 0, 1])}
    global PAD
    saved, PAD = PAD, tokenizer.pad_token_id  # the oracle's pooling reads the real pad id
    try:
        mb, logits = mixed_forward(model, MixConfig(method="hidden", layers=[15], alpha=1.0, lam_mode="row", seed=0),
                               batch)
        expected = layer_replay(model, batch, 15, mb.perm, mb.lam)
    finally:
        PAD = saved
    assert (mb.lam < 1).sum() >= 2
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("side", ["right", "left"])
def test_saliency_span_on_a_decoder_keeps_special_tokens_and_pooling(side):
    model = tiny_decoder("qwen2")
    batch = decoder_batch(side, seed=8)
    mixer = Mixer(model, MixConfig(method="saliency_span", alpha=1.0, lam_mode="row", seed=0),
                  special_token_ids=[PAD, BOS, EOS])
    with mixer:
        clean = mixer.clean(batch)
        clean.loss(model(**clean.inputs).logits).backward()
        mb = mixer.mix(batch)
    ids, new = batch["input_ids"], mb.inputs["input_ids"]
    special = torch.isin(ids, torch.tensor([PAD, BOS, EOS]))
    assert torch.equal(new[special], ids[special]) and not torch.equal(new, ids)
    assert torch.equal(last_token(new, PAD), last_token(ids, PAD))
