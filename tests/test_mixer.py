"""Every mixing method against an oracle, on every supported architecture (tiny random configs)."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import ARCHS, SPECIAL, ragged_batch, tiny_model
from oracles import bf16_mixed_step, embedding_oracle, hand_union, modules_of, replace_oracle

from textmix import MixConfig, Mixer

TOKEN_TYPES = {"bert", "albert", "electra", "deberta-v2"}


def batch_for(arch: str, **kw):
    batch = ragged_batch(**kw)
    batch.pop("token_type_ids", None) if arch not in TOKEN_TYPES else None
    return batch


def mixed_logits(model, cfg, batch, **mixer_kwargs):
    mixer = Mixer(model, cfg, special_token_ids=list(SPECIAL.values()), **mixer_kwargs)
    with mixer:
        mb = mixer.mix(batch)
        with torch.no_grad():
            logits = model(**mb.inputs).logits
    return mb, logits


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("lam_mode", ["batch", "row"])
def test_embedding_mixup_matches_hand_mixed_inputs_embeds(arch, lam_mode):
    model = tiny_model(arch)
    batch = batch_for(arch, b=7, length=10, seed=1)
    mb, logits = mixed_logits(model, MixConfig(method="embedding", alpha=1.0, lam_mode=lam_mode, seed=3), batch)
    assert (mb.lam < 1).sum() >= 4, "the test batch should have mixed rows"
    assert torch.equal(mb.inputs["attention_mask"], hand_union(batch["attention_mask"], mb.perm, mb.lam))
    expected = embedding_oracle(model, batch, mb.perm, mb.lam)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("layer", [0, 1, 2, 3])
def test_hidden_mixup_matches_two_pass_oracle(arch, layer):
    model = tiny_model(arch)
    batch = batch_for(arch, b=6, length=11, seed=2)
    mb, logits = mixed_logits(model, MixConfig(method="hidden", alpha=1.0, layers=(layer,), seed=4), batch)
    assert mb.layer == layer and (mb.lam < 1).sum() >= 3
    arch_modules = modules_of(model)
    if layer == 0:
        module, call = arch_modules.embeddings, 0
    elif len(arch_modules.layers) == arch_modules.num_layers:
        module, call = arch_modules.layers[layer - 1], 0
    else:  # ALBERT: one shared layer group, called once per layer
        module, call = arch_modules.layers[0], layer - 1
    expected = replace_oracle(model, batch, module, mb.perm, mb.lam, call_index=call)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_hidden_mixup_differs_from_mixing_without_mask_union():
    """The union mask matters: replaying the oracle with own masks after the mixing point differs."""
    model = tiny_model("bert")
    batch = batch_for("bert", b=6, length=11, seed=2)
    mb, logits = mixed_logits(model, MixConfig(method="hidden", alpha=1.0, layers=(1,), seed=4), batch)
    wrong = replace_oracle(model, batch, modules_of(model).layers[0], mb.perm, mb.lam, union=False)
    assert (logits - wrong).abs().max() > 1e-4


@pytest.mark.parametrize("arch", ARCHS)
def test_pooled_mixup_mixes_the_head_input(arch):
    model = tiny_model(arch)
    batch = batch_for(arch, b=5, length=9, seed=3)
    mb, logits = mixed_logits(model, MixConfig(method="pooled", alpha=1.0, seed=5), batch)
    assert torch.equal(mb.inputs["attention_mask"], batch["attention_mask"])
    expected = replace_oracle(model, batch, modules_of(model).head, mb.perm, mb.lam, pre=True, union=False)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_span_cutmix_runs_on_every_architecture(arch):
    model = tiny_model(arch)
    batch = batch_for(arch, b=6, length=12, seed=4, pairs=arch in TOKEN_TYPES)
    mb, logits = mixed_logits(model, MixConfig(method="span", alpha=1.0, seed=6), batch)
    ids, new = batch["input_ids"], mb.inputs["input_ids"]
    special = torch.isin(ids, torch.tensor(list(SPECIAL.values())))
    assert torch.equal(ids[special], new[special])
    assert not torch.equal(ids, new)
    with torch.no_grad():
        plain = model(**{k: v for k, v in mb.inputs.items()}).logits
    assert torch.equal(logits, plain)  # span mixing happens on ids only: no hook touches the forward


def test_lambda_one_is_bit_identical_to_the_plain_model(monkeypatch):
    import textmix.draws as draws_module

    monkeypatch.setattr(draws_module, "draw_lambdas", lambda alpha, b, *a, **k: torch.ones(b))
    model = tiny_model("roberta")
    batch = batch_for("roberta", b=6, length=10, seed=5)
    with torch.no_grad():
        plain = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    for method in ("embedding", "hidden", "pooled", "span"):
        mb, logits = mixed_logits(model, MixConfig(method=method, layers=(1, 2), seed=0), batch)
        assert torch.equal(mb.lam, torch.ones(6)), method
        assert torch.equal(logits, plain), method


@pytest.mark.parametrize("method", ["embedding", "hidden", "pooled", "span"])
def test_mixing_off_is_bit_identical(method):
    model = tiny_model("bert")
    batch = batch_for("bert", b=6, length=10, seed=5)
    with torch.no_grad():
        plain = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    mb, logits = mixed_logits(model, MixConfig(method=method, prob=0.0, layers=(2,)), batch)
    assert not mb.mixed and torch.equal(logits, plain)
    assert torch.equal(mb.targets, torch.nn.functional.one_hot(batch["labels"], 3).float())


def test_eval_mode_never_mixes_and_draws_nothing():
    model = tiny_model("bert")
    batch = batch_for("bert", b=6, length=10, seed=6)
    cfg = MixConfig(method="hidden", alpha=1.0, layers=(1,), seed=0)
    mixer = Mixer(model, cfg)
    with torch.no_grad():
        plain = model.eval()(**{k: v for k, v in batch.items() if k != "labels"}).logits
    with mixer:
        state = mixer.state_dict()
        mb = mixer.mix(batch)
        assert not mb.mixed and mb.inputs is not batch
        assert torch.equal(mixer.state_dict()["cpu"], state["cpu"])
        model.train()
        mb = mixer.mix(batch)  # prepared in train mode ...
        model.eval()  # ... but the forward runs in eval mode: hooks stand still
        with torch.no_grad():
            assert torch.equal(model(**{k: v for k, v in batch.items() if k != "labels"}).logits, plain)


def test_batch_of_one_is_unmixed_and_odd_batches_mix():
    model = tiny_model("bert")
    one = {k: v[:1] for k, v in batch_for("bert", b=6, seed=7).items()}
    mb, _ = mixed_logits(model, MixConfig(method="hidden", layers=(1,)), one)
    assert torch.equal(mb.lam, torch.ones(1)) and mb.perm.tolist() == [0]
    odd = batch_for("bert", b=5, seed=7)
    mb, _ = mixed_logits(model, MixConfig(method="embedding", partner="flip", alpha=1.0), odd)
    assert mb.perm.tolist() == [4, 3, 2, 1, 0]
    assert mb.lam[2] == 1 and (mb.lam[[0, 1, 3, 4]] < 1).all()  # the middle row is its own partner


def test_wrong_batch_size_in_forward_is_an_error():
    model = tiny_model("bert")
    batch = batch_for("bert", b=6, seed=8)
    mixer = Mixer(model, MixConfig(method="hidden", layers=(1,)))
    with mixer:
        mixer.mix(batch)
        with pytest.raises(RuntimeError, match="mixer prepared a batch of 6 rows"):
            model(input_ids=batch["input_ids"][:4], attention_mask=batch["attention_mask"][:4])


def test_gradient_checkpointing_gives_the_same_gradients():
    cfg = MixConfig(method="hidden", alpha=1.0, layers=(2,), seed=11)
    batch = batch_for("bert", b=6, length=10, seed=9)
    grads = []
    for checkpointing in (False, True):
        model = tiny_model("bert")
        if checkpointing:
            model.gradient_checkpointing_enable()
        mixer = Mixer(model, cfg)
        with mixer:
            mb = mixer.mix(batch)
            mb.loss(model(**mb.inputs).logits).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_bf16_autocast_on_cpu():
    model = tiny_model("bert")
    batch = batch_for("bert", b=6, length=10, seed=10)
    for method in ("embedding", "hidden", "pooled", "span"):
        mb, logits = bf16_mixed_step(model, MixConfig(method=method, alpha=1.0, layers=(1,), seed=1), batch,
                                     list(SPECIAL.values()))
        # same draws in float32 are close to the bf16 result (one mixer attached at a time)
        fp32 = Mixer(model, MixConfig(method=method, alpha=1.0, layers=(1,), seed=1),
                     special_token_ids=list(SPECIAL.values()))
        with fp32:
            mb32 = fp32.mix(batch)
            assert torch.equal(mb32.lam, mb.lam)
            with torch.no_grad():
                torch.testing.assert_close(model(**mb32.inputs).logits, logits.float(), atol=0.05, rtol=0.05)


def test_several_methods_switch_per_batch_with_their_weights():
    model = tiny_model("bert")
    batch = batch_for("bert", b=4, seed=11)
    mixer = Mixer(model, MixConfig(method="span:3,hidden:1", layers=(1, 3), seed=0),
                  special_token_ids=list(SPECIAL.values()))
    seen = {"span": 0, "hidden": 0}
    layers = set()
    with mixer:
        for _ in range(400):
            mb = mixer.mix(batch)
            seen[mb.method] += 1
            if mb.method == "hidden":
                layers.add(mb.layer)
    assert 0.68 < seen["span"] / 400 < 0.82 and layers == {1, 3}


def test_prob_is_the_share_of_mixed_batches():
    model = tiny_model("bert")
    batch = batch_for("bert", b=4, seed=12)
    mixer = Mixer(model, MixConfig(method="pooled", prob=0.3, seed=0))
    with mixer:
        share = sum(mixer.mix(batch).mixed for _ in range(1000)) / 1000
    assert 0.25 < share < 0.35


def test_draws_are_reproducible_and_resumable():
    model = tiny_model("bert")
    batch = batch_for("bert", b=6, seed=13)
    cfg = MixConfig(method="embedding:1,hidden:1", lam_mode="row", layers=(1, 2), seed=7)

    def run(mixer, n):
        with mixer:
            return [(mb.method, mb.perm.tolist(), mb.lam.tolist()) for mb in (mixer.mix(batch) for _ in range(n))]

    a = run(Mixer(model, cfg), 10)
    assert a == run(Mixer(model, cfg), 10)
    assert a != run(Mixer(model, MixConfig(**{**cfg.to_dict(), "seed": 8})), 10)
    first = Mixer(model, cfg)
    head = run(first, 4)
    _ = first.next_method  # a pending draw must survive the checkpoint too
    state = first.state_dict()
    resumed = Mixer(model, cfg)
    resumed.load_state_dict(state)
    assert head + run(resumed, 6) == a


def test_seed_offset_gives_each_rank_its_own_draws():
    model = tiny_model("bert")
    batch = batch_for("bert", b=6, seed=14)
    cfg = MixConfig(method="embedding", lam_mode="row", seed=7)
    draws = []
    for rank in (0, 1):
        mixer = Mixer(model, cfg, seed_offset=rank)
        with mixer:
            draws.append(mixer.mix(batch).lam.tolist())
    assert draws[0] != draws[1]


@pytest.mark.parametrize("arch", ["bert", "deberta-v2", "modernbert"])
def test_all_padding_rows_stay_finite(arch):
    """A row with an all-zero attention mask mixes like any other row and poisons nothing."""
    model = tiny_model(arch)
    batch = batch_for(arch, b=4, seed=1)
    batch["attention_mask"][2] = 0
    for method in ("embedding", "hidden", "pooled", "span"):
        mb, logits = mixed_logits(model, MixConfig(method=method, layers=(1,), alpha=1.0, partner="flip"), batch)
        assert torch.isfinite(logits).all() and torch.isfinite(mb.loss(logits)), method
        if method == "span":  # no content tokens: nothing to cut, the row keeps its label
            assert mb.lam[2] == 1 and torch.equal(mb.inputs["input_ids"][2], batch["input_ids"][2])


def test_mix_in_eval_mode_warns_once_naming_model_train():
    model = tiny_model("bert").eval()  # as from_pretrained returns it
    batch = batch_for("bert", b=6, length=10, seed=6)
    mixer = Mixer(model, MixConfig(method="hidden", layers=(1,), seed=0))
    with mixer, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, second = mixer.mix(batch), mixer.mix(batch)
        assert not first.mixed and not second.mixed and bool((first.lam == 1).all())
        model.train()
        assert mixer.mix(batch).mixed
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "model.train()" in messages[0] and "eval mode" in messages[0]


def test_training_mode_mixing_does_not_warn():
    model = tiny_model("bert")
    with Mixer(model, MixConfig(method="hidden", layers=(1,), seed=0)) as mixer, warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mixer.mix(batch_for("bert", b=6, length=10, seed=6)).mixed
