"""Bad input to the core (Mixer, MixConfig, MixTrainer): each case gets a clear error naming the fix, or a
documented behaviour — never a silently wrong result. Each case here once trained or reported the wrong
thing without a word (the issue "No silent wrong results"); the harness's cases are in
tests/harness/test_bad_input.py."""

from __future__ import annotations

import pytest
import torch
from conftest import SPECIAL, VOCAB, ragged_batch, tiny_model
from oracles import hand_mix, hand_union
from trainer_utils import pad_collate, ragged_dataset

from textmix import MixConfig, Mixer

ROWS = 4


def batch_with(labels) -> dict:
    batch = ragged_batch(b=ROWS, seed=0, num_labels=2)
    batch["labels"] = labels
    return batch


@pytest.mark.parametrize(
    "labels, problem_type, message",
    [
        # 1. fractional class labels were truncated by labels.long()
        (torch.tensor([0.3, 0.9, 1.7, 0.5]), None, "whole numbers"),
        # 2. soft labels that are not distributions trained with a finite loss
        (torch.tensor([[2.0, 3.0], [0.0, 0.0], [1.0, 0.0], [-1.0, 2.0]]), None, "must be distributions"),
        # int labels of shape (B, 1) were called "soft labels"
        (torch.tensor([[0], [1], [1], [0]]), None, r"shape \(4, 1\).*squeeze"),
        # string labels gave "too many dimensions 'str'"
        (["pos", "neg", "pos", "neg"], None, "labels are strings"),
        # a multi-label width mismatch surfaced as torch's BCE shape error
        (torch.ones((ROWS, 3)), "multi_label_classification", "3 columns but the model has 2 labels"),
        (torch.tensor([0, 1, 2, 1]), None, r"labels must be in \[0, 2\)"),
    ],
)
def test_bad_labels_are_refused_before_mixing(labels, problem_type, message):
    model = tiny_model("bert", num_labels=2)
    mixer = Mixer(model, MixConfig(method="pooled", seed=0), problem_type=problem_type)
    with mixer, pytest.raises(ValueError, match=message):
        mixer.mix(batch_with(labels))


def test_whole_float_labels_and_distributions_are_fine():
    model = tiny_model("bert", num_labels=2)
    mixer = Mixer(model, MixConfig(method="pooled", seed=0))
    with mixer:
        mb = mixer.mix(batch_with(torch.tensor([0.0, 1.0, 1.0, -100.0])))
        assert torch.equal(mb.valid, torch.tensor([True, True, True, False]))
        mixer.mix(batch_with(torch.tensor([[0.2, 0.8], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])))


def test_inputs_embeds_are_mixed_by_embedding_mixup():
    """3. With inputs_embeds the word-embedding hook never fires: the given embeddings are mixed instead."""
    model = tiny_model("bert")
    batch = ragged_batch(b=6, seed=2)
    with torch.no_grad():
        embeds = model.get_input_embeddings()(batch["input_ids"])
    given = {"inputs_embeds": embeds, "attention_mask": batch["attention_mask"], "labels": batch["labels"]}
    mixer = Mixer(model, MixConfig(method="embedding", alpha=1.0, seed=1))
    with mixer:
        mb = mixer.mix(given)
        with torch.no_grad():
            logits = model(**mb.inputs).logits
    assert (mb.lam < 0.5).all()
    union = hand_union(batch["attention_mask"], mb.perm, mb.lam)
    with torch.no_grad():
        expected = model(inputs_embeds=hand_mix(embeds, mb.perm, mb.lam), attention_mask=union).logits
        targets_only = model(inputs_embeds=embeds, attention_mask=union).logits  # what was silently run before
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-6)
    assert (expected - targets_only).abs().max() > 1e-4


def test_a_step_serves_exactly_one_forward():
    """4. A second train-mode forward on the same step (same batch shape) was mixed with stale partners."""
    model = tiny_model("bert")
    batch = ragged_batch(b=6, seed=3)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    mixer = Mixer(model, MixConfig(method="hidden", layers=(1,), seed=0))
    with mixer:
        mb = mixer.mix(batch)
        model(**mb.inputs)
        with pytest.raises(RuntimeError, match="second training forward"):
            model(**inputs)  # e.g. a consistency loss's clean pass, without mixer.clean()
        clean = mixer.clean(batch)  # the documented way: runs clean
        with torch.no_grad():
            after_clean = model(**clean.inputs).logits
            plain = model(**inputs).logits  # nothing armed: clean
        assert torch.equal(after_clean, plain)
        mixer.mix(batch)
        model.eval()
        with torch.no_grad():  # an eval forward in between is never mixed and uses nothing up
            assert torch.equal(model(**inputs).logits, plain)
        model.train()
        model(**mb.inputs)


def test_gradient_checkpointing_reruns_are_not_a_second_forward():
    model = tiny_model("bert")
    model.gradient_checkpointing_enable()
    batch = ragged_batch(b=6, seed=4)
    mixer = Mixer(model, MixConfig(method="hidden", layers=(2,), seed=0))
    with mixer:
        mb = mixer.mix(batch)
        mb.loss(model(**mb.inputs).logits).backward()  # the layers run again during the backward


def test_two_mixers_on_one_model_is_an_error():
    """5. `hidden` and `pooled` mixers inside one `with` both fired on one forward."""
    model = tiny_model("bert")
    first = Mixer(model, MixConfig(method="hidden", layers=(1,)))
    second = Mixer(model, MixConfig(method="pooled"))
    with first:
        with pytest.raises(RuntimeError, match="another Mixer is already attached"), second:
            pass
        assert first.attached and not second.attached
    with second:  # after the first detached, the second may attach
        assert second.attached


def test_nested_with_blocks_detach_on_the_outermost_exit():
    model = tiny_model("bert")
    mixer = Mixer(model, MixConfig(method="pooled"))
    with mixer:
        with mixer:
            pass
        assert mixer.attached
        mixer.mix(ragged_batch(b=4, seed=5))
    assert not mixer.attached


def test_a_label_entry_of_another_name():
    model = tiny_model("bert")
    batch = ragged_batch(b=4, seed=6)
    batch["target"] = batch.pop("labels")
    with pytest.raises(ValueError, match="label_key"):
        Mixer(model, MixConfig(method="span"), special_token_ids=list(SPECIAL.values())).mix(batch)
    mb = Mixer(model, MixConfig(method="span"), special_token_ids=list(SPECIAL.values()), label_key="target").mix(batch)
    assert "target" not in mb.inputs and mb.targets.shape == (4, 3)


def test_mix_trainer_follows_label_names(tmp_path):
    from textmix import MixTrainer, MixTrainingArguments

    data = ragged_dataset(32).rename_column("label", "target")

    def collate(rows):
        out = pad_collate([{"input_ids": r["input_ids"], "label": r["target"]} for r in rows])
        out["target"] = out.pop("labels")
        return out

    args = MixTrainingArguments(output_dir=str(tmp_path), mix_method="embedding", label_names=["target"],
                                max_steps=2, per_device_train_batch_size=8, report_to=[], use_cpu=True,
                                save_strategy="no", logging_steps=1, disable_tqdm=True)
    trainer = MixTrainer(model=tiny_model("bert"), args=args, train_dataset=data, data_collator=collate)
    trainer.train()
    assert trainer.state.log_history[0]["mix_count_embedding"] == 1


def test_mix_off_epoch_below_zero_is_an_error(tmp_path):
    from textmix import MixTrainingArguments

    with pytest.raises(ValueError, match="mix_off_epoch must be >= 0"):
        MixTrainingArguments(output_dir=str(tmp_path), mix_method="hidden", mix_off_epoch=-1)


@pytest.mark.parametrize("option, value", [("mix_clean_weight", 1.0), ("mix_label_weights", "attention")])
def test_an_option_only_a_mixer_uses_without_mixing_is_an_error_naming_the_fix(tmp_path, option, value):
    from textmix import MixTrainingArguments

    for method in ("none", None):
        with pytest.raises(ValueError, match=rf"{option}={value!r} with mix_method {method!r}: no mixing is "
                                             r"configured, so nothing would use it; set --mix_method"):
            MixTrainingArguments(output_dir=str(tmp_path), mix_method=method, **{option: value})
    MixTrainingArguments(output_dir=str(tmp_path), mix_method="cutmix", **{option: value})  # used: fine
    MixTrainingArguments(output_dir=str(tmp_path), mix_method="none")  # the defaults: fine


@pytest.mark.parametrize("method", ["span", "saliency_span"])
def test_span_label_weight_is_the_share_of_content_tokens_kept(method):
    """The weight the Mixer hands back is checked against the tokens that really changed: every row's
    tokens come from its own id range, so a replaced token is always a changed one."""
    b, length = 8, 16
    g = torch.Generator().manual_seed(0)
    ids = torch.zeros((b, length), dtype=torch.long)
    mask = torch.zeros_like(ids)
    width = (VOCAB - 3) // b
    for i in range(b):
        n = int(torch.randint(4, length + 1, (1,), generator=g))
        ids[i, :n] = 3 + i * width + torch.randint(0, width, (n,), generator=g)
        ids[i, 0], ids[i, n - 1] = SPECIAL["cls"], SPECIAL["sep"]
        mask[i, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.arange(b) % 3}
    model = tiny_model("bert")
    for seed in range(5):
        mixer = Mixer(model, MixConfig(method=method, alpha=1.0, lam_mode="row", seed=seed),
                      special_token_ids=list(SPECIAL.values()))
        with mixer:
            if mixer.next_needs_saliency:
                clean = mixer.clean(batch)
                clean.loss(model(**clean.inputs).logits).backward()
            mb = mixer.mix(batch)
        content = mask.bool() & ~torch.isin(ids, torch.tensor(list(SPECIAL.values())))
        changed = (mb.inputs["input_ids"] != ids) & content
        expected = 1 - changed.sum(1).double() / content.sum(1).double()
        torch.testing.assert_close(mb.lam.double(), expected, rtol=0, atol=1e-6)
        assert (mb.lam < 1).any()


def test_evaluation_during_training_is_not_mixed(tmp_path):
    """Evaluation inside train() runs with the hooks attached and the last training step armed."""
    from transformers import Trainer, TrainingArguments

    from textmix import MixTrainer, MixTrainingArguments

    common = dict(report_to=[], use_cpu=True, save_strategy="no", logging_steps=1, disable_tqdm=True,
                  per_device_train_batch_size=8, per_device_eval_batch_size=8, seed=0)
    evals = ragged_dataset(24, seed=1)
    model = tiny_model("bert")
    trainer = MixTrainer(model=model, args=MixTrainingArguments(
        output_dir=str(tmp_path), mix_method="hidden:1,pooled:1", mix_layers=[1], max_steps=2,
        eval_strategy="steps", eval_steps=2, **common), train_dataset=ragged_dataset(32), eval_dataset=evals,
        data_collator=pad_collate)
    trainer.train()
    during = next(h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h)
    plain = Trainer(model=model, args=TrainingArguments(output_dir=str(tmp_path / "p"), **common),
                    eval_dataset=evals, data_collator=pad_collate).evaluate()
    assert during == plain["eval_loss"]
