"""Padding-free and packed batches are refused before the first step, with an error naming a padded collator:
mixing pairs whole rows, so sequences packed into a row would be blended across their boundaries."""

from __future__ import annotations

import pytest
import torch
from conftest import SPECIAL, ragged_batch, tiny_model
from transformers import DataCollatorWithFlattening, TrainingArguments

from compat.matrix import REFUSED, compat_cells
from compat.steps import TEXT, mixer_for
from textmix import MixConfig, MixTrainer

FIX = "DataCollatorWithPadding"
FEATURES = [{"input_ids": [1, 5, 6, 7, 2], "label": 0}, {"input_ids": [1, 8, 9, 2], "label": 1},
            {"input_ids": [1, 10, 2], "label": 2}]


def flattened_batches() -> list[dict]:
    """What DataCollatorWithFlattening gives: one row, position_ids restarting per sequence (and its options)."""
    return [DataCollatorWithFlattening(**kw)(FEATURES)
            for kw in ({}, {"return_flash_attn_kwargs": True}, {"return_seq_idx": True})]


def packed_rows() -> dict:
    """Two rows of two sequences each (position_ids restart inside every row), one label per row."""
    batch = ragged_batch(b=2, length=12, pairs=False, min_len=12)
    batch["position_ids"] = torch.tensor([list(range(5)) + list(range(7)), list(range(8)) + list(range(4))])
    return batch


def refuses(mixer, batch) -> None:
    with mixer, pytest.raises(ValueError, match=FIX):
        if mixer.next_needs_saliency:
            mixer.clean(batch)  # the clean pass of saliency span is the step's first forward
        mixer.mix(batch)


@compat_cells("padding-free batches (DataCollatorWithFlattening)", TEXT, status=REFUSED,
              note="One row of several sequences (`position_ids` restarting, `cu_seq_lens_*`, `seq_idx`): "
                   "`mix()` and `clean()` raise a ValueError naming `DataCollatorWithPadding` before the first step.")
def test_padding_free_batches_are_refused(method):
    for batch in flattened_batches():
        refuses(mixer_for(tiny_model("bert"), method), batch)


@compat_cells("packed rows", TEXT, status=REFUSED,
              note="Rows holding several sequences (`position_ids` restarting inside a row): refused as above; "
                   "rows would be blended across sequence boundaries.")
def test_packed_rows_are_refused(method):
    refuses(mixer_for(tiny_model("bert"), method), packed_rows())


def test_position_ids_of_unpacked_rows_are_accepted():
    """Right padding (0..n-1), left padding (pads at 1 as transformers' generate numbers them) and RoBERTa's
    numbering from the padding index: no restart among the attended tokens, so the batch mixes."""
    batch = ragged_batch(b=4, length=8)
    mask = batch["attention_mask"]
    left = dict(batch, attention_mask=mask.flip(1), input_ids=batch["input_ids"].flip(1))
    left["position_ids"] = (left["attention_mask"].cumsum(1) - 1).masked_fill(left["attention_mask"] == 0, 1)
    for b in (dict(batch, position_ids=torch.arange(8).expand(4, 8)), left,
              dict(batch, position_ids=(mask.cumsum(1) * mask + SPECIAL["pad"]).long())):
        mixer = mixer_for(tiny_model("bert"), "embedding")
        with mixer:
            assert mixer.mix(b).mixed


def test_mix_trainer_refuses_a_flattening_collator_before_the_first_step(tmp_path):
    model = tiny_model("bert")
    before = [p.detach().clone() for p in model.parameters()]
    args = TrainingArguments(str(tmp_path), max_steps=2, per_device_train_batch_size=3, report_to=[],
                             use_cpu=True, save_strategy="no", remove_unused_columns=False)
    trainer = MixTrainer(model=model, args=args, train_dataset=FEATURES, data_collator=DataCollatorWithFlattening(),
                         mix_config=MixConfig(method="hidden"), mixer_kwargs={"special_token_ids": [0, 1, 2]})
    with pytest.raises(ValueError, match=FIX):
        trainer.train()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
