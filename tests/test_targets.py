"""Targets and losses against per-sample loops and torch's own losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import ragged_batch, tiny_model

from textmix import MixConfig, Mixer
from textmix.targets import base_targets


def per_row_loop_loss(logits, labels, perm, lam, num_labels, smoothing=0.0):
    total, count = 0.0, 0
    for i in range(len(labels)):
        if labels[i] == -100:
            continue
        j = int(perm[i])
        own = F.cross_entropy(logits[i : i + 1], labels[i : i + 1], label_smoothing=smoothing)
        other = F.cross_entropy(logits[i : i + 1], labels[j : j + 1], label_smoothing=smoothing)
        total += float(lam[i]) * own + (1 - float(lam[i])) * other
        count += 1
    return total / max(count, 1)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_soft_cross_entropy_equals_the_lambda_weighted_hard_losses(smoothing):
    model = tiny_model("bert", num_labels=4)
    batch = ragged_batch(b=7, num_labels=4, seed=1)
    batch["labels"][2] = -100
    mixer = Mixer(model, MixConfig(method="pooled", lam_mode="row", alpha=1.0, label_smoothing=smoothing))
    with mixer:
        mb = mixer.mix(batch)
        logits = model(**mb.inputs).logits
    assert mb.perm[2] == 2 and 2 not in mb.perm[[0, 1, 3, 4, 5, 6]].tolist()  # -100 row: nobody's partner
    assert not mb.valid[2] and mb.lam[2] == 1
    expected = per_row_loop_loss(logits, batch["labels"], mb.perm, mb.lam, 4, smoothing)
    torch.testing.assert_close(mb.loss(logits), expected)
    assert model.config.problem_type is None


def test_regression_targets_and_mse():
    model = tiny_model("bert", num_labels=1)
    batch = ragged_batch(b=6, seed=2)
    batch["labels"] = torch.linspace(0, 5, 6)
    mixer = Mixer(model, MixConfig(method="hidden", layers=(1,), alpha=1.0, lam_mode="row"))
    with mixer:
        mb = mixer.mix(batch)
        logits = model(**mb.inputs).logits
    y = batch["labels"]
    mixed = torch.stack([mb.lam[i] * y[i] + (1 - mb.lam[i]) * y[mb.perm[i]] for i in range(6)])
    torch.testing.assert_close(mb.targets, mixed)
    torch.testing.assert_close(mb.loss(logits), F.mse_loss(logits.squeeze(-1), mixed))
    assert model.config.problem_type in (None, "regression")


def test_multi_label_targets_and_bce():
    model = tiny_model("bert", num_labels=3, problem_type="multi_label_classification")
    batch = ragged_batch(b=6, seed=3)
    batch["labels"] = torch.randint(0, 2, (6, 3), generator=torch.Generator().manual_seed(0)).float()
    batch["labels"][4] = -100
    mixer = Mixer(model, MixConfig(method="embedding", alpha=1.0))
    with mixer:
        mb = mixer.mix(batch)
        logits = model(**mb.inputs).logits
    keep = [i for i in range(6) if i != 4]
    y = batch["labels"]
    mixed = torch.stack([mb.lam[i] * y[i] + (1 - mb.lam[i]) * y[mb.perm[i]] for i in keep])
    torch.testing.assert_close(mb.loss(logits), F.binary_cross_entropy_with_logits(logits[keep], mixed))


def test_all_rows_ignored_gives_zero_loss_with_a_gradient_path():
    model = tiny_model("bert")
    batch = ragged_batch(b=4, seed=4)
    batch["labels"][:] = -100
    mixer = Mixer(model, MixConfig(method="pooled"))
    with mixer:
        mb = mixer.mix(batch)
        loss = mb.loss(model(**mb.inputs).logits)
    assert float(loss) == 0.0 and loss.requires_grad and torch.equal(mb.lam, torch.ones(4))


def test_bad_labels_are_named():
    with pytest.raises(ValueError, match="labels must be in \\[0, 3\\)"):
        base_targets(torch.tensor([0, 5]), "single_label", 3)
    with pytest.raises(ValueError, match="multi_label_classification"):
        base_targets(torch.zeros(2, 3, dtype=torch.long), "single_label", 3)
    model = tiny_model("bert")
    batch = ragged_batch(b=4, seed=5)
    batch.pop("labels")
    with pytest.raises(ValueError, match="no labels"):
        Mixer(model, MixConfig(method="pooled")).mix(batch)


def test_soft_labels_never_reach_the_model():
    model = tiny_model("bert")
    batch = ragged_batch(b=4, seed=6)
    mixer = Mixer(model, MixConfig(method="embedding"))
    with mixer:
        mb = mixer.mix(batch)
    assert "labels" not in mb.inputs and "label" not in mb.inputs
