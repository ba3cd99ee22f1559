"""PEFT prompt tuning and p-tuning (virtual tokens in front of every row) on BERT: mixing goes over the real
tokens with the virtual tokens' positions kept. Oracle: the same model fed the virtual tokens by hand, as
`inputs_embeds` in front of its word embeddings, mixed with the same draws."""

from __future__ import annotations

import pytest
import torch
from conftest import ragged_batch, tiny_model
from peft import PromptEncoderConfig, PromptTuningConfig, get_peft_model

from compat.matrix import REFUSED, compat_cells
from compat.steps import mixer_for, train_step

VIRTUAL = 4
CONFIGS = {"prompt": lambda: PromptTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=VIRTUAL),
           "p-tuning": lambda: PromptEncoderConfig(task_type="SEQ_CLS", num_virtual_tokens=VIRTUAL,
                                                   encoder_hidden_size=16)}
AS_EMBEDS = ["embedding", "hidden", "pooled", "regmixup_hidden"]
"""Methods whose oracle is the bare model mixing the prompt-extended `inputs_embeds` batch."""
ON_IDS = ["span", "saliency_span"]
"""Methods that mix token ids: the oracle mixes the ids on the bare model and prepends the prompt by hand."""
TOLERANCE = dict(rtol=1e-5, atol=1e-6)
NOTE = ("4 virtual tokens in front of a tiny BERT's rows; mixing covers the real tokens, the prompt's "
        "positions kept: loss and gradients equal the bare model fed the prompt by hand as `inputs_embeds`, "
        "same draws, to 1e-5. Attention label weights are refused (the virtual tokens shift every attention "
        "position): use `label_weights='area'`.")


def with_prompt(batch: dict, prompts: torch.Tensor, word_embeddings) -> dict:
    """`batch` as the model inside the wrapper sees it: the virtual tokens' embeddings in front of the word
    embeddings, ones in front of the mask and zeros in front of the token types (as PEFT builds them)."""
    b = prompts.shape[0]
    out = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask", "token_type_ids")}
    out["inputs_embeds"] = torch.cat((prompts, word_embeddings(batch["input_ids"])), dim=1)
    out["attention_mask"] = torch.cat((torch.ones(b, VIRTUAL), batch["attention_mask"]), dim=1)
    if "token_type_ids" in batch:
        out["token_type_ids"] = torch.cat((torch.zeros(b, VIRTUAL, dtype=torch.long), batch["token_type_ids"]), 1)
    return out


def check_against_the_bare_model(kind: str, method: str) -> None:
    wrapped = get_peft_model(tiny_model("bert", seed=0), CONFIGS[kind]()).train()
    bare = tiny_model("bert", seed=0)
    word = bare.bert.embeddings.word_embeddings
    mixer, oracle = mixer_for(wrapped, method, seed=5), mixer_for(bare, method, seed=5)
    with mixer, oracle:
        for s in range(3):
            batch = ragged_batch(seed=40 + s, pairs=True)
            prompts = wrapped.get_prompt(batch_size=batch["input_ids"].shape[0]).detach().requires_grad_(True)
            for model in (wrapped, bare):
                model.zero_grad()
            got = train_step(wrapped, mixer, batch)
            if method in AS_EMBEDS:
                # one prompt-extended batch serves the clean and the mixed pass (RegMixup): a leaf
                want = train_step(bare, oracle, with_prompt(batch, prompts, lambda ids: word(ids).detach()))
            else:
                def forward(prompts=prompts, **inputs):
                    return bare(**with_prompt(inputs, prompts, word))
                want = train_step(bare, oracle, batch, forward)
            assert (got.lam < 1).any() and (got.method, got.layer) == (want.method, want.layer)
            torch.testing.assert_close(got.loss, want.loss, **TOLERANCE)
            head = dict(wrapped.named_parameters())["base_model.classifier.modules_to_save.default.weight"]
            torch.testing.assert_close(head.grad, bare.classifier.weight.grad, **TOLERANCE)
            if kind == "prompt":
                table = dict(wrapped.named_parameters())["prompt_encoder.default.embedding.weight"]
                torch.testing.assert_close(table.grad, prompts.grad.sum(0), **TOLERANCE)


@compat_cells("PEFT prompt tuning", AS_EMBEDS + ON_IDS, note=NOTE)
def test_prompt_tuning_mixes_the_real_tokens(method):
    check_against_the_bare_model("prompt", method)


@compat_cells("PEFT p-tuning", AS_EMBEDS + ON_IDS, note=NOTE)
def test_p_tuning_mixes_the_real_tokens(method):
    check_against_the_bare_model("p-tuning", method)


@compat_cells("PEFT prompt tuning", ["span_attention"], status=REFUSED)
def test_prompt_tuning_refuses_attention_label_weights(method):
    wrapped = get_peft_model(tiny_model("bert"), CONFIGS["prompt"]())
    with pytest.raises(ValueError, match="label_weights='area'"):
        mixer_for(wrapped, method)


@compat_cells("PEFT p-tuning", ["span_attention"], status=REFUSED)
def test_p_tuning_refuses_attention_label_weights(method):
    wrapped = get_peft_model(tiny_model("bert"), CONFIGS["p-tuning"]())
    with pytest.raises(ValueError, match="label_weights='area'"):
        mixer_for(wrapped, method)
