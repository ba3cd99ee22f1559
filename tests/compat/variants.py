"""The text methods and variants the compatibility cells run, and one training step as MixTrainer runs it."""

from __future__ import annotations

from textmix import MixConfig, MixedBatch, Mixer

TEXT_METHODS = ["embedding", "hidden", "pooled", "span", "saliency_span", "regmixup_hidden", "span_attention"]
"""Every text method of the registry, plus the variants (`tests/compat/matrix.py` VARIANTS) that apply."""

SPECIAL_IDS = [0, 1, 2]  # tests/conftest.py: pad, cls, sep


def mix_config(method: str, **kwargs) -> MixConfig:
    """The MixConfig of a cell's method or variant name."""
    if method == "regmixup_hidden":
        return MixConfig(method="hidden", clean_weight=1.0, **kwargs)
    if method == "span_attention":
        return MixConfig(method="span", label_weights="attention", **kwargs)
    return MixConfig(method=method, **kwargs)


def mixer_for(model, method: str, **kwargs) -> Mixer:
    """A Mixer of `method` (a cell's name) on `model`, knowing the special tokens of tests/conftest.py."""
    return Mixer(model, mix_config(method, **kwargs), special_token_ids=SPECIAL_IDS)


def train_step(model, mixer: Mixer, batch: dict, forward=None) -> tuple[list, MixedBatch]:
    """One step's losses, backpropagated, and its MixedBatch: a clean pass first where MixTrainer runs one
    (RegMixup, saliency_span), then the mixed pass. `forward(inputs)` gives the logits (default `model`'s)."""
    forward = forward or (lambda inputs: model(**inputs).logits)
    losses = []
    if mixer.config.clean_weight > 0 or mixer.next_needs_saliency:
        clean = mixer.clean(batch)
        loss = clean.loss(forward(clean.inputs))
        loss.backward()
        losses.append(loss.detach())
    mb = mixer.mix(batch)
    loss = mb.loss(forward(mb.inputs))
    loss.backward()
    return [*losses, loss.detach()], mb
