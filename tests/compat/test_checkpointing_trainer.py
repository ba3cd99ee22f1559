"""Gradient checkpointing through MixTrainer (`gradient_checkpointing=True`): two training steps of a tiny BERT
end in the same losses and weights as the same run without it, to 1e-5."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_model
from trainer_utils import pad_collate, ragged_dataset

from compat.matrix import compat_cells
from compat.steps import SPECIAL_IDS, TEXT, config
from textmix import MixTrainer, MixTrainingArguments

RTOL, ATOL = 1e-5, 1e-6


def train(tmp_path, method: str, checkpointing: bool):
    cfg = config(method, seed=3)
    args = MixTrainingArguments(
        output_dir=str(tmp_path / f"run{int(checkpointing)}"), use_cpu=True, report_to=[], save_strategy="no",
        logging_steps=1, max_steps=2, per_device_train_batch_size=8, learning_rate=1e-3, seed=0, data_seed=0,
        disable_tqdm=True, gradient_checkpointing=checkpointing, mix_method=cfg.method, mix_alpha=cfg.alpha,
        mix_lam_mode=cfg.lam_mode, mix_layers=cfg.layers, mix_seed=cfg.seed, mix_clean_weight=cfg.clean_weight,
        mix_label_weights=cfg.label_weights)
    model = tiny_model("bert")
    trainer = MixTrainer(model=model, args=args, train_dataset=ragged_dataset(16), data_collator=pad_collate,
                         mixer_kwargs={"special_token_ids": SPECIAL_IDS})
    trainer.train()
    assert model.is_gradient_checkpointing == checkpointing
    log = [h for h in trainer.state.log_history if "loss" in h]
    return torch.tensor([h["loss"] for h in log]), [h["mix_share"] for h in log], dict(model.named_parameters())


@pytest.mark.slow
@compat_cells("gradient checkpointing (MixTrainer)", TEXT,
              note="`MixTrainingArguments(gradient_checkpointing=True)` (Hugging Face's default kwargs): two steps "
                   "of MixTrainer end in the losses and weights of the same run without it, to 1e-5.")
def test_mixtrainer_gradient_checkpointing_equals_the_plain_run(tmp_path, method):
    plain_loss, plain_share, plain = train(tmp_path, method, False)
    loss, share, weights = train(tmp_path, method, True)
    assert min(plain_share) > 0, "no row was mixed: the cell would test nothing"
    assert share == plain_share
    torch.testing.assert_close(loss, plain_loss, rtol=RTOL, atol=ATOL)
    for name, p in plain.items():
        torch.testing.assert_close(weights[name], p, rtol=RTOL, atol=ATOL, msg=lambda m, n=name: f"{n}: {m}")
