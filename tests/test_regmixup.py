"""RegMixup (`clean_weight` > 0): a MixTrainer step against a hand-written clean + mixed pair on the same draws.

The oracle runs the model by hand on the batches the Trainer saw: for every micro-batch, the clean
loss summed over its rows plus eta times the mixed loss summed over its rows, all over the labelled
rows of the accumulated batch, then one backward. The Trainer's step must give the same loss and
the same gradients (BERT with gradient accumulation and an ignored row, a Llama-layout decoder, a
tiny ViT).
"""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import SPECIAL, ragged_batch, tiny_model
from transformers import TrainerCallback

from textmix import MixConfig, Mixer, MixTrainer, MixTrainingArguments

COMMON = dict(report_to=[], use_cpu=True, save_strategy="no", logging_steps=1, learning_rate=1e-3,
              dataloader_num_workers=0, seed=0, disable_tqdm=True, max_grad_norm=0.0, max_steps=1)


def tiny_vit():
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    return ViTForImageClassification(ViTConfig(image_size=8, patch_size=2, num_channels=3, hidden_size=16,
                                               num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                                               num_labels=3)).train()


def image_batch(b: int = 8, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"pixel_values": torch.rand((b, 3, 8, 8), generator=g), "labels": torch.randint(0, 3, (b,), generator=g)}


class _Grads(TrainerCallback):
    def __init__(self, model):
        self.model, self.grads = model, None

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self.grads = {n: p.grad.detach().clone() for n, p in self.model.named_parameters() if p.grad is not None}


class _Recorder(MixTrainer):
    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.step_losses.append(loss.detach().clone())
        return loss


def trainer_step(tmp_path, model, batch, accumulation: int, **mix) -> tuple[list[dict], torch.Tensor, dict]:
    """One optimizer step of MixTrainer over `batch` split into `accumulation` micro-batches: the micro-batches
    it saw, the summed loss its steps returned and the gradients before the optimizer step."""
    rows = [{k: v[i] for k, v in batch.items()} for i in range(batch["labels"].shape[0])]
    seen: list[dict] = []

    def collate(features):
        out = {k: torch.stack([f[k] for f in features]) for k in features[0]}
        seen.append({k: v.clone() for k, v in out.items()})
        return out

    args = MixTrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=len(rows) // accumulation,
                                gradient_accumulation_steps=accumulation, **{**COMMON, **mix})
    trainer = _Recorder(model=model, args=args, train_dataset=rows, data_collator=collate,
                        mixer_kwargs={"special_token_ids": list(SPECIAL.values())})
    trainer.step_losses = []
    grads = _Grads(model)
    trainer.add_callback(grads)
    trainer.train()
    return seen[:accumulation], torch.stack(trainer.step_losses).sum(), grads.grads


def hand_pair(model, micro_batches: list[dict], config: MixConfig) -> tuple[torch.Tensor, dict]:
    """The oracle: sum over micro-batches of CE(clean) + eta * mixed loss, over the accumulated batch's rows."""
    mixer = Mixer(model, config, special_token_ids=list(SPECIAL.values()))
    rows = sum(int((mb["labels"] != -100).sum()) for mb in micro_batches)
    total = torch.zeros(())
    with mixer:
        for batch in micro_batches:
            clean = mixer.clean(batch)
            clean_sum = clean.loss(model(**clean.inputs).logits, reduction="sum")
            if mixer.next_needs_saliency:  # saliency span reads the clean pass's gradient
                (clean_sum / rows).backward()
                clean_sum = clean_sum.detach()
            mixed = mixer.mix(batch)
            assert mixed.mixed
            mixed_sum = mixed.loss(model(**mixed.inputs).logits, reduction="sum")
            part = (clean_sum + config.clean_weight * mixed_sum) / rows
            if mixer.config.method == "saliency_span":
                (config.clean_weight * mixed_sum / rows).backward()
            else:
                part.backward()
            total = total + part.detach()
    return total, {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def check_step(tmp_path, model, batch, accumulation, method, eta=1.5, **extra):
    oracle_model = copy.deepcopy(model)
    seen, loss, grads = trainer_step(tmp_path, model, batch, accumulation, mix_method=method, mix_alpha=1.0,
                                     mix_clean_weight=eta, **{f"mix_{k}": v for k, v in extra.items()})
    config = MixConfig(method=method, alpha=1.0, clean_weight=eta, seed=0, **extra)
    expected_loss, expected_grads = hand_pair(oracle_model, seen, config)
    torch.testing.assert_close(loss, expected_loss, rtol=1e-5, atol=1e-6)
    assert grads.keys() == expected_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], expected_grads[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("method", ["span", "hidden", "saliency_span"])
def test_bert_step_is_clean_plus_eta_mixed_with_exact_accumulation(tmp_path, method):
    batch = ragged_batch(b=8, length=12, seed=3)
    batch["labels"][5] = -100  # an ignored row: the loss is over the accumulated batch's labelled rows
    extra = {"layers": [1]} if method == "hidden" else {}
    check_step(tmp_path, tiny_model("bert"), batch, 2, method, **extra)


def test_llama_layout_decoder_step_is_clean_plus_eta_mixed(tmp_path):
    from test_decoders import decoder_batch, tiny_decoder

    check_step(tmp_path, tiny_decoder("llama"), decoder_batch("right", b=6, seed=2), 1, "hidden", eta=1.0, layers=[2])


def test_vit_step_is_clean_plus_eta_mixed(tmp_path):
    check_step(tmp_path, tiny_vit(), image_batch(8), 2, "patch_cutmix", eta=0.7)


@pytest.mark.parametrize(("eta", "forwards"), [(0.0, 1), (1.0, 2)])
def test_forwards_per_step(tmp_path, eta, forwards):
    model = tiny_model("bert")
    calls = []
    model.register_forward_pre_hook(lambda *a: calls.append(1))
    trainer_step(tmp_path, model, ragged_batch(b=8, length=12, seed=3), 1, mix_method="span", mix_alpha=1.0,
                 mix_clean_weight=eta)
    assert len(calls) == forwards


def test_eval_is_untouched_by_clean_weight(tmp_path):
    model = tiny_model("bert")
    batch = ragged_batch(b=8, length=12, seed=3)
    args = MixTrainingArguments(output_dir=str(tmp_path), mix_method="hidden", mix_clean_weight=1.0, **COMMON)
    trainer = MixTrainer(model=model, args=args)
    model.eval()
    with torch.no_grad():
        plain = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss, logits, _ = trainer.prediction_step(model, batch, prediction_loss_only=False)
    torch.testing.assert_close(logits, plain, rtol=0, atol=0)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), "1", True, None])
def test_bad_clean_weight_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="clean_weight must be a number >= 0"):
        MixConfig(method="hidden", clean_weight=bad)
    with pytest.raises(ValueError, match="clean_weight must be a number >= 0"):
        MixTrainingArguments(output_dir="x", mix_method="hidden", mix_clean_weight=bad)
