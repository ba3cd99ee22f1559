"""PEFT adapters — LoRA, IA3, LoRA with `modules_to_save` — on a tiny BERT: the mixed step through the wrapper
equals the same step of the merged model (`merge_and_unload()` of an identical wrapper: the same function
without the adapter modules) with the same draws: mixed inputs, loss and label weights to 1e-5, and the
gradients of the trained copies of `modules_to_save` (the classifier, the pooler) equal the merged model's."""

from __future__ import annotations

import pytest
import torch
from conftest import ragged_batch, tiny_model

from compat.matrix import compat_cells
from compat.steps import TEXT, assert_same_step, mixer_for, train_step

peft = pytest.importorskip("peft")
RTOL, ATOL = 1e-5, 1e-6
ADAPTERS = {
    "lora": lambda: peft.LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"],
                                    lora_dropout=0.0, init_lora_weights=False),
    "ia3": lambda: peft.IA3Config(task_type="SEQ_CLS", target_modules=["key", "value", "intermediate.dense"],
                                  feedforward_modules=["intermediate.dense"], init_ia3_weights=False),
    "lora_modules_to_save": lambda: peft.LoraConfig(
        task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"], lora_dropout=0.0,
        init_lora_weights=False, modules_to_save=["classifier", "pooler"]),
}
NOTE = ("The step through the wrapper equals the step of the merged model (`merge_and_unload()`), same draws: "
        "mixed inputs, loss and label weights to 1e-5, the gradients of `modules_to_save` copies equal the merged "
        "model's.")


def wrapped(adapter: str):
    torch.manual_seed(1)  # the same random adapter weights every time
    return peft.get_peft_model(tiny_model("bert"), ADAPTERS[adapter]())


def plain_name(name: str) -> str:
    return name.removeprefix("base_model.model.").replace("modules_to_save.default.", "")


def compare(adapter: str, method: str) -> None:
    batch = ragged_batch(b=6, seed=1)
    merged = wrapped(adapter).merge_and_unload()
    with mixer_for(merged, method, seed=3) as mixer:
        want = train_step(merged, mixer, batch)
    model = wrapped(adapter)
    with mixer_for(model, method, seed=3) as mixer:
        got = train_step(model, mixer, batch)
    saved = {plain_name(n): g for n, g in got.grads.items() if "modules_to_save" in n}
    assert saved, "no trained copy of modules_to_save: the gradient check would test nothing"
    assert any("lora_" in n or "ia3_" in n for n in got.grads), "the adapter got no gradient"
    got.grads, want.grads = saved, {n: want.grads[n] for n in saved}
    assert_same_step(got, want, RTOL, ATOL)


@compat_cells("PEFT LoRA", TEXT, note="LoRA on query and value (random B). " + NOTE)
def test_lora_equals_the_merged_model(method):
    compare("lora", method)


@compat_cells("PEFT IA3", TEXT, note="IA3 on key, value and the feed-forward input (random scales). " + NOTE)
def test_ia3_equals_the_merged_model(method):
    compare("ia3", method)


@compat_cells("PEFT LoRA + modules_to_save", TEXT,
              note="LoRA with `modules_to_save=[\"classifier\", \"pooler\"]` (trained copies). " + NOTE)
def test_lora_with_modules_to_save_equals_the_merged_model(method):
    compare("lora_modules_to_save", method)
