"""The order of draws is a contract (textmix/draws.py): fixed seeds give these recorded draws.

A change that reorders, adds or removes a draw changes every seeded run, resumed runs included, and
must fail here loudly. If the change is intended, say so in the changelog and record the new values.
Values recorded with torch 2.13.0 on CPU.
"""

from __future__ import annotations

import pytest
import torch
from conftest import SPECIAL, ragged_batch, tiny_model

from textmix import MixConfig, Mixer

TEXT = ragged_batch(b=6, length=12, seed=0)
IMAGES = {"pixel_values": torch.rand((6, 3, 8, 8), generator=torch.Generator().manual_seed(0)),
          "labels": torch.tensor([0, 1, 2, 0, 1, 2])}

RECORDED = {
    "plan: method and layer per batch, batch lambda": (
        dict(method="embedding:1,hidden:1", layers=[1, 2, 3], seed=7), TEXT,
        [("embedding", None, [3, 4, 0, 5, 1, 2], [0.384869] * 6),
         ("hidden", 1, [4, 1, 2, 0, 3, 5], [0.424663, 1.0, 1.0, 0.424663, 0.424663, 1.0]),
         ("hidden", 2, [2, 3, 0, 1, 5, 4], [0.054617] * 6)]),
    "row lambdas, at least half, per-row gate": (
        dict(method="pooled", lam_mode="row", lam_at_least_half=True, prob=0.5, prob_per_row=True, seed=3), TEXT,
        [("pooled", None, [4, 5, 2, 3, 1, 0], [0.982931, 0.936748, 1.0, 1.0, 1.0, 0.984806]),
         ("pooled", None, [5, 4, 0, 1, 3, 2], [0.972384, 1.0, 0.951352, 0.964715, 1.0, 1.0]),
         ("pooled", None, [1, 0, 5, 3, 4, 2], [0.852614, 0.504553, 0.603247, 1.0, 1.0, 1.0])]),
    "pairs of flipped rows, alpha < 1": (
        dict(method="hidden", lam_mode="pair", partner="flip", alpha=0.2, seed=1), TEXT,
        [("hidden", 3, [5, 4, 3, 2, 1, 0], [0.004706, 0.01145, 0.652685, 0.652685, 0.01145, 0.004706]),
         ("hidden", 2, [5, 4, 3, 2, 1, 0], [0.972501, 0.996657, 0.124177, 0.124177, 0.996657, 0.972501]),
         ("hidden", 3, [5, 4, 3, 2, 1, 0], [0.005994, 0.793019, 0.991141, 0.991141, 0.793019, 0.005994])]),
    "span starts (label weight = kept tokens)": (
        dict(method="span", alpha=1.0, seed=5), TEXT,
        [("span", None, [4, 5, 1, 0, 3, 2], [0.2, 0.125, 0.0, 0.5, 0.111111, 0.6]),
         ("span", None, [3, 2, 5, 1, 4, 0], [0.0, 0.5, 0.0, 0.2, 1.0, 0.5]),
         ("span", None, [4, 2, 3, 1, 0, 5], [0.4, 0.5, 0.5, 0.5, 0.444444, 1.0])]),
    "images: per-row switch, lambdas, boxes": (
        dict(method="mixup:1,cutmix:1", lam_mode="row", cutmix_alpha=1.0, seed=2), IMAGES,
        [("mixup+cutmix", None, [0, 3, 5, 1, 2, 4], [1.0, 0.811564, 0.751558, 0.838259, 0.625, 0.923053],
          [[0, 0, 0, 0]] * 4 + [[2, 8, 4, 8], [0, 0, 0, 0]]),
         ("mixup+cutmix", None, [1, 4, 5, 0, 2, 3], [0.482544, 0.433508, 0.765625, 0.019444, 0.932882, 0.609375],
          [[0, 0, 0, 0]] * 2 + [[5, 8, 1, 6], [0, 0, 0, 0], [0, 0, 0, 0], [3, 8, 0, 5]]),
         ("mixup+cutmix", None, [0, 5, 2, 1, 3, 4], [1.0, 0.625, 1.0, 0.01421, 0.34375, 0.295637],
          [[0, 0, 0, 0], [0, 4, 2, 8], [0, 0, 0, 0], [0, 0, 0, 0], [0, 7, 2, 8], [0, 0, 0, 0]])]),
}


@pytest.mark.parametrize("case", list(RECORDED))
def test_fixed_seeds_give_the_recorded_draws(case):
    kwargs, batch, expected = RECORDED[case]
    images = "pixel_values" in batch
    model = None if images else tiny_model("bert")
    mixer = Mixer(model, MixConfig(**kwargs), special_token_ids=list(SPECIAL.values()),
                  num_labels=3 if images else None)
    with mixer:
        for step, want in enumerate(expected):
            mb = mixer.mix(batch)
            got = (mb.method, mb.layer, mb.perm.tolist(), [round(v, 6) for v in mb.lam.tolist()])
            if images:
                got += (mb.boxes.tolist(),)
            assert got == tuple(want), f"{case}, batch {step}: the draws changed (see textmix/draws.py)"


def test_a_resumed_mixer_continues_the_recorded_draws():
    kwargs, batch, expected = RECORDED["plan: method and layer per batch, batch lambda"]
    model = tiny_model("bert")
    first = Mixer(model, MixConfig(**kwargs))
    with first:
        first.mix(batch)
    resumed = Mixer(model, MixConfig(**kwargs))
    resumed.load_state_dict(first.state_dict())
    with resumed:
        rest = [resumed.mix(batch) for _ in expected[1:]]
    assert [(mb.method, mb.layer, mb.perm.tolist()) for mb in rest] == [tuple(w[:3]) for w in expected[1:]]


@pytest.mark.parametrize("case", ["plan: method and layer per batch, batch lambda", "span starts (label weight = kept tokens)",
                                  "images: per-row switch, lambdas, boxes"])
def test_a_clean_pass_draws_nothing(case):
    """RegMixup (clean_weight > 0): `clean()` before every `mix()` leaves the recorded draws as they are."""
    kwargs, batch, expected = RECORDED[case]
    images = "pixel_values" in batch
    mixer = Mixer(None if images else tiny_model("bert"), MixConfig(**kwargs, clean_weight=1.0),
                  special_token_ids=list(SPECIAL.values()), num_labels=3 if images else None)
    with mixer:
        for want in expected:
            clean = mixer.clean(batch)
            assert clean.method is None and bool((clean.lam == 1).all())
            mb = mixer.mix(batch)
            assert (mb.method, mb.perm.tolist(), [round(v, 6) for v in mb.lam.tolist()]) == (
                want[0], want[2], want[3])


def test_attention_label_weights_draw_nothing():
    """label_weights='attention' draws what 'area' draws: the recorded span draws, before the forward."""
    kwargs, batch, expected = RECORDED["span starts (label weight = kept tokens)"]
    model = tiny_model("bert")
    mixer = Mixer(model, MixConfig(**kwargs, label_weights="attention"), special_token_ids=list(SPECIAL.values()))
    with mixer:
        for want in expected:
            mb = mixer.mix(batch)
            assert (mb.method, mb.perm.tolist(), [round(v, 6) for v in mb.lam.tolist()]) == (
                want[0], want[2], want[3])
            mb.loss(model(**mb.inputs).logits)  # the attention weights come from the forward, drawing nothing
