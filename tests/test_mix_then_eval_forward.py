"""`mix()` in train mode, then a forward in eval mode: the hooks stand still, so the logits are unmixed while
the targets are mixed. The loss of such a batch is an error; methods that mix the inputs themselves stay right."""

from __future__ import annotations

import pytest
import torch
from conftest import SPECIAL, ragged_batch, tiny_model

from textmix import MixConfig, Mixer


@pytest.mark.parametrize("method", ["embedding", "hidden", "pooled"])
def test_the_loss_of_a_hook_mixed_batch_forwarded_in_eval_mode_is_an_error(method):
    model = tiny_model("bert")
    batch = ragged_batch(b=6, length=10, seed=3)
    mixer = Mixer(model, MixConfig(method=method, alpha=1.0, seed=0))
    with mixer:
        model.train()
        mb = mixer.mix(batch)
        assert mb.mixed
        model.eval()
        logits = model(**mb.inputs).logits  # unmixed: the hooks stand still in eval mode
        with pytest.raises(RuntimeError, match="no training-mode forward of the model ran on it"):
            mb.loss(logits)
        model.train()
        mb = mixer.mix(batch)
        loss = mb.loss(model(**mb.inputs).logits)  # the right order: mixed logits, mixed targets
        assert torch.isfinite(loss)


def test_a_batch_mixed_in_its_inputs_stays_consistent_in_eval_mode():
    model = tiny_model("bert")
    batch = ragged_batch(b=6, length=10, seed=4)
    mixer = Mixer(model, MixConfig(method="span", alpha=1.0, seed=0), special_token_ids=list(SPECIAL.values()))
    with mixer:
        model.train()
        mb = mixer.mix(batch)
        model.eval()
        assert torch.isfinite(mb.loss(model(**mb.inputs).logits))  # the span is in mb.inputs: logits match targets
