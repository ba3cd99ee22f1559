"""LoRA (PEFT) wrappers: the mixing points are found through the wrapper, the oracles hold, the mixed
forward equals the merged model's, only the adapter trains, saves are unchanged, and MixTrainer resumes
a LoRA-wrapped decoder bit for bit."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from conftest import ragged_batch, tiny_model
from oracles import embedding_oracle

from textmix import MixConfig, Mixer

peft = pytest.importorskip("peft")


def lora(model, targets, task="SEQ_CLS"):
    config = peft.LoraConfig(task_type=task, r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0,
                             init_lora_weights=False)  # random B: the adapter changes the outputs
    torch.manual_seed(1)
    return peft.get_peft_model(model, config)


def mixed(model, cfg, batch, **kw):
    mixer = Mixer(model, cfg, **kw)
    with mixer:
        mb = mixer.mix(batch)
        with torch.no_grad():
            return mb, model(**mb.inputs).logits


@pytest.mark.parametrize("method", ["embedding", "hidden", "pooled"])
def test_mixing_through_the_wrapper_equals_the_merged_model(method):
    batch = ragged_batch(b=6, seed=0)
    wrapped = lora(tiny_model("bert"), ["query", "value"])
    cfg = MixConfig(method=method, alpha=1.0, lam_mode="row", layers=[2], seed=3)
    mb, logits = mixed(wrapped, cfg, batch)
    assert mb.lam.lt(1).any()
    merged = lora(tiny_model("bert"), ["query", "value"]).merge_and_unload()  # same weights, no wrapper
    mb2, logits2 = mixed(merged, cfg, batch)
    assert torch.equal(mb.perm, mb2.perm) and torch.equal(mb.lam, mb2.lam)
    torch.testing.assert_close(logits, logits2, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        plain = wrapped(**{k: v for k, v in batch.items() if k != "labels"}).logits
    assert not torch.allclose(logits, plain)


def test_the_embedding_oracle_holds_through_the_wrapper():
    batch = ragged_batch(b=6, seed=1)
    wrapped = lora(tiny_model("roberta"), ["query", "value"])
    mb, logits = mixed(wrapped, MixConfig(method="embedding", alpha=1.0, seed=2), batch)
    torch.testing.assert_close(logits, embedding_oracle(wrapped.get_base_model(), batch, mb.perm, mb.lam),
                               rtol=1e-5, atol=1e-6)


def test_a_lora_decoder_mixes_and_trains_only_the_adapter():
    from test_decoders import decoder_batch, tiny_decoder

    wrapped = lora(tiny_decoder("llama"), ["q_proj", "v_proj"])
    batch = decoder_batch("right", seed=2)
    frozen = {n: p.detach().clone() for n, p in wrapped.named_parameters() if not p.requires_grad}
    mixer = Mixer(wrapped, MixConfig(method="hidden", layers=[2], alpha=1.0, seed=0))
    optimizer = torch.optim.SGD([p for p in wrapped.parameters() if p.requires_grad], lr=0.1)
    with mixer:
        for _ in range(2):
            mb = mixer.mix(batch)
            mb.loss(wrapped(**mb.inputs).logits).backward()
            optimizer.step()
            optimizer.zero_grad()
    assert all(torch.equal(p, frozen[n]) for n, p in wrapped.named_parameters() if n in frozen)


def test_save_pretrained_of_the_adapter_is_unchanged(tmp_path):
    def digest(folder: Path) -> dict[str, str]:
        return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())}

    wrapped = lora(tiny_model("bert"), ["query", "value"])
    wrapped.save_pretrained(tmp_path / "plain")
    mixer = Mixer(wrapped, MixConfig(method="hidden", layers=[1], seed=0))
    with mixer:
        mb = mixer.mix(ragged_batch(b=4, seed=3))
        wrapped(**mb.inputs)
        wrapped.save_pretrained(tmp_path / "inside")
    wrapped.save_pretrained(tmp_path / "after")
    assert digest(tmp_path / "plain") == digest(tmp_path / "inside") == digest(tmp_path / "after")


def test_an_unsupported_base_inside_the_wrapper_names_the_override():
    from transformers import MPNetConfig, MPNetForSequenceClassification

    base = MPNetForSequenceClassification(MPNetConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                                                      intermediate_size=37, vocab_size=50))
    with pytest.raises(ValueError, match="MPNetForSequenceClassification.*arch=ArchSpec|no module table.*mpnet"):
        Mixer(lora(base, ["q", "v"]), MixConfig(method="hidden", layers=(1,)))


def test_mix_trainer_resumes_a_lora_decoder_bit_for_bit(tmp_path):
    from test_decoders import decoder_batch, tiny_decoder
    from transformers import TrainerCallback

    from textmix import MixTrainer, MixTrainingArguments

    rows = [decoder_batch("right", b=8, seed=s) for s in range(4)]
    data = [{"input_ids": r["input_ids"][i], "attention_mask": r["attention_mask"][i], "labels": r["labels"][i]}
            for r in rows for i in range(8)]

    def collate(features):
        return {k: torch.stack([f[k] for f in features]) for k in features[0]}

    def train(folder, resume=None, stop_at=None):
        model = lora(tiny_decoder("llama"), ["q_proj", "v_proj"])
        args = MixTrainingArguments(output_dir=str(folder), mix_method="hidden:1,pooled:1", mix_lam_mode="row",
                                    max_steps=6, per_device_train_batch_size=8, save_strategy="steps", save_steps=3,
                                    logging_steps=1, learning_rate=1e-2, report_to=[], use_cpu=True, seed=0,
                                    data_seed=0, disable_tqdm=True, remove_unused_columns=False)
        callbacks = []
        if stop_at:
            class Stop(TrainerCallback):
                def on_step_end(self, args, state, control, **kwargs):
                    control.should_training_stop = state.global_step >= stop_at

            callbacks.append(Stop())
        trainer = MixTrainer(model=model, args=args, train_dataset=data, data_collator=collate, callbacks=callbacks)
        trainer.train(resume_from_checkpoint=resume)
        return trainer, model

    full, m_full = train(tmp_path / "full")
    train(tmp_path / "cut", stop_at=3)
    resumed, m_resumed = train(tmp_path / "cut", resume=str(tmp_path / "cut" / "checkpoint-3"))
    losses = [h["loss"] for h in full.state.log_history if "loss" in h]
    assert [h["loss"] for h in resumed.state.log_history if "loss" in h][-3:] == losses[-3:]
    for (name, a), (_, b) in zip(m_full.named_parameters(), m_resumed.named_parameters(), strict=True):
        assert torch.equal(a, b), name
