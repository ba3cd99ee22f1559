"""`Mixer.mix` reads nothing back from the device, for every method: on CPU, with the device paths
forced (`reads_are_free` patched to False) and every way of reading a tensor on the host made to fail.

This is the CPU stand-in for the GPU check (benchmarks/gpu_check.py runs mix() under CUDA's sync
debug mode "error"): a host read inside mix() would stall an accelerator's queue every step.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from conftest import SPECIAL, ragged_batch, tiny_model

from textmix import MixConfig, Mixer, sampling
from textmix.methods import method_names

HOST_READS = ("item", "tolist", "numpy", "nonzero", "__bool__", "__int__", "__float__", "__index__")


@contextlib.contextmanager
def no_host_reads(monkeypatch):
    def forbidden(name):
        def read(*args, **kwargs):
            raise AssertionError(f"Tensor.{name}() inside mix(): a host-device synchronisation on an accelerator")
        return read

    with monkeypatch.context() as m:
        for name in HOST_READS:
            m.setattr(torch.Tensor, name, forbidden(name))
        yield


@pytest.mark.parametrize("method", method_names())
@pytest.mark.parametrize("lam_mode", ["batch", "row"])
def test_mix_never_reads_a_tensor_on_the_host(method, lam_mode, monkeypatch):
    monkeypatch.setattr(sampling, "reads_are_free", lambda device: False)
    cfg = MixConfig(method=method, alpha=1.0, lam_mode=lam_mode, layers=[1], seed=0)
    if method in method_names(modality="image"):
        from transformers import ViTConfig, ViTForImageClassification

        model = ViTForImageClassification(ViTConfig(image_size=8, patch_size=2, num_channels=3, hidden_size=16,
                                                    num_hidden_layers=2, num_attention_heads=2,
                                                    intermediate_size=16, num_labels=3)).train()
        g = torch.Generator().manual_seed(0)
        batch = {"pixel_values": torch.rand((6, 3, 8, 8), generator=g), "labels": torch.tensor([0, 1, 2, 0, 1, 2])}
    else:
        model = tiny_model("bert")
        batch = ragged_batch(b=6, length=12, seed=1)
    mixer = Mixer(model, cfg, special_token_ids=list(SPECIAL.values()))
    with mixer:
        for _ in range(2):  # the second step runs with every generator already created
            if mixer.next_needs_saliency:
                clean = mixer.clean(batch)
                clean.loss(model(**clean.inputs).logits).backward()
            assert mixer.next_method == method  # the plan comes from the CPU generator: drawn before
            with no_host_reads(monkeypatch):
                mb = mixer.mix(batch)
            assert mb.method == method
    assert (mb.lam < 1).any()


@pytest.mark.parametrize("method", ["embedding", "hidden", "pooled", "span"])
def test_decoder_pooling_positions_need_no_host_read(method, monkeypatch):
    from test_decoders import decoder_batch, tiny_decoder

    monkeypatch.setattr(sampling, "reads_are_free", lambda device: False)
    model = tiny_decoder("llama")
    batch = decoder_batch("right", seed=0)
    mixer = Mixer(model, MixConfig(method=method, alpha=1.0, layers=[1], seed=0), special_token_ids=[0, 1, 2])
    with mixer:
        _ = mixer.next_method
        with no_host_reads(monkeypatch):
            mb = mixer.mix(batch)
        model(**mb.inputs)  # the hooks use what mix() prepared
    assert (mb.lam < 1).any()


def test_span_on_whole_words_needs_no_host_read(monkeypatch):
    from test_token_classification import tagged_batch, tiny_tagger

    monkeypatch.setattr(sampling, "reads_are_free", lambda device: False)
    mixer = Mixer(tiny_tagger(), MixConfig(method="span", alpha=1.0, lam_mode="row", seed=0),
                  special_token_ids=list(SPECIAL.values()))
    batch = tagged_batch(b=8, length=16, seed=0)
    _ = mixer.next_method
    with no_host_reads(monkeypatch):
        mb = mixer.mix(batch)
    assert (mb.lam < 1).any()


def _tiny_vit(impl: str = "sdpa"):
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    return ViTForImageClassification(ViTConfig(image_size=8, patch_size=2, num_channels=3, hidden_size=16,
                                               num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                                               num_labels=3, attn_implementation=impl)).train()


def _images():
    g = torch.Generator().manual_seed(0)
    return {"pixel_values": torch.rand((6, 3, 8, 8), generator=g), "labels": torch.tensor([0, 1, 2, 0, 1, 2])}


@pytest.mark.parametrize("method", ["hidden", "span", "saliency_span", "patch_cutmix", "cutmix"])
def test_regmixup_clean_pass_and_mix_need_no_host_read(method, monkeypatch):
    """clean_weight > 0: `clean()` and `mix()` of every step read nothing back (MixTrainer's two passes)."""
    monkeypatch.setattr(sampling, "reads_are_free", lambda device: False)
    image = method in method_names(modality="image")
    model = _tiny_vit() if image else tiny_model("bert")
    batch = _images() if image else ragged_batch(b=6, length=12, seed=1)
    mixer = Mixer(model, MixConfig(method=method, alpha=20.0, clean_weight=1.0, layers=[1], seed=0),
                  special_token_ids=list(SPECIAL.values()))
    with mixer:
        for _ in range(2):
            _ = mixer.next_method  # the plan comes from the CPU generator
            with no_host_reads(monkeypatch):
                clean = mixer.clean(batch)
            clean.loss(model(**clean.inputs).logits).backward()
            with no_host_reads(monkeypatch):
                mb = mixer.mix(batch)
            mb.loss(model(**mb.inputs).logits).backward()
    assert mb.method == method and (mb.lam < 1).any()


@pytest.mark.parametrize("method", ["patch_cutmix", "cutmix"])
@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_transmix_capture_and_label_weights_need_no_host_read(method, impl, monkeypatch):
    """label_weights='attention' on a ViT: mix(), the mixed forward with its capture hook and the loss that
    turns the attention into label weights read nothing back."""
    monkeypatch.setattr(sampling, "reads_are_free", lambda device: False)
    model = _tiny_vit(impl)
    mixer = Mixer(model, MixConfig(method=method, alpha=1.0, lam_mode="row", label_weights="attention", seed=0))
    with mixer:
        _ = mixer.next_method
        with no_host_reads(monkeypatch):
            mb = mixer.mix(batch := _images())
            loss = mb.loss(model(**mb.inputs).logits)
    loss.backward()
    assert mb.attention is None and (mb.lam < 1).any() and batch["labels"].shape == (6,)


@pytest.mark.parametrize("method", ["span", "saliency_span"])
def test_attention_span_labels_need_no_host_read_in_mix_and_loss(method, monkeypatch):
    """label_weights='attention' on BERT (SDPA): mix() and the loss read nothing back; the capture hook runs
    inside the model's forward, which is checked on the ViT above (BERT's own mask code is not ours)."""
    monkeypatch.setattr(sampling, "reads_are_free", lambda device: False)
    model = tiny_model("bert")
    batch = ragged_batch(b=6, length=12, seed=1)
    mixer = Mixer(model, MixConfig(method=method, alpha=1.0, label_weights="attention", seed=0),
                  special_token_ids=list(SPECIAL.values()))
    with mixer:
        if mixer.next_needs_saliency:
            clean = mixer.clean(batch)
            clean.loss(model(**clean.inputs).logits).backward()
        _ = mixer.next_method
        with no_host_reads(monkeypatch):
            mb = mixer.mix(batch)
        logits = model(**mb.inputs).logits
        with no_host_reads(monkeypatch):
            loss = mb.loss(logits)
    loss.backward()
    assert (mb.lam < 1).any()
