"""Shared fixtures: tiny random-initialised models of every supported family, and ../shared assets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from textmix.harness.paths import shared_dir

ROOT = Path(__file__).resolve().parents[1]
SHARED = shared_dir()  # $TEXTMIX_SHARED, else the `shared` folder beside the checkout, else ../shared

VOCAB = 120
SPECIAL = {"pad": 0, "cls": 1, "sep": 2}


def shared_path(*parts: str) -> Path:
    """Path inside `shared_dir()` (see textmix.harness.paths); a skip when missing, a failure in CI."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"asset {path} is missing (set TEXTMIX_SHARED to the folder holding models/ and data/)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


ARCH_KWARGS = {
    "bert": {},
    "roberta": {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2},
    "xlm-roberta": {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2},
    "distilbert": {"dim": 32, "n_layers": 3, "n_heads": 2, "hidden_dim": 37, "dropout": 0.0,
                   "attention_dropout": 0.0, "seq_classif_dropout": 0.0},
    "albert": {"embedding_size": 16, "num_hidden_groups": 1, "inner_group_num": 1, "classifier_dropout_prob": 0.0},
    "electra": {"embedding_size": 16},
    "deberta-v2": {"relative_attention": True, "position_biased_input": False, "pos_att_type": ["p2c", "c2p"],
                   "max_relative_positions": 16, "pooler_dropout": 0.0, "pooler_hidden_size": 32},
    "modernbert": {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "cls_token_id": 1, "sep_token_id": 2,
                   "global_attn_every_n_layers": 2, "local_attention": 4, "embedding_dropout": 0.0,
                   "mlp_dropout": 0.0, "attention_dropout": 0.0, "classifier_dropout": 0.0},
}
ARCHS = list(ARCH_KWARGS)


def tiny_model(model_type: str = "bert", num_labels: int = 3, seed: int = 0, **overrides):
    """A 3-layer, hidden-32 sequence classifier of `model_type` without dropout, in train mode."""
    kwargs = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=37,
                  vocab_size=VOCAB, max_position_embeddings=64, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0, classifier_dropout=0.0, num_labels=num_labels)
    kwargs.update(ARCH_KWARGS[model_type])
    kwargs.update(overrides)
    config = AutoConfig.for_model(model_type, **kwargs)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    model.train()
    return model


def ragged_batch(b: int = 6, length: int = 12, num_labels: int = 3, seed: int = 0, pairs: bool = False,
                 min_len: int = 3):
    """Right-padded [CLS] a [SEP] (b [SEP]) token batches of ragged lengths with labels."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros((b, length), dtype=torch.long)
    mask = torch.zeros((b, length), dtype=torch.long)
    types = torch.zeros((b, length), dtype=torch.long)
    for i in range(b):
        n = int(torch.randint(min_len, length + 1, (1,), generator=g))
        row = torch.randint(3, VOCAB, (n,), generator=g)
        row[0] = SPECIAL["cls"]
        row[-1] = SPECIAL["sep"]
        if pairs and n >= 5:
            cut = int(torch.randint(2, n - 2, (1,), generator=g))
            row[cut] = SPECIAL["sep"]
            types[i, cut + 1 : n] = 1
        ids[i, :n] = row
        mask[i, :n] = 1
    labels = torch.randint(0, num_labels, (b,), generator=g)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if pairs:
        batch["token_type_ids"] = types
    return batch


@pytest.fixture
def special_ids():
    return list(SPECIAL.values())


@pytest.fixture(autouse=True)
def _fresh_notices():
    """Each test sees every notice (`textmix.harness.checks.notice` prints a message once per process)."""
    from textmix.harness import checks

    checks._SAID.clear()
    yield


@pytest.fixture
def throwaway():
    """A text method registered for the test (unregistered after): it swaps nothing in the inputs and mixes the
    targets of random partners with Beta lambdas."""
    from textmix.methods import Applied, MixMethod, register, unregister

    @register
    class TargetsOnly(MixMethod):
        name = "targets_only"
        family = "tokens"
        summary = "nothing in the inputs; only the targets are mixed (a test method)"

        def apply(self, ctx, batch):
            perm, lam = ctx.draws.rows(batch.valid, batch.gen)
            return Applied(batch.inputs, perm, lam)

    yield "targets_only"
    unregister("targets_only")
